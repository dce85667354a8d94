#pragma once
/// \file data/readers.hpp
/// Readers of the annotation formats RSCoVLM trains on, into `data::records`: COCO json with quad
/// segmentations (RSCoVLM's detection metadata), LLaVA-style conversation json, refGeo grounding
/// jsonl and LRS-VQA(-Zoom) json. Malformed input raises data_error naming the file and the line
/// (JSON syntax) or the record index and field (content). DOTA folders and VOC XML need image
/// probing / tinyxml2 and live in `io/dataset_readers.hpp` and `io/xml_annotations.hpp`.

#include <rscovlm/data/records.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/obb.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <system_error>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::data {

namespace detail {

inline std::string read_text_file(const std::string& path) {
    return ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open annotation file " + path);
}

inline std::size_t line_of_byte(std::string_view text, std::size_t byte) noexcept {
    std::size_t line = 1;
    for (std::size_t i = 0; i < byte && i < text.size(); ++i)
        if (text[i] == '\n') ++line;
    return line;
}

/// Parses JSON text; data_error "bad_json" naming `source:line` on a syntax error.
inline nlohmann::json parse_json_text(std::string_view text, const std::string& source, std::size_t base_line = 1) {
    nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (!j.is_discarded()) return j;
    std::size_t line = base_line;
    std::string what = "invalid JSON";
#if RSCOVLM_HAS_EXCEPTIONS
    try {
        const nlohmann::json again = nlohmann::json::parse(text.begin(), text.end());
        (void)again;
    } catch (const nlohmann::json::parse_error& e) {
        line = base_line + line_of_byte(text, e.byte == 0 ? 0 : e.byte - 1) - 1;
        what = e.what();
    }
#endif
    RSCOVLM_THROW(data_error, "bad_json", source + ":" + std::to_string(line) + ": " + what);
}

/// `load_json_or_jsonl`: a .jsonl file is one JSON value per line (blank lines are an error, as
/// `json.loads('')` is); anything else is one JSON document.
inline std::vector<nlohmann::json> load_json_or_jsonl(const std::string& path) {
    const std::string text = read_text_file(path);
    std::vector<nlohmann::json> out;
    const bool jsonl = path.size() >= 6 && path.substr(path.size() - 6) == ".jsonl";
    if (!jsonl) {
        nlohmann::json j = parse_json_text(text, path);
        if (j.is_array())
            for (auto& e : j)
                out.push_back(std::move(e));
        else
            out.push_back(std::move(j));
        return out;
    }
    std::size_t start = 0, line = 1;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view l(text.data() + start, end - start);
        out.push_back(parse_json_text(l, path, line));
        start = end + 1;
        ++line;
    }
    return out;
}

[[noreturn]] inline void bad_record(const std::string& source, std::size_t index, const std::string& what) {
    RSCOVLM_THROW(data_error, "bad_record", source + ": record " + std::to_string(index) + ": " + what);
}

inline const nlohmann::json& field(const nlohmann::json& j, const char* name, const std::string& source,
                                   std::size_t index) {
    if (!j.is_object()) bad_record(source, index, "expected a JSON object");
    auto it = j.find(name);
    if (it == j.end()) bad_record(source, index, std::string("missing field '") + name + "'");
    return *it;
}

inline double number(const nlohmann::json& j, const char* name, const std::string& source, std::size_t index) {
    if (!j.is_number()) bad_record(source, index, std::string("field '") + name + "' must be a number");
    const double v = j.get<double>();
    if (!std::isfinite(v)) bad_record(source, index, std::string("field '") + name + "' is not finite");
    return v;
}

/// An image dimension: a number in [1, 2^30] (truncated like int()).
inline int dimension(const nlohmann::json& j, const char* name, const std::string& source, std::size_t index) {
    const double v = number(j, name, source, index);
    if (!(v >= 1 && v <= 1073741824.0))
        bad_record(source, index, std::string("field '") + name + "' must be a positive image size");
    return static_cast<int>(v);
}

inline std::string str(const nlohmann::json& j, const char* name, const std::string& source, std::size_t index) {
    if (!j.is_string()) bad_record(source, index, std::string("field '") + name + "' must be a string");
    return j.get<std::string>();
}

inline std::string join_path(const std::string& dir, const std::string& file) {
    if (dir.empty() || (!file.empty() && file[0] == '/')) return file; // os.path.join semantics
    return dir.back() == '/' ? dir + file : dir + "/" + file;
}

} // namespace detail

