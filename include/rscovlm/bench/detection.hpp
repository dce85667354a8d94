#pragma once
/// \file bench/detection.hpp
/// Oriented object detection benchmarks, the way RSCoVLM evaluates them: every image is split in
/// memory into the mmrotate splitter's windows (`data::sliding_windows` + `data::crop_patch`, patch
/// size and gap from the parameters, 1024/200 by default; an image smaller than a patch is one padded
/// patch), each patch is answered with the box codec's prompts and decoded (drop report kept), the
/// boxes of every patch are mapped to the image frame by the patch offsets and merged class-wise with
/// rotated NMS (`eval::merge_patches`, DOTA_devkit's `py_cpu_nms_poly_fast` at 0.1), written as Task1
/// files (`OUT/task1/`), and scored by each DOTA metric of the preset (`metric.dota.devkit` /
/// `metric.dota.mmrotate`, mAP_nc with `no_scores`), optionally with the score-threshold sweep.
///
/// Four components differ in the data layout and ground truth they read:
/// - `bench.detection.dota`: `DATA/images/*.{png,jpg,jpeg,tif,tiff,bmp}` (or the images directly in
///   `DATA`) and DOTA label files `{id}.txt` in `DATA/labelTxt`, `DATA/annfiles` or `DATA/labels`,
///   scored from the label and Task1 files as the reference's evaluators read them.
/// - `bench.detection.dior`: DIOR-R as mmrotate 1.x `DIORDataset` reads it (`ann_type` "obb"):
///   ids from `ImageSets/Main/test.txt`, images `JPEGImages-test/{id}.jpg`, ground truth
///   `Annotations/Oriented Bounding Boxes/{id}.xml`: each `<object>`'s lower-cased `<name>` and the
///   eight `<robndbox>` corners (x_left_top .. y_left_bottom) as float32; `<difficult>` is not read
///   (every object counts). A name outside the class list is an error, as the reference's
///   `cat2label[cls]` fails.
/// - `bench.detection.hrsc`: HRSC2016 as mmrotate 1.x `HRSCDataset` reads it (single class "ship"):
///   ids from `ImageSets/test.txt`, images `FullDataSet/AllImages/{id}.bmp`, ground truth
///   `FullDataSet/Annotations/{id}.xml`: each `HRSC_Objects/HRSC_Object`'s `mbox_cx mbox_cy mbox_w
///   mbox_h mbox_ang` as float32 turned into corners by `rbox2qbox` in float32 (cos/sin in float32:
///   torch's may differ in the last bit); `<difficult>` is not read.
/// - `bench.detection.fair1m`: FAIR1M as lmmrotate's `FAIRDataset` reads it: images `images/`, ground
///   truth `labelXml/{id}.xml`: `objects/object`, the `possibleresult/name` (objects of a class
///   outside the 34-class list, e.g. "other-airplane", are skipped) and the first four `points`
///   ("x,y"). Besides Task1 files the run writes the official submission, `OUT/fair1m/test/{id}.xml`
///   and `OUT/fair1m/fair1m.zip`, as lmmrotate's `FAIRMetric.merge_results` writes it (corners
///   "%.2f" of float32, the first repeated, probability "%.4f"; the zip is stored, not deflated).
///   Without a `labelXml/` folder (the test set) the submission is the result and nothing is scored.
/// The layout's folders are parameters ("images", "annotations", "imageset": relative to `DATA`; an
/// empty "imageset", or a missing default one, takes every image of the images folder, sorted).
/// XML ground truth is scored in memory from the merged detections (as mmrotate's metrics take
/// predictions); the XML files are read through the runner's `read_xml` (tinyxml2 in `rscovlm::io`).

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/charts.hpp>
#include <rscovlm/data/detail/pyformat.hpp>
#include <rscovlm/data/split.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/eval/detection_protocols.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/dota_io.hpp>
#include <rscovlm/eval/report.hpp>
#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/pipeline/infer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::bench {

namespace detail {

inline bool is_bench_image(const std::filesystem::path& p) {
    std::string e = p.extension().string();
    for (char& c : e)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".tif" || e == ".tiff" || e == ".bmp";
}

inline std::vector<double> quad_coords(const geometry::quad& q) {
    std::vector<double> v;
    for (const auto& p : q) {
        v.push_back(p.x);
        v.push_back(p.y);
    }
    return v;
}

} // namespace detail

/// Ground-truth formats of the detection benchmarks.
enum class gt_format { dota, dior, hrsc, fair1m };

/// DIOR-R's 20 classes (mmrotate DIORDataset).
inline const std::vector<std::string>& dior_classes() {
    static const std::vector<std::string> v{"airplane",
                                            "airport",
                                            "baseballfield",
                                            "basketballcourt",
                                            "bridge",
                                            "chimney",
                                            "expressway-service-area",
                                            "expressway-toll-station",
                                            "dam",
                                            "golffield",
                                            "groundtrackfield",
                                            "harbor",
                                            "overpass",
                                            "ship",
                                            "stadium",
                                            "storagetank",
                                            "tenniscourt",
                                            "trainstation",
                                            "vehicle",
                                            "windmill"};
    return v;
}

