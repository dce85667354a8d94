#pragma once
/// \file data/recipe.hpp
/// Dataset mixing as RSCoVLM's training config does it (rscovlm/training/data/config.py and
/// __init__.py): a recipe lists dataset names with `*N` (repeat N times) or `%P` (seeded subsample
/// of P percent) suffixes, `all%P` for every registered dataset, and custom dataset entries; the
/// datasets are grouped by dataset type (first appearance order), each group is one dataset whose
/// samples are its records times its builder's tasks (task-major, like the reference's
/// `todo_list`), and the groups are concatenated (or balanced as LMMRotate's "balanced concat").
/// The sampler reproduces PyTorch's DistributedSampler (shuffle by `randperm` of a generator
/// seeded with seed + epoch, padding by wrap-around, rank striding) with resumable state.

#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/detail/pyformat.hpp>
#include <rscovlm/data/detail/pyrandom.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/resolution/builtin.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::data {

/// One dataset entry of the registry (an RSCoVLM `data_dict` value).
struct dataset_config {
    std::string name; ///< registry name ("dota_trainval1024", "custom_dataset_0", ...)
    std::string annotation_path;
    std::string data_path;
    std::string dataset_type = "supervised";
    std::string reader;         ///< explicit reader key (optional; else derived from the type)
    double sampling_rate = 1.0; ///< < 1: subsample fraction; >= 1: integer repeat count
    /// Optional `{"key": "resize.square", "params": {...}}`: a `resolution` registry strategy for
    /// this dataset's images instead of the dataset type's default (an extension; the reference
    /// sizes every dataset with the global DataArguments).
    nlohmann::json resolution;
    /// dense_det: the config's `synonyms_dict` (category -> synonyms) for open-ended prompts.
    nlohmann::json synonyms_dict;
    /// Refuse record image paths that leave `data_path` (`dataset_source::confine_to_root`).
    bool confine_to_root = false;
};

/// Makes the strategy of a `{"key": ..., "params": {...}}` spec (a bare key string is accepted);
/// unknown keys and bad parameters raise the registry's typed errors.
inline std::shared_ptr<resolution::strategy> make_resolution(const nlohmann::json& spec) {
    if (spec.is_string())
        return std::shared_ptr<resolution::strategy>(registry::make<resolution::kind>(spec.get<std::string>()));
    if (!spec.is_object() || !spec.contains("key") || !spec["key"].is_string())
        RSCOVLM_THROW(data_error, "bad_recipe", "'resolution' must be a key or {\"key\": ..., \"params\": {...}}");
    for (auto it = spec.begin(); it != spec.end(); ++it)
        if (it.key() != "key" && it.key() != "params")
            RSCOVLM_THROW(data_error, "bad_recipe",
                          "'resolution' has an unknown field '" + it.key() + "' (key, params)");
    const nlohmann::json params = spec.contains("params") ? spec["params"] : nlohmann::json::object();
    return std::shared_ptr<resolution::strategy>(
        registry::make<resolution::kind>(spec["key"].get<std::string>(), params));
}

