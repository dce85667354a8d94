#pragma once
/// \file data/builders/grounding.hpp
/// Grounding conversations of referring expressions (rscovlm/training/data/refgeo_dataset.py
/// `get_messages` and the helpers of the same names as dense_det_dataset.py).

#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/box_codec/prompts.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/data/builders/common.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/data/refgeo_mask.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/obb.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace rscovlm::data {

namespace detail {

/// `select_{hbb,obb}_json_prompt_template` of refgeo_dataset.py (`<` comparisons).
inline std::string ground_json_template(region_type r, double prob_proxy, python_random& rng) {
    std::string t;
    if (rng.random() < prob_proxy) {
        if (r == region_type::hbb)
            t = std::string(prompts::ground_hbb_json_proxy[choice_index(rng, prompts::ground_hbb_json_proxy.size())]);
        else
            t = std::string(prompts::ground_obb_json_proxy[choice_index(rng, prompts::ground_obb_json_proxy.size())]);
    } else {
        t = std::string(r == region_type::hbb ? prompts::ground_hbb_json_main : prompts::ground_obb_json_main);
    }
    if (rng.random() < prob_proxy) t = ::rscovlm::detail::py::replace(t, "bbox", "bounding box");
    if (r != region_type::hbb && rng.random() < prob_proxy)
        t = ::rscovlm::detail::py::replace(t, "oriented", "rotated");
    return t;
}

/// `normalize_polygon(polygon, clockwise)`: sort the 4 points by atan2 around their mean
/// (ascending when clockwise, descending otherwise; stable), then rotate to start at the point
/// with the smallest (y, x).
inline std::array<long long, 8> normalize_polygon(const std::array<long long, 8>& flat, bool clockwise) {
    std::vector<std::pair<long long, long long>> pts;
    for (int i = 0; i < 8; i += 2)
        pts.emplace_back(flat[static_cast<std::size_t>(i)], flat[static_cast<std::size_t>(i + 1)]);
    const double cx = static_cast<double>(pts[0].first + pts[1].first + pts[2].first + pts[3].first) / 4;
    const double cy = static_cast<double>(pts[0].second + pts[1].second + pts[2].second + pts[3].second) / 4;
    auto ang = [&](const std::pair<long long, long long>& p) { return std::atan2(p.second - cy, p.first - cx); };
    std::stable_sort(pts.begin(), pts.end(),
                     [&](const auto& a, const auto& b) { return clockwise ? ang(a) < ang(b) : ang(a) > ang(b); });
    auto key_less = [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second < b.second : a.first < b.first;
    };
    std::size_t mi = 0;
    for (std::size_t i = 1; i < 4; ++i)
        if (key_less(pts[i], pts[mi])) mi = i;
    // points.index(min(...)): the first point equal to the minimum
    for (std::size_t i = 0; i < 4; ++i)
        if (pts[i] == pts[mi]) {
            mi = i;
            break;
        }
    std::array<long long, 8> out{};
    for (std::size_t k = 0; k < 4; ++k) {
        out[2 * k] = pts[(mi + k) % 4].first;
        out[2 * k + 1] = pts[(mi + k) % 4].second;
    }
    return out;
}

} // namespace detail