/// FAIR1M's 34 classes (lmmrotate FAIRDataset).
inline const std::vector<std::string>& fair1m_classes() {
    static const std::vector<std::string> v{"Boeing737",
                                            "Boeing747",
                                            "Boeing777",
                                            "Boeing787",
                                            "C919",
                                            "A220",
                                            "A321",
                                            "A330",
                                            "A350",
                                            "ARJ21",
                                            "Passenger Ship",
                                            "Motorboat",
                                            "Fishing Boat",
                                            "Tugboat",
                                            "Engineering Ship",
                                            "Liquid Cargo Ship",
                                            "Dry Cargo Ship",
                                            "Warship",
                                            "Small Car",
                                            "Bus",
                                            "Cargo Truck",
                                            "Dump Truck",
                                            "Van",
                                            "Trailer",
                                            "Tractor",
                                            "Excavator",
                                            "Truck Tractor",
                                            "Basketball Court",
                                            "Tennis Court",
                                            "Football Field",
                                            "Baseball Field",
                                            "Intersection",
                                            "Roundabout",
                                            "Bridge"};
    return v;
}

namespace detail {

/// The element children of a node of `read_xml`'s tree (`{"name", "line", "text", "children"}`)
/// named `name`.
inline std::vector<const nlohmann::json*> xml_children(const nlohmann::json* node, std::string_view name) {
    std::vector<const nlohmann::json*> out;
    if (!node || !node->contains("children")) return out;
    for (const auto& c : node->at("children"))
        if (c.value("name", std::string()) == name) out.push_back(&c);
    return out;
}
inline const nlohmann::json* xml_child(const nlohmann::json* node, std::string_view name) {
    auto v = xml_children(node, name);
    return v.empty() ? nullptr : v.front();
}
inline std::string xml_text(const nlohmann::json* node) {
    return node && node->contains("text") && node->at("text").is_string() ? node->at("text").get<std::string>()
                                                                          : std::string();
}
[[noreturn]] inline void xml_gt_fail(const std::string& path, const nlohmann::json* node, const std::string& what) {
    const long long line = node ? node->value("line", 0LL) : 0;
    RSCOVLM_THROW(data_error, "bad_xml", path + ":" + std::to_string(line) + ": " + what);
}
/// Python `float(text)` of a child element, or `bad_xml` naming it.
inline double xml_float(const nlohmann::json* parent, const char* name, const std::string& path) {
    const nlohmann::json* e = xml_child(parent, name);
    if (!e) xml_gt_fail(path, parent, std::string("missing <") + name + ">");
    double v = 0;
    const std::string t = xml_text(e);
    if (!data::detail::parse_python_float(t, v))
        xml_gt_fail(path, e, std::string("<") + name + "> is not a number: '" + t + "'");
    return v;
}

/// mmrotate's `rbox2qbox` on one float32 box (pt1 = c + v1 + v2, pt2 = c + v1 - v2, pt3 = c - v1 - v2,
/// pt4 = c - v1 + v2 with v1 = w/2 (cos, sin), v2 = h/2 (-sin, cos)), in float32.
inline geometry::quad rbox2qbox_f32(float cx, float cy, float w, float h, float a) {
    const float c = std::cos(a), s = std::sin(a);
    const float v1x = w / 2 * c, v1y = w / 2 * s, v2x = -h / 2 * s, v2y = h / 2 * c;
    const float xs[4] = {cx + v1x + v2x, cx + v1x - v2x, cx - v1x - v2x, cx - v1x + v2x};
    const float ys[4] = {cy + v1y + v2y, cy + v1y - v2y, cy - v1y - v2y, cy - v1y + v2y};
    geometry::quad q{};
    for (int i = 0; i < 4; ++i)
        q[static_cast<std::size_t>(i)] = geometry::point{xs[i], ys[i]};
    return q;
}

/// The ground-truth objects of one XML file (`tree` from `read_xml`) in `format` (see the file comment).
inline std::vector<eval::gt_object> xml_ground_truth(const nlohmann::json& tree, gt_format format,
                                                     const std::vector<std::string>& classes, const std::string& path) {
    std::vector<eval::gt_object> out;
    auto known = [&](const std::string& c) { return std::find(classes.begin(), classes.end(), c) != classes.end(); };
    if (format == gt_format::dior) {
        for (const nlohmann::json* o : xml_children(&tree, "object")) {
            eval::gt_object g;
            g.label = ::rscovlm::detail::py::lower_ascii(xml_text(xml_child(o, "name")));
            if (!known(g.label)) xml_gt_fail(path, o, "class '" + g.label + "' is not in the class list");
            const nlohmann::json* rb = xml_child(o, "robndbox");
            if (!rb) xml_gt_fail(path, o, "object '" + g.label + "' has no <robndbox>");
            static const char* keys[] = {"x_left_top",     "y_left_top",     "x_right_top",   "y_right_top",
                                         "x_right_bottom", "y_right_bottom", "x_left_bottom", "y_left_bottom"};
            for (std::size_t k = 0; k < 4; ++k)
                g.poly[k] = geometry::point{static_cast<float>(xml_float(rb, keys[2 * k], path)),
                                            static_cast<float>(xml_float(rb, keys[2 * k + 1], path))};
            out.push_back(std::move(g));
        }
    } else if (format == gt_format::hrsc) {
        for (const nlohmann::json* o : xml_children(xml_child(&tree, "HRSC_Objects"), "HRSC_Object")) {
            eval::gt_object g;
            g.label = classes.empty() ? "ship" : classes.front();
            g.poly = rbox2qbox_f32(
                static_cast<float>(xml_float(o, "mbox_cx", path)), static_cast<float>(xml_float(o, "mbox_cy", path)),
                static_cast<float>(xml_float(o, "mbox_w", path)), static_cast<float>(xml_float(o, "mbox_h", path)),
                static_cast<float>(xml_float(o, "mbox_ang", path)));
            out.push_back(std::move(g));
        }
    } else if (format == gt_format::fair1m) {
        const nlohmann::json* objects = xml_child(&tree, "objects");
        if (!objects) xml_gt_fail(path, &tree, "missing <objects>");
        for (const nlohmann::json* o : xml_children(objects, "object")) {
            eval::gt_object g;
            g.label = xml_text(xml_child(xml_child(o, "possibleresult"), "name"));
            if (!known(g.label)) continue;
            const auto pts = xml_children(xml_child(o, "points"), "point");
            if (pts.size() < 4) xml_gt_fail(path, o, "object '" + g.label + "' has fewer than 4 <point>s");
            for (std::size_t k = 0; k < 4; ++k) {
                const std::string t = xml_text(pts[k]);
                const std::size_t comma = t.find(',');
                double x = 0, y = 0;
                if (comma == std::string::npos || !data::detail::parse_python_float(t.substr(0, comma), x) ||
                    !data::detail::parse_python_float(t.substr(comma + 1), y))
                    xml_gt_fail(path, pts[k], "<point> is not 'x,y': '" + t + "'");
                g.poly[k] = geometry::point{x, y};
            }
            out.push_back(std::move(g));
        }
    }
    return out;
}

/// CRC-32 (IEEE, as zip stores it).
inline std::uint32_t crc32(const std::string& s) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char ch : s)
        c = table[(c ^ ch) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/// Writes a zip archive of `files` (name, contents), stored without compression.
inline void write_stored_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& files) {
    if (files.size() > 0xFFFFu)
        RSCOVLM_THROW(io_error, "zip_too_large", "'" + path + "': more than 65535 files need zip64, not written here");
    std::string out, central;
    auto u16 = [](std::string& b, std::uint32_t v) {
        b.push_back(static_cast<char>(v & 0xFF));
        b.push_back(static_cast<char>((v >> 8) & 0xFF));
    };
    auto u32 = [&](std::string& b, std::uint32_t v) {
        u16(b, v & 0xFFFF);
        u16(b, v >> 16);
    };
    // The fields local headers and central entries share: version needed, flags, stored, DOS time
    // and date (1980-01-01), CRC, both sizes, name length, extra length.
    auto fields = [&](std::string& b, std::uint32_t crc, std::uint32_t size, std::uint32_t nlen) {
        for (std::uint32_t v : {20u, 0u, 0u, 0u, 0x21u})
            u16(b, v);
        u32(b, crc);
        u32(b, size);
        u32(b, size);
        u16(b, nlen);
        u16(b, 0);
    };
    for (const auto& [name, data] : files) {
        if (out.size() + data.size() + name.size() + 30 > 0xFFFFFFFFull)
            RSCOVLM_THROW(io_error, "zip_too_large", "'" + path + "': over 4 GiB needs zip64, not written here");
        const std::uint32_t offset = static_cast<std::uint32_t>(out.size()), crc = crc32(data);
        const auto size = static_cast<std::uint32_t>(data.size());
        const auto nlen = static_cast<std::uint32_t>(name.size());
        u32(out, 0x04034b50u); // local file header
        fields(out, crc, size, nlen);
        out += name;
        out += data;
        u32(central, 0x02014b50u); // central directory entry
        u16(central, 20);          // version made by
        fields(central, crc, size, nlen);
        u16(central, 0); // comment length
        u16(central, 0); // disk
        u16(central, 0); // internal attributes
        u32(central, 0); // external attributes
        u32(central, offset);
        central += name;
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    u32(out, 0x06054b50u); // end of central directory
    u16(out, 0);
    u16(out, 0);
    u16(out, static_cast<std::uint32_t>(files.size()));
    u16(out, static_cast<std::uint32_t>(files.size()));
    u32(out, static_cast<std::uint32_t>(central.size()));
    u32(out, cd_offset);
    u16(out, 0);
    std::ofstream f(path, std::ios::binary);
    f << out;
    if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + path + "'");
}

