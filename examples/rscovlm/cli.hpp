#pragma once
// Shared plumbing of the `rscovlm` command-line program (not part of the library API).
//
// Conventions (DESIGN §6): batch subcommands read JSON Lines on stdin and write one JSON line per
// input line, in order; errors go to stderr as one line carrying the error id; exit codes are
// 0 ok, 1 bad input, 2 usage. Long work shows a progress bar on stderr when it is a terminal,
// unless --quiet.

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/version.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<rscovlm/data/synthetic.hpp>)
#include <rscovlm/data/synthetic.hpp>
#define RSCOVLM_CLI_HAS_SCENES 1
#endif
#include <rscovlm/box_codec/scores.hpp>
#include <rscovlm/data/lrsvqa.hpp>
#include <rscovlm/eval/lrsvqa.hpp>
#include <rscovlm/zoom/backend.hpp>

#include <unistd.h>

namespace rscovlm::cli {

/// State shared by every subcommand.
struct context {
    bool quiet = false;           ///< --quiet: no progress output
    int exit_code = 0;            ///< returned by main once the callback ran
    std::istream* in = &std::cin; ///< JSON Lines input
    std::ostream* out = &std::cout;
    std::string data_dir; ///< bundled data (tokenizer files, samples); --data-dir
};

/// State of `rscovlm demo`: each module's demo reads and extends it, in pipeline order.
struct demo_context {
    explicit demo_context(std::ostream& o) : out(o) {}
    std::ostream& out;          ///< human-readable report
    std::string out_dir;        ///< where demo files (PNG, txt, shards) are written
    std::string data_dir;       ///< bundled data directory (tests/data layout)
    std::string tokenizer_path; ///< the bundled tokenizer.json
    bool quiet = false;
#ifdef RSCOVLM_CLI_HAS_SCENES
    std::vector<data::scene> scenes; ///< sample scenes (normal size first, then UHR), made by demo_data
#endif
};

/// Hooks filled in by optional parts of the program: `rscovlm-torch` (the LibTorch plugin's
/// executable) sets them; the core `rscovlm` leaves them empty and runs `rscovlm-torch` instead.
struct hooks_t {
    /// Builds the LibTorch Qwen2.5-VL backend from a model directory.
    std::function<std::unique_ptr<zoom::backend>(const std::string& model_dir, const std::string& device)>
        make_torch_backend;
    /// The LibTorch plugin's components, described like pipeline::describe_components().
    std::function<nlohmann::json()> torch_components;
    /// The LibTorch step of `rscovlm demo`.
    std::function<void(demo_context&)> demo_torch;
};
inline hooks_t& hooks() {
    static hooks_t h;
    return h;
}

/// One value of a JSON-or-JSON-Lines file: `line` is its 1-based line, 0 for an element of a JSON
/// array file; `value` is discarded when the line is not valid JSON.
struct json_file_value {
    int line = 0;
    nlohmann::json value;
};

/// Reads a file holding either one JSON array (its elements) or JSON Lines (blank lines skipped).
/// Callers check each value's type and raise their own error naming `line`.
inline std::vector<json_file_value> read_json_values(const std::string& path, const std::string& what) {
    const std::string text =
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open " + what + " '" + path + "'");
    std::vector<json_file_value> out;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_array()) {
        for (auto& v : j)
            out.push_back({0, std::move(v)});
        return out;
    }
    std::istringstream lines(text);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        out.push_back({n, nlohmann::json::parse(line, nullptr, false)});
    }
    return out;
}

/// A comma-separated list (class names): items trimmed of spaces and tabs, empty ones skipped.
inline std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t comma = s.find(',', start);
        if (comma == std::string::npos) comma = s.size();
        const std::string item = s.substr(start, comma - start);
        const auto b = item.find_first_not_of(" \t");
        if (b != std::string::npos) out.push_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
        start = comma + 1;
    }
    return out;
}

