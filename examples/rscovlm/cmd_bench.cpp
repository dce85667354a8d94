// `rscovlm bench`: a preset's benchmark run end to end (bench::run), and shard runs merged into one
// (bench::merge).
//
//   rscovlm bench run --preset bench-dota-val --data DOTA/val --out runs/dota --backend openai
//       --endpoint http://host:8000/v1 --model NAME --in-flight 8
//   rscovlm bench run --preset bench-vqa --data vqa.jsonl --out runs/vqa --shard 0/2 ...
//   rscovlm bench merge --out runs/vqa SHARD_OUT_0 SHARD_OUT_1
//
// The backend is the preset's `backend` component when it has one and no backend flag is given,
// otherwise the flags' (as `rscovlm run`); each in-flight worker builds its own.
#include "cli.hpp"

#include <rscovlm/bench/run.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/text.hpp>
#include <rscovlm/io/xml_annotations.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/builtin.hpp>

#include <memory>

namespace rscovlm::cli {

/// A preset file, or a name in the bundled `registry/presets` folder (defined in cmd_run.cpp).
std::string preset_path(const std::string& name);

namespace {

struct bench_args {
    std::string preset, data, out, shard = "0/1";
    std::size_t limit = 0;
    int in_flight = 1;
    bool sweep = false, no_pictures = false;
    std::vector<std::string> shards;
    backend_args backend;
};

/// The result line printed on stdout: the run counts, the headline numbers and the files written.
nlohmann::json summary_line(const bench::run_summary& s, const std::string& out) {
    nlohmann::json j = {{"out", out}, {"run", s.results.at("run")}};
    const nlohmann::json& r = s.results.at("results");
    for (const char* k : {"task", "total", "answered", "failed"})
        if (r.contains(k)) j[k] = r.at(k);
    j["table"] = r.at("table");
    j["pictures"] = r.value("pictures", nlohmann::json::array());
    return j;
}

void common_options(CLI::App* cmd, bench_args& a) {
    cmd->add_flag("--sweep", a.sweep, "Detection: also sweep the score threshold (0, 0.05, ..., 0.95)");
    cmd->add_flag("--no-pictures", a.no_pictures, "Write no PNG charts or sample page");
}

void fill_io(bench::run_options& o, const bench_args& a) {
    o.sweep = a.sweep;
    o.load_image = [](const std::string& path) { return io::load_image(path); };
    o.read_xml = [](const std::string& path) { return io::read_xml_tree(path); };
    o.text = [](image& img, int x, int y, const std::string& t, const imaging::rgb& c, int scale) {
        return io::draw_text(img, x, y, t, c, scale);
    };
    if (!a.no_pictures) o.save_png = [](const std::string& path, const image& img) { io::save_png(path, img); };
}

} // namespace

void register_bench(CLI::App& app, context& ctx) {
    CLI::App& group = subcommand(app, "bench", "Benchmarks: a preset's data set answered by a model and scored");
    auto a = std::make_shared<bench_args>();
    CLI::App* run = group.add_subcommand(
        "run", "Run a benchmark preset on a data set: answers to OUT/answers.jsonl (resumable), results to "
               "OUT/results.{json,md,csv} and OUT/pictures/");
    run->add_option("--preset", a->preset, "Preset file, or the name of a bundled preset (registry/presets)")
        ->required();
    run->add_option("--data", a->data, "The benchmark's data: a DOTA-layout folder, or a JSON Lines file")->required();
    run->add_option("--out", a->out, "Run folder (a rerun resumes it)")->required();
    run->add_option("--limit", a->limit, "Answer only the first N selected records (0 = all)");
    run->add_option("--shard", a->shard, "Take the records whose index is i modulo n (i/n)")->capture_default_str();
    run->add_option("--in-flight", a->in_flight, "Records answered at once, each by its own backend")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    common_options(run, *a);
    add_backend_options(run, a->backend);
    run->callback([a, run, &ctx] {
        const auto p = pipeline::pipeline::from_file(preset_path(a->preset));
        bench::run_options o;
        o.data = a->data;
        o.out_dir = a->out;
        o.limit = a->limit;
        o.part = bench::parse_shard(a->shard);
        o.in_flight = a->in_flight;
        fill_io(o, *a);
        o.generation = a->backend.generation();
        o.box_scores = a->backend.box_score_rule();
        o.constrain = a->backend.constrain;
        nlohmann::json config = {{"in_flight", a->in_flight}};
        const pipeline::component_instance* preset_backend = nullptr;
        for (const auto& c : p.components())
            if (c.kind == zoom::backend_kind::name) {
                preset_backend = &c;
                break;
            }
        if (preset_backend && !a->backend.given(*run)) {
            const std::string key = preset_backend->key;
            const nlohmann::json params = preset_backend->params;
            config["backend"] = key;
            if (params.is_object() && params.contains("model")) config["model"] = params["model"];
            o.make_backend = [key, params] { return registry::make<zoom::backend_kind>(key, params); };
        } else {
            const backend_args flags = a->backend;
            config["backend"] = flags.backend;
            if (!flags.model.empty()) config["model"] = flags.model;
            if (!flags.model_dir.empty()) config["model"] = flags.model_dir;
            o.make_backend = [flags] { return make_backend(flags); };
        }
        o.config = config;
        std::unique_ptr<progress> bar;
        o.progress = [&](std::size_t done, std::size_t total) {
            if (!bar) bar = std::make_unique<progress>(ctx, "bench", total);
            bar->tick();
            (void)done;
        };
        const bench::run_summary s = bench::run(p, o);
        if (bar) bar->done();
        (*ctx.out) << summary_line(s, a->out).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (s.failed) ctx.exit_code = 1;
    });

    auto m = std::make_shared<bench_args>();
    CLI::App* merge = group.add_subcommand(
        "merge", "Combine shard run folders of one preset and data set into OUT and score them as one run");
    merge->add_option("--out", m->out, "The merged run folder")->required();
    merge->add_option("shards", m->shards, "Shard run folders")->required();
    common_options(merge, *m);
    merge->callback([m, &ctx] {
        bench::run_options o;
        o.out_dir = m->out;
        fill_io(o, *m);
        const bench::run_summary s = bench::merge(m->shards, o);
        (*ctx.out) << summary_line(s, m->out).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (s.failed) ctx.exit_code = 1;
    });
}

} // namespace rscovlm::cli