/// True when `path` lies inside the directory `root` (the current directory when empty) once both
/// are made absolute and normalised with `std::filesystem::weakly_canonical`: `..` components are
/// resolved, and so are symbolic links along the part of each path that exists.
inline bool path_within(const std::string& root, const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path r = fs::absolute(root.empty() ? fs::path(".") : fs::path(root), ec);
    if (!ec) r = fs::weakly_canonical(r, ec);
    if (ec) return false;
    fs::path p = fs::absolute(fs::path(path), ec);
    if (!ec) p = fs::weakly_canonical(p, ec);
    if (ec) return false;
    if (!r.has_filename() && r.has_relative_path()) r = r.parent_path(); // "/data/" -> "/data"
    auto pi = p.begin();
    for (auto ri = r.begin(); ri != r.end(); ++ri, ++pi)
        if (pi == p.end() || *ri != *pi) return false;
    return true;
}

/// The path of an image (or video) a record names: `os.path.join(root, file)` as the reference
/// builds it, so by default an absolute `file` or one with `..` may point anywhere. With `confine`,
/// a joined path that leaves `root` (see `path_within`) raises data_error "path_outside_root".
inline std::string record_media_path(const std::string& root, const std::string& file, bool confine,
                                     const std::string& source, std::size_t index) {
    std::string joined = detail::join_path(root, file);
    if (confine && !path_within(root, joined))
        RSCOVLM_THROW(data_error, "path_outside_root",
                      source + ": record " + std::to_string(index) + ": path '" + file + "' leaves the root '" +
                          (root.empty() ? std::string(".") : root) + "'");
    return joined;
}

/// Options of `read_coco_detection`.
struct coco_read_options {
    bool keep_empty_gt = true; ///< keep images without objects (RSCoVLM default)
};

