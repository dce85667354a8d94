#pragma once
/// \file data/builders/detection.hpp
/// Dense detection conversations (rscovlm/training/data/dense_det_dataset.py `get_messages`,
/// `get_hbb_messages`, `get_obb_messages`, `get_polygon_messages`, `random_resize`).

#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/box_codec/prompts.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/data/builders/common.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/obb.hpp>

#include <memory>
#include <string>
#include <vector>

namespace rscovlm::data {

namespace detail {

/// `select_{hbb,obb}_json_prompt_template` of dense_det_dataset.py (`<=` comparisons).
/// `main` is the codec's own template (`MAIN_HBB_TEMPLATE` / `MAIN_OBB_TEMPLATE`).
inline std::string det_json_template(region_type r, const std::string& main, double prob_proxy, python_random& rng) {
    namespace bp = box_codec::prompts;
    std::string t;
    if (rng.random() <= prob_proxy) {
        if (r == region_type::hbb)
            t = std::string(bp::hbb_json_proxy[choice_index(rng, bp::hbb_json_proxy.size())]);
        else
            t = std::string(bp::obb_json_proxy[choice_index(rng, bp::obb_json_proxy.size())]);
    } else {
        t = main;
    }
    if (rng.random() <= prob_proxy) t = ::rscovlm::detail::py::replace(t, "bbox", "bounding box");
    if (r != region_type::hbb && rng.random() <= prob_proxy)
        t = ::rscovlm::detail::py::replace(t, "oriented", "rotated");
    return t;
}

/// The geometry of a detection region type (`polygon` answers are quadrilaterals).
inline box_codec::box_kind region_box_kind(region_type r) {
    return r == region_type::hbb   ? box_codec::box_kind::hbb
           : r == region_type::obb ? box_codec::box_kind::obb
                                   : box_codec::box_kind::quad;
}

/// Registry key of RSCoVLM's plain-text or JSON codec of `kind` ("codec.obb.json", ...).
inline std::string rscovlm_codec_key(box_codec::box_kind kind, bool json) {
    return "codec." + std::string(box_codec::to_string(kind)) + (json ? ".json" : ".plain");
}

/// dense_det_dataset.py `set_open_end_prompt_settings`, template part: `re.sub(r'(the )?{categories}',
/// 'all the visible remote sensing objects', template)`.
inline std::string open_end_template(const std::string& t) {
    static const std::string key = "{categories}", with_the = "the {categories}";
    std::string out;
    std::size_t i = 0;
    while (i < t.size()) {
        if (t.compare(i, with_the.size(), with_the) == 0) {
            out += "all the visible remote sensing objects";
            i += with_the.size();
        } else if (t.compare(i, key.size(), key) == 0) {
            out += "all the visible remote sensing objects";
            i += key.size();
        } else {
            out.push_back(t[i++]);
        }
    }
    return out;
}

/// The label part: `random.choice(synonyms_dict[re.sub(r"[_\-]+", " ", name).lower()])`.
inline std::string pick_synonym(const nlohmann::json& dict, const std::string& name, python_random& rng) {
    std::string key;
    for (std::size_t i = 0; i < name.size();) {
        if (name[i] == '_' || name[i] == '-') {
            key.push_back(' ');
            while (i < name.size() && (name[i] == '_' || name[i] == '-'))
                ++i;
        } else {
            key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(name[i++]))));
        }
    }
    if (!dict.is_object() || !dict.contains(key) || !dict[key].is_array() || dict[key].empty())
        RSCOVLM_THROW(data_error, "missing_synonyms", "synonyms_dict has no (non-empty) list for '" + key + "'");
    const auto& list = dict[key];
    const nlohmann::json& v = list[choice_index(rng, list.size())];
    if (!v.is_string()) RSCOVLM_THROW(data_error, "missing_synonyms", "synonyms of '" + key + "' must be strings");
    return v.get<std::string>();
}

} // namespace detail

/// Dense detection sample of `region` (dense_det_dataset.py `get_messages`). The assistant target
/// is encoded by the RSCoVLM box codecs (plain text or fenced JSON); an image without objects
/// answers "There are none.".
inline conversation build_detection(const detection_record& rec, region_type region, const build_options& opt,
                                    python_random& rng) {
    using namespace box_codec;
    if (region == region_type::seg)
        RSCOVLM_THROW(data_error, "bad_region_type", "dense detection has no 'seg' target (hbb|obb|polygon)");
    const resolution::size rs = detail::plan_size(rec.width, rec.height, opt, detail::default_sizing::random, rng);
    encode_options eo;
    eo.classes = rec.classes;
    eo.frame = geometry::frame{rec.width, rec.height, rs.width, rs.height};
    std::vector<annotation> anns;
    anns.reserve(rec.objects.size());
    for (const det_instance& o : rec.objects) {
        annotation a;
        a.bbox = o.bbox;
        a.polygon = o.polygon;
        a.label = o.label;
        anns.push_back(std::move(a));
    }
    if (eo.classes.empty())
        for (const auto& a : anns)
            if (std::find(eo.classes.begin(), eo.classes.end(), a.label) == eo.classes.end())
                eo.classes.push_back(a.label);
    const std::string categories = categories_string(eo.classes);
    const bool open_end = rec.use_synonyms;
    if (open_end) {
        if (!rec.synonyms)
            RSCOVLM_THROW(data_error, "missing_synonyms",
                          "open-ended sample of '" + rec.image + "' without a synonyms_dict");
        // drawn per object in output order, after the template's draws (set_open_end_prompt_settings)
        eo.rename = [&rec, &rng](const std::string& name) { return detail::pick_synonym(*rec.synonyms, name, rng); };
    }
    auto tmpl = [&](std::string t) { return open_end ? detail::open_end_template(t) : t; };
    conversation c;
    c.task = "det." + std::string(to_string(region));
    c.images.push_back(image_ref{rec.image, rec.width, rec.height, rs.width, rs.height, std::nullopt, false});
    // The answer format is a box codec found by key: the reference draws plain text or JSON
    // (`random() >= prob_plain_text_prompt` gives JSON); `opt.answer_codec` names one instead.
    const box_kind kind = detail::region_box_kind(region);
    bool json_format = false;
    std::string key = opt.answer_codec;
    if (key.empty()) {
        json_format = rng.random() >= opt.prob_plain_text_prompt;
        key = detail::rscovlm_codec_key(kind, json_format);
    }
    const std::unique_ptr<codec> fmt = registry::make<box_codec::kind>(key);
    if (fmt->kind() != kind)
        RSCOVLM_THROW(data_error, "codec_kind_mismatch",
                      "answer codec '" + key + "' writes " + std::string(box_codec::to_string(fmt->kind())) +
                          " boxes, the sample asks for " + std::string(to_string(region)));
    const std::string system = fmt->system_prompt();
    std::string user_template = fmt->user_template();
    // JSON answers draw their prompt among the reference's main and proxy templates.
    if (json_format) user_template = detail::det_json_template(region, user_template, opt.prob_proxy_prompt, rng);
    const std::string user = user_template.empty()
                                 ? fmt->user_prompt(eo.classes)
                                 : box_codec::detail::format_categories(tmpl(user_template), categories);
    const std::string response = fmt->encode(anns, eo);
    if (!system.empty()) c.messages.push_back(detail::message("system", system));
    nlohmann::ordered_json content = nlohmann::ordered_json::array();
    content.push_back(detail::image_item(rec.image, rs));
    content.push_back(detail::text_item(user));
    c.messages.push_back(detail::message("user", std::move(content)));
    c.messages.push_back(detail::message("assistant", response));
    return c;
}

} // namespace rscovlm::data