/// One image's FAIR1M submission XML as lmmrotate's FAIRMetric writes it with ElementTree.
inline std::string fair1m_submission_xml(const std::vector<std::pair<std::string, const eval::detection*>>& dets) {
    if (dets.empty()) return "<annotation><objects /></annotation>";
    std::string x = "<annotation><objects>";
    char buf[96];
    for (const auto& [label, d] : dets) {
        std::snprintf(buf, sizeof buf, "%.4f", static_cast<double>(static_cast<float>(d->score)));
        x += "<object><possibleresult><name>" + label + "</name><probability>" + buf +
             "</probability></possibleresult><points>";
        for (int k = 0; k < 5; ++k) {
            const geometry::point& p = d->poly[static_cast<std::size_t>(k % 4)];
            std::snprintf(buf, sizeof buf, "%.2f,%.2f", static_cast<double>(static_cast<float>(p.x)),
                          static_cast<double>(static_cast<float>(p.y)));
            x += std::string("<point>") + buf + "</point>";
        }
        x += "</points></object>";
    }
    return x + "</objects></annotation>";
}

} // namespace detail

/// The detection benchmarks' common part (see the file comment); the registered components below
/// differ in their defaults.
class detection_bench_base : public benchmark {
public:
    gt_format format = gt_format::dota;
    std::vector<std::string> classes; ///< empty: the format's classes (DOTA-v1.0's for DOTA)
    data::split_options split;        ///< patch size / gap (1024 / 200), padding
    eval::nms_options merge{0.1, eval::nms_method::devkit_fast, eval::tie_order::numpy};
    eval::task1_style task1 = eval::task1_style::mmrotate;
    std::string images_dir, annotations_dir, imageset; ///< layout (relative to the data folder)
    bool imageset_given = false;                       ///< "imageset" set by the parameters: a missing file is an error
    bool with_mf1 = false;                             ///< also LMMRotate's mF1 over score thresholds

