#pragma once
/// \file io/xml_annotations.hpp
/// VOC-style XML annotations of remote-sensing detection datasets, read with tinyxml2:
/// DIOR / DIOR-R (`<object>` with `<bndbox>` or `<robndbox>` holding the four corners
/// `x_left_top ... y_left_bottom`), roLabelImg (`<robndbox>` with `cx cy w h angle`, radians) and
/// HRSC2016 (`<HRSC_Object>` with `mbox_cx mbox_cy mbox_w mbox_h mbox_ang`, radians).
/// Malformed files raise data_error naming the file and the line.

#include <rscovlm/data/detail/pyformat.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/obb.hpp>

#include <nlohmann/json.hpp>
#include <tinyxml2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::io {

namespace detail {

[[noreturn]] inline void xml_fail(const std::string& path, int line, const std::string& what) {
    RSCOVLM_THROW(data_error, "bad_xml", path + ":" + std::to_string(line) + ": " + what);
}

inline const tinyxml2::XMLElement* xml_child(const tinyxml2::XMLElement* e, const char* name) {
    return e ? e->FirstChildElement(name) : nullptr;
}

inline std::string xml_text(const tinyxml2::XMLElement* e) {
    const char* t = e ? e->GetText() : nullptr;
    return t ? std::string(t) : std::string();
}

inline int xml_dimension(const tinyxml2::XMLElement* parent, const char* name, const std::string& path);

inline double xml_number(const tinyxml2::XMLElement* parent, const char* name, const std::string& path) {
    const tinyxml2::XMLElement* e = xml_child(parent, name);
    if (!e) xml_fail(path, parent ? parent->GetLineNum() : 0, std::string("missing <") + name + ">");
    double v = 0;
    const std::string t = xml_text(e);
    if (!data::detail::parse_python_float(t, v) || !std::isfinite(v))
        xml_fail(path, e->GetLineNum(), std::string("<") + name + "> is not a number: '" + t + "'");
    return v;
}

inline int xml_dimension(const tinyxml2::XMLElement* parent, const char* name, const std::string& path) {
    const double v = xml_number(parent, name, path);
    if (!(v >= 1 && v <= 1073741824.0))
        xml_fail(path, xml_child(parent, name)->GetLineNum(),
                 std::string("<") + name + "> must be a positive image size");
    return static_cast<int>(v);
}

/// Corners of a rotated box (angle in radians, counter-clockwise in the image as roLabelImg and
/// HRSC write it: x' = cx + u cos(a) - v sin(a), y' = cy + u sin(a) + v cos(a)).
inline std::vector<double> rotated_corners(double cx, double cy, double w, double h, double a) {
    const double c = std::cos(a), s = std::sin(a);
    const double us[4] = {-w / 2, w / 2, w / 2, -w / 2}, vs[4] = {-h / 2, -h / 2, h / 2, h / 2};
    std::vector<double> out;
    for (int i = 0; i < 4; ++i) {
        out.push_back(cx + us[i] * c - vs[i] * s);
        out.push_back(cy + us[i] * s + vs[i] * c);
    }
    return out;
}

/// COCO-style box of a polygon as RSCoVLM's converters store it: x1, y1 = min; w, h = extent.
inline geometry::hbox polygon_box(const std::vector<double>& p) {
    double x0 = p[0], y0 = p[1], x1 = p[0], y1 = p[1];
    for (std::size_t k = 0; k + 1 < p.size(); k += 2) {
        x0 = std::min(x0, p[k]);
        x1 = std::max(x1, p[k]);
        y0 = std::min(y0, p[k + 1]);
        y1 = std::max(y1, p[k + 1]);
    }
    return geometry::hbox{x0, y0, static_cast<double>(::rscovlm::detail::py::int_trunc(x0 + (x1 - x0))),
                          static_cast<double>(::rscovlm::detail::py::int_trunc(y0 + (y1 - y0)))};
}

/// Parses `text` into `doc` and returns its root element; bad_xml naming the line otherwise.
inline const tinyxml2::XMLElement* xml_root(tinyxml2::XMLDocument& doc, const std::string& text,
                                            const std::string& path) {
    if (doc.Parse(text.c_str(), text.size()) != tinyxml2::XML_SUCCESS)
        xml_fail(path, doc.ErrorLineNum(), std::string("invalid XML: ") + (doc.ErrorStr() ? doc.ErrorStr() : "?"));
    const tinyxml2::XMLElement* root = doc.RootElement();
    if (!root) xml_fail(path, 1, "empty document");
    return root;
}

} // namespace detail