/// The builders' options from JSON: the one parser behind a recipe file's `"options"` object and
/// the `data build` flags (which the CLI writes as the same JSON). Fields, all optional, with the
/// reference's DataArguments names: `min_pixels`, `max_pixels`, `prob_random_resize`,
/// `prob_plain_text_prompt`, `prob_proxy_prompt`, `prob_open_end_prompts`, `disable_visual_cot`,
/// `resolution` (as `make_resolution`), `answer_codec` (a `box_codec` registry key). Unknown
/// fields, wrong types, probabilities outside [0, 1] and unknown codec keys are typed errors.
inline build_options build_options_from_json(const nlohmann::json& j, build_options base = {}) {
    if (j.is_null()) return base;
    if (!j.is_object()) RSCOVLM_THROW(config_error, "bad_options", "build options must be a JSON object");
    auto number = [&](const std::string& k) {
        if (!j[k].is_number()) RSCOVLM_THROW(config_error, "bad_options", "build option '" + k + "' must be a number");
        return j[k].get<double>();
    };
    auto probability = [&](const std::string& k) {
        const double p = number(k);
        if (!(p >= 0.0 && p <= 1.0))
            RSCOVLM_THROW(config_error, "bad_options", "build option '" + k + "' must be in [0, 1]");
        return p;
    };
    auto pixels = [&](const std::string& k) {
        const double v = number(k);
        if (!(v >= 1.0 && v <= 9.0e15) || v != std::floor(v))
            RSCOVLM_THROW(config_error, "bad_options", "build option '" + k + "' must be a positive integer");
        return static_cast<long long>(v);
    };
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& k = it.key();
        if (k == "min_pixels") {
            base.resize.min_pixels = pixels(k);
        } else if (k == "max_pixels") {
            base.resize.max_pixels = pixels(k);
        } else if (k == "prob_random_resize") {
            base.resize.prob_random_resize = probability(k);
        } else if (k == "prob_plain_text_prompt") {
            base.prob_plain_text_prompt = probability(k);
        } else if (k == "prob_proxy_prompt") {
            base.prob_proxy_prompt = probability(k);
        } else if (k == "prob_open_end_prompts") {
            base.prob_open_end_prompts = probability(k);
        } else if (k == "disable_visual_cot") {
            if (!it->is_boolean()) RSCOVLM_THROW(config_error, "bad_options", "'disable_visual_cot' must be a boolean");
            base.disable_visual_cot = it->get<bool>();
        } else if (k == "resolution") {
            base.resolution = it->is_null() ? nullptr : make_resolution(*it);
        } else if (k == "answer_codec") {
            if (!it->is_string()) RSCOVLM_THROW(config_error, "bad_options", "'answer_codec' must be a codec key");
            const std::string key = it->get<std::string>();
            if (!key.empty() && !registry::contains<box_codec::builtin>(key)) {
                const error_info e = registry::detail::unknown_key<box_codec::kind, box_codec::builtin>(key);
                RSCOVLM_THROW(registry_error, "unknown_key", e.message);
            }
            base.answer_codec = key;
        } else {
            RSCOVLM_THROW(config_error, "bad_options",
                          "unknown build option '" + k +
                              "' (min_pixels, max_pixels, prob_random_resize, prob_plain_text_prompt, "
                              "prob_proxy_prompt, prob_open_end_prompts, disable_visual_cot, resolution, "
                              "answer_codec)");
        }
    }
    return base;
}

