// The program body shared by `rscovlm` (examples/rscovlm/main.cpp) and `rscovlm-torch`
// (plugins/torch/cli/main.cpp): global options, every core subcommand, parsing and exit codes.
#include "cli.hpp"

#include <rscovlm/limits.hpp>

#include <string>
#include <vector>

namespace rscovlm::cli {

/// `rscovlm bench run|merge` (cmd_bench.cpp).
void register_bench(CLI::App& app, context& ctx);
/// `rscovlm serve` (cmd_serve.cpp).
void register_serve(CLI::App& app, context& ctx);

int run_program(int argc, char** argv, const std::string& name, const std::function<void(CLI::App&, context&)>& extra) {
    CLI::App app{name + " " RSCOVLM_VERSION_STRING " - the RSCoVLM remote-sensing VLM pipeline in C++", name};
    app.set_version_flag("--version", std::string("rscovlm ") + rscovlm::version_string);
    app.require_subcommand(1);
    context ctx;
    app.add_flag("-q,--quiet", ctx.quiet, "No progress output on stderr");
#ifdef RSCOVLM_DEFAULT_DATA_DIR
    ctx.data_dir = RSCOVLM_DEFAULT_DATA_DIR;
#endif
    app.add_option("--data-dir", ctx.data_dir, "Bundled data directory (tokenizer files, samples)");
    app.add_option_function<std::vector<std::string>>(
           "--limit",
           [](const std::vector<std::string>& assignments) {
               for (const std::string& a : assignments) {
                   try {
                       rscovlm::limits::set_from_string(a);
                   } catch (const rscovlm::error& e) {
                       throw CLI::ValidationError("--limit", e.what());
                   }
               }
           },
           "Safety limit NAME=VALUE (repeatable; VALUE may end in K, M or G; 0 = no limit). Names: image_pixels, "
           "output_pixels, grid_patches, tile_bytes, response_bytes, tokens, file_bytes (defaults: limits.hpp; "
           "also RSCOVLM_LIMIT_<NAME>)")
        ->type_name("NAME=VALUE")
        ->allow_extra_args(false)
        ->trigger_on_parse();

    register_core(app, ctx);
    register_tokenizer(app, ctx);
    register_resolution(app, ctx);
    register_box_codec(app, ctx);
    register_eval(app, ctx);
    register_data(app, ctx);
    register_zoom(app, ctx);
    register_pipeline(app, ctx);
    register_scene(app, ctx);
    register_bench(app, ctx);
    register_serve(app, ctx);
    if (extra) extra(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    } catch (const rscovlm::usage_error& e) {
        fail(e);
        return 2;
    } catch (const std::exception& e) {
        fail(e);
        return 1;
    }
    return ctx.exit_code;
}

} // namespace rscovlm::cli
