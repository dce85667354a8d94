#pragma once
/// \file data/builtin.hpp
/// The data module's registry kinds: `dataset_reader` (annotation files -> records) and
/// `conversation_builder` (record -> training conversations), with their built-in catalogs.
/// Readers that need compiled libraries (DOTA folders with image probing, VOC XML through
/// tinyxml2) are in `engine/readers.hpp` as `engine::data_readers`.

#include <rscovlm/data/builders.hpp>
#include <rscovlm/data/readers.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/registry.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::data {

/// Where a dataset's files are (an RSCoVLM dataset config: `annotation_path`, `data_path`).
struct dataset_source {
    std::string annotation_path;
    std::string data_path;
    /// Readers of path-carrying records (LLaVA, LLaVA-OneVision, LRS-VQA) refuse image paths that
    /// leave `data_path` (data_error "path_outside_root") instead of joining them like `os.path.join`.
    bool confine_to_root = false;
};

/// Interface of the `dataset_reader` kind.
class dataset_reader : public registry::keyed {
public:
    /// Reads every record of a dataset.
    virtual std::vector<record> read(const dataset_source& source) const = 0;
};

/// Interface of the `conversation_builder` kind.
class conversation_builder : public registry::keyed {
public:
    /// Conversations made from each record (e.g. one per region type); samples are ordered
    /// task-major as the reference's `todo_list`.
    virtual std::size_t tasks_per_record() const noexcept { return 1; }
    /// Whether task `task` exists for this record (e.g. a refGeo segmentation sample needs a mask).
    virtual bool has_task(const record& r, std::size_t task) const {
        (void)r;
        return task < tasks_per_record();
    }
    /// Sample order of the dataset: false, task-major (for each task, every record: dense
    /// detection's `todo_list`); true, record-major (refGeo sorts its `todo_list` by record, then task).
    virtual bool record_major() const noexcept { return false; }
    /// Builds task `task` (< tasks_per_record()) of a record. May throw data_error "skip_record"
    /// where the reference's `__getitem__` falls through to the next item.
    virtual conversation build(const record& r, std::size_t task, const build_options& opt,
                               python_random& rng) const = 0;
};

namespace detail {
template <class T> inline std::vector<record> to_records(std::vector<T> v) {
    std::vector<record> out;
    out.reserve(v.size());
    for (auto& e : v)
        out.emplace_back(std::move(e));
    return out;
}
template <class T> inline const T& expect(const record& r, std::string_view builder) {
    const T* p = std::get_if<T>(&r);
    if (!p) RSCOVLM_THROW(data_error, "wrong_record", std::string(builder) + " cannot build from this kind of record");
    return *p;
}
inline std::vector<region_type> read_regions(registry::params& p, std::vector<std::string> fallback) {
    const auto names = p.get<std::vector<std::string>>("region_types", fallback);
    std::vector<region_type> out;
    for (const auto& n : names) {
        const auto r = try_call([&] { return parse_region_type(n); });
        p.check(r.ok(), "region_types", r.ok() ? "" : r.error().message);
        out.push_back(r.value());
    }
    p.check(!out.empty(), "region_types", "must not be empty");
    return out;
}
} // namespace detail

/// COCO json with quad segmentations (RSCoVLM detection metadata).
class coco_reader : public registry::component<coco_reader, dataset_reader> {
public:
    static constexpr std::string_view key = "reader.coco";
    static constexpr std::string_view summary = "COCO json with quad segmentations (RSCoVLM dense detection metadata)";
    explicit coco_reader(bool keep_empty_gt = true) : m_keep(keep_empty_gt) {}
    static coco_reader from_params(registry::params& p) { return coco_reader(p.get<bool>("keep_empty_gt", true)); }
    std::vector<record> read(const dataset_source& s) const override {
        coco_read_options o;
        o.keep_empty_gt = m_keep;
        return detail::to_records(read_coco_detection(s.annotation_path, s.data_path, o));
    }

private:
    bool m_keep = true;
};

