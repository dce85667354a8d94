#pragma once
/// \file
/// Qwen2-VL grounding format on its 0-1000 grid:
/// `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`.
/// Encoding quantises `int(v / size * 1000)` in the original frame (clamped to 0..1000); decoding
/// maps back with `v * size / 1000`. A `<|box_start|>` without its own label takes the last label.

#include <rscovlm/box_codec/codec.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

/// Qwen2-VL `<|box_start|>(x1,y1),(x2,y2)<|box_end|>` horizontal boxes (key `codec.hbb.qwen2vl`).
class qwen2vl_codec : public registry::component<qwen2vl_codec, codec> {
public:
    static constexpr std::string_view key = "codec.hbb.qwen2vl";
    static constexpr std::string_view summary = "Qwen2-VL <|box_start|>(x1,y1),(x2,y2)<|box_end|> on the 0-1000 grid";
    static constexpr std::string_view ref_start = "<|object_ref_start|>";
    static constexpr std::string_view ref_end = "<|object_ref_end|>";
    static constexpr std::string_view box_start = "<|box_start|>";
    static constexpr std::string_view box_end = "<|box_end|>";

    box_kind kind() const noexcept override { return box_kind::hbb; }

    /// One `<|object_ref_start|>name<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>` per
    /// object, in the RSCoVLM order, separated by newlines; "There are none." without objects.
    std::string encode(const std::vector<annotation>& anns, const encode_options& opt) const override {
        encode_options o = opt;
        o.frame.resized_width = o.frame.orig_width; // the grid is defined on the original frame
        o.frame.resized_height = o.frame.orig_height;
        const auto prepared = detail::prepare(anns, o, false);
        if (prepared.empty()) return "There are none.";
        const geometry::frame f = detail::effective_frame(o.frame);
        std::string out;
        for (const auto& p : prepared) {
            const annotation& a = anns[p.order];
            geometry::hbox b = a.bbox ? *a.bbox : geometry::bounds(geometry::quad_from_flat(a.polygon.data()));
            auto q = [](double v, int size) {
                return std::clamp<std::int64_t>(::rscovlm::detail::py::int_trunc(v / size * 1000.0), 0, 1000);
            };
            if (!out.empty()) out.push_back('\n');
            out += ref_start;
            out += p.name;
            out += ref_end;
            out += box_start;
            out += "(" + std::to_string(q(b.x1, f.orig_width)) + "," + std::to_string(q(b.y1, f.orig_height)) + "),(" +
                   std::to_string(q(b.x2, f.orig_width)) + "," + std::to_string(q(b.y2, f.orig_height)) + ")";
            out += box_end;
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
        geometry::frame grid{opt.frame.orig_width, opt.frame.orig_height, 1000, 1000};
        std::string label;
        std::size_t pos = 0, index = 0, rs = s.find(ref_start);
        while (true) {
            if (rs != std::string_view::npos && rs < pos) rs = s.find(ref_start, pos); // keeps the scan linear
            const std::size_t bs = s.find(box_start, pos);
            if (bs == std::string_view::npos) break;
            if (rs != std::string_view::npos && rs < bs) {
                const std::size_t last = s.substr(0, bs).rfind(ref_start); // the closest reference wins
                const std::size_t re = s.substr(0, bs).find(ref_end, last + ref_start.size());
                if (re == std::string_view::npos) {
                    label.assign(s.substr(last + ref_start.size(), bs - last - ref_start.size()));
                } else {
                    label.assign(s.substr(last + ref_start.size(), re - last - ref_start.size()));
                }
            }
            const std::size_t be = s.find(box_end, bs + box_start.size());
            const std::size_t stop = be == std::string_view::npos ? s.size() : be;
            const std::string_view body = s.substr(bs + box_start.size(), stop - bs - box_start.size());
            pos = be == std::string_view::npos ? s.size() : be + box_end.size();
            std::vector<double> vals;
            bool ok = true;
            // (x1,y1),(x2,y2): integers separated by anything made of "(),[] " characters
            std::string tok;
            auto flush = [&] {
                if (tok.empty()) return;
                const auto v = ::rscovlm::detail::py::parse_int_as_double(tok);
                if (!v)
                    ok = false;
                else
                    vals.push_back(*v);
                tok.clear();
            };
            for (char c : body) {
                if (c == '(' || c == ')' || c == ',' || c == '[' || c == ']' || c == ' ')
                    flush();
                else
                    tok.push_back(c);
            }
            flush();
            if (!ok) {
                r.dropped.add("bad_number", index++, body);
                continue;
            }
            if (label.empty()) {
                r.dropped.add("missing_label", index++, body);
                continue;
            }
            detail::finish(r, m, grid, box_kind::hbb, vals, label, index++, body, s);
        }
        return r;
    }

    std::string user_template() const override {
        return "Detect all the {categories} in the image and output their bounding boxes.";
    }
};

} // namespace rscovlm::box_codec
