// `rscovlm components`, `rscovlm pipeline show`, and the `rscovlm demo` driver.
#include "cli.hpp"

#include <rscovlm/engine/all.hpp>
#include <rscovlm/io/openai_backend.hpp>
#include <rscovlm/pipeline/pipeline.hpp>

#include <filesystem>
#include <iomanip>

namespace rscovlm::cli {

namespace {

/// The kinds the program knows: the core ones, with the dataset readers and generation backends
/// that need io/ libraries.
using cli_kinds =
    registry::type_list<pipeline::kind_entry<tokenizer::kind>, pipeline::kind_entry<tokenizer::template_kind>,
                        pipeline::kind_entry<resolution::kind>, pipeline::kind_entry<box_codec::kind>,
                        pipeline::kind_entry<zoom::kind>, pipeline::kind_entry<eval::kind>,
                        pipeline::kind_entry<data::reader_kind, engine::all_data_readers>,
                        pipeline::kind_entry<data::builder_kind>,
                        pipeline::kind_entry<zoom::backend_kind, io::all_backends>, pipeline::kind_entry<bench::kind>>;
using cli_pipeline = pipeline::basic_pipeline<cli_kinds>;

std::string presets_dir(const context& ctx) {
#ifdef RSCOVLM_PRESETS_DIR
    (void)ctx;
    return RSCOVLM_PRESETS_DIR;
#else
    return ctx.data_dir + "/../../registry/presets";
#endif
}

/// A preset given as a file path or as the name of a bundled preset.
std::string resolve_preset(const context& ctx, const std::string& arg) {
    namespace fs = std::filesystem;
    if (fs::exists(arg)) return arg;
    fs::path p = fs::path(presets_dir(ctx)) / (arg + ".json");
    if (fs::exists(p)) return p.string();
    std::string known;
    if (fs::is_directory(presets_dir(ctx)))
        for (const auto& e : fs::directory_iterator(presets_dir(ctx)))
            if (e.path().extension() == ".json") known += (known.empty() ? "" : ", ") + e.path().stem().string();
    RSCOVLM_THROW(config_error, "unknown_preset",
                  "no preset file or bundled preset named '" + arg + "' (bundled: " + known + ")");
}

void print_components(std::ostream& out, const nlohmann::json& comps) {
    std::string kind;
    for (const auto& c : comps) {
        if (c["kind"] != kind) {
            kind = c["kind"];
            out << kind << ":\n";
        }
        out << "  " << std::left << std::setw(34) << c["key"].get<std::string>() << " " << std::setw(6)
            << c["backend"].get<std::string>() << " " << c["summary"].get<std::string>() << "\n";
    }
}

} // namespace

void register_core(CLI::App& app, context& ctx) {
    auto* comp = app.add_subcommand("components", "List the registered components of every kind");
    auto json_flag = std::make_shared<bool>(false);
    comp->add_flag("--json", *json_flag, "Print {\"kinds\": [...], \"components\": [...]} as JSON");
    comp->callback([&ctx, json_flag] {
        nlohmann::json comps = pipeline::describe_components<cli_kinds>();
        // rscovlm-torch adds the plugin's components (the core rscovlm runs rscovlm-torch for this command).
        if (hooks().torch_components)
            for (auto& c : hooks().torch_components())
                comps.push_back(c);
        if (*json_flag) {
            nlohmann::json kinds = nlohmann::json::array();
            for (auto k : pipeline::kind_names<cli_kinds>())
                kinds.push_back(std::string(k));
            for (const auto& c : comps)
                if (std::find(kinds.begin(), kinds.end(), c["kind"]) == kinds.end()) kinds.push_back(c["kind"]);
            (*ctx.out) << nlohmann::json{{"kinds", kinds}, {"components", comps}}.dump() << "\n";
        } else {
            print_components(*ctx.out, comps);
        }
    });

    auto& pl = subcommand(app, "pipeline", "Inspect pipeline presets");
    auto* show = pl.add_subcommand("show", "Build a preset's components and print the pipeline as JSON");
    auto preset = std::make_shared<std::string>();
    show->add_option("preset", *preset, "Preset file, or the name of a bundled preset")->required();
    show->callback([&ctx, preset] {
        auto p = cli_pipeline::from_file(resolve_preset(ctx, *preset));
        (*ctx.out) << p.to_json().dump(2) << "\n";
    });
    auto* list = pl.add_subcommand("list", "List the bundled presets");
    list->callback([&ctx] {
        namespace fs = std::filesystem;
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(presets_dir(ctx)))
            if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
        std::sort(names.begin(), names.end());
        for (const auto& n : names)
            (*ctx.out) << n << "\n";
    });

    auto* demo = app.add_subcommand("demo", "Run every pipeline piece on the bundled synthetic sample");
    auto out_dir = std::make_shared<std::string>("rscovlm-demo");
    demo->add_option("--out", *out_dir, "Directory for the files the demo writes")->capture_default_str();
    demo->callback([&ctx, out_dir] {
        std::filesystem::create_directories(*out_dir);
        demo_context d(*ctx.out);
        d.out_dir = *out_dir;
        d.data_dir = ctx.data_dir;
        d.tokenizer_path = ctx.data_dir + "/tokenizer/qwen/tokenizer.json";
        d.quiet = ctx.quiet;
        std::ostream& o = *ctx.out;
        o << "rscovlm " << version_string << " demo\n\n== Registered components\n";
        print_components(o, pipeline::describe_components<cli_kinds>());
        // Each step ends by naming the single-concept example program (examples/*.cpp, each also a
        // test) that shows the same concept in code.
        struct step {
            const char* title;
            void (*run)(demo_context&);
            const char* example;
        };
        const step steps[] = {
            {"Data engine", demo_data, "build_samples.cpp"},
            {"Tokenizer and chat template", demo_tokenizer, "tokenize_chat.cpp"},
            {"Dynamic resolution", demo_resolution, "dynamic_resolution.cpp"},
            {"Box codecs", demo_box_codec, "box_codecs.cpp"},
            {"Evaluation", demo_eval, "evaluate_dota.cpp"},
            {"Zoom-in Chain", demo_zoom, "zoom_chain.cpp"},
            {"Geospatial scene detection", demo_scene, "scene_detection.cpp"},
        };
        for (const auto& s : steps) {
            o << "\n== " << s.title << "\n";
            s.run(d);
            o << "In code: examples/" << s.example << "\n";
        }
        // rscovlm-torch adds the LibTorch step (the core rscovlm runs rscovlm-torch for this command).
        if (hooks().demo_torch) {
            o << "\n== LibTorch model\n";
            hooks().demo_torch(d);
        }
        o << "\nDemo files are in " << *out_dir << "\n";
    });
}

} // namespace rscovlm::cli
