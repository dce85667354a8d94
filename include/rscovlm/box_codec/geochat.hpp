#pragma once
/// \file
/// GeoChat's box text on a 0-100 grid: `<p>label</p> {<x1><y1><x2><y2>|<angle>}`. Encoding
/// quantises `int(v / size * 100)` (clamped to 0..100) with angle 0 for horizontal boxes; decoding
/// reads `{<x1><y1><x2><y2>}` or `{<x1><y1><x2><y2>|<a>}` (the angle is ignored: boxes are
/// horizontal) and maps back with `v * size / 100`. A box takes the label of the last `<p>..</p>`.

#include <rscovlm/box_codec/codec.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

/// GeoChat 0-100 boxes (key `codec.hbb.geochat`).
class geochat_codec : public registry::component<geochat_codec, codec> {
public:
    static constexpr std::string_view key = "codec.hbb.geochat";
    static constexpr std::string_view summary = "GeoChat <p>label</p> {<x1><y1><x2><y2>|<a>} on the 0-100 grid";

    box_kind kind() const noexcept override { return box_kind::hbb; }

    std::string encode(const std::vector<annotation>& anns, const encode_options& opt) const override {
        encode_options o = opt;
        o.frame.resized_width = o.frame.orig_width;
        o.frame.resized_height = o.frame.orig_height;
        const auto prepared = detail::prepare(anns, o, false);
        if (prepared.empty()) return "There are none.";
        const geometry::frame f = detail::effective_frame(o.frame);
        std::string out;
        for (const auto& p : prepared) {
            const annotation& a = anns[p.order];
            geometry::hbox b = a.bbox ? *a.bbox : geometry::bounds(geometry::quad_from_flat(a.polygon.data()));
            auto q = [](double v, int size) {
                return std::clamp<std::int64_t>(::rscovlm::detail::py::int_trunc(v / size * 100.0), 0, 100);
            };
            if (!out.empty()) out.push_back('\n');
            out += "<p>" + p.name + "</p> {<" + std::to_string(q(b.x1, f.orig_width)) + "><" +
                   std::to_string(q(b.y1, f.orig_height)) + "><" + std::to_string(q(b.x2, f.orig_width)) + "><" +
                   std::to_string(q(b.y2, f.orig_height)) + ">|<0>}";
        }
        return out;
    }

    decode_result decode(std::string_view s, const decode_options& opt) const override {
        decode_result r;
        if (s.size() > opt.max_bytes) {
            r.dropped.add("truncated_input", 0, s.substr(opt.max_bytes, 80));
            s = s.substr(0, opt.max_bytes);
        }
        const label_matcher m(opt.classes, opt.fuzzy, opt.fuzzy_cutoff);
        const geometry::frame grid{opt.frame.orig_width, opt.frame.orig_height, 100, 100};
        std::string label;
        std::size_t pos = 0, index = 0, ps = s.find("<p>");
        while (pos < s.size()) {
            if (ps != std::string_view::npos && ps < pos) ps = s.find("<p>", pos); // keeps the scan linear
            const std::size_t bs = s.find('{', pos);
            if (bs == std::string_view::npos) break;
            if (ps != std::string_view::npos && ps < bs) {
                const std::size_t last = s.substr(0, bs).rfind("<p>"); // the closest phrase wins
                const std::size_t pe = s.substr(0, bs).find("</p>", last + 3);
                label.assign(s.substr(last + 3, (pe == std::string_view::npos ? bs : pe) - last - 3));
            }
            const std::size_t be = s.find('}', bs + 1);
            const std::size_t stop = be == std::string_view::npos ? s.size() : be;
            const std::string_view body = s.substr(bs + 1, stop - bs - 1);
            pos = be == std::string_view::npos ? s.size() : be + 1;
            const std::string_view coords = body.substr(0, std::min(body.find('|'), body.size()));
            std::vector<double> vals;
            bool ok = true;
            std::size_t i = 0;
            while (i < coords.size() && ok) {
                if (coords[i] != '<') {
                    ok = text::strip(coords.substr(i, 1)).empty();
                    ++i;
                    continue;
                }
                const std::size_t e = coords.find('>', i + 1);
                if (e == std::string_view::npos) {
                    ok = false;
                    break;
                }
                const auto v = ::rscovlm::detail::py::parse_int_as_double(coords.substr(i + 1, e - i - 1));
                if (!v)
                    ok = false;
                else
                    vals.push_back(*v);
                i = e + 1;
            }
            if (!ok) {
                r.dropped.add("bad_number", index++, body);
                continue;
            }
            std::string lab = label;
            if (lab.empty() && opt.classes.size() == 1) lab = display_name(opt.classes[0]);
            if (lab.empty()) {
                r.dropped.add("missing_label", index++, body);
                continue;
            }
            detail::finish(r, m, grid, box_kind::hbb, vals, lab, index++, body, s);
        }
        return r;
    }

    std::string user_template() const override { return "[detection] Locate all the {categories} in the image."; }
};

} // namespace rscovlm::box_codec