/// Name -> dataset configs (a name may stand for several files, like `refgeo_hbb`), in
/// registration order.
class dataset_catalog {
public:
    /// Registers `configs` under `name` (replacing an earlier entry of that name).
    void add(const std::string& name, std::vector<dataset_config> configs) {
        for (auto& c : configs)
            c.name = name;
        for (auto& e : m_entries)
            if (e.first == name) {
                e.second = std::move(configs);
                return;
            }
        m_entries.emplace_back(name, std::move(configs));
    }
    bool contains(const std::string& name) const {
        for (const auto& e : m_entries)
            if (e.first == name) return true;
        return false;
    }
    const std::vector<dataset_config>& at(const std::string& name) const {
        for (const auto& e : m_entries)
            if (e.first == name) return e.second;
        RSCOVLM_THROW(data_error, "unknown_dataset", "do not find " + name);
    }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (const auto& e : m_entries)
            n.push_back(e.first);
        return n;
    }

    /// Parses one config object: `annotation_path`, `data_path`, `dataset_type`, optional `reader`.
    static dataset_config parse_config(const nlohmann::json& j, const std::string& where) {
        if (!j.is_object()) RSCOVLM_THROW(data_error, "bad_recipe", where + ": a dataset config must be an object");
        dataset_config c;
        auto str = [&](const char* k, std::string& dst) {
            if (!j.contains(k)) return;
            if (!j[k].is_string()) RSCOVLM_THROW(data_error, "bad_recipe", where + ": '" + k + "' must be a string");
            dst = j[k].get<std::string>();
        };
        str("annotation_path", c.annotation_path);
        str("data_path", c.data_path);
        str("dataset_type", c.dataset_type);
        str("reader", c.reader);
        if (j.contains("synonyms_dict") && !j["synonyms_dict"].is_null()) {
            if (!j["synonyms_dict"].is_object())
                RSCOVLM_THROW(data_error, "bad_recipe",
                              where + ": 'synonyms_dict' must map category names to lists of synonyms");
            c.synonyms_dict = j["synonyms_dict"];
        }
        if (j.contains("resolution")) {
            (void)make_resolution(j["resolution"]); // validated here, made again when loaded
            c.resolution = j["resolution"];
        }
        if (c.annotation_path.empty() && c.dataset_type == "llava_onevision")
            RSCOVLM_THROW(data_error, "bad_recipe",
                          where + ": missing 'annotation_path': llava_onevision reads the rows exported to json/jsonl "
                                  "(Hugging Face load_from_disk folders are not read)");
        if (c.annotation_path.empty() && c.reader != "reader.dota")
            RSCOVLM_THROW(data_error, "bad_recipe", where + ": missing 'annotation_path'");
        return c;
    }
    /// A catalog from JSON `{"name": config or [configs], ...}`; relative paths are resolved
    /// against `base_dir` when given.
    static dataset_catalog from_json(const nlohmann::json& j, const std::string& base_dir = {}) {
        if (!j.is_object()) RSCOVLM_THROW(data_error, "bad_recipe", "a dataset catalog must be a JSON object");
        dataset_catalog cat;
        for (auto it = j.begin(); it != j.end(); ++it) {
            std::vector<dataset_config> v;
            if (it->is_array()) {
                for (std::size_t i = 0; i < it->size(); ++i)
                    v.push_back(parse_config((*it)[i], "catalog entry '" + it.key() + "'[" + std::to_string(i) + "]"));
            } else {
                v.push_back(parse_config(*it, "catalog entry '" + it.key() + "'"));
            }
            for (auto& c : v)
                resolve(c, base_dir);
            cat.add(it.key(), std::move(v));
        }
        return cat;
    }
    static void resolve(dataset_config& c, const std::string& base) {
        auto fix = [&](std::string& p) {
            if (!base.empty() && !p.empty() && p[0] != '/') p = detail::join_path(base, p);
        };
        fix(c.annotation_path);
        fix(c.data_path);
    }

private:
    std::vector<std::pair<std::string, std::vector<dataset_config>>> m_entries;
};

/// config.py `parse_sampling_rate`: `name%P` -> (name, P / 100) with 0 < P <= 100;
/// `name*N` -> (name, N); otherwise (name, 1).
inline std::pair<std::string, double> parse_sampling_rate(const std::string& entry) {
    const std::size_t pct = entry.rfind('%');
    if (pct != std::string::npos && pct + 1 < entry.size()) {
        const std::string num = entry.substr(pct + 1);
        bool ok = !num.empty();
        for (char ch : num)
            ok = ok && ((ch >= '0' && ch <= '9') || ch == '.');
        if (ok) {
            double v = 0;
            if (!detail::parse_python_float(num, v))
                RSCOVLM_THROW(data_error, "bad_recipe", "bad sampling rate in '" + entry + "'");
            if (!(v > 0 && v <= 100))
                RSCOVLM_THROW(data_error, "bad_recipe",
                              "Sampling rate must be in (0, 1], got " + num + " in '" + entry + "'");
            return {entry.substr(0, pct), v / 100.0};
        }
    }
    const std::size_t star = entry.rfind('*');
    if (star != std::string::npos && star + 1 < entry.size()) {
        const std::string num = entry.substr(star + 1);
        bool ok = true;
        for (char ch : num)
            ok = ok && ch >= '0' && ch <= '9';
        if (ok) return {entry.substr(0, star), static_cast<double>(std::stoll(num))};
    }
    return {entry, 1.0};
}

