// `rscovlm serve`: an OpenAI-compatible chat-completions server (io::openai_server) over a generation
// backend: the LibTorch model (`--backend torch --model-dir DIR`, run by rscovlm-torch), another
// OpenAI-compatible server (`--backend openai`, a proxy), or scripted replies (tests).
//
//   rscovlm serve --backend torch --model-dir RSCoVLM-7B --port 8000 --image-root /data/images
//   rscovlm zoom run ... --backend openai --endpoint http://127.0.0.1:8000/v1
//
// SIGINT / SIGTERM stop it gracefully: requests in flight finish (up to --drain-timeout), new ones get
// 503. One log line per request on stderr unless --quiet.
#include "cli.hpp"

#if RSCOVLM_HAS_HTTPLIB
#include <rscovlm/io/openai_server.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#endif

namespace rscovlm::cli {

#if RSCOVLM_HAS_HTTPLIB
namespace {

/// Set by SIGINT / SIGTERM (any thread may take the signal; a watcher thread acts on it).
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void serve_on_signal(int sig) {
    g_stop_signal = sig;
}

struct serve_args {
    backend_args backend;
    io::server_options server;
    std::string served_name;
    std::string key_env;
    std::string port_file;
    double max_request_mb = 64;
};

void run_serve(serve_args& a, context& ctx) {
    io::server_options& o = a.server;
    o.max_request_bytes = static_cast<std::size_t>(std::max(0.001, a.max_request_mb) * 1024 * 1024);
    o.default_max_tokens = a.backend.max_new_tokens;
    if (!a.key_env.empty()) {
        const char* k = std::getenv(a.key_env.c_str());
        if (k == nullptr || *k == '\0')
            RSCOVLM_THROW(usage_error, "no_api_key", "--require-key-env " + a.key_env + " is not set");
        o.api_key = k;
    }
    if (!o.image_root.empty() && !std::filesystem::is_directory(o.image_root))
        RSCOVLM_THROW(usage_error, "bad_image_root", "--image-root '" + o.image_root + "' is not a directory");
    if (!a.served_name.empty()) {
        o.model_name = a.served_name;
    } else if (!a.backend.model_dir.empty()) {
        o.model_name = std::filesystem::path(a.backend.model_dir).lexically_normal().filename().string();
        if (o.model_name.empty()) o.model_name = "rscovlm";
    }
    // The first backend is made now (a torch model loads here, before the port opens); the pool makes
    // more on demand, sharing the model and its batching engine.
    std::mutex mu;
    std::unique_ptr<zoom::backend> first = make_backend(a.backend);
    const backend_args bargs = a.backend;
    auto factory = [&mu, &first, bargs]() -> std::unique_ptr<zoom::backend> {
        {
            std::lock_guard<std::mutex> lock(mu);
            if (first) return std::move(first);
        }
        return make_backend(bargs);
    };
    const bool quiet = ctx.quiet;
    std::mutex log_mu;
    io::openai_server server(factory, o, [quiet, &log_mu](const std::string& line) {
        if (quiet) return;
        std::lock_guard<std::mutex> lock(log_mu);
        std::cerr << line << "\n";
    });
    const int port = server.bind();
    // From here on SIGINT / SIGTERM only set a flag (whichever thread takes them) and a watcher stops
    // the server gracefully; before (while a model loads) they end the process as usual.
    g_stop_signal = 0;
    std::signal(SIGINT, serve_on_signal);
    std::signal(SIGTERM, serve_on_signal);
    if (!a.port_file.empty()) {
        std::ofstream f(a.port_file);
        f << port << "\n";
        if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write --port-file '" + a.port_file + "'");
    }
    if (!ctx.quiet)
        std::cerr << "serving '" << o.model_name << "' on http://" << o.host << ":" << port
                  << "/v1 (POST /v1/chat/completions, GET /v1/models; Ctrl-C stops)" << std::endl;
    std::atomic<bool> finished{false};
    std::thread watcher([&server, &finished, quiet] {
        while (!finished.load()) {
            if (g_stop_signal != 0) {
                if (!quiet) std::cerr << "stopping: finishing the requests in flight" << std::endl;
                server.stop();
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    server.run();
    finished = true; // run() returned: stopped by a signal, or listening failed
    watcher.join();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (!ctx.quiet) std::cerr << "stopped after " << server.served() << " requests" << std::endl;
    nlohmann::json summary{{"served", server.served()}, {"port", port}, {"model", o.model_name}};
    *ctx.out << summary.dump() << std::endl;
}

} // namespace
#endif

/// `rscovlm serve` (registered from app.cpp).
void register_serve(CLI::App& app, context& ctx) {
#if RSCOVLM_HAS_HTTPLIB
    auto a = std::make_shared<serve_args>();
    auto* cmd = app.add_subcommand(
        "serve", "Serve a backend (the LibTorch model with --backend torch) as an OpenAI-compatible HTTP API");
    add_backend_options(cmd, a->backend);
    cmd->add_option("--host", a->server.host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", a->server.port, "Port (0: any free port; see --port-file)")->capture_default_str();
    cmd->add_option("--port-file", a->port_file, "Write the bound port to this file once listening");
    cmd->add_option("--served-model-name", a->served_name,
                    "Model id that GET /v1/models lists and requests must name (default: the model directory's name)");
    cmd->add_option("--image-root", a->server.image_root,
                    "Directory that file-path images must lie under (default: only data: URLs are accepted)");
    cmd->add_option("--require-key-env", a->key_env,
                    "Environment variable holding the API key clients must send as a Bearer token");
    cmd->add_option("--max-request-mb", a->max_request_mb, "Largest request body in MiB (413 above)")
        ->capture_default_str();
    cmd->add_option("--max-images", a->server.max_images, "Most images in one request")->capture_default_str();
    cmd->add_option("--max-videos", a->server.max_videos, "Most videos in one request")->capture_default_str();
    cmd->add_option("--max-video-frames", a->server.max_video_frames,
                    "Most video frames in one request (all its videos together)")
        ->capture_default_str();
    cmd->add_option("--max-video-pixels", a->server.max_video_pixels,
                    "Most decoded video-frame pixels in one request (all its frames together)")
        ->capture_default_str();
    cmd->add_option("--max-generations", a->server.max_generations,
                    "Most generations running at once, those of already-answered timed-out requests included "
                    "(0: twice --http-threads); 503 above")
        ->capture_default_str();
    cmd->add_option("--max-image-pixels", a->server.max_image_pixels,
                    "Largest image (width x height), checked before decoding")
        ->capture_default_str();
    cmd->add_option("--max-tokens-limit", a->server.max_tokens, "Largest max_tokens a request may ask for")
        ->capture_default_str();
    cmd->add_option("--request-timeout", a->server.request_timeout_s,
                    "Seconds from a request's arrival to its last token (504 after; 0: none)")
        ->capture_default_str();
    cmd->add_option("--http-threads", a->server.threads, "Requests served at once (concurrent ones are batched)")
        ->capture_default_str();
    cmd->add_option("--drain-timeout", a->server.drain_timeout_s,
                    "On SIGINT/SIGTERM, seconds to let requests in flight finish")
        ->capture_default_str();
    cmd->callback([a, &ctx] { run_serve(*a, ctx); });
#else
    auto* cmd = app.add_subcommand("serve", "Serve a backend as an OpenAI-compatible HTTP API (needs cpp-httplib)");
    cmd->allow_extras();
    cmd->callback([] {
        RSCOVLM_THROW(usage_error, "no_http", "this rscovlm was built without cpp-httplib: 'serve' is unavailable");
    });
    (void)ctx;
#endif
}

} // namespace rscovlm::cli