/// Parses one XML annotation (text in memory; `path` names it in errors). The image path is
/// `data_path/<filename>`; `fallback_image` is used when the file names none.
inline data::detection_record parse_xml_annotation(const std::string& text, const std::string& path,
                                                   const std::string& data_path,
                                                   const std::string& fallback_image = {}) {
    tinyxml2::XMLDocument doc;
    const tinyxml2::XMLElement* root = detail::xml_root(doc, text, path);
    data::detection_record r;
    auto join = [&](const std::string& f) {
        return data_path.empty() ? f : (data_path.back() == '/' ? data_path + f : data_path + "/" + f);
    };
    if (std::string(root->Name()) == "HRSC_Image") {
        r.width = detail::xml_dimension(root, "Img_SizeWidth", path);
        r.height = detail::xml_dimension(root, "Img_SizeHeight", path);
        std::string name = detail::xml_text(detail::xml_child(root, "Img_FileName"));
        const std::string fmt = detail::xml_text(detail::xml_child(root, "Img_FileFmt"));
        if (!name.empty() && !fmt.empty()) name += "." + fmt;
        r.image = join(name.empty() ? fallback_image : name);
        const tinyxml2::XMLElement* objs = detail::xml_child(root, "HRSC_Objects");
        for (const tinyxml2::XMLElement* o = detail::xml_child(objs, "HRSC_Object"); o;
             o = o->NextSiblingElement("HRSC_Object")) {
            data::det_instance inst;
            inst.polygon =
                detail::rotated_corners(detail::xml_number(o, "mbox_cx", path), detail::xml_number(o, "mbox_cy", path),
                                        detail::xml_number(o, "mbox_w", path), detail::xml_number(o, "mbox_h", path),
                                        detail::xml_number(o, "mbox_ang", path));
            inst.bbox = detail::polygon_box(inst.polygon);
            inst.label = "ship";
            const std::string diff = detail::xml_text(detail::xml_child(o, "difficult"));
            inst.difficulty = diff == "1" ? 1 : 0;
            r.objects.push_back(std::move(inst));
        }
    } else {
        const tinyxml2::XMLElement* size = detail::xml_child(root, "size");
        if (!size) detail::xml_fail(path, root->GetLineNum(), "missing <size>");
        r.width = detail::xml_dimension(size, "width", path);
        r.height = detail::xml_dimension(size, "height", path);
        const std::string name = detail::xml_text(detail::xml_child(root, "filename"));
        r.image = join(name.empty() ? fallback_image : name);
        for (const tinyxml2::XMLElement* o = detail::xml_child(root, "object"); o;
             o = o->NextSiblingElement("object")) {
            data::det_instance inst;
            inst.label = detail::xml_text(detail::xml_child(o, "name"));
            if (inst.label.empty()) detail::xml_fail(path, o->GetLineNum(), "object without <name>");
            const std::string diff = detail::xml_text(detail::xml_child(o, "difficult"));
            inst.difficulty = diff == "1" ? 1 : 0;
            if (const auto* rb = detail::xml_child(o, "robndbox")) {
                if (detail::xml_child(rb, "x_left_top")) {
                    for (const char* k : {"x_left_top", "y_left_top", "x_right_top", "y_right_top", "x_right_bottom",
                                          "y_right_bottom", "x_left_bottom", "y_left_bottom"})
                        inst.polygon.push_back(detail::xml_number(rb, k, path));
                } else {
                    inst.polygon =
                        detail::rotated_corners(detail::xml_number(rb, "cx", path), detail::xml_number(rb, "cy", path),
                                                detail::xml_number(rb, "w", path), detail::xml_number(rb, "h", path),
                                                detail::xml_number(rb, "angle", path));
                }
                inst.bbox = detail::polygon_box(inst.polygon);
            } else if (const auto* bb = detail::xml_child(o, "bndbox")) {
                const double x1 = detail::xml_number(bb, "xmin", path), y1 = detail::xml_number(bb, "ymin", path);
                const double x2 = detail::xml_number(bb, "xmax", path), y2 = detail::xml_number(bb, "ymax", path);
                inst.polygon = {x1, y1, x2, y1, x2, y2, x1, y2};
                inst.bbox = geometry::hbox{x1, y1, x2, y2};
            } else {
                detail::xml_fail(path, o->GetLineNum(),
                                 "object '" + inst.label + "' has neither <robndbox> nor <bndbox>");
            }
            r.objects.push_back(std::move(inst));
        }
    }
    if (r.width <= 0 || r.height <= 0) detail::xml_fail(path, root->GetLineNum(), "image size must be positive");
    return r;
}

/// Reads one XML annotation file.
inline data::detection_record read_xml_annotation(const std::string& path, const std::string& data_path) {
    const std::string text =
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open XML annotation " + path);
    return parse_xml_annotation(text, path, data_path);
}

/// An XML document as a JSON tree: each element `{"name", "line", "text" (its text, or null),
/// "children": [elements]}` (attributes are not kept). The shape the benchmarks read their XML
/// ground truth from (`bench::environment::read_xml`). Bad XML is data_error "bad_xml" naming the
/// file and line; a missing file io_error "open_failed".
inline nlohmann::json parse_xml_tree(const std::string& text, const std::string& path) {
    tinyxml2::XMLDocument doc;
    const tinyxml2::XMLElement* root = detail::xml_root(doc, text, path);
    // Iterative, so deeply nested input cannot exhaust the stack.
    nlohmann::json out;
    std::vector<std::pair<const tinyxml2::XMLElement*, nlohmann::json*>> todo{{root, &out}};
    while (!todo.empty()) {
        auto [e, j] = todo.back();
        todo.pop_back();
        const char* t = e->GetText();
        *j = nlohmann::json{{"name", e->Name()},
                            {"line", e->GetLineNum()},
                            {"text", t ? nlohmann::json(std::string(t)) : nlohmann::json(nullptr)},
                            {"children", nlohmann::json::array()}};
        nlohmann::json& kids = (*j)["children"];
        std::size_t n = 0;
        for (const tinyxml2::XMLElement* c = e->FirstChildElement(); c; c = c->NextSiblingElement())
            ++n;
        for (std::size_t k = 0; k < n; ++k)
            kids.push_back(nullptr);
        std::size_t k = 0;
        for (const tinyxml2::XMLElement* c = e->FirstChildElement(); c; c = c->NextSiblingElement())
            todo.emplace_back(c, &kids[k++]);
    }
    return out;
}

/// Reads an XML file as `parse_xml_tree` does.
inline nlohmann::json read_xml_tree(const std::string& path) {
    const std::string text =
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open XML file " + path);
    return parse_xml_tree(text, path);
}

} // namespace rscovlm::io