/// COCO json with (quad) segmentations, as RSCoVLM's `preprocess_coco_format_metadata` reads it:
/// images (`file_name`, `width`, `height`), categories, annotations with `bbox` [x, y, w, h]
/// converted to [x1, y1, int(x1 + w), int(y1 + h)] and `segmentation` [[x1, y1, ...]].
inline std::vector<detection_record> read_coco_detection(const std::string& path, const std::string& data_path,
                                                         const coco_read_options& opt = {}) {
    const std::vector<nlohmann::json> docs = detail::load_json_or_jsonl(path);
    if (docs.size() != 1 || !docs[0].is_object())
        RSCOVLM_THROW(data_error, "bad_record", path + ": expected one COCO object with images/annotations/categories");
    const nlohmann::json& meta = docs[0];
    const auto& images = detail::field(meta, "images", path, 0);
    const auto& anns = detail::field(meta, "annotations", path, 0);
    const auto& cats = detail::field(meta, "categories", path, 0);
    if (!images.is_array() || !anns.is_array() || !cats.is_array())
        RSCOVLM_THROW(data_error, "bad_record", path + ": images, annotations and categories must be arrays");
    std::vector<std::string> classes;
    std::vector<std::pair<long long, std::string>> cat_names;
    for (std::size_t i = 0; i < cats.size(); ++i) {
        const std::string name = detail::str(detail::field(cats[i], "name", path + " categories", i), "name", path, i);
        const auto& id = detail::field(cats[i], "id", path + " categories", i);
        if (!id.is_number_integer()) detail::bad_record(path + " categories", i, "field 'id' must be an integer");
        classes.push_back(name);
        cat_names.emplace_back(id.get<long long>(), name);
    }
    std::vector<detection_record> out;
    std::vector<std::pair<long long, std::size_t>> index; // image id -> position
    for (std::size_t i = 0; i < images.size(); ++i) {
        const std::string where = path + " images";
        const auto& img = images[i];
        detection_record r;
        r.image =
            detail::join_path(data_path, detail::str(detail::field(img, "file_name", where, i), "file_name", where, i));
        r.width = detail::dimension(detail::field(img, "width", where, i), "width", where, i);
        r.height = detail::dimension(detail::field(img, "height", where, i), "height", where, i);
        if (r.width <= 0 || r.height <= 0) detail::bad_record(where, i, "image size must be positive");
        const auto& id = detail::field(img, "id", where, i);
        if (!id.is_number_integer()) detail::bad_record(where, i, "field 'id' must be an integer");
        r.classes = classes;
        index.emplace_back(id.get<long long>(), out.size());
        out.push_back(std::move(r));
    }
    std::sort(index.begin(), index.end());
    auto find_sorted = [&](long long id) -> detection_record* {
        auto it = std::lower_bound(index.begin(), index.end(), std::make_pair(id, std::size_t{0}));
        if (it != index.end() && it->first == id) return &out[it->second];
        return nullptr;
    };
    for (std::size_t i = 0; i < anns.size(); ++i) {
        const std::string where = path + " annotations";
        const auto& a = anns[i];
        const auto& iid = detail::field(a, "image_id", where, i);
        const auto& cid = detail::field(a, "category_id", where, i);
        if (!iid.is_number_integer() || !cid.is_number_integer())
            detail::bad_record(where, i, "image_id and category_id must be integers");
        detection_record* r = find_sorted(iid.get<long long>());
        if (!r) detail::bad_record(where, i, "image_id " + std::to_string(iid.get<long long>()) + " is not in images");
        det_instance inst;
        bool found = false;
        for (const auto& c : cat_names)
            if (c.first == cid.get<long long>()) {
                inst.label = c.second;
                found = true;
            }
        if (!found)
            detail::bad_record(where, i,
                               "category_id " + std::to_string(cid.get<long long>()) + " is not in categories");
        const auto& bb = detail::field(a, "bbox", where, i);
        if (!bb.is_array() || bb.size() != 4) detail::bad_record(where, i, "bbox must be [x, y, w, h]");
        const double x1 = detail::number(bb[0], "bbox", where, i), y1 = detail::number(bb[1], "bbox", where, i);
        const double w = detail::number(bb[2], "bbox", where, i), h = detail::number(bb[3], "bbox", where, i);
        // x2, y2 = int(x1 + w), int(y1 + h)
        inst.bbox = geometry::hbox{x1, y1, static_cast<double>(::rscovlm::detail::py::int_trunc(x1 + w)),
                                   static_cast<double>(::rscovlm::detail::py::int_trunc(y1 + h))};
        if (a.contains("segmentation")) {
            const auto& seg = a["segmentation"];
            if (!seg.is_array() || seg.size() != 1 || !seg[0].is_array() || seg[0].size() % 2 != 0)
                detail::bad_record(where, i,
                                   "segmentation must be one polygon [[x1, y1, ...]] (the reference asserts it)");
            for (const auto& v : seg[0])
                inst.polygon.push_back(detail::number(v, "segmentation", where, i));
        }
        if (a.contains("difficulty") && a["difficulty"].is_number_integer())
            inst.difficulty = a["difficulty"].get<int>();
        r->objects.push_back(std::move(inst));
    }
    if (!opt.keep_empty_gt) {
        std::vector<detection_record> kept;
        for (auto& r : out)
            if (!r.objects.empty()) kept.push_back(std::move(r));
        return kept;
    }
    return out;
}

/// Options of `read_llava`.
struct llava_read_options {
    /// Accept `"image": null` as "no image" (LLaVA-OneVision rows); otherwise it is an error.
    bool null_image_ok = false;
    /// Refuse (data_error "path_outside_root") image/video paths that leave `data_path` (see
    /// `record_media_path`); by default they are joined like the reference's `os.path.join`.
    bool confine_to_root = false;
};