    /// The class list scored (the parameter, or the format's).
    std::vector<std::string> class_list() const {
        if (!classes.empty()) return classes;
        switch (format) {
        case gt_format::dior:
            return dior_classes();
        case gt_format::hrsc:
            return {"ship"};
        case gt_format::fair1m:
            return fair1m_classes();
        case gt_format::dota:
            break;
        }
        return eval::dota_v1_classes();
    }

    std::string_view task() const noexcept override { return "detection"; }

    std::vector<record> load(const std::string& data) const override {
        namespace fs = std::filesystem;
        const std::string key(component_key());
        if (!fs::is_directory(data)) RSCOVLM_THROW(data_error, "bad_data", key + " needs a folder, got '" + data + "'");
        const fs::path root(data);
        if (format == gt_format::dota) return load_dota(root);
        const fs::path images = root / images_dir, labels = root / annotations_dir;
        if (!fs::is_directory(images))
            RSCOVLM_THROW(data_error, "no_images", key + ": '" + images.string() + "' is not a folder");
        const bool has_labels = fs::is_directory(labels);
        if (!has_labels && format != gt_format::fair1m)
            RSCOVLM_THROW(data_error, "no_labels", key + ": no annotation folder '" + labels.string() + "'");
        // Every image of the folder by its name without extension (extensions of any case).
        std::map<std::string, std::string> by_id;
        for (const auto& e : fs::directory_iterator(images))
            if (e.is_regular_file() && detail::is_bench_image(e.path())) {
                const std::string id = e.path().stem().string();
                if (!by_id.emplace(id, e.path().string()).second)
                    RSCOVLM_THROW(data_error, "duplicate_id",
                                  key + ": two images named '" + id + "' in '" + images.string() + "'");
            }
        std::vector<std::string> ids;
        const fs::path set = imageset.empty() ? fs::path() : root / imageset;
        if (!set.empty() && fs::is_regular_file(set)) {
            ids = eval::read_imageset(set.string());
        } else if (imageset_given) {
            RSCOVLM_THROW(data_error, "missing_imageset", key + ": no image set file '" + set.string() + "'");
        } else {
            for (const auto& [id, path] : by_id)
                ids.push_back(id);
        }
        std::vector<record> out;
        for (const auto& id : ids) {
            // Patch names are "{id}__{scale}__{x}___{y}" and split at the first "__" when merged.
            if (id.find("__") != std::string::npos || id.find('/') != std::string::npos)
                RSCOVLM_THROW(data_error, "bad_id",
                              key + ": image id '" + id + "' contains '__' or '/', which patch names cannot carry");
            const auto found = by_id.find(id);
            if (found == by_id.end())
                RSCOVLM_THROW(data_error, "missing_image",
                              key + ": no image '" + id + "' in '" + images.string() + "'");
            const std::string img = found->second;
            nlohmann::json in = {{"image", img}};
            if (has_labels) {
                const fs::path xml = labels / (id + ".xml");
                if (!fs::is_regular_file(xml))
                    RSCOVLM_THROW(data_error, "missing_labels",
                                  "image '" + img + "' has no annotation file '" + xml.string() + "'");
                in["labels"] = xml.string();
            }
            out.push_back(record{id, std::move(in)});
        }
        if (out.empty()) RSCOVLM_THROW(data_error, "no_records", key + ": no images in '" + images.string() + "'");
        return out;
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        const box_codec::codec& codec = detail::need(env.codec, "box_codec", component_key());
        resolution::strategy& sizing = detail::need(env.sizing, "resolution", component_key());
        if (!env.load_image) RSCOVLM_THROW(config_error, "no_image_loader", "the benchmark has no image loader");
        image img = env.load_image(r.input.at("image").get<std::string>());
        if (img.channels != 3) img = imaging::to_rgb(img, imaging::rgb_mode::convert); // cv2.imread drops alpha
        const std::vector<std::string> names = class_list();
        nlohmann::json line = {{"image", r.input.at("image")}, {"width", img.width}, {"height", img.height}};
        nlohmann::json patches = nlohmann::json::array();
        for (const data::split_window& w : data::sliding_windows(img.width, img.height, split)) {
            const image patch = data::crop_patch(img, w, split);
            const pipeline::detection_result d =
                pipeline::detect(patch, codec, sizing, model, names, env.generation, env.box_scores, env.constrain);
            if (!line.contains("prompt")) {
                line["system"] = d.system;
                line["prompt"] = d.prompt;
            }
            patches.push_back({{"patch", data::patch_id(r.id, w)},
                               {"x", w.x_start},
                               {"y", w.y_start},
                               {"text", d.text},
                               {"objects", nlohmann::json(d.decoded)["objects"]},
                               {"dropped", d.decoded.dropped}});
        }
        line["patches"] = std::move(patches);
        return line;
    }

