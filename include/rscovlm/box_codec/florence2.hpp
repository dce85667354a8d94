#pragma once
/// \file
/// LMMRotate's Florence-2 oriented-detection text: `label<loc_x1><loc_y1>...<loc_y4><sep><loc_..>...`
/// on 1000 bins per axis.
///
/// Encoding mirrors VisionXLab/mllm-mmrotate playground/convert_dota_for_sft.py
/// `main_convert_data_to_florence2fmt` (version 3): `normalize_polygon(poly, clockwise=False)`,
/// `CoordinatesQuantizer.quantize` ('floor': `floor(v / (size / 1000))` in float32, clamped to
/// 0..999), objects sorted by (category rank with the `s.replace("-", " ")` key, y1, x1 of the
/// quantised polygon), the category name written when it changes and `<sep>` otherwise.
/// Decoding mirrors lmmrotate/models/florence2/processing_florence2.py
/// `parse_description_with_polygons_from_text_and_spans` (phrases `[^<]+(<loc_N>|<sep>|<poly>|</poly>){4,}`,
/// polygons as runs of `<loc_N>` ending at `<sep>` or the end, an odd last value dropped) with
/// `CoordinatesQuantizer.dequantize` (`(q + 0.5) * size / 1000` in float32).

#include <rscovlm/box_codec/codec.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

/// Florence-2 / LMMRotate `<loc_N>` quadrilaterals (key `codec.quad.florence2`).
class florence2_codec : public registry::component<florence2_codec, codec> {
public:
    static constexpr std::string_view key = "codec.quad.florence2";
    static constexpr std::string_view summary = "LMMRotate Florence-2 label<loc_N>x8 quads with <sep> runs (1000 bins)";

    box_kind kind() const noexcept override { return box_kind::quad; }

    /// `floor(v / (size / 1000))` in float32 (torch int64 tensor / Python float), clamped to 0..999.
    static std::int64_t quantize(double v, int size) noexcept {
        const float per_bin = static_cast<float>(static_cast<double>(size) / 1000.0);
        const float q = std::floor(static_cast<float>(v) / per_bin);
        if (!(q >= 0.f)) return 0;
        return q > 999.f ? 999 : static_cast<std::int64_t>(q);
    }
    /// `(q + 0.5) * (size / 1000)` in float32.
    static double dequantize(double q, int size) noexcept {
        const float per_bin = static_cast<float>(static_cast<double>(size) / 1000.0);
        return static_cast<double>((static_cast<float>(q) + 0.5f) * per_bin);
    }

    std::string encode(const std::vector<annotation>& anns, const encode_options& opt) const override {
        encode_options o = opt;
        o.frame.resized_width = o.frame.orig_width;
        o.frame.resized_height = o.frame.orig_height;
        const auto prepared = detail::prepare(anns, o, true, /*lowercase_rank_key=*/false);
        if (prepared.empty()) return "There are none.";
        const geometry::frame f = detail::effective_frame(o.frame);
        struct item {
            std::vector<std::int64_t> poly;
            std::string name;
            std::size_t rank;
        };
        std::vector<item> items;
        for (const auto& p : prepared) {
            const annotation& a = anns[p.order];
            std::vector<double> poly = a.polygon;
            if (poly.empty() && a.bbox) poly = geometry::flat(geometry::hbox_to_quad(*a.bbox));
            const geometry::quad q = geometry::normalize_polygon(geometry::quad_from_flat(poly.data()), false);
            item it{{}, p.name, p.rank};
            for (const auto& pt : q) {
                it.poly.push_back(quantize(pt.x, f.orig_width));
                it.poly.push_back(quantize(pt.y, f.orig_height));
            }
            items.push_back(std::move(it));
        }
        std::stable_sort(items.begin(), items.end(), [](const item& a, const item& b) {
            if (a.rank != b.rank) return a.rank < b.rank;
            if (a.poly[1] != b.poly[1]) return a.poly[1] < b.poly[1];
            return a.poly[0] < b.poly[0];
        });
        std::string out;
        const std::string* last = nullptr;
        for (const auto& it : items) {
            if (!last || *last != it.name)
                out += it.name;
            else
                out += "<sep>";
            for (auto v : it.poly)
                out += "<loc_" + std::to_string(v) + ">";
            last = &it.name;
        }
        return out;
    }

    decode_result decode(std::string_view input, const decode_options& opt) const override {
        decode_result r;
        if (input.size() > opt.max_bytes) {
            r.dropped.add("truncated_input", 0, input.substr(opt.max_bytes, 80));
            input = input.substr(0, opt.max_bytes);
        }
        if (detail::says_none(input)) return r;
        const label_matcher m(opt.classes, opt.fuzzy, opt.fuzzy_cutoff);
        std::string t(input);
        for (std::string_view tok : {std::string_view("<s>"), std::string_view("</s>"), std::string_view("<pad>")}) {
            std::string o;
            std::size_t i = 0;
            while (true) {
                const std::size_t j = t.find(tok, i);
                if (j == std::string::npos) break;
                o.append(t, i, j - i);
                i = j + tok.size();
            }
            o.append(t, i, std::string::npos);
            t.swap(o);
        }
        const std::string_view s = t;
        const geometry::frame orig{opt.frame.orig_width, opt.frame.orig_height, 0, 0};
        std::size_t index = 0;
        std::size_t i = 0;
        while (i < s.size()) {
            if (s[i] == '<') {
                ++i;
                continue;
            }
            std::size_t j = s.find('<', i);
            if (j == std::string_view::npos) break;
            std::size_t k = j, ntok = 0;
            while (true) {
                const std::size_t len = token_len(s, k);
                if (!len) break;
                k += len;
                ++ntok;
            }
            if (ntok < 4) {
                i = j + 1;
                continue;
            }
            phrase(s.substr(i, k - i), m, orig, r, index);
            i = k;
        }
        return r;
    }