/// LLaVA-style conversation json (SupervisedDataset): records with `conversations` of
/// {`from`: human|gpt, `value`} turns and optional `image` / `video` (a path or a list).
inline std::vector<chat_record> read_llava(const std::string& path, const std::string& data_path,
                                           const llava_read_options& opt = {}) {
    const std::vector<nlohmann::json> docs = detail::load_json_or_jsonl(path);
    std::vector<chat_record> out;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        const auto& d = docs[i];
        chat_record r;
        const auto& conv = detail::field(d, "conversations", path, i);
        if (!conv.is_array()) detail::bad_record(path, i, "field 'conversations' must be a list");
        for (std::size_t t = 0; t < conv.size(); ++t) {
            const auto& turn = conv[t];
            if (!turn.is_object() || !turn.contains("from") || !turn.contains("value") || !turn["from"].is_string() ||
                !turn["value"].is_string())
                detail::bad_record(path, i, "turn " + std::to_string(t) + " must have string 'from' and 'value'");
            const std::string from = turn["from"];
            if (from != "human" && from != "gpt")
                detail::bad_record(path, i, "turn " + std::to_string(t) + ": invalid role '" + from + "' (human|gpt)");
        }
        r.conversations = conv;
        auto collect = [&](const char* key, std::vector<std::string>& dst) {
            if (!d.contains(key)) return;
            const auto& v = d[key];
            if (v.is_null() && opt.null_image_ok) return;
            if (v.is_string()) {
                dst.push_back(record_media_path(data_path, v.get<std::string>(), opt.confine_to_root, path, i));
            } else if (v.is_array()) {
                for (const auto& e : v) {
                    if (!e.is_string()) detail::bad_record(path, i, std::string("field '") + key + "' must hold paths");
                    dst.push_back(record_media_path(data_path, e.get<std::string>(), opt.confine_to_root, path, i));
                }
            } else {
                detail::bad_record(path, i, std::string("field '") + key + "' must be a path or a list of paths");
            }
        };
        collect("image", r.images);
        collect("video", r.videos);
        if (d.contains("id")) r.id = d["id"].is_string() ? d["id"].get<std::string>() : d["id"].dump();
        if (d.contains("task") && d["task"].is_string()) r.task = d["task"];
        out.push_back(std::move(r));
    }
    return out;
}

/// refGeo metainfo jsonl (GeoGroundDataset): `question`, `bbox` [x1, y1, x2, y2], optional
/// `poly` [[x, y] x 4], `image_width`, `image_height`, `dataset`, `image_id`, optional `question_id`
/// and `mask_exists`; the image is `data_path/images/<dataset>/<image_id>`, the mask (segmentation
/// target) `data_path/masks/<dataset>/<image_id stem>_<question_id>.png`.
inline std::vector<grounding_record> read_refgeo(const std::string& path, const std::string& data_path) {
    const std::vector<nlohmann::json> docs = detail::load_json_or_jsonl(path);
    std::vector<grounding_record> out;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        const auto& d = docs[i];
        grounding_record r;
        r.question = detail::str(detail::field(d, "question", path, i), "question", path, i);
        r.dataset = detail::str(detail::field(d, "dataset", path, i), "dataset", path, i);
        r.image_id = detail::str(detail::field(d, "image_id", path, i), "image_id", path, i);
        r.width = detail::dimension(detail::field(d, "image_width", path, i), "image_width", path, i);
        r.height = detail::dimension(detail::field(d, "image_height", path, i), "image_height", path, i);
        if (r.width <= 0 || r.height <= 0) detail::bad_record(path, i, "image size must be positive");
        r.image = detail::join_path(detail::join_path(detail::join_path(data_path, "images"), r.dataset), r.image_id);
        if (d.contains("bbox") && !d["bbox"].is_null()) {
            const auto& b = d["bbox"];
            if (!b.is_array() || b.size() != 4) detail::bad_record(path, i, "bbox must be [x1, y1, x2, y2]");
            r.bbox = geometry::hbox{detail::number(b[0], "bbox", path, i), detail::number(b[1], "bbox", path, i),
                                    detail::number(b[2], "bbox", path, i), detail::number(b[3], "bbox", path, i)};
        }
        if (d.contains("poly") && !d["poly"].is_null()) {
            const auto& p = d["poly"];
            if (!p.is_array() || p.size() != 4) detail::bad_record(path, i, "poly must be 4 [x, y] points");
            for (const auto& pt : p) {
                if (!pt.is_array() || pt.size() != 2) detail::bad_record(path, i, "poly must be 4 [x, y] points");
                r.poly.push_back(
                    geometry::point{detail::number(pt[0], "poly", path, i), detail::number(pt[1], "poly", path, i)});
            }
        }
        if (!r.bbox && r.poly.empty()) detail::bad_record(path, i, "needs 'bbox' or 'poly'");
        if (d.contains("question_id") && !d["question_id"].is_null()) {
            const auto& q = d["question_id"];
            if (q.is_string())
                r.question_id = q.get<std::string>();
            else if (q.is_number_integer())
                r.question_id = q.dump();
            else
                detail::bad_record(path, i, "question_id must be an integer or a string");
            // mask_root/<dataset>/<image_id.split('.')[0]>_<question_id>.png
            const std::string stem = r.image_id.substr(0, r.image_id.find('.'));
            const std::string mask =
                detail::join_path(detail::join_path(detail::join_path(data_path, "masks"), r.dataset),
                                  stem + "_" + r.question_id + ".png");
            bool exists = false;
            if (d.contains("mask_exists")) {
                if (!d["mask_exists"].is_boolean()) detail::bad_record(path, i, "mask_exists must be true or false");
                exists = d["mask_exists"].get<bool>();
            } else {
                std::error_code ec;
                exists = std::filesystem::exists(mask, ec);
            }
            if (exists) r.mask_path = mask;
        }
        out.push_back(std::move(r));
    }
    return out;
}