/// config.py `get_data_config_list` + `parse_config_file`: resolves a recipe (a name, `all%P`,
/// or a list of names and custom config objects) against the catalog. Custom objects are
/// registered as `custom_dataset_<i>` and come first, as the reference orders them.
inline std::vector<dataset_config> resolve_recipe(const nlohmann::json& recipe, dataset_catalog& catalog,
                                                  const std::string& base_dir = {}) {
    std::vector<std::string> names;
    if (recipe.is_string()) {
        const std::string s = recipe.get<std::string>();
        if (s.rfind("all", 0) == 0) {
            // dataset_names.replace('all', '') (every occurrence), appended to each registered name
            std::string suffix;
            for (std::size_t i = 0; i < s.size();) {
                if (s.compare(i, 3, "all") == 0) {
                    i += 3;
                } else {
                    suffix.push_back(s[i]);
                    ++i;
                }
            }
            for (const auto& n : catalog.names())
                names.push_back(n + suffix);
        } else {
            names.push_back(s);
        }
    } else if (recipe.is_array()) {
        std::vector<std::string> custom, shelf;
        std::size_t ci = 0;
        for (std::size_t i = 0; i < recipe.size(); ++i) {
            const auto& e = recipe[i];
            if (e.is_string()) {
                shelf.push_back(e.get<std::string>());
            } else {
                dataset_config c = dataset_catalog::parse_config(e, "recipe entry " + std::to_string(i));
                dataset_catalog::resolve(c, base_dir);
                const std::string name = "custom_dataset_" + std::to_string(ci++);
                catalog.add(name, {c});
                custom.push_back(name);
            }
        }
        names = custom;
        names.insert(names.end(), shelf.begin(), shelf.end());
    } else {
        RSCOVLM_THROW(data_error, "bad_recipe", "a recipe is a dataset name or a list of names and dataset configs");
    }
    std::vector<dataset_config> out;
    for (const auto& n : names) {
        const auto [name, rate] = parse_sampling_rate(n);
        if (!catalog.contains(name)) RSCOVLM_THROW(data_error, "unknown_dataset", "do not find " + name);
        for (dataset_config c : catalog.at(name)) {
            c.sampling_rate = rate;
            c.name = name;
            out.push_back(std::move(c));
        }
    }
    return out;
}

/// Reader and builder chosen for a dataset type (rscovlm/training/data/__init__.py DATASET_CLASS).
struct dataset_type_components {
    std::string reader;
    std::string builder;
    nlohmann::json builder_params = nlohmann::json::object();
};

/// The components of an RSCoVLM dataset type (DATASET_CLASS of rscovlm/training/data/__init__.py).
/// `refgeo` builds hbb/obb/polygon and, for records with a mask, seg; `refgeo_obb_only` is accepted
/// although the reference's table lacks it.
inline dataset_type_components components_for(const dataset_config& c) {
    dataset_type_components d;
    const std::string& t = c.dataset_type;
    auto regions = [&](std::initializer_list<const char*> r) {
        d.builder_params = {{"region_types", nlohmann::json::array()}};
        for (const char* x : r)
            d.builder_params["region_types"].push_back(x);
    };
    if (t == "dense_det" || t == "dense_det_hbb_only" || t == "dense_det_poly_only") {
        d.reader = "reader.coco";
        d.builder = "builder.dense_det";
        if (t == "dense_det_hbb_only") regions({"hbb"});
        if (t == "dense_det_poly_only") regions({"polygon"});
    } else if (t == "refgeo" || t == "refgeo_wo_seg" || t == "refgeo_seg_only" || t == "refgeo_hbb_only" ||
               t == "refgeo_obb_only" || t == "refgeo_poly_only") {
        d.reader = "reader.refgeo";
        d.builder = "builder.refgeo";
        if (t == "refgeo") regions({"hbb", "obb", "polygon", "seg"});
        if (t == "refgeo_wo_seg") regions({"hbb", "obb", "polygon"});
        if (t == "refgeo_seg_only") regions({"seg"});
        if (t == "refgeo_hbb_only") regions({"hbb"});
        if (t == "refgeo_obb_only") regions({"obb"});
        if (t == "refgeo_poly_only") regions({"polygon"});
    } else if (t == "supervised" || t == "sft") {
        d.reader = "reader.llava";
        d.builder = "builder.sft";
    } else if (t == "visual_cot") {
        d.reader = "reader.lrsvqa";
        d.builder = "builder.lrsvqa_zoom";
    } else if (t == "teochat") {
        d.reader = "reader.llava";
        d.builder = "builder.geochat";
    } else if (t == "llava_onevision") {
        d.reader = "reader.llava_onevision";
        d.builder = "builder.llava_onevision";
    } else {
        RSCOVLM_THROW(data_error, "unsupported_dataset_type",
                      "dataset type '" + t + "' of '" + c.name +
                          "' is not supported (dense_det[_hbb_only|_poly_only], "
                          "refgeo[_wo_seg|_seg_only|_hbb_only|_obb_only|_poly_only], "
                          "supervised, visual_cot, teochat, llava_onevision)");
    }
    if (!c.reader.empty()) d.reader = c.reader;
    return d;
}

