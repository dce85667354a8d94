#pragma once
/// \file bench/run.hpp
/// Running a benchmark preset end to end: the preset's `benchmark` component reads the data set,
/// the selected records (`--shard i/n`, then `--limit N`) are answered by `in_flight` workers (each
/// with its own backend from the factory and its own copy of the pipeline: backends and random
/// resolution strategies are not thread-safe), every answer is appended to `OUT/answers.jsonl` as
/// it arrives, a rerun answers only the records without a successful answer, and the answers are
/// scored into `OUT/results.json`, `results.md` and `results.csv` (table + configuration).
/// `merge` combines the folders of shard runs of one preset and data set and scores them as one run.
///
/// `OUT/run.json` records the preset, the data path and the selection; a rerun into a folder of
/// another preset or data set is `rscovlm.usage.other_run`.

#include <rscovlm/bench/answers.hpp>
#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/builtin.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/version.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rscovlm::bench {

/// Makes one backend per worker (backends are not thread-safe).
using backend_factory = std::function<std::unique_ptr<zoom::backend>()>;

/// What a run needs besides the pipeline.
struct run_options {
    std::string data;      ///< the benchmark's data (folder or file)
    std::string out_dir;   ///< the run folder
    std::size_t limit = 0; ///< 0 = every selected record
    shard part;            ///< `--shard i/n`
    int in_flight = 1;     ///< records answered at once (one backend each)
    bool sweep = false;    ///< detection: score-threshold sweep
    backend_factory make_backend;
    std::function<image(const std::string&)> load_image;
    std::function<nlohmann::json(const std::string&)> read_xml;     ///< XML ground truth (`io::read_xml_tree`)
    std::function<void(const std::string&, const image&)> save_png; ///< empty: no pictures
    text_painter text; ///< the pictures' text (`io::draw_text`); empty: pictures without text
    zoom::generation_options generation;
    /// Detection: score boxes from their tokens' log-probabilities by this rule (unset: all score 1).
    std::optional<box_codec::score_rule> box_scores;
    bool constrain = false;                           ///< detection: constrained decoding with the codec's grammar
    nlohmann::json config = nlohmann::json::object(); ///< shown in the results (backend key, model, ...)
    /// Called after each answer: (records answered in this run, records to answer in this run).
    std::function<void(std::size_t, std::size_t)> progress;
};

/// Counts of a run and its results (the contents of results.json).
struct run_summary {
    std::size_t selected = 0;  ///< records of this run (shard and limit applied)
    std::size_t resumed = 0;   ///< answered by an earlier run, skipped
    std::size_t generated = 0; ///< answered now (successes and failures)
    std::size_t failed = 0;    ///< records without a successful answer after the run
    nlohmann::json results;
};

namespace detail {

inline std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
#ifdef _WIN32
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/// The environment of a pipeline: its components, the DOTA metrics scored on the benchmark's
/// classes (when their parameters name none).
template <class Kinds>
environment make_environment(const pipeline::basic_pipeline<Kinds>& p, const benchmark& b, const run_options& o) {
    environment env;
    if (p.template has<box_codec::kind>()) env.codec = &p.template get<box_codec::kind>();
    if (p.template has<resolution::kind>()) env.sizing = &p.template get<resolution::kind>();
    if (p.template has<zoom::kind>()) env.chain = &p.template get<zoom::kind>();
    const auto* det = dynamic_cast<const detection_bench_base*>(&b);
    for (const auto& c : p.components()) {
        if (c.kind != eval::kind::name) continue;
        metric_ref m{c.key, c.params, nullptr};
        if (det && c.key.rfind("metric.dota.", 0) == 0 && (!c.params.is_object() || !c.params.contains("classes"))) {
            nlohmann::json params = c.params.is_object() ? c.params : nlohmann::json::object();
            params["classes"] = det->class_list();
            m.metric = std::shared_ptr<const eval::metric>(registry::make<eval::kind>(c.key, params));
        } else {
            m.metric = std::static_pointer_cast<const eval::metric>(
                std::shared_ptr<const void>(c.instance, static_cast<const eval::metric*>(c.instance.get())));
        }
        env.metrics.push_back(std::move(m));
    }
    env.load_image = o.load_image;
    env.read_xml = o.read_xml;
    env.generation = o.generation;
    env.box_scores = o.box_scores;
    env.constrain = o.constrain;
    return env;
}

inline std::string cell_text(const nlohmann::json& v) {
    if (v.is_null()) return "";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
        return buf;
    }
    return v.dump();
}