    /// The merged detections of the answered records, per class (image ids = record ids).
    std::vector<eval::class_detections> merged_detections(const std::vector<record>& records,
                                                          const answer_view& answers, box_codec::box_kind kind,
                                                          std::size_t* unknown_labels = nullptr) const {
        const std::vector<std::string> names = class_list();
        std::vector<eval::class_detections> per_class;
        for (const auto& c : names)
            per_class.push_back(eval::class_detections{c, true, {}});
        std::size_t unknown = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (failed(answers[i])) continue;
            for (const auto& p : answers[i]->at("patches")) {
                const std::string patch = p.at("patch").get<std::string>();
                for (const auto& o : p.at("objects")) {
                    const auto obj = o.get<box_codec::object>();
                    // The decoded label is the class's display form; its index names the raw class.
                    geometry::quad q{};
                    if (obj.label_id < 0 || static_cast<std::size_t>(obj.label_id) >= names.size() ||
                        !box_codec::object_quad(obj, kind, q)) {
                        ++unknown;
                        continue;
                    }
                    per_class[static_cast<std::size_t>(obj.label_id)].dets.push_back(
                        eval::detection{patch, obj.score.value_or(1.0), q});
                }
            }
        }
        if (unknown_labels) *unknown_labels = unknown;
        return eval::merge_patches(per_class, merge);
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options& options) const override {
        namespace fs = std::filesystem;
        const std::string key(component_key());
        const box_codec::codec& codec = detail::need(env.codec, "box_codec", key);
        if (options.out_dir.empty())
            RSCOVLM_THROW(data_error, "no_out_dir", key + " writes Task1 files: it needs a run folder");
        const std::vector<std::string> names = class_list();
        std::size_t failed_n = 0, dropped = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (failed(answers[i])) {
                ++failed_n;
                continue;
            }
            for (const auto& p : answers[i]->at("patches"))
                dropped += p.at("dropped").value("total", std::size_t(0));
        }
        std::size_t unknown = 0;
        const auto merged = merged_detections(records, answers, codec.kind(), &unknown);
        const std::string task1_dir = (fs::path(options.out_dir) / "task1").string();
        eval::write_task1_dir(task1_dir, merged, task1);
        // Scores cover the answered images; failed ones are reported, not scored as empty.
        std::vector<std::string> ids;
        std::vector<std::size_t> answered;
        for (std::size_t i = 0; i < records.size(); ++i)
            if (!failed(answers[i])) {
                ids.push_back(records[i].id);
                answered.push_back(i);
            }
        nlohmann::json extra = nlohmann::json::object();
        if (format == gt_format::fair1m) {
            // Every image gets its file (a failed one an empty list), as the server expects the whole set.
            std::vector<std::string> all;
            for (const auto& r : records)
                all.push_back(r.id);
            extra["submission"] = write_fair1m_submission(options.out_dir, all, merged);
        }
        const bool scored = format == gt_format::dota || records.empty() || records.front().input.contains("labels");
        if (!scored) {
            table t;
            t.columns = {"images", "answered", "failed"};
            t.rows.push_back({records.size(), records.size() - failed_n, failed_n});
            return {{"task", "detection"},
                    {"total", records.size()},
                    {"answered", records.size() - failed_n},
                    {"failed", failed_n},
                    {"dropped_boxes", dropped},
                    {"unknown_labels", unknown},
                    {"task1_dir", task1_dir},
                    {"metrics", extra},
                    {"table", t},
                    {"pictures", nlohmann::json::array()}};
        }
        // Ground truth: DOTA label files are read by each protocol's own reader (from the folder);
        // XML ground truth is parsed here once and scored in memory.
        const std::string imageset_path = (fs::path(options.out_dir) / "imageset.txt").string();
        std::string gt_dir;
        eval::dota_ground_truth xml_gt;
        if (format == gt_format::dota) {
            std::ofstream f(imageset_path, std::ios::binary);
            for (const auto& id : ids)
                f << id << '\n';
            if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + imageset_path + "'");
            gt_dir = records.empty()
                         ? std::string()
                         : fs::path(records.front().input.at("labels").get<std::string>()).parent_path().string();
        } else {
            if (!env.read_xml)
                RSCOVLM_THROW(config_error, "no_xml_reader",
                              key + " reads XML ground truth: the run has no XML reader");
            for (std::size_t i : answered) {
                const std::string path = records[i].input.at("labels").get<std::string>();
                xml_gt.images.push_back(records[i].id);
                xml_gt.objects.push_back(detail::xml_ground_truth(env.read_xml(path), format, names, path));
            }
        }
        nlohmann::json in_memory;
        if (format != gt_format::dota) {
            nlohmann::json images = nlohmann::json::array(), dets = nlohmann::json::array();
            for (std::size_t k = 0; k < xml_gt.images.size(); ++k) {
                nlohmann::json objs = nlohmann::json::array();
                for (const auto& g : xml_gt.objects[k])
                    objs.push_back(
                        {{"poly", detail::quad_coords(g.poly)}, {"label", g.label}, {"difficult", g.difficult}});
                images.push_back({{"id", xml_gt.images[k]}, {"objects", std::move(objs)}});
            }
            for (const auto& c : merged)
                for (const auto& d : c.dets)
                    dets.push_back({{"image", d.image},
                                    {"label", c.label},
                                    {"score", d.score},
                                    {"poly", detail::quad_coords(d.poly)}});
            in_memory = {{"images", std::move(images)}, {"detections", std::move(dets)}};
        }
        nlohmann::json metrics = extra;
        table t;
        t.columns = {"class", "gts", "dets"};
        std::vector<std::vector<nlohmann::json>> rows(names.size());
        std::vector<nlohmann::json> map_row = {"mAP", nullptr, nullptr};
        const eval::dota_eval_options* curve_opts = nullptr;
        for (const metric_ref& m : env.metrics) {
            if (m.key.rfind("metric.dota.", 0) != 0) continue;
            // Nothing answered: no score (an empty image set would mean every label file). A protocol
            // that rejects the labels (mmrotate's reader raises on DOTA's imagesource:/gsd: header
            // lines, as the reference does) reports its error; the other protocols still score.
            nlohmann::json res = {{"mAP", nullptr}, {"classes", nlohmann::json::array()}};
            if (!ids.empty()) {
                auto r = try_call([&] {
                    return format == gt_format::dota
                               ? m.metric->evaluate(
                                     {{"gt_dir", gt_dir}, {"det_dir", task1_dir}, {"imageset", imageset_path}})
                               : m.metric->evaluate(in_memory);
                });
                if (r.ok())
                    res = std::move(r.value());
                else
                    res["error"] = r.error().what();
            }
            metrics[m.key] = res;
            t.columns.push_back(m.key + " AP");
            for (std::size_t c = 0; c < names.size(); ++c) {
                const nlohmann::json* cr = nullptr;
                for (const auto& e : res.at("classes"))
                    if (e.at("class") == names[c]) cr = &e;
                if (rows[c].empty())
                    rows[c] = {names[c], cr ? cr->at("num_gts") : nlohmann::json(nullptr),
                               cr ? cr->at("num_dets") : nlohmann::json(nullptr)};
                rows[c].push_back(cr ? cr->at("ap") : nlohmann::json(nullptr));
            }
            map_row.push_back(res.at("mAP"));
            if (!curve_opts) {
                if (auto* d = dynamic_cast<const eval::dota_devkit_metric*>(m.metric.get())) curve_opts = &d->options;
                if (auto* d = dynamic_cast<const eval::dota_mmrotate_metric*>(m.metric.get())) curve_opts = &d->options;
            }
        }
        if (!curve_opts)
            RSCOVLM_THROW(config_error, "missing_component",
                          key + " needs a metric.dota.devkit or metric.dota.mmrotate metric in the preset");
        for (auto& r : rows)
            t.rows.push_back(std::move(r));
        t.rows.push_back(std::move(map_row));

        nlohmann::json pictures = nlohmann::json::array();
        eval::dota_eval_options opt = *curve_opts;
        opt.classes = names;
        auto ground_truth = [&]() {
            if (format != gt_format::dota) return xml_gt;
            const eval::gt_syntax syn =
                opt.protocol == eval::dota_protocol::devkit ? eval::gt_syntax::devkit : eval::gt_syntax::mmrotate;
            return eval::read_dota_gt_dir(gt_dir, ids, syn);
        };
        auto detections = [&]() { return format == gt_format::dota ? eval::read_task1_dir(task1_dir, names) : merged; };
        if (options.sweep && !ids.empty())
            metrics["sweep"] = eval::to_json(eval::sweep_score_thresholds(ground_truth(), detections(), opt));
        if (with_mf1 && !ids.empty()) {
            // LMMRotate's mF1 (mmrotate's label reader, as `rscovlm eval mf1`); a reader error is reported.
            auto r = try_call([&] {
                const eval::dota_ground_truth gt =
                    format == gt_format::dota ? eval::read_dota_gt_dir(gt_dir, ids, eval::gt_syntax::mmrotate) : xml_gt;
                return eval::to_json(eval::mf1(gt, detections(), names, {}, opt.iou_threshold));
            });
            metrics["mf1"] = r.ok() ? r.value() : nlohmann::json{{"error", r.error().what()}};
        }
        if (options.save_png && !ids.empty()) {
            const fs::path pic_dir = fs::path(options.out_dir) / "pictures";
            fs::create_directories(pic_dir);
            opt.keep_curves = true;
            const eval::dota_eval_result curves = eval::evaluate_dota(ground_truth(), detections(), opt);
            for (const auto& c : curves.classes) {
                if (c.num_gts <= 0) continue;
                const std::string path = (pic_dir / ("pr_" + c.label + ".png")).string();
                options.save_png(path, pr_curve_chart(c.recall, c.precision, options.text,
                                                      c.label + "  AP " + detail::fixed2(c.ap) + "  (" +
                                                          std::to_string(c.num_gts) + " objects)"));
                pictures.push_back(path);
            }
            std::vector<sample_view> samples;
            for (std::size_t k = 0; k < answered.size() && samples.size() < options.samples; ++k) {
                const std::size_t i = answered[k];
                if (!env.load_image) break;
                sample_view s;
                s.picture = env.load_image(records[i].input.at("image").get<std::string>());
                if (format == gt_format::dota) {
                    for (const auto& g : eval::parse_dota_gt(eval::read_text_file(records[i].input.at("labels")),
                                                             eval::gt_syntax::devkit, records[i].id))
                        s.truth.push_back(g.poly);
                } else {
                    for (const auto& g : xml_gt.objects[k])
                        s.truth.push_back(g.poly);
                }
                for (const auto& c : merged)
                    for (const auto& d : c.dets)
                        if (d.image == records[i].id) s.predicted.push_back(d.poly);
                s.caption = records[i].id + ": " + std::to_string(s.truth.size()) + " truth (green), " +
                            std::to_string(s.predicted.size()) + " predicted (red)";
                samples.push_back(std::move(s));
            }
            if (!samples.empty()) {
                const std::string path = (pic_dir / "samples.png").string();
                options.save_png(path, sample_page(samples, options.text));
                pictures.push_back(path);
            }
        }
        return {{"task", "detection"},    {"total", records.size()},  {"answered", records.size() - failed_n},
                {"failed", failed_n},     {"dropped_boxes", dropped}, {"unknown_labels", unknown},
                {"task1_dir", task1_dir}, {"metrics", metrics},       {"table", t},
                {"pictures", pictures}};
    }