/// LLaVA-style conversation json (also GeoChat / TEOChat instruction files).
class llava_reader : public registry::component<llava_reader, dataset_reader> {
public:
    static constexpr std::string_view key = "reader.llava";
    static constexpr std::string_view summary = "LLaVA-style conversations json/jsonl (<image>/<video>, human/gpt)";
    std::vector<record> read(const dataset_source& s) const override {
        llava_read_options o;
        o.confine_to_root = s.confine_to_root;
        return detail::to_records(read_llava(s.annotation_path, s.data_path, o));
    }
};

/// refGeo grounding metainfo jsonl.
class refgeo_reader : public registry::component<refgeo_reader, dataset_reader> {
public:
    static constexpr std::string_view key = "reader.refgeo";
    static constexpr std::string_view summary = "refGeo grounding metainfo jsonl (question, bbox, poly)";
    std::vector<record> read(const dataset_source& s) const override {
        return detail::to_records(read_refgeo(s.annotation_path, s.data_path));
    }
};

/// LRS-VQA / LRS-VQA-Zoom json.
class lrsvqa_reader : public registry::component<lrsvqa_reader, dataset_reader> {
public:
    static constexpr std::string_view key = "reader.lrsvqa";
    static constexpr std::string_view summary =
        "LRS-VQA(-Zoom) json: open-ended and multiple-choice records with bbox_info";
    std::vector<record> read(const dataset_source& s) const override {
        lrsvqa_read_options o;
        o.confine_to_root = s.confine_to_root;
        return detail::to_records(read_lrsvqa(s.annotation_path, s.data_path, o));
    }
};

/// Dense detection conversations, one per region type (DenseDetectionDataset).
class dense_det_builder : public registry::component<dense_det_builder, conversation_builder> {
public:
    static constexpr std::string_view key = "builder.dense_det";
    static constexpr std::string_view summary = "RSCoVLM dense detection: hbb/obb/polygon targets, plain or JSON";
    explicit dense_det_builder(std::vector<region_type> r = {region_type::hbb, region_type::obb, region_type::polygon})
        : m_regions(std::move(r)) {}
    static dense_det_builder from_params(registry::params& p) {
        std::vector<region_type> r = detail::read_regions(p, {"hbb", "obb", "polygon"});
        p.check(std::find(r.begin(), r.end(), region_type::seg) == r.end(), "region_types",
                "dense detection has no 'seg' target");
        return dense_det_builder(std::move(r));
    }
    std::size_t tasks_per_record() const noexcept override { return m_regions.size(); }
    conversation build(const record& r, std::size_t task, const build_options& opt, python_random& rng) const override {
        return build_detection(detail::expect<detection_record>(r, key), m_regions.at(task), opt, rng);
    }

private:
    std::vector<region_type> m_regions;
};

/// Grounding conversations, one per region type (GeoGroundDataset: hbb, obb, polygon and, for
/// records with a mask file, seg). Samples are record-major, as the reference's sorted `todo_list`.
class refgeo_builder : public registry::component<refgeo_builder, conversation_builder> {
public:
    static constexpr std::string_view key = "builder.refgeo";
    static constexpr std::string_view summary =
        "RSCoVLM referring grounding: expression as label, hbb/obb/polygon/seg targets";
    explicit refgeo_builder(std::vector<region_type> r = {region_type::hbb, region_type::obb, region_type::polygon,
                                                          region_type::seg})
        : m_regions(std::move(r)) {}
    static refgeo_builder from_params(registry::params& p) {
        return refgeo_builder(detail::read_regions(p, {"hbb", "obb", "polygon", "seg"}));
    }
    std::size_t tasks_per_record() const noexcept override { return m_regions.size(); }
    bool has_task(const record& r, std::size_t task) const override {
        if (task >= m_regions.size()) return false;
        if (m_regions[task] != region_type::seg) return true;
        const grounding_record* g = std::get_if<grounding_record>(&r);
        return g && !g->mask_path.empty();
    }
    bool record_major() const noexcept override { return true; }
    conversation build(const record& r, std::size_t task, const build_options& opt, python_random& rng) const override {
        return build_grounding(detail::expect<grounding_record>(r, key), m_regions.at(task), opt, rng);
    }

private:
    std::vector<region_type> m_regions;
};

