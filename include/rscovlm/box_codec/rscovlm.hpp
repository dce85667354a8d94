#pragma once
/// \file
/// RSCoVLM's detection answer formats: plain text (`x1,y1,x2,y2 label`, `cx,cy,w,h,a label`,
/// `x1,y1,...,x4,y4 label`, one object per line) and fenced JSON (`bbox_2d`, `oriented bbox`,
/// `quadrant bbox`), for horizontal boxes, oriented boxes and quadrilaterals.
///
/// Encoding mirrors rscovlm/training/data/dense_det_dataset.py (`get_hbb_messages`,
/// `get_obb_messages`, `get_polygon_messages`); decoding mirrors rscovlm/eval/metric/dense_det.py
/// (`parse_plain_output`, `parse_json_output`, `parse_output`), generalised from quadrilaterals to
/// the three box kinds.

#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/json_repair.hpp>
#include <rscovlm/box_codec/prompts.hpp>
#include <rscovlm/registry.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

namespace detail {

template <box_kind K> struct rscovlm_traits;
template <> struct rscovlm_traits<box_kind::hbb> {
    static constexpr std::string_view plain_key = "codec.hbb.plain";
    static constexpr std::string_view json_key = "codec.hbb.json";
    static constexpr std::string_view json_field = "bbox_2d";
    static constexpr std::string_view plain_system = prompts::hbb_plain_system;
    static constexpr std::string_view json_system = "";
    static constexpr std::string_view json_user = prompts::hbb_json_user;
};
template <> struct rscovlm_traits<box_kind::obb> {
    static constexpr std::string_view plain_key = "codec.obb.plain";
    static constexpr std::string_view json_key = "codec.obb.json";
    static constexpr std::string_view json_field = "oriented bbox";
    static constexpr std::string_view plain_system = prompts::obb_plain_system;
    static constexpr std::string_view json_system = prompts::obb_json_system;
    static constexpr std::string_view json_user = prompts::obb_json_user;
};
template <> struct rscovlm_traits<box_kind::quad> {
    static constexpr std::string_view plain_key = "codec.quad.plain";
    static constexpr std::string_view json_key = "codec.quad.json";
    static constexpr std::string_view json_field = "quadrant bbox";
    static constexpr std::string_view plain_system = prompts::quad_plain_system;
    static constexpr std::string_view json_system = prompts::quad_json_system;
    static constexpr std::string_view json_user = prompts::obb_json_user;
};

inline std::string_view cut_input(std::string_view text, const decode_options& o, decode_result& r) {
    if (text.size() > o.max_bytes) {
        r.dropped.add("truncated_input", 0, text.substr(o.max_bytes, 80));
        return text.substr(0, o.max_bytes);
    }
    return text;
}

} // namespace detail

/// RSCoVLM plain-text format for box kind `K` (keys `codec.hbb.plain`, `codec.obb.plain`,
/// `codec.quad.plain`). Parameter `eval_prompt` (bool, default false) selects the evaluation
/// user prompt ("find the {categories}.") instead of the training one ("find the {categories}").
template <box_kind K> class rscovlm_plain : public registry::component<rscovlm_plain<K>, codec> {
public:
    static constexpr std::string_view key = detail::rscovlm_traits<K>::plain_key;
    static constexpr std::string_view summary =
        K == box_kind::hbb   ? "RSCoVLM plain text 'x1,y1,x2,y2 label' per line"
        : K == box_kind::obb ? "RSCoVLM plain text 'cx,cy,w,h,a label' per line (minAreaRect, int())"
                             : "RSCoVLM plain text 'x1,y1,...,x4,y4 label' per line (clockwise from top-left)";

    rscovlm_plain() = default;
    explicit rscovlm_plain(bool eval_prompt) : m_eval_prompt(eval_prompt) {}
    static rscovlm_plain from_params(registry::params& p) { return rscovlm_plain(p.get<bool>("eval_prompt", false)); }

    box_kind kind() const noexcept override { return K; }

    /// `'\n'.join(f'{v0},{v1},... {name}') + '\n'`, or `There are none.` without objects.
    std::string encode(const std::vector<annotation>& anns, const encode_options& opt) const override {
        const auto prepared = detail::prepare(anns, opt, K != box_kind::hbb);
        if (prepared.empty()) return "There are none.";
        std::string out;
        for (const auto& p : prepared) {
            out += detail::join_ints(detail::values(p, K));
            out.push_back(' ');
            out += p.name;
            out.push_back('\n');
        }
        return out;
    }

    /// `parse_plain_output`: per non-blank line `poly, label = line.split(' ', 1)`,
    /// `[int(c) for c in poly.split(',')]`, `label.strip().lower()`, extra values cut, too few dropped.
    decode_result decode(std::string_view input, const decode_options& opt) const override {
        decode_result r;
        const std::string_view s = detail::cut_input(input, opt, r);
        if (detail::says_none(s)) return r;
        const label_matcher m(opt.classes, opt.fuzzy, opt.fuzzy_cutoff);
        const auto lines = text::splitlines(text::strip(s));
        std::vector<double> vals;
        for (std::size_t li = 0; li < lines.size(); ++li) {
            const std::string_view line = lines[li];
            if (text::strip(line).empty()) continue;
            const std::size_t sp = line.find(' ');
            if (sp == std::string_view::npos) {
                r.dropped.add("bad_format", li, line);
                continue;
            }
            const std::string_view poly = line.substr(0, sp), label = line.substr(sp + 1);
            vals.clear();
            bool ok = true;
            std::size_t start = 0;
            while (true) {
                const std::size_t comma = poly.find(',', start);
                const auto v = ::rscovlm::detail::py::parse_int_as_double(
                    poly.substr(start, comma == std::string_view::npos ? poly.npos : comma - start));
                if (!v) {
                    ok = false;
                    break;
                }
                vals.push_back(*v);
                if (comma == std::string_view::npos) break;
                start = comma + 1;
            }
            if (!ok) {
                r.dropped.add("bad_number", li, line);
                continue;
            }
            detail::finish(r, m, opt.frame, K, vals, label, li, line, input);
        }
        return r;
    }

    std::string system_prompt() const override { return std::string(detail::rscovlm_traits<K>::plain_system); }
    std::string user_template() const override {
        return std::string(m_eval_prompt ? prompts::plain_user_eval : prompts::plain_user);
    }

private:
    bool m_eval_prompt = false;
};