    std::string user_template() const override { return "<ROD>"; }

private:
    // Length of `<loc_\d+>`, `<sep>`, `<poly>` or `</poly>` at s[i] (0 when none).
    static std::size_t loc_len(std::string_view s, std::size_t i) noexcept {
        if (s.compare(i, 5, "<loc_") != 0) return 0;
        std::size_t k = i + 5;
        while (k < s.size() && s[k] >= '0' && s[k] <= '9')
            ++k;
        if (k == i + 5 || k >= s.size() || s[k] != '>') return 0;
        return k + 1 - i;
    }
    static std::size_t token_len(std::string_view s, std::size_t i) noexcept {
        if (i >= s.size() || s[i] != '<') return 0;
        if (const std::size_t l = loc_len(s, i)) return l;
        if (s.compare(i, 5, "<sep>") == 0) return 5;
        if (s.compare(i, 6, "<poly>") == 0) return 6;
        if (s.compare(i, 7, "</poly>") == 0) return 7;
        return 0;
    }

    void phrase(std::string_view pt, const label_matcher& m, const geometry::frame& orig, decode_result& r,
                std::size_t& index) const {
        // re.sub(r'^loc_\d+>', '', phrase_text, count=1)
        std::string_view strip = pt;
        if (strip.compare(0, 4, "loc_") == 0) {
            std::size_t k = 4;
            while (k < strip.size() && strip[k] >= '0' && strip[k] <= '9')
                ++k;
            if (k > 4 && k < strip.size() && strip[k] == '>') strip = strip.substr(k + 1);
        }
        if (strip.empty()) return;
        // re.search(r'^\s*(.*?)(?=<od>|</od>|<box>|</box>|<bbox>|</bbox>|<loc_|<poly>)')
        std::size_t b = 0;
        while (b < strip.size()) {
            const std::size_t k = text::space_at(strip, b);
            if (!k) break;
            b += k;
        }
        std::size_t stop = std::string_view::npos;
        for (std::size_t p = b; p < strip.size(); ++p) {
            if (strip[p] == '<') {
                for (std::string_view la : {"<od>", "</od>", "<box>", "</box>", "<bbox>", "</bbox>", "<loc_", "<poly>"})
                    if (strip.compare(p, la.size(), la) == 0) {
                        stop = p;
                        break;
                    }
                if (stop != std::string_view::npos) break;
            }
            if (strip[p] == '\n') break; // '.' does not cross a newline
        }
        if (stop == std::string_view::npos) {
            r.dropped.add("bad_format", index++, pt);
            return;
        }
        const std::string label(text::strip(strip.substr(0, stop)));
        // instances: <poly>(.*?)</poly> when both tokens occur, else the whole phrase
        std::vector<std::string_view> insts;
        if (pt.find("<poly>") != std::string_view::npos && pt.find("</poly>") != std::string_view::npos) {
            std::size_t p = 0;
            while (true) {
                const std::size_t a = pt.find("<poly>", p);
                if (a == std::string_view::npos) break;
                const std::size_t e = pt.find("</poly>", a + 6);
                if (e == std::string_view::npos) break;
                insts.push_back(pt.substr(a + 6, e - a - 6));
                p = e + 7;
            }
        } else {
            insts.push_back(pt);
        }
        for (std::string_view inst : insts) {
            // finditer(r'((?:<loc_\d+>)+)(?:<sep>|$)')
            std::size_t p = 0;
            while (p < inst.size()) {
                if (!loc_len(inst, p)) {
                    ++p;
                    continue;
                }
                std::vector<double> q;
                std::size_t k = p;
                while (const std::size_t l = loc_len(inst, k)) {
                    q.push_back(std::strtod(std::string(inst.substr(k + 5, l - 6)).c_str(), nullptr));
                    k += l;
                }
                const bool at_end = k == inst.size() || (k + 1 == inst.size() && inst[k] == '\n');
                const bool at_sep = inst.compare(k, 5, "<sep>") == 0;
                const std::string_view item = inst.substr(p, k - p);
                p = k;
                if (!at_end && !at_sep) {
                    r.dropped.add("bad_format", index++, item);
                    continue;
                }
                if (q.size() % 2 == 1) q.pop_back(); // abandon the last element if not paired
                for (std::size_t c = 0; c + 1 < q.size(); c += 2) {
                    q[c] = dequantize(q[c], orig.orig_width);
                    q[c + 1] = dequantize(q[c + 1], orig.orig_height);
                }
                detail::finish(r, m, orig, box_kind::quad, q, label, index++, item);
            }
        }
    }
};

} // namespace rscovlm::box_codec