/// rscovlm.utils `random_sample`: a rate below 1 keeps `random.Random(42).sample(records,
/// int(len * rate))` (the reference turns any given seed into 42); an integer rate >= 1 repeats
/// the list that many times.
/// `min_one`: llava_onevision_dataset.py's own `random_sample`, which keeps
/// `max(1, int(len * rate))` records (same generator and draws otherwise).
template <class T>
inline std::vector<T> random_sample(const std::vector<T>& records, double rate, bool min_one = false) {
    if (rate < 1.0) {
        python_random rng(42);
        auto k = static_cast<std::size_t>(static_cast<double>(records.size()) * rate);
        if (min_one && k == 0) k = 1;
        if (k > records.size()) RSCOVLM_THROW(data_error, "bad_recipe", "Sample larger than population or is negative");
        std::vector<T> out;
        out.reserve(k);
        for (std::size_t i : detail::sample_indices(rng, records.size(), k))
            out.push_back(records[i]);
        return out;
    }
    if (std::fmod(rate, 1.0) != 0.0)
        RSCOVLM_THROW(data_error, "bad_recipe", "Sampling rate must be an integer when >= 1.0");
    std::vector<T> out;
    const auto n = static_cast<std::size_t>(rate);
    out.reserve(records.size() * n);
    for (std::size_t r = 0; r < n; ++r)
        out.insert(out.end(), records.begin(), records.end());
    return out;
}

/// One dataset type of a mixture: its builder and its (sampled) records.
struct mixture_part {
    std::string dataset_type;
    std::string builder_key;
    std::unique_ptr<conversation_builder> builder;
    std::vector<record> records;
    std::vector<std::string> record_dataset; ///< dataset name of each record
    std::vector<std::size_t> record_config;  ///< index of the recipe entry each record came from
    /// (record, task) of every sample in the reference's order (`index_tasks`); empty: records x
    /// tasks, task-major.
    std::vector<std::pair<std::size_t, std::size_t>> todo;

    /// Fills `todo` from the builder's order (task- or record-major) and per-record tasks.
    void index_tasks() {
        todo.clear();
        const std::size_t nt = builder ? builder->tasks_per_record() : 1;
        if (builder && builder->record_major()) {
            for (std::size_t r = 0; r < records.size(); ++r)
                for (std::size_t t = 0; t < nt; ++t)
                    if (builder->has_task(records[r], t)) todo.emplace_back(r, t);
        } else {
            for (std::size_t t = 0; t < nt; ++t)
                for (std::size_t r = 0; r < records.size(); ++r)
                    if (!builder || builder->has_task(records[r], t)) todo.emplace_back(r, t);
        }
        m_indexed = true;
    }
    /// Number of samples.
    std::size_t size() const {
        return m_indexed ? todo.size() : records.size() * (builder ? builder->tasks_per_record() : 1);
    }
    /// (record, task) of local sample `i`.
    std::pair<std::size_t, std::size_t> at(std::size_t i) const {
        if (m_indexed) return todo.at(i);
        const std::size_t nrec = records.size();
        return {i % nrec, i / nrec};
    }

private:
    bool m_indexed = false;
};

/// Where a global sample index points.
struct sample_location {
    std::size_t part = 0;
    std::size_t record = 0;
    std::size_t task = 0;
    std::size_t local = 0; ///< sample index inside the part
};