/// Flags choosing and configuring a generation backend (kind `backend`) and its sampling, shared by
/// `zoom run`, `zoom eval` and `run` (backend_flags.cpp). The flags become the component's parameters,
/// so `--backend KEY --backend-params JSON` and a preset's backend entry go through one parser.
struct backend_args {
    std::string backend = "scripted"; ///< short name (scripted, openai, torch) or a `backend.*` key
    std::string backend_params;       ///< JSON object over the parameters the flags give
    std::vector<std::string> replies;
    std::string replies_file;
    std::string endpoint = "http://127.0.0.1:8000/v1";
    std::string model;
    std::string api_key_env = "OPENAI_API_KEY";
    double timeout = 120; ///< deadline of each request to the OpenAI-compatible server, in seconds
    int retries = 2;
    std::string model_dir;
    std::string device = "cpu";
    int max_new_tokens = 1024;
    double temperature = 0;
    double top_p = 1;
    int top_k = 0;
    long long seed = -1;
    std::string box_scores = "off"; ///< off, mean or product (box confidence from token log-probabilities)
    bool constrain = false;         ///< detection: constrained decoding with the codec's grammar
    std::string guided_field;       ///< OpenAI backend: the server's guided-decoding field for the grammar
    /// The sampling options of the generation flags (log-probabilities asked for when box scores are).
    zoom::generation_options generation() const;
    /// The --box-scores rule (unset: off).
    std::optional<box_codec::score_rule> box_score_rule() const {
        box_codec::score_rule r{};
        if (box_scores == "off" || !box_codec::parse_score_rule(box_scores, r)) return std::nullopt;
        return r;
    }
    /// True when a backend flag was given on the command line (`cmd` is where they were added).
    bool given(const CLI::App& cmd) const;
};
/// Adds the backend and generation flags to `cmd`.
void add_backend_options(CLI::App* cmd, backend_args& a);
/// Builds the backend the flags name (the torch one through hooks().make_torch_backend).
std::unique_ptr<zoom::backend> make_backend(const backend_args& a);

/// A subcommand that lives in the `rscovlm-torch` executable.
struct torch_command {
    const char* name;
    const char* description;
};
/// The subcommands of `rscovlm-torch` that the core `rscovlm` forwards to it (one list for both programs).
inline constexpr torch_command torch_commands[] = {
    {"generate", "Answer a prompt about images with a Qwen2.5-VL / RSCoVLM checkpoint"},
    {"detect", "Detect objects: resolution, chat template, model, box codec, boxes in the original frame"},
    {"tiny-model", "Write a tiny random Qwen2.5-VL checkpoint (for tests and demos)"},
    {"train", "Fine-tune a Qwen2.5-VL / RSCoVLM checkpoint as RSCoVLM's recipe does (one process, or many through "
              "c10d with torchrun/Slurm variables); OUT/log.jsonl, checkpoints, curves.png"},
};
/// The executable holding the LibTorch subcommands.
inline constexpr const char* torch_program = "rscovlm-torch";

/// The subcommand `name` of `app`, created with `description` if it does not exist yet, so that
/// two modules can add children to one group (e.g. `geom`).
inline CLI::App& subcommand(CLI::App& app, const std::string& name, const std::string& description) {
    for (CLI::App* s : app.get_subcommands([](CLI::App*) { return true; }))
        if (s->get_name() == name) return *s;
    CLI::App* s = app.add_subcommand(name, description);
    s->require_subcommand(1);
    return *s;
}

/// Prints `e` as one line on stderr (the what() of rscovlm errors carries the id).
inline void fail(const std::exception& e) {
    std::string w = e.what();
    for (char& c : w)
        if (c == '\n' || c == '\r') c = ' ';
    if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr)
        w = "[rscovlm.error.out_of_memory] out of memory (" + w + "); see --limit for the input-size limits";
    else if (dynamic_cast<const rscovlm::error*>(&e) == nullptr)
        w = "[rscovlm.error] " + w;
    std::fprintf(stderr, "rscovlm: %s\n", w.c_str());
}