inline std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + path + "'");
}

/// Writes results.json, results.md and results.csv of `results` into `out`.
inline void write_results(const std::string& out, const nlohmann::json& results) {
    namespace fs = std::filesystem;
    write_text((fs::path(out) / "results.json").string(),
               results.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    const table t = results.at("results").at("table").get<table>();
    const nlohmann::json& cfg = results.at("config");
    const nlohmann::json& res = results.at("results");
    std::string md = "# " + cfg.value("preset", std::string()) + " (" + cfg.value("benchmark", std::string()) + ")\n\n";
    for (auto it = cfg.begin(); it != cfg.end(); ++it)
        if (!it->is_object() && !it->is_array()) md += "- " + it.key() + ": " + cell_text(*it) + "\n";
    md += "- records: " + std::to_string(res.value("total", 0)) + ", answered " +
          std::to_string(res.value("answered", 0)) + ", failed " + std::to_string(res.value("failed", 0)) + "\n";
    if (res.value("failed", 0) > 0)
        md += "\n**" + std::to_string(res.value("failed", 0)) +
              " record(s) failed (backend error or unreadable input) and are not scored.**\n";
    md += "\n|";
    std::string sep = "|";
    for (const auto& c : t.columns) {
        md += " " + c + " |";
        sep += " --- |";
    }
    md += "\n" + sep + "\n";
    for (const auto& r : t.rows) {
        md += "|";
        for (const auto& v : r)
            md += " " + cell_text(v) + " |";
        md += "\n";
    }
    write_text((fs::path(out) / "results.md").string(), md);
    std::string csv;
    for (std::size_t i = 0; i < t.columns.size(); ++i)
        csv += (i ? "," : "") + csv_field(t.columns[i]);
    csv += "\n";
    for (const auto& r : t.rows) {
        for (std::size_t i = 0; i < r.size(); ++i)
            csv += (i ? "," : "") + csv_field(r[i].is_number_float() ? r[i].dump() : cell_text(r[i]));
        csv += "\n";
    }
    write_text((fs::path(out) / "results.csv").string(), csv);
}

/// Scores `selected` (record indices) of `records` with the answers of `stored` and writes the result files.
template <class Kinds> nlohmann::json score_and_write(const pipeline::basic_pipeline<Kinds>& p,
                                                      const std::vector<record>& records,
                                                      const std::vector<std::size_t>& selected,
                                                      const std::map<std::string, nlohmann::json>& stored,
                                                      const run_options& o, nlohmann::json config) {
    const benchmark& b = p.template get<kind>();
    std::vector<record> recs;
    answer_view view;
    for (std::size_t i : selected) {
        recs.push_back(records[i]);
        auto it = stored.find(records[i].id);
        view.push_back(it == stored.end() ? nullptr : &it->second);
    }
    score_options so;
    so.out_dir = o.out_dir;
    so.sweep = o.sweep;
    so.save_png = o.save_png;
    so.text = o.text;
    const environment env = make_environment(p, b, o);
    nlohmann::json res = b.score(recs, view, env, so);
    config["preset"] = p.name();
    config["benchmark"] = std::string(b.component_key());
    config["rscovlm_version"] = version_string;
    config["date"] = utc_now();
    config["data"] = o.data;
    nlohmann::json all = {{"config", config}, {"results", res}};
    write_results(o.out_dir, all);
    return all;
}

inline nlohmann::json read_json_file(const std::string& path, const std::string& what) {
    const std::string text =
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open " + what + " '" + path + "'");
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) RSCOVLM_THROW(data_error, "bad_run", "'" + path + "' is not a JSON object");
    return j;
}

} // namespace detail

