#pragma once
/// \file bench/benchmark.hpp
/// The `benchmark` registry kind's interface: a benchmark reads a data set into records, answers
/// one record with a generation backend (the model answer as one JSON object, the line
/// `answers.jsonl` stores), and scores the answers of a run into a results table.
///
/// The three steps are separate so that a run survives interruption (answers are stored as they
/// arrive and a rerun skips them), shards of one data set can run on several machines, and the
/// scoring of merged shards is the scoring of one run (`bench/run.hpp` chains them).
///
/// Components know nothing of `pipeline::pipeline`: the runner hands them the pipeline's other
/// components (box codec, resolution strategy, zoom chain, metrics) in an `environment`, and the
/// file access that needs optional libraries (image decoding, PNG writing) as functions.

#include <rscovlm/bench/charts.hpp>
#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/scores.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/eval/builtin.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/chain.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rscovlm::bench {

/// One unit of work of a benchmark: an id unique in the data set and what answering it needs.
struct record {
    std::string id;
    nlohmann::json input; ///< the benchmark's own fields (image path, query, ground truth, ...)
};

/// A metric of the pipeline, with the key and parameters it was built from.
struct metric_ref {
    std::string key;
    nlohmann::json params;
    std::shared_ptr<const eval::metric> metric;
};

/// What a benchmark uses besides the backend: the pipeline's components (any may be null when the
/// preset has none; a benchmark that needs one raises `rscovlm.config.missing_component`) and the
/// file access of the program.
struct environment {
    const box_codec::codec* codec = nullptr;
    resolution::strategy* sizing = nullptr;
    const zoom::chain* chain = nullptr;
    std::vector<metric_ref> metrics;
    /// Decodes an image file (required by `answer`).
    std::function<image(const std::string&)> load_image;
    /// Parses an XML file into `{"name", "line", "text", "children": [...]}` (the detection
    /// benchmarks' XML ground truth; `io::read_xml_tree` with tinyxml2).
    std::function<nlohmann::json(const std::string&)> read_xml;
    zoom::generation_options generation;
    /// Detection: score each box from its tokens' log-probabilities by this rule (the ranked mAP then
    /// ranks by it); unset: every box scores 1.0 and only the score-free protocols are meaningful.
    std::optional<box_codec::score_rule> box_scores;
    /// Detection: constrained decoding with the codec's grammar (backends that can constrain).
    bool constrain = false;
};

/// What `score` writes besides its result.
struct score_options {
    std::string out_dir;     ///< run folder (detection writes `task1/` there); "" = nothing written
    bool sweep = false;      ///< detection: also sweep the score threshold
    std::size_t samples = 4; ///< images on the sample page
    /// Writes a PNG (pictures are skipped when empty).
    std::function<void(const std::string&, const image&)> save_png;
    /// Draws the pictures' text (none when empty).
    text_painter text;
};

/// A table of results: the rows that `results.md` and `results.csv` show.
struct table {
    std::vector<std::string> columns;
    std::vector<std::vector<nlohmann::json>> rows; ///< numbers, strings or null
};

inline void to_json(nlohmann::json& j, const table& t) {
    j = nlohmann::json{{"columns", t.columns}, {"rows", t.rows}};
}
inline void from_json(const nlohmann::json& j, table& t) {
    t.columns = j.at("columns").get<std::vector<std::string>>();
    t.rows = j.at("rows").get<std::vector<std::vector<nlohmann::json>>>();
}

/// The answers of a run aligned with its records: `answers[i]` is record i's stored line, or null
/// when it has none.
using answer_view = std::vector<const nlohmann::json*>;

/// True when a stored answer line records a failure (backend error, unreadable image).
inline bool failed(const nlohmann::json* line) {
    return line == nullptr || (line->is_object() && line->contains("error"));
}

/// Interface of the `benchmark` kind.
class benchmark : public registry::keyed {
public:
    /// "detection", "grounding" or "vqa".
    virtual std::string_view task() const noexcept = 0;
    /// Reads the data set at `data` (a folder or a file, as the component documents) into records,
    /// in a fixed order. Bad data raises typed errors (`rscovlm.data.*`, `rscovlm.io.*`).
    virtual std::vector<record> load(const std::string& data) const = 0;
    /// Answers one record: the object stored as its answer line (without "id"). Raises on failure
    /// (backend error, unreadable image); the runner stores the error instead.
    virtual nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const = 0;
    /// Scores the answers of `records` (null or failed answers are counted as failed). Returns
    /// `{"task", "total", "answered", "failed", "metrics": {...}, "table": table, "pictures": [...]}`.
    virtual nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                                 const score_options& options) const = 0;
};