/// Reads JSON Lines from ctx.in, calls `f` per line, writes one JSON line per input line to ctx.out.
/// A malformed line or any exception (rscovlm::error: its what(); std::bad_alloc:
/// "[rscovlm.error.out_of_memory] ..."; any other: "[rscovlm.error.unexpected] ...") yields
/// {"error": "..."} for that line and the next lines still run; the exit code becomes 1 if any line failed. Blank lines
/// are skipped. Returns the number of failed lines.
inline std::size_t run_jsonl(context& ctx, const std::function<nlohmann::json(const nlohmann::json&)>& f) {
    std::string line;
    std::size_t lineno = 0, failed = 0;
    while (std::getline(*ctx.in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        nlohmann::json out;
        nlohmann::json in = nlohmann::json::parse(line, nullptr, false);
        if (in.is_discarded()) {
            out = {{"error", "[rscovlm.usage.bad_json] line " + std::to_string(lineno) + ": not valid JSON"}};
            ++failed;
        } else {
            try {
                out = f(in);
            } catch (const rscovlm::error& e) {
                out = {{"error", std::string(e.what())}};
                ++failed;
            } catch (const nlohmann::json::exception& e) {
                out = {{"error", "[rscovlm.usage.bad_field] line " + std::to_string(lineno) + ": " + e.what()}};
                ++failed;
            } catch (const std::bad_alloc&) {
                out = {{"error", "[rscovlm.error.out_of_memory] line " + std::to_string(lineno) +
                                     ": out of memory (std::bad_alloc); see --limit for the input-size limits"}};
                ++failed;
            } catch (const std::exception& e) {
                out = {{"error", "[rscovlm.error.unexpected] line " + std::to_string(lineno) + ": " + e.what()}};
                ++failed;
            } catch (...) {
                out = {{"error", "[rscovlm.error.unexpected] line " + std::to_string(lineno) + ": unknown exception"}};
                ++failed;
            }
        }
        (*ctx.out) << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        ctx.out->flush();
    }
    if (failed) ctx.exit_code = 1;
    return failed;
}

/// A progress bar on stderr, drawn only when stderr is a terminal and not quiet.
class progress {
public:
    progress(const context& ctx, std::string label, std::size_t total)
        : m_label(std::move(label)), m_total(total), m_on(!ctx.quiet && ::isatty(2)) {}
    progress(bool quiet, std::string label, std::size_t total)
        : m_label(std::move(label)), m_total(total), m_on(!quiet && ::isatty(2)) {}
    ~progress() { done(); }
    /// Advances by n and redraws (at most ~100 redraws over the whole run).
    void tick(std::size_t n = 1) {
        m_done += n;
        if (!m_on || m_total == 0) return;
        std::size_t pct = m_done * 100 / m_total;
        if (pct == m_last && m_done != m_total) return;
        m_last = pct;
        int bar = static_cast<int>(pct * 30 / 100);
        // Rate and time left from the average since the start.
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
        const double rate = secs > 0 ? static_cast<double>(m_done) / secs : 0.0;
        const std::size_t rest = m_total > m_done ? m_total - m_done : 0;
        const long left = rate > 0 ? static_cast<long>(static_cast<double>(rest) / rate) : 0;
        std::fprintf(stderr, "\r%s [%.*s%*s] %3zu%% (%zu/%zu) %.2f/s ETA %02ld:%02ld:%02ld ", m_label.c_str(), bar,
                     "##############################", 30 - bar, "", pct, m_done, m_total, rate, left / 3600,
                     left / 60 % 60, left % 60);
        std::fflush(stderr);
    }
    void done() {
        if (m_on && !m_finished) std::fputc('\n', stderr);
        m_finished = true;
    }

private:
    std::string m_label;
    std::size_t m_total, m_done = 0, m_last = static_cast<std::size_t>(-1);
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
    bool m_on, m_finished = false;
};

// Each module's subcommands and demo, defined in examples/rscovlm/cmd_<module>.cpp.
void register_core(CLI::App& app, context& ctx);
void register_tokenizer(CLI::App& app, context& ctx);
void register_resolution(CLI::App& app, context& ctx);
void register_box_codec(CLI::App& app, context& ctx);
void register_eval(CLI::App& app, context& ctx);
void register_data(CLI::App& app, context& ctx);
void register_zoom(CLI::App& app, context& ctx);
void register_pipeline(CLI::App& app, context& ctx);
void register_scene(CLI::App& app, context& ctx);

/// The LibTorch subcommands and demo step, defined in plugins/torch/cli/cmd_torch.cpp (only in rscovlm-torch).
void register_torch(CLI::App& app, context& ctx);
/// `rscovlm train`, defined in plugins/torch/cli/cmd_train.cpp (only in rscovlm-torch).
void register_train(CLI::App& app, context& ctx);
void demo_torch(demo_context& d);

/// Builds the program (global options, every core subcommand, then `extra`'s), parses argv and runs
/// the chosen subcommand; returns the exit code. `name` is the program name shown by --help.
int run_program(int argc, char** argv, const std::string& name, const std::function<void(CLI::App&, context&)>& extra);

void demo_data(demo_context& d);
void demo_tokenizer(demo_context& d);
void demo_resolution(demo_context& d);
void demo_box_codec(demo_context& d);
void demo_eval(demo_context& d);
void demo_zoom(demo_context& d);
void demo_scene(demo_context& d);

} // namespace rscovlm::cli