/// Options of `read_lrsvqa`.
struct lrsvqa_read_options {
    /// Refuse (data_error "path_outside_root") image paths that leave `data_path` (see
    /// `record_media_path`); by default they are joined like the reference's `os.path.join`.
    bool confine_to_root = false;
};

/// LRS-VQA / LRS-VQA-Zoom json (VisualCOTDataset): open-ended records (`question`, `answer`) or
/// multiple-choice records (`Text`, `Ground truth`, `Answer choices`), with `image`,
/// `image_ori_width`, `image_ori_height` and `bbox_info` {`crop_hbox`: [[x1, y1, x2, y2], ...],
/// `rbox`: [...]}. The image path drops the reference's private prefix as its loader does.
inline std::vector<vqa_record> read_lrsvqa(const std::string& path, const std::string& data_path,
                                           const lrsvqa_read_options& opt = {}) {
    const std::vector<nlohmann::json> docs = detail::load_json_or_jsonl(path);
    std::vector<vqa_record> out;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        const auto& d = docs[i];
        vqa_record r;
        std::string image = detail::str(detail::field(d, "image", path, i), "image", path, i);
        const std::string prefix = "/gruntdata/rs_nas/workspace/junhong.ljw/dataset/";
        for (std::size_t p = image.find(prefix); p != std::string::npos; p = image.find(prefix))
            image.erase(p, prefix.size());
        r.image = record_media_path(data_path, image, opt.confine_to_root, path, i);
        r.width = detail::dimension(detail::field(d, "image_ori_width", path, i), "image_ori_width", path, i);
        r.height = detail::dimension(detail::field(d, "image_ori_height", path, i), "image_ori_height", path, i);
        if (r.width <= 0 || r.height <= 0) detail::bad_record(path, i, "image size must be positive");
        if (d.contains("question") && d.contains("answer")) {
            r.question = detail::str(d["question"], "question", path, i);
            r.answer = d["answer"].is_string() ? d["answer"].get<std::string>() : d["answer"].dump();
        } else if (d.contains("Text") && d.contains("Ground truth") && d.contains("Answer choices")) {
            r.multiple_choice = true;
            r.question = detail::str(d["Text"], "Text", path, i);
            r.answer = detail::str(d["Ground truth"], "Ground truth", path, i);
            if (!d["Answer choices"].is_array()) detail::bad_record(path, i, "'Answer choices' must be a list");
            for (const auto& c : d["Answer choices"])
                r.choices.push_back(detail::str(c, "Answer choices", path, i));
        } else {
            detail::bad_record(path, i,
                               "needs 'question' and 'answer', or 'Text', 'Ground truth' and 'Answer choices'");
        }
        const auto& info = detail::field(d, "bbox_info", path, i);
        const auto& crops = detail::field(info, "crop_hbox", path, i);
        if (!crops.is_array()) detail::bad_record(path, i, "bbox_info.crop_hbox must be a list of boxes");
        for (const auto& c : crops) {
            if (!c.is_array() || c.size() != 4)
                detail::bad_record(path, i, "bbox_info.crop_hbox entries must be [x1, y1, x2, y2]");
            r.crop_hbox.push_back(
                {detail::number(c[0], "crop_hbox", path, i), detail::number(c[1], "crop_hbox", path, i),
                 detail::number(c[2], "crop_hbox", path, i), detail::number(c[3], "crop_hbox", path, i)});
        }
        if (info.contains("rbox") && info["rbox"].is_array())
            for (const auto& b : info["rbox"]) {
                std::vector<double> v;
                if (b.is_array())
                    for (const auto& x : b)
                        v.push_back(detail::number(x, "rbox", path, i));
                r.rbox.push_back(std::move(v));
            }
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace rscovlm::data