/// Grounding sample of `region` for a referring expression (refgeo_dataset.py `get_messages`):
/// the expression is the label; polygons are written counter-clockwise (`normalize_polygon(...,
/// False)`); the expression is pasted into the JSON target without escaping, as the reference does.
/// `seg` answers the record's mask as `<seg>` run lengths over 28x28 blocks of the resized frame
/// (`refgeo_mask_rle`; the mask is decoded through `build_options::load_image`).
inline conversation build_grounding(const grounding_record& rec, region_type region, const build_options& opt,
                                    python_random& rng) {
    const resolution::size rs = detail::plan_size(rec.width, rec.height, opt, detail::default_sizing::random, rng);
    conversation c;
    c.task = "ground." + std::string(to_string(region));
    c.images.push_back(image_ref{rec.image, rec.width, rec.height, rs.width, rs.height, std::nullopt, false});
    const std::string& q = rec.question;
    std::string system, user, response;
    if (region == region_type::seg) {
        // get_seg_messages: the mask target first, then select_mask_prompt_template (`<` draw)
        if (rec.mask_path.empty())
            RSCOVLM_THROW(data_error, "missing_mask",
                          "grounding record for '" + rec.image + "' has no segmentation mask");
        if (!opt.load_image)
            RSCOVLM_THROW(data_error, "no_image_loader", "segmentation samples need build_options::load_image");
        const std::string rle = refgeo_mask_rle(opt.load_image(rec.mask_path), rec.width, rec.height, rs.width,
                                                rs.height, opt.resize.factor);
        std::string t;
        if (rng.random() < opt.prob_proxy_prompt)
            t = std::string(prompts::ground_mask_proxy[detail::choice_index(rng, prompts::ground_mask_proxy.size())]);
        else
            t = std::string(prompts::ground_mask_main);
        c.messages.push_back(detail::message("system", std::string(prompts::ground_mask_system)));
        nlohmann::ordered_json content = nlohmann::ordered_json::array();
        content.push_back(detail::image_item(rec.image, rs));
        content.push_back(detail::text_item(::rscovlm::detail::py::replace(t, "{prompt}", q)));
        c.messages.push_back(detail::message("user", std::move(content)));
        c.messages.push_back(detail::message("assistant", "<seg>" + rle + "</seg>"));
        return c;
    }
    auto sx = [&](long long v) { return detail::scale_int(static_cast<double>(v), rs.width, rec.width); };
    auto sy = [&](long long v) { return detail::scale_int(static_cast<double>(v), rs.height, rec.height); };
    if (region == region_type::hbb) {
        if (!rec.bbox)
            RSCOVLM_THROW(data_error, "missing_bbox", "grounding record for '" + rec.image + "' has no bbox");
        const long long x1 = sx(::rscovlm::detail::py::int_trunc(rec.bbox->x1)),
                        y1 = sy(::rscovlm::detail::py::int_trunc(rec.bbox->y1));
        const long long x2 = sx(::rscovlm::detail::py::int_trunc(rec.bbox->x2)),
                        y2 = sy(::rscovlm::detail::py::int_trunc(rec.bbox->y2));
        const std::string coords =
            std::to_string(x1) + ", " + std::to_string(y1) + ", " + std::to_string(x2) + ", " + std::to_string(y2);
        if (rng.random() > opt.prob_plain_text_prompt) {
            user = ::rscovlm::detail::py::replace(detail::ground_json_template(region, opt.prob_proxy_prompt, rng),
                                                  "{prompt}", q);
            response = "```json\n[\n\t{\"bbox_2d\": [" + coords + "], \"label\": \"" + q + "\"}\n]\n```";
        } else {
            user = ::rscovlm::detail::py::replace(std::string(prompts::ground_plain_user), "{prompt}", q);
            response = std::to_string(x1) + "," + std::to_string(y1) + "," + std::to_string(x2) + "," +
                       std::to_string(y2) + " " + q + "\n";
            system = std::string(box_codec::prompts::hbb_plain_system);
        }
    } else {
        if (rec.poly.size() != 4)
            RSCOVLM_THROW(data_error, "missing_poly", "grounding record for '" + rec.image + "' has no 4-point poly");
        // np.array(poly).astype(int), then (v * resized / orig).astype(int)
        std::vector<double> flat;
        std::array<long long, 8> ints{};
        for (std::size_t k = 0; k < 4; ++k) {
            ints[2 * k] = sx(::rscovlm::detail::py::int_trunc(rec.poly[k].x));
            ints[2 * k + 1] = sy(::rscovlm::detail::py::int_trunc(rec.poly[k].y));
            flat.push_back(static_cast<double>(ints[2 * k]));
            flat.push_back(static_cast<double>(ints[2 * k + 1]));
        }
        if (region == region_type::obb) {
            const auto obb = geometry::segmentation_to_obb(flat);
            std::string cs;
            for (std::size_t k = 0; k < 5; ++k)
                cs += (k ? ", " : "") + std::to_string(obb[k]);
            std::string ps;
            for (std::size_t k = 0; k < 5; ++k)
                ps += (k ? "," : "") + std::to_string(obb[k]);
            if (rng.random() > opt.prob_plain_text_prompt) {
                user = ::rscovlm::detail::py::replace(detail::ground_json_template(region, opt.prob_proxy_prompt, rng),
                                                      "{prompt}", q);
                response = "```json\n[\n\t{\"oriented bbox\": [" + cs + "], \"label\": \"" + q + "\"}\n]\n```";
                system = std::string(box_codec::prompts::obb_json_system);
            } else {
                user = ::rscovlm::detail::py::replace(std::string(prompts::ground_plain_user), "{prompt}", q);
                response = ps + " " + q + "\n";
                system = std::string(box_codec::prompts::obb_plain_system);
            }
        } else {
            const auto p = detail::normalize_polygon(ints, false);
            std::string cs, ps;
            for (std::size_t k = 0; k < 8; ++k) {
                cs += (k ? ", " : "") + std::to_string(p[k]);
                ps += (k ? "," : "") + std::to_string(p[k]);
            }
            if (rng.random() > opt.prob_plain_text_prompt) {
                user = ::rscovlm::detail::py::replace(detail::ground_json_template(region, opt.prob_proxy_prompt, rng),
                                                      "{prompt}", q);
                response = "```json\n[\n\t{\"quadrant bbox\": [" + cs + "], \"label\": \"" + q + "\"}\n]\n```";
                system = std::string(box_codec::prompts::quad_json_system);
            } else {
                user = ::rscovlm::detail::py::replace(std::string(prompts::ground_plain_user), "{prompt}", q);
                response = ps + " " + q + "\n";
                system = std::string(box_codec::prompts::quad_plain_system);
            }
        }
    }
    if (!system.empty()) c.messages.push_back(detail::message("system", system));
    nlohmann::ordered_json content = nlohmann::ordered_json::array();
    content.push_back(detail::image_item(rec.image, rs));
    content.push_back(detail::text_item(user));
    c.messages.push_back(detail::message("user", std::move(content)));
    c.messages.push_back(detail::message("assistant", response));
    return c;
}

} // namespace rscovlm::data