/// Runs the benchmark of preset `p` (see the file comment).
template <class Kinds> run_summary run(const pipeline::basic_pipeline<Kinds>& p, const run_options& o) {
    namespace fs = std::filesystem;
    const benchmark& b = p.template get<kind>();
    if (o.out_dir.empty()) RSCOVLM_THROW(usage_error, "no_out", "a benchmark run needs an output folder");
    if (o.in_flight < 1) RSCOVLM_THROW(usage_error, "bad_in_flight", "in_flight must be at least 1");
    if (!o.make_backend) RSCOVLM_THROW(usage_error, "no_backend", "a benchmark run needs a backend factory");
    const std::vector<record> records = b.load(o.data);
    const std::vector<std::size_t> selected = select_records(records.size(), o.part, o.limit);
    fs::create_directories(o.out_dir);

    // The run folder belongs to one preset and data set.
    const std::string run_file = (fs::path(o.out_dir) / "run.json").string();
    const nlohmann::json preset = p.to_json();
    const std::string data_abs = fs::absolute(o.data).lexically_normal().string();
    if (fs::exists(run_file)) {
        const nlohmann::json old = detail::read_json_file(run_file, "run file");
        if (old.value("preset", nlohmann::json()) != preset || old.value("data", std::string()) != data_abs)
            RSCOVLM_THROW(usage_error, "other_run",
                          "'" + o.out_dir + "' holds a run of another preset or data set; use another --out");
    }
    nlohmann::json ids = nlohmann::json::array();
    for (std::size_t i : selected)
        ids.push_back(records[i].id);
    detail::write_text(run_file,
                       nlohmann::json{{"preset", preset},
                                      {"data", data_abs},
                                      {"shard", std::to_string(o.part.index) + "/" + std::to_string(o.part.count)},
                                      {"limit", o.limit},
                                      {"selected", ids}}
                               .dump(2) +
                           "\n");

    const std::string answers_path = (fs::path(o.out_dir) / "answers.jsonl").string();
    run_summary s;
    s.selected = selected.size();
    std::vector<std::size_t> pending;
    {
        const auto done = read_answers(answers_path);
        for (std::size_t i : selected) {
            auto it = done.find(records[i].id);
            if (it != done.end() && !it->second.contains("error"))
                ++s.resumed;
            else
                pending.push_back(i);
        }
    }

    if (!pending.empty()) {
        const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(o.in_flight), pending.size());
        // Each worker: its own pipeline copy and backend, built here so that errors surface at once.
        std::vector<pipeline::basic_pipeline<Kinds>> pipes;
        std::vector<std::unique_ptr<zoom::backend>> backends;
        std::vector<environment> envs;
        for (std::size_t w = 0; w < workers; ++w) {
            pipes.push_back(pipeline::basic_pipeline<Kinds>::from_json(preset, p.name()));
            backends.push_back(o.make_backend());
            if (!backends.back()) RSCOVLM_THROW(usage_error, "no_backend", "the backend factory returned nothing");
        }
        for (std::size_t w = 0; w < workers; ++w)
            envs.push_back(detail::make_environment(pipes[w], pipes[w].template get<kind>(), o));
        answer_writer writer(answers_path);
        std::atomic<std::size_t> next{0};
        std::mutex m;
        std::size_t done = 0;
        std::exception_ptr fatal;
        auto work = [&](std::size_t w) {
            const benchmark& wb = pipes[w].template get<kind>();
            for (;;) {
                const std::size_t k = next.fetch_add(1);
                if (k >= pending.size()) return;
                {
                    std::lock_guard<std::mutex> lock(m);
                    if (fatal) return;
                }
                const record& r = records[pending[k]];
                nlohmann::json line;
                try {
                    line = wb.answer(r, *backends[w], envs[w]);
                } catch (const std::exception& e) {
                    // A failed record is stored as failed (and retried by a rerun), never as an answer.
                    line = nlohmann::json{{"error", std::string(e.what())}};
                }
                nlohmann::json out = {{"id", r.id}, {"index", pending[k]}};
                for (auto it = line.begin(); it != line.end(); ++it)
                    out[it.key()] = it.value();
                try {
                    writer.append(out);
                } catch (...) {
                    std::lock_guard<std::mutex> lock(m);
                    if (!fatal) fatal = std::current_exception();
                    return;
                }
                std::lock_guard<std::mutex> lock(m);
                ++done;
                if (o.progress) o.progress(done, pending.size());
            }
        };
        if (workers == 1) {
            work(0);
        } else {
            std::vector<std::thread> threads;
            for (std::size_t w = 0; w < workers; ++w)
                threads.emplace_back(work, w);
            for (auto& t : threads)
                t.join();
        }
        if (fatal) std::rethrow_exception(fatal);
        s.generated = done;
    }

    const auto stored = read_answers(answers_path);
    for (std::size_t i : selected) {
        auto it = stored.find(records[i].id);
        if (it == stored.end() || it->second.contains("error")) ++s.failed;
    }
    nlohmann::json config = o.config;
    config["shard"] = std::to_string(o.part.index) + "/" + std::to_string(o.part.count);
    config["limit"] = o.limit;
    s.results = detail::score_and_write(p, records, selected, stored, o, config);
    s.results["run"] = {
        {"selected", s.selected}, {"resumed", s.resumed}, {"generated", s.generated}, {"failed", s.failed}};
    detail::write_text((fs::path(o.out_dir) / "results.json").string(),
                       s.results.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return s;
}