/// LMMRotate's "balanced concat" (lmmrotate/dataset.py `OrientedDetSFTDataset.
/// deal_with_multidataset_mode`): each subset (one annotation file there; one recipe entry here)
/// is repeated `round(max_len / len)` times (Python round, half to even; factors <= 1.8 become 1),
/// the repeats are concatenated, and every epoch draws `random.Random(epoch).sample(pool, N)`
/// with N the plain concatenated length. Returns the pool positions in draw order mapped to the
/// subsets' items: `subsets[i]` lists the items of subset i. An empty subset fails as the
/// reference does (division by zero): data_error "empty_subset".
inline std::vector<std::size_t> balanced_concat_order(const std::vector<std::vector<std::size_t>>& subsets,
                                                      std::uint64_t epoch) {
    std::size_t mx = 0, total = 0;
    for (std::size_t i = 0; i < subsets.size(); ++i) {
        if (subsets[i].empty())
            RSCOVLM_THROW(data_error, "empty_subset",
                          "balanced concat: subset " + std::to_string(i) + " is empty (division by zero)");
        mx = std::max(mx, subsets[i].size());
        total += subsets[i].size();
    }
    std::vector<std::size_t> pool;
    for (const auto& sub : subsets) {
        const double q = static_cast<double>(mx) / static_cast<double>(sub.size());
        const double r = std::nearbyint(q); // round(): half to even under the default rounding mode
        const std::size_t ratio = r > 1.8 ? static_cast<std::size_t>(r) : 1;
        for (std::size_t k = 0; k < ratio; ++k)
            pool.insert(pool.end(), sub.begin(), sub.end());
    }
    python_random rng(epoch);
    std::vector<std::size_t> out;
    out.reserve(total);
    for (std::size_t i : detail::sample_indices(rng, pool.size(), total))
        out.push_back(pool[i]);
    return out;
}

/// The concatenated training set of a recipe.
class mixture {
public:
    std::vector<mixture_part> parts;
    /// Per recipe entry (`mixture_part::record_config`): its own resolution strategy, or null.
    std::vector<std::shared_ptr<resolution::strategy>> config_resolution;
    /// LMMRotate balanced concat over the recipe entries (see `balanced_concat_order`); the order
    /// is drawn for the epoch given to `set_epoch` (default 0).
    bool balanced = false;

    /// Total number of samples (balanced concat keeps the plain length, as LMMRotate does).
    std::size_t size() const {
        std::size_t n = 0;
        for (const auto& p : parts)
            n += p.size();
        return n;
    }
    /// Draws the balanced-concat order of `epoch` (no effect unless `balanced`).
    void set_epoch(std::uint64_t epoch) {
        m_epoch = epoch;
        m_order.clear();
        if (!balanced) return;
        std::vector<std::vector<std::size_t>> subsets;
        std::size_t base = 0;
        for (const auto& p : parts) {
            for (std::size_t i = 0; i < p.size(); ++i) {
                const std::size_t cfg = p.record_config.empty() ? 0 : p.record_config.at(p.at(i).first);
                if (subsets.size() <= cfg) subsets.resize(cfg + 1);
                subsets[cfg].push_back(base + i);
            }
            base += p.size();
        }
        subsets.erase(std::remove_if(subsets.begin(), subsets.end(), [](const auto& v) { return v.empty(); }),
                      subsets.end());
        m_order = balanced_concat_order(subsets, epoch);
    }
    std::uint64_t epoch() const noexcept { return m_epoch; }
    /// ConcatDataset indexing (bisect over cumulative sizes), then the part's sample order; with
    /// balanced concat the index goes through the epoch's drawn order first.
    sample_location locate(std::size_t index) const {
        if (index >= size())
            RSCOVLM_THROW(data_error, "index_out_of_range",
                          "sample " + std::to_string(index) + " of " + std::to_string(size()));
        if (balanced) {
            if (m_order.size() != size())
                RSCOVLM_THROW(data_error, "stale_order",
                              "balanced mixture changed after set_epoch(); call set_epoch() again");
            index = m_order.at(index);
        }
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const std::size_t n = parts[i].size();
            if (index < n) {
                const auto rt = parts[i].at(index);
                return sample_location{i, rt.first, rt.second, index};
            }
            index -= n;
        }
        return {};
    }
    /// Builds sample `index` with a generator seeded `(seed << 32) + index` (Python:
    /// `random.seed((seed << 32) + index)` before the reference's get_messages). A builder's
    /// "skip_record" moves on to the part's next sample with the same generator, as the
    /// reference's `__getitem__(idx + 1)` (LLaVA-OneVision); past the part's end: data_error
    /// "no_next_record".
    conversation build(std::size_t index, const build_options& opt, std::uint64_t seed) const {
        const sample_location l = locate(index);
        python_random rng((seed << 32) + index);
        const mixture_part& p = parts[l.part];
        for (std::size_t local = l.local;; ++local) {
            if (local >= p.size())
                RSCOVLM_THROW(data_error, "no_next_record",
                              "sample " + std::to_string(index) + ": no buildable item from " +
                                  std::to_string(l.local) + " to the end of '" + p.dataset_type + "'");
            const auto rt = p.at(local);
            try {
                const std::size_t cfg = p.record_config.empty() ? 0 : p.record_config[rt.first];
                const bool own = cfg < config_resolution.size() && config_resolution[cfg];
                conversation c;
                if (own) {
                    build_options o = opt;
                    o.resolution = config_resolution[cfg];
                    c = p.builder->build(p.records[rt.first], rt.second, o, rng);
                } else {
                    c = p.builder->build(p.records[rt.first], rt.second, opt, rng);
                }
                c.dataset = p.record_dataset[rt.first];
                return c;
            } catch (const data_error& e) {
                if (std::string(e.what()).find("[rscovlm.data.skip_record]") == std::string::npos) throw;
            }
        }
    }