protected:
    /// Sets the format and its default layout, then reads the parameters shared by every detection
    /// benchmark (see the components' `from_params`).
    void read_params(registry::params& p, gt_format f = gt_format::dota, const char* images = "",
                     const char* annotations = "", const char* set = "") {
        format = f;
        images_dir = images;
        annotations_dir = annotations;
        imageset = set;
        classes = p.get<std::vector<std::string>>("classes", {});
        split.sizes = {p.get<int>("patch_size", 1024)};
        split.gaps = {p.get<int>("patch_gap", 200)};
        split.img_rate_thr = p.get<double>("img_rate_thr", 0.6);
        split.padding = p.get<bool>("padding", true);
        split.padding_value_bgr = p.get<std::vector<int>>("padding_value", {0});
        p.check(split.sizes[0] > 0 && split.gaps[0] >= 0 && split.sizes[0] > split.gaps[0], "patch_size",
                "need patch_size > patch_gap >= 0");
        p.check(!split.padding_value_bgr.empty() && split.padding_value_bgr.size() <= 4, "padding_value",
                "must hold 1 or one value per channel");
        for (int v : split.padding_value_bgr)
            p.check(v >= 0 && v <= 255, "padding_value", "values must be in [0, 255]");
        merge.iou_threshold = p.get<double>("merge_iou", 0.1);
        p.check(merge.iou_threshold >= 0 && merge.iou_threshold <= 1, "merge_iou", "must be in [0, 1]");
        const std::string m = p.get<std::string>("merge_nms", "devkit_fast");
        p.check(eval::parse_nms_method(m, merge.method), "merge_nms", "must be devkit_fast, devkit, exact or mmcv");
        const std::string t = p.get<std::string>("task1_style", "mmrotate");
        p.check(t == "mmrotate" || t == "devkit", "task1_style", "must be mmrotate or devkit");
        task1 = t == "devkit" ? eval::task1_style::devkit : eval::task1_style::mmrotate;
        images_dir = p.get<std::string>("images", images_dir);
        annotations_dir = p.get<std::string>("annotations", annotations_dir);
        imageset_given = p.has("imageset");
        imageset = p.get<std::string>("imageset", imageset);
        with_mf1 = p.get<bool>("mf1", false);
    }

