// The `rscovlm` command-line program: one subcommand group per component module.
#include "cli.hpp"

int main(int argc, char** argv) {
    using namespace rscovlm::cli;
    CLI::App app{"rscovlm " RSCOVLM_VERSION_STRING " - the RSCoVLM remote-sensing VLM pipeline in C++", "rscovlm"};
    app.set_version_flag("--version", std::string("rscovlm ") + rscovlm::version_string);
    app.require_subcommand(1);
    context ctx;
    app.add_flag("-q,--quiet", ctx.quiet, "No progress output on stderr");
#ifdef RSCOVLM_DEFAULT_DATA_DIR
    ctx.data_dir = RSCOVLM_DEFAULT_DATA_DIR;
#endif
    app.add_option("--data-dir", ctx.data_dir, "Bundled data directory (tokenizer files, samples)");

    register_core(app, ctx);
    register_tokenizer(app, ctx);
    register_resolution(app, ctx);
    register_box_codec(app, ctx);
    register_eval(app, ctx);
    register_data(app, ctx);
    register_zoom(app, ctx);
#ifdef RSCOVLM_CLI_HAS_TORCH
    register_torch(app, ctx);
#endif

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