private:
    std::uint64_t m_epoch = 0;
    std::vector<std::size_t> m_order;
};

/// Reads every dataset of a resolved recipe and groups it into a mixture. `make_reader` maps a
/// reader key to a reader (default: the core catalog; `engine::make_any_reader` adds DOTA and XML).
/// Dense-detection records get `use_synonyms = random() <= prob_open_end_prompts`, one draw per
/// record in load order, as DenseDetectionDataset's constructor; the draws come from
/// `random.Random(open_end_seed)` (the reference uses the process's global generator there).
inline mixture load_mixture(const std::vector<dataset_config>& configs,
                            const std::function<std::unique_ptr<dataset_reader>(const std::string&)>& make_reader = {},
                            bool balanced = false, std::uint64_t epoch = 0, double prob_open_end_prompts = 0.0,
                            std::uint64_t open_end_seed = 0) {
    python_random open_end_rng(open_end_seed);
    mixture m;
    m.balanced = balanced;
    for (std::size_t ci = 0; ci < configs.size(); ++ci) {
        const dataset_config& c = configs[ci];
        const dataset_type_components comp = components_for(c);
        m.config_resolution.push_back(c.resolution.is_null() ? nullptr : make_resolution(c.resolution));
        mixture_part* part = nullptr;
        for (auto& p : m.parts)
            if (p.dataset_type == c.dataset_type) part = &p;
        if (!part) {
            m.parts.emplace_back();
            part = &m.parts.back();
            part->dataset_type = c.dataset_type;
            part->builder_key = comp.builder;
            part->builder = registry::make<builder_kind>(comp.builder, comp.builder_params);
        }
        std::unique_ptr<dataset_reader> reader =
            make_reader ? make_reader(comp.reader) : registry::make<reader_kind>(comp.reader, nlohmann::json::object());
        const std::vector<record> recs =
            random_sample(reader->read(dataset_source{c.annotation_path, c.data_path, c.confine_to_root}),
                          c.sampling_rate, c.dataset_type == "llava_onevision");
        std::shared_ptr<const nlohmann::json> synonyms;
        if (!c.synonyms_dict.is_null()) synonyms = std::make_shared<const nlohmann::json>(c.synonyms_dict);
        for (const auto& r : recs) {
            part->records.push_back(r);
            if (auto* d = std::get_if<detection_record>(&part->records.back())) {
                d->use_synonyms = open_end_rng.random() <= prob_open_end_prompts;
                d->synonyms = synonyms;
            }
            part->record_dataset.push_back(c.name);
            part->record_config.push_back(ci);
        }
    }
    for (auto& p : m.parts)
        p.index_tasks();
    m.set_epoch(epoch);
    return m;
}