namespace detail {
/// The component a benchmark needs, or `rscovlm.config.missing_component`.
template <class T> T& need(T* p, std::string_view what, std::string_view bench) {
    if (!p)
        RSCOVLM_THROW(config_error, "missing_component",
                      std::string(bench) + " needs a " + std::string(what) + " component in the preset");
    return *p;
}
/// The first metric of `env`, or `rscovlm.config.missing_component`.
inline const metric_ref& first_metric(const environment& env, std::string_view bench) {
    if (env.metrics.empty())
        RSCOVLM_THROW(config_error, "missing_component",
                      std::string(bench) + " needs a metric component in the preset");
    return env.metrics.front();
}
/// `path` resolved against the folder of `base_file` when relative.
inline std::string resolve_path(const std::string& path, const std::string& base_dir) {
    if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
    return base_dir + "/" + path;
}
/// The records of a JSON Lines file (or a JSON array file): each an object with the `required`
/// string fields; "id" (string or number) names it, else its position ("0", "1", ...); "image" is
/// resolved against the file's folder (unless `resolve_image` is false). Bad lines are `rscovlm.data.bad_record` naming
/// the line.
inline std::vector<record> read_jsonl_records(const std::string& path, const std::vector<std::string>& required,
                                              std::string_view bench, bool resolve_image = true) {
    const std::string text =
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open data file '" + path + "'");
    const std::string base = std::filesystem::path(path).parent_path().string();
    std::vector<std::pair<std::size_t, nlohmann::json>> values;
    nlohmann::json all = nlohmann::json::parse(text, nullptr, false);
    if (!all.is_discarded() && all.is_array()) {
        for (std::size_t i = 0; i < all.size(); ++i)
            values.emplace_back(i + 1, std::move(all[i]));
    } else {
        std::size_t n = 0, start = 0;
        while (start < text.size()) {
            std::size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            ++n;
            const std::string line = text.substr(start, end - start);
            start = end + 1;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            values.emplace_back(n, nlohmann::json::parse(line, nullptr, false));
        }
    }
    std::vector<record> out;
    std::set<std::string> seen;
    for (auto& [line, v] : values) {
        const std::string where = "'" + path + "' record at line " + std::to_string(line);
        if (v.is_discarded() || !v.is_object()) RSCOVLM_THROW(data_error, "bad_record", where + ": not a JSON object");
        for (const auto& f : required)
            if (!v.contains(f) || !v[f].is_string())
                RSCOVLM_THROW(data_error, "bad_record",
                              where + ": " + std::string(bench) + " needs a string \"" + f + "\"");
        record r;
        if (v.contains("id") && v["id"].is_string())
            r.id = v["id"].get<std::string>();
        else if (v.contains("id") && v["id"].is_number_integer())
            r.id = std::to_string(v["id"].get<long long>());
        else
            r.id = std::to_string(out.size());
        if (!seen.insert(r.id).second) RSCOVLM_THROW(data_error, "duplicate_id", where + ": id '" + r.id + "' repeats");
        if (resolve_image && v.contains("image") && v["image"].is_string())
            v["image"] = resolve_path(v["image"].get<std::string>(), base);
        r.input = std::move(v);
        out.push_back(std::move(r));
    }
    if (out.empty()) RSCOVLM_THROW(data_error, "no_records", "'" + path + "' holds no records");
    return out;
}

/// The category of a record ("" when it has none).
inline std::string category_of(const record& r) {
    auto it = r.input.find("category");
    if (it == r.input.end() || it->is_null()) return {};
    return it->is_string() ? it->get<std::string>() : it->dump();
}

/// The metric pairs of a run in record order, with each record's category: `pair(i)` for a record
/// that was answered, nothing for one that failed (failed records are counted, never scored).
/// Returns the number of failed records.
template <class Pair> inline std::size_t collect_pairs(const std::vector<record>& records, const answer_view& answers,
                                                       std::vector<std::string>& categories,
                                                       std::vector<std::optional<nlohmann::json>>& pairs, Pair&& pair) {
    std::size_t failed_n = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        categories.push_back(category_of(records[i]));
        if (failed(answers[i])) {
            ++failed_n;
            pairs.emplace_back(std::nullopt);
        } else {
            pairs.emplace_back(pair(i));
        }
    }
    return failed_n;
}