private:
    std::vector<record> load_dota(const std::filesystem::path& root) const {
        namespace fs = std::filesystem;
        const fs::path images = fs::is_directory(root / "images") ? root / "images" : root;
        fs::path labels;
        for (const char* d : {"labelTxt", "annfiles", "labels"})
            if (fs::is_directory(root / d)) {
                labels = root / d;
                break;
            }
        if (labels.empty())
            RSCOVLM_THROW(data_error, "no_labels",
                          "'" + root.string() + "' has no labelTxt/, annfiles/ or labels/ folder");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(images))
            if (e.is_regular_file() && detail::is_bench_image(e.path())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        std::vector<record> out;
        for (const auto& f : files) {
            const std::string id = f.stem().string();
            const fs::path label = labels / (id + ".txt");
            if (!fs::is_regular_file(label))
                RSCOVLM_THROW(data_error, "missing_labels",
                              "image '" + f.string() + "' has no label file '" + label.string() + "'");
            out.push_back(record{id, {{"image", f.string()}, {"labels", label.string()}}});
        }
        if (out.empty()) RSCOVLM_THROW(data_error, "no_records", "no images in '" + images.string() + "'");
        return out;
    }

    /// Writes `OUT/fair1m/test/{id}.xml` for every answered image and `OUT/fair1m/fair1m.zip`.
    static std::string write_fair1m_submission(const std::string& out_dir, const std::vector<std::string>& ids,
                                               const std::vector<eval::class_detections>& merged) {
        namespace fs = std::filesystem;
        const fs::path dir = fs::path(out_dir) / "fair1m";
        fs::create_directories(dir / "test");
        std::map<std::string, std::vector<std::pair<std::string, const eval::detection*>>> by_image;
        for (const auto& c : merged)
            for (const auto& d : c.dets)
                by_image[d.image].emplace_back(c.label, &d);
        std::vector<std::pair<std::string, std::string>> files;
        for (const auto& id : ids) {
            const std::string xml = detail::fair1m_submission_xml(by_image[id]);
            std::ofstream f(dir / "test" / (id + ".xml"), std::ios::binary);
            f << xml;
            if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write the FAIR1M submission of '" + id + "'");
            files.emplace_back("test/" + id + ".xml", xml);
        }
        detail::write_stored_zip((dir / "fair1m.zip").string(), files);
        return (dir / "fair1m.zip").string();
    }
};