/// RSCoVLM fenced-JSON format for box kind `K` (keys `codec.hbb.json`, `codec.obb.json`,
/// `codec.quad.json`): "```json\n[\n\t{...},\n\t{...}\n]\n```" with Python `json.dumps` objects.
template <box_kind K> class rscovlm_json : public registry::component<rscovlm_json<K>, codec> {
public:
    static constexpr std::string_view key = detail::rscovlm_traits<K>::json_key;
    static constexpr std::string_view summary =
        K == box_kind::hbb   ? "RSCoVLM fenced JSON with \"bbox_2d\" and \"label\""
        : K == box_kind::obb ? "RSCoVLM fenced JSON with \"oriented bbox\" [cx,cy,w,h,a] and \"label\""
                             : "RSCoVLM fenced JSON with \"quadrant bbox\" [x1,y1,...,x4,y4] and \"label\"";

    box_kind kind() const noexcept override { return K; }

    /// `'```json\n[\n\t' + ',\n\t'.join(json.dumps({field: values, "label": name})) + '\n]\n```'`.
    std::string encode(const std::vector<annotation>& anns, const encode_options& opt) const override {
        const auto prepared = detail::prepare(anns, opt, K != box_kind::hbb);
        if (prepared.empty()) return "There are none.";
        std::string out = "```json\n[\n\t";
        bool first = true;
        for (const auto& p : prepared) {
            if (!first) out += ",\n\t";
            first = false;
            out += "{\"";
            out += detail::rscovlm_traits<K>::json_field;
            out += "\": [";
            out += detail::join_ints(detail::values(p, K), ", ");
            out += "], \"label\": ";
            out += text::json_dumps_string(p.name);
            out += "}";
        }
        out += "\n]\n```";
        return out;
    }

    /// `parse_json_output` with `parse_detection_json`'s repairs; instances need the field and
    /// "label", a list of integers (more than the arity: cut, kept), and a string label.
    decode_result decode(std::string_view input, const decode_options& opt) const override {
        decode_result r;
        const std::string_view s = detail::cut_input(input, opt, r);
        if (detail::says_none(s)) return r;
        const label_matcher m(opt.classes, opt.fuzzy, opt.fuzzy_cutoff);
        json_parse_info info;
        nlohmann::json j = parse_detection_json(s, &info);
        for (std::size_t i = 0; i < info.dropped_lines; ++i)
            r.dropped.add("bad_json", i, "");
        if (info.failed) r.dropped.add("bad_json", 0, s);
        if (j.is_object()) j = nlohmann::json::array({j}); // a lone object: read it as one instance
        if (!j.is_array()) {
            r.dropped.add("bad_format", 0, s);
            return r;
        }
        const std::string field(detail::rscovlm_traits<K>::json_field);
        std::vector<double> vals;
        for (std::size_t i = 0; i < j.size(); ++i) {
            const nlohmann::json& inst = j[i];
            const auto dump = [&inst] { return inst.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
            if (!inst.is_object()) {
                r.dropped.add("not_an_object", i, dump());
                continue;
            }
            if (!inst.contains(field) || !inst.contains("label")) {
                r.dropped.add("missing_key", i, dump());
                continue;
            }
            const nlohmann::json& poly = inst[field];
            const nlohmann::json& label = inst["label"];
            if (!label.is_string()) {
                r.dropped.add("bad_format", i, dump());
                continue;
            }
            bool ints = poly.is_array();
            if (ints)
                for (const auto& v : poly)
                    ints = ints && v.is_number_integer();
            if (!ints) {
                r.dropped.add("bad_number", i, dump());
                continue;
            }
            vals.clear();
            for (const auto& v : poly)
                vals.push_back(v.is_number_unsigned() ? static_cast<double>(v.get<std::uint64_t>())
                                                      : static_cast<double>(v.get<std::int64_t>()));
            detail::finish(r, m, opt.frame, K, vals, label.get_ref<const std::string&>(), i, dump);
        }
        return r;
    }

    std::string system_prompt() const override { return std::string(detail::rscovlm_traits<K>::json_system); }
    std::string user_template() const override { return std::string(detail::rscovlm_traits<K>::json_user); }
};

} // namespace rscovlm::box_codec