/// Scores `pairs` per category and overall with `m`: a table with columns category, total
/// (records), failed, then every numeric field of the overall result except "total" and "correct".
/// `values` receives each category's first numeric field and `labels` its name (for the bar chart).
inline nlohmann::json score_by_category(const eval::metric& m, const std::string& metric_key,
                                        const std::vector<std::string>& categories,
                                        const std::vector<std::optional<nlohmann::json>>& pairs, table& t,
                                        std::vector<double>& values, std::vector<std::string>& labels) {
    std::vector<std::string> order;
    std::map<std::string, std::pair<nlohmann::json, std::size_t>> by; // pairs, failed
    nlohmann::json all_pairs = nlohmann::json::array();
    std::size_t all_failed = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        auto it = by.find(categories[i]);
        if (it == by.end()) {
            order.push_back(categories[i]);
            it = by.emplace(categories[i], std::make_pair(nlohmann::json::array(), std::size_t(0))).first;
        }
        if (pairs[i]) {
            it->second.first.push_back(*pairs[i]);
            all_pairs.push_back(*pairs[i]);
        } else {
            ++it->second.second;
            ++all_failed;
        }
    }
    auto eval_or_null = [&](const nlohmann::json& ps) {
        return ps.empty() ? nlohmann::json(nullptr) : m.evaluate({{"pairs", ps}});
    };
    const nlohmann::json overall = eval_or_null(all_pairs);
    std::vector<std::string> fields;
    if (overall.is_object())
        for (auto it = overall.begin(); it != overall.end(); ++it)
            if (it->is_number() && it.key() != "total" && it.key() != "correct") fields.push_back(it.key());
    t.columns = {"category", "total", "failed"};
    for (const auto& f : fields)
        t.columns.push_back(metric_key + " " + f);
    nlohmann::json per = nlohmann::json::object();
    auto row = [&](const std::string& name, const nlohmann::json& res, std::size_t total, std::size_t failed_n) {
        std::vector<nlohmann::json> r = {name, total, failed_n};
        for (const auto& f : fields)
            r.push_back(res.is_object() && res.contains(f) ? res[f] : nlohmann::json(nullptr));
        t.rows.push_back(std::move(r));
    };
    const bool categorised = order.size() > 1 || (order.size() == 1 && !order.front().empty());
    if (categorised)
        for (const auto& c : order) {
            const auto& [ps, f] = by[c];
            const nlohmann::json res = eval_or_null(ps);
            per[c.empty() ? "(none)" : c] = res;
            row(c.empty() ? "(none)" : c, res, ps.size() + f, f);
            labels.push_back(c.empty() ? "(none)" : c);
            values.push_back(!fields.empty() && res.is_object() && res.contains(fields.front()) &&
                                     res[fields.front()].is_number()
                                 ? res[fields.front()].get<double>()
                                 : std::nan(""));
        }
    row("overall", overall, pairs.size(), all_failed);
    return {{"overall", overall}, {"categories", per}};
}

/// Writes `OUT/pictures/accuracy.png`, the bar chart of `values` named by `labels`, when the run
/// saves pictures; returns the pictures written (none or that one).
inline nlohmann::json accuracy_chart(const score_options& options, const std::vector<double>& values,
                                     const std::vector<std::string>& labels) {
    nlohmann::json pictures = nlohmann::json::array();
    if (!options.save_png || options.out_dir.empty()) return pictures;
    std::filesystem::create_directories(std::filesystem::path(options.out_dir) / "pictures");
    const std::string path = (std::filesystem::path(options.out_dir) / "pictures" / "accuracy.png").string();
    options.save_png(path, bar_chart(values, options.text, labels));
    pictures.push_back(path);
    return pictures;
}

/// The result of a per-category benchmark (grounding, VQA): `pairs` scored with `m` per category and
/// overall, the accuracy bar chart written when at least `min_bars` categories have a value, and the
/// result object {"task", "total", "answered", "failed", "metrics", "table", "pictures"}.
inline nlohmann::json category_result(std::string_view task, const metric_ref& m,
                                      const std::vector<std::string>& categories,
                                      const std::vector<std::optional<nlohmann::json>>& pairs, std::size_t failed_n,
                                      const score_options& options, std::size_t min_bars) {
    table t;
    std::vector<double> values;
    std::vector<std::string> labels;
    const nlohmann::json metrics = score_by_category(*m.metric, m.key, categories, pairs, t, values, labels);
    const nlohmann::json pictures = !values.empty() && values.size() >= min_bars
                                        ? accuracy_chart(options, values, labels)
                                        : nlohmann::json::array();
    return {{"task", task},        {"total", pairs.size()},         {"answered", pairs.size() - failed_n},
            {"failed", failed_n},  {"metrics", {{m.key, metrics}}}, {"table", t},
            {"pictures", pictures}};
}

} // namespace detail

} // namespace rscovlm::bench