/// Supervised LLaVA-style chat (SupervisedDataset).
class chat_builder : public registry::component<chat_builder, conversation_builder> {
public:
    static constexpr std::string_view key = "builder.sft";
    static constexpr std::string_view summary = "LLaVA-style supervised chat (placeholders stripped as the reference)";
    conversation build(const record& r, std::size_t, const build_options& opt, python_random& rng) const override {
        return build_chat(detail::expect<chat_record>(r, key), opt, rng);
    }
};

/// GeoChat / TEOChat conversations with boxes converted from the 0-100 grid (TeoChatDataset).
class geochat_builder : public registry::component<geochat_builder, conversation_builder> {
public:
    static constexpr std::string_view key = "builder.geochat";
    static constexpr std::string_view summary = "GeoChat/TEOChat chat with 0-100 grid boxes converted to pixels";
    conversation build(const record& r, std::size_t, const build_options& opt, python_random& rng) const override {
        return build_geochat(prepare_geochat(detail::expect<chat_record>(r, key)), opt, rng);
    }
};

/// LRS-VQA-Zoom one-step Zoom-in conversations (VisualCOTDataset).
class lrsvqa_zoom_builder : public registry::component<lrsvqa_zoom_builder, conversation_builder> {
public:
    static constexpr std::string_view key = "builder.lrsvqa_zoom";
    static constexpr std::string_view summary =
        "LRS-VQA-Zoom: one zoom step (tool call, crop of the original), or plain VQA";
    conversation build(const record& r, std::size_t, const build_options& opt, python_random& rng) const override {
        return build_lrsvqa_zoom(detail::expect<vqa_record>(r, key), opt, rng);
    }
};

/// LLaVA-OneVision rows (LlavaOneVisionDataset) exported as json/jsonl: like LLaVA conversations,
/// with `image` a path or null (the Hugging Face dataset's image column).
class llava_onevision_reader : public registry::component<llava_onevision_reader, dataset_reader> {
public:
    static constexpr std::string_view key = "reader.llava_onevision";
    static constexpr std::string_view summary = "LLaVA-OneVision rows json/jsonl (conversations, image path or null)";
    std::vector<record> read(const dataset_source& s) const override {
        llava_read_options o;
        o.null_image_ok = true;
        o.confine_to_root = s.confine_to_root;
        return detail::to_records(read_llava(s.annotation_path, s.data_path, o));
    }
};

/// LLaVA-OneVision conversations (LlavaOneVisionDataset `get_messages` / `__getitem__`).
class llava_onevision_builder : public registry::component<llava_onevision_builder, conversation_builder> {
public:
    static constexpr std::string_view key = "builder.llava_onevision";
    static constexpr std::string_view summary =
        "LLaVA-OneVision chat: <image> tag ensured, rows the reference cannot build skipped";
    conversation build(const record& r, std::size_t, const build_options& opt, python_random& rng) const override {
        return build_llava_onevision(detail::expect<chat_record>(r, key), opt, rng);
    }
};

/// Built-in readers (core).
using builtin_readers =
    registry::type_list<coco_reader, llava_reader, refgeo_reader, lrsvqa_reader, llava_onevision_reader>;
/// Built-in builders.
using builtin_builders = registry::type_list<dense_det_builder, refgeo_builder, chat_builder, geochat_builder,
                                             lrsvqa_zoom_builder, llava_onevision_builder>;

/// The `dataset_reader` kind.
struct reader_kind {
    static constexpr std::string_view name = "dataset_reader";
    using interface = dataset_reader;
    using builtin_list = builtin_readers;
};
/// The `conversation_builder` kind.
struct builder_kind {
    static constexpr std::string_view name = "conversation_builder";
    using interface = conversation_builder;
    using builtin_list = builtin_builders;
};

} // namespace rscovlm::data