/// Resumable sampler state.
struct sampler_state {
    std::uint64_t epoch = 0;
    std::size_t position = 0; ///< samples of this epoch already consumed by this rank
    nlohmann::json to_json() const { return {{"epoch", epoch}, {"position", position}}; }
    static sampler_state from_json(const nlohmann::json& j) {
        sampler_state s;
        if (!j.is_object() || !j.contains("epoch") || !j.contains("position") || !j["epoch"].is_number_unsigned() ||
            !j["position"].is_number_unsigned())
            RSCOVLM_THROW(data_error, "bad_sampler_state", "sampler state must be {\"epoch\": n, \"position\": n}");
        s.epoch = j["epoch"].get<std::uint64_t>();
        s.position = j["position"].get<std::size_t>();
        return s;
    }
};

/// `torch.randperm(n, generator=g)` after `g.manual_seed(seed)` on the CPU generator (mt19937
/// seeded with the low 32 bits; Fisher-Yates with `random() % (n - i)`, ATen `randperm_cpu`).
inline std::vector<std::size_t> torch_randperm(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> r(n);
    for (std::size_t i = 0; i < n; ++i)
        r[i] = i;
    std::mt19937 gen(static_cast<std::uint32_t>(seed & 0xffffffffu));
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const std::size_t z = static_cast<std::size_t>(gen()) % (n - i);
        std::swap(r[i], r[z + i]);
    }
    return r;
}

/// PyTorch `DistributedSampler` semantics: the indices of one rank for one epoch.
class distributed_sampler {
public:
    distributed_sampler(std::size_t dataset_size, std::size_t num_replicas = 1, std::size_t rank = 0,
                        bool shuffle = true, std::uint64_t seed = 0, bool drop_last = false)
        : m_n(dataset_size), m_replicas(num_replicas), m_rank(rank), m_shuffle(shuffle), m_seed(seed),
          m_drop_last(drop_last) {
        if (num_replicas == 0 || rank >= num_replicas)
            RSCOVLM_THROW(data_error, "bad_rank",
                          "Invalid rank " + std::to_string(rank) + ", rank should be in the interval [0, " +
                              std::to_string(num_replicas == 0 ? 0 : num_replicas - 1) + "]");
    }
    void set_epoch(std::uint64_t epoch) noexcept {
        m_state.epoch = epoch;
        m_state.position = 0;
    }
    /// Samples per rank: ceil(n / replicas), or (drop_last) ceil((n - replicas) / replicas).
    std::size_t num_samples() const noexcept {
        if (m_drop_last && m_n % m_replicas != 0)
            return m_n >= m_replicas
                       ? static_cast<std::size_t>(std::ceil(static_cast<double>(m_n - m_replicas) / m_replicas))
                       : 0;
        return (m_n + m_replicas - 1) / m_replicas;
    }
    std::size_t total_size() const noexcept { return num_samples() * m_replicas; }
    /// This rank's indices for the current epoch (from the start).
    std::vector<std::size_t> indices() const {
        std::vector<std::size_t> idx;
        if (m_shuffle) {
            idx = torch_randperm(m_n, m_seed + m_state.epoch);
        } else {
            idx.resize(m_n);
            for (std::size_t i = 0; i < m_n; ++i)
                idx[i] = i;
        }
        const std::size_t total = total_size();
        if (!m_drop_last) {
            const std::size_t padding = total - idx.size();
            if (!idx.empty()) {
                const std::size_t base = idx.size();
                for (std::size_t k = 0; k < padding; ++k)
                    idx.push_back(idx[k % base]);
            }
        } else {
            idx.resize(total);
        }
        std::vector<std::size_t> mine;
        for (std::size_t i = m_rank; i < total && i < idx.size(); i += m_replicas)
            mine.push_back(idx[i]);
        return mine;
    }
    /// The indices still to be consumed (resuming after `state().position`).
    std::vector<std::size_t> remaining() const {
        std::vector<std::size_t> all = indices();
        if (m_state.position >= all.size()) return {};
        return std::vector<std::size_t>(all.begin() + static_cast<std::ptrdiff_t>(m_state.position), all.end());
    }
    /// Marks `n` more samples consumed.
    void advance(std::size_t n) noexcept { m_state.position += n; }
    const sampler_state& state() const noexcept { return m_state; }
    void restore(const sampler_state& s) noexcept { m_state = s; }

private:
    std::size_t m_n, m_replicas, m_rank;
    bool m_shuffle;
    std::uint64_t m_seed;
    bool m_drop_last;
    sampler_state m_state;
};

} // namespace rscovlm::data