/// DOTA-layout folders (see the file comment).
class dota_detection_bench : public registry::component<dota_detection_bench, detection_bench_base> {
public:
    static constexpr std::string_view key = "bench.detection.dota";
    static constexpr std::string_view summary =
        "DOTA-layout detection: in-memory split, per-patch answers, merge with rotated NMS, Task1 files, mAP(_nc)";
    /// Parameters: "classes" (list), "patch_size" (1024), "patch_gap" (200), "img_rate_thr" (0.6),
    /// "padding" (true), "padding_value" (BGR list, [0]), "merge_iou" (0.1), "merge_nms"
    /// ("devkit_fast" | "devkit" | "exact" | "mmcv"), "task1_style" ("mmrotate" | "devkit"), "mf1"
    /// (false: also LMMRotate's mF1 over the score thresholds 0, 0.1, ..., 0.9, as `eval mf1`).
    static dota_detection_bench from_params(registry::params& p) {
        dota_detection_bench b;
        b.read_params(p);
        return b;
    }
};

/// DIOR-R (see the file comment).
class dior_detection_bench : public registry::component<dior_detection_bench, detection_bench_base> {
public:
    static constexpr std::string_view key = "bench.detection.dior";
    static constexpr std::string_view summary =
        "DIOR-R detection: VOC XML ground truth (robndbox corners) read as mmrotate's DIORDataset, split, "
        "merge, Task1 files, mAP(_nc)";
    /// Parameters: those of `bench.detection.dota`, and "images" ("JPEGImages-test"),
    /// "annotations" ("Annotations/Oriented Bounding Boxes"), "imageset" ("ImageSets/Main/test.txt").
    static dior_detection_bench from_params(registry::params& p) {
        dior_detection_bench b;
        b.read_params(p, gt_format::dior, "JPEGImages-test", "Annotations/Oriented Bounding Boxes",
                      "ImageSets/Main/test.txt");
        return b;
    }
};

/// HRSC2016 (see the file comment).
class hrsc_detection_bench : public registry::component<hrsc_detection_bench, detection_bench_base> {
public:
    static constexpr std::string_view key = "bench.detection.hrsc";
    static constexpr std::string_view summary =
        "HRSC2016 ship detection: HRSC_Object mbox_* ground truth read as mmrotate's HRSCDataset, split, merge, "
        "Task1 files, mAP(_nc)";
    /// Parameters: those of `bench.detection.dota`, and "images" ("FullDataSet/AllImages"),
    /// "annotations" ("FullDataSet/Annotations"), "imageset" ("ImageSets/test.txt").
    static hrsc_detection_bench from_params(registry::params& p) {
        hrsc_detection_bench b;
        b.read_params(p, gt_format::hrsc, "FullDataSet/AllImages", "FullDataSet/Annotations", "ImageSets/test.txt");
        return b;
    }
};

/// FAIR1M (see the file comment).
class fair1m_detection_bench : public registry::component<fair1m_detection_bench, detection_bench_base> {
public:
    static constexpr std::string_view key = "bench.detection.fair1m";
    static constexpr std::string_view summary =
        "FAIR1M detection: XML ground truth read as lmmrotate's FAIRDataset, split, merge, Task1 files and the "
        "official XML submission, mAP(_nc) when labels are present";
    /// Parameters: those of `bench.detection.dota`, and "images" ("images"), "annotations"
    /// ("labelXml"), "imageset" ("").
    static fair1m_detection_bench from_params(registry::params& p) {
        fair1m_detection_bench b;
        b.read_params(p, gt_format::fair1m, "images", "labelXml");
        return b;
    }
};

} // namespace rscovlm::bench