/// Combines the run folders of shards of one preset and data set into `o.out_dir` (their answers,
/// by record, in data set order, into `answers.jsonl`) and scores them as one run. `o.data` and
/// the backend are not used: the preset and data come from the shards' `run.json`.
template <class Kinds = pipeline::core_kinds>
run_summary merge(const std::vector<std::string>& shard_dirs, run_options o) {
    namespace fs = std::filesystem;
    if (shard_dirs.empty()) RSCOVLM_THROW(usage_error, "no_shards", "bench merge needs at least one shard folder");
    if (o.out_dir.empty()) RSCOVLM_THROW(usage_error, "no_out", "bench merge needs an output folder");
    nlohmann::json preset, data;
    std::set<std::string> wanted;
    std::map<std::string, nlohmann::json> stored;
    for (const auto& dir : shard_dirs) {
        const nlohmann::json run = detail::read_json_file((fs::path(dir) / "run.json").string(), "run file");
        if (!run.contains("preset") || !run.contains("data") || !run.contains("selected"))
            RSCOVLM_THROW(data_error, "bad_run", "'" + dir + "/run.json' is not a benchmark run file");
        if (preset.is_null()) {
            preset = run["preset"];
            data = run["data"];
        } else if (run["preset"] != preset || run["data"] != data) {
            RSCOVLM_THROW(usage_error, "other_run", "'" + dir + "' is a run of another preset or data set");
        }
        for (const auto& id : run["selected"])
            wanted.insert(id.get<std::string>());
        // The shards' configuration (backend, model) carries over to the merged results.
        const fs::path res = fs::path(dir) / "results.json";
        if (o.config.empty() && fs::exists(res)) {
            const nlohmann::json r = detail::read_json_file(res.string(), "results file");
            if (r.contains("config") && r["config"].is_object())
                for (const char* k : {"backend", "model", "in_flight"})
                    if (r["config"].contains(k)) o.config[k] = r["config"][k];
        }
        for (auto& [id, line] : read_answers((fs::path(dir) / "answers.jsonl").string())) {
            auto it = stored.find(id);
            if (it == stored.end() || (it->second.contains("error") && !line.contains("error"))) stored[id] = line;
        }
    }
    const auto p = pipeline::basic_pipeline<Kinds>::from_json(preset, "run.json");
    const benchmark& b = p.template get<kind>();
    o.data = data.get<std::string>();
    const std::vector<record> records = b.load(o.data);
    std::vector<std::size_t> selected;
    for (std::size_t i = 0; i < records.size(); ++i)
        if (wanted.count(records[i].id)) selected.push_back(i);
    fs::create_directories(o.out_dir);
    run_summary s;
    s.selected = selected.size();
    {
        std::string text;
        for (std::size_t i : selected) {
            auto it = stored.find(records[i].id);
            if (it != stored.end())
                text += it->second.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
            if (it == stored.end() || it->second.contains("error")) ++s.failed;
        }
        detail::write_text((fs::path(o.out_dir) / "answers.jsonl").string(), text);
        nlohmann::json ids = nlohmann::json::array();
        for (std::size_t i : selected)
            ids.push_back(records[i].id);
        detail::write_text((fs::path(o.out_dir) / "run.json").string(), nlohmann::json{{"preset", preset},
                                                                                       {"data", data},
                                                                                       {"shard", "merged"},
                                                                                       {"shards", shard_dirs},
                                                                                       {"limit", 0},
                                                                                       {"selected", ids}}
                                                                                .dump(2) +
                                                                            "\n");
    }
    s.resumed = s.selected - s.failed;
    nlohmann::json config = o.config;
    config["shard"] = "merged from " + std::to_string(shard_dirs.size());
    s.results = detail::score_and_write(p, records, selected, stored, o, config);
    s.results["run"] = {{"selected", s.selected}, {"merged_shards", shard_dirs.size()}, {"failed", s.failed}};
    detail::write_text((fs::path(o.out_dir) / "results.json").string(),
                       s.results.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return s;
}

} // namespace rscovlm::bench
