// The backend flags shared by `zoom run`, `zoom eval` and `run`: --backend (a short name or a key of
// kind `backend`), --backend-params, each backend's own flags, and the sampling flags. The flags
// become the component's parameters, so a flag and a preset's backend entry share one parser.
#include "cli.hpp"

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/io/openai_backend.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/builtin.hpp>

#include <sstream>

namespace rscovlm::cli {

namespace {

/// The program's `backend` catalog: core and io (the OpenAI client, with cpp-httplib). The torch
/// backend is built through hooks().make_torch_backend.
using cli_backends = io::all_backends;
constexpr std::string_view torch_backend_key = "backend.torch.qwen2_5_vl";

/// The key a --backend value stands for: the short names "scripted", "openai" and "torch", or a key.
std::string backend_key(const std::string& name) {
    if (name == "scripted") return "backend.scripted";
    if (name == "openai") return "backend.openai";
    if (name == "torch") return std::string(torch_backend_key);
    return name;
}

/// Accepts the short names, the keys of cli_backends, "backend.openai" (reported as unavailable
/// when built without cpp-httplib) and the torch key.
const CLI::Validator& backend_validator() {
    static const CLI::Validator v(
        [](std::string& value) -> std::string {
            const std::string key = backend_key(value);
            if (registry::contains<cli_backends>(key) || key == "backend.openai" || key == torch_backend_key) return {};
            std::string known = "scripted, openai, torch";
            for (auto k : registry::keys<cli_backends>())
                known += ", " + std::string(k);
            if (!registry::contains<cli_backends>("backend.openai")) known += ", backend.openai";
            known += ", " + std::string(torch_backend_key);
            return "unknown backend '" + value + "' (known: " + known + ")";
        },
        "BACKEND");
    return v;
}

std::vector<std::string> read_replies(const std::string& path) {
    std::vector<std::string> out;
    for (const auto& v : read_json_values(path, "replies file")) {
        if (v.line == 0 && !v.value.is_string())
            RSCOVLM_THROW(usage_error, "bad_replies", "'" + path + "': replies must be strings");
        if (v.value.is_discarded() || !v.value.is_string())
            RSCOVLM_THROW(usage_error, "bad_replies",
                          "'" + path + "' line " + std::to_string(v.line) + ": not a JSON string");
        out.push_back(v.value.get<std::string>());
    }
    return out;
}

/// --backend-params as a JSON object (empty when not given).
nlohmann::json backend_params_flag(const backend_args& a) {
    if (a.backend_params.empty()) return nlohmann::json::object();
    nlohmann::json j = nlohmann::json::parse(a.backend_params, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        RSCOVLM_THROW(usage_error, "bad_backend_params", "--backend-params must be a JSON object");
    return j;
}

/// The parameters of backend `key` from the flags, overridden by --backend-params: the JSON that the
/// component's from_params reads, as for a preset's backend entry.
nlohmann::json backend_params(const std::string& key, const backend_args& a) {
    nlohmann::json p = nlohmann::json::object();
    const nlohmann::json extra = backend_params_flag(a);
    if (key == "backend.scripted") {
        std::vector<std::string> r = a.replies;
        if (!a.replies_file.empty()) {
            auto more = read_replies(a.replies_file);
            r.insert(r.end(), more.begin(), more.end());
        }
        if (r.empty() && !extra.contains("replies"))
            RSCOVLM_THROW(usage_error, "no_replies", "--backend scripted needs --reply or --replies");
        p["replies"] = r;
        p["repeat_last"] = true;
    } else if (key == "backend.openai") {
        p["endpoint"] = a.endpoint;
        p["model"] = a.model;
        p["api_key_env"] = a.api_key_env;
        p["timeout_s"] = a.timeout;
        p["max_retries"] = a.retries;
        if (!a.guided_field.empty()) p["guided_field"] = a.guided_field;
    }
    for (auto it = extra.begin(); it != extra.end(); ++it)
        p[it.key()] = it.value();
    return p;
}

const char* const backend_flag_names[] = {"--backend",  "--backend-params", "--reply",       "--replies",
                                          "--endpoint", "--model",          "--api-key-env", "--timeout",
                                          "--retries",  "--model-dir",      "--device"};

} // namespace

zoom::generation_options backend_args::generation() const {
    zoom::generation_options g;
    g.max_new_tokens = max_new_tokens;
    g.temperature = temperature;
    g.top_p = top_p;
    g.top_k = top_k;
    if (seed >= 0) g.seed = static_cast<std::uint64_t>(seed);
    if (box_score_rule()) g.logprobs = 0;
    return g;
}

bool backend_args::given(const CLI::App& cmd) const {
    for (const char* f : backend_flag_names)
        if (cmd.count(f) > 0) return true;
    return false;
}

void add_backend_options(CLI::App* cmd, backend_args& a) {
    cmd->add_option("--backend", a.backend,
                    "Generation backend: scripted, openai, torch, or a key of kind 'backend' (rscovlm components)")
        ->check(backend_validator())
        ->capture_default_str();
    cmd->add_option("--backend-params", a.backend_params,
                    "Backend parameters as a JSON object (as a preset's backend entry), over those the flags give");
    cmd->add_option("--reply", a.replies, "Scripted backend: the replies, in order (repeatable; the last one repeats)");
    cmd->add_option("--replies", a.replies_file,
                    "Scripted backend: a JSON array of replies, or one JSON string per line");
    cmd->add_option("--endpoint", a.endpoint, "OpenAI backend: base URL of the chat-completions API")
        ->capture_default_str();
    cmd->add_option("--model", a.model, "OpenAI backend: served model name (default: the first of GET /models)");
    cmd->add_option("--api-key-env", a.api_key_env, "OpenAI backend: environment variable holding the API key")
        ->capture_default_str();
    cmd->add_option("--timeout", a.timeout,
                    "OpenAI backend: deadline of each request in seconds, the whole request (connect, send, "
                    "headers, body); a timed-out last attempt fails with rscovlm.zoom.timeout")
        ->capture_default_str();
    cmd->add_option("--retries", a.retries,
                    "OpenAI backend: retries after connection errors, timeouts, 429 and 5xx, 1 s apart and doubling "
                    "(defaults: at most about 6 minutes on a silent server); response bodies are capped by the "
                    "response_bytes limit (RSCOVLM_LIMIT_RESPONSE_BYTES, 256 MiB)")
        ->capture_default_str();
    cmd->add_option("--model-dir", a.model_dir, "Torch backend: model directory");
    cmd->add_option("--device", a.device, "Torch backend: device")->capture_default_str();
    cmd->add_option("--max-new-tokens", a.max_new_tokens, "Generation: max new tokens")->capture_default_str();
    cmd->add_option("--temperature", a.temperature, "Generation: temperature (0 = greedy)")->capture_default_str();
    cmd->add_option("--top-p", a.top_p, "Generation: top-p")->capture_default_str();
    cmd->add_option("--top-k", a.top_k, "Generation: top-k (0 = off)")->capture_default_str();
    cmd->add_option("--seed", a.seed, "Generation: seed (-1 = backend default)")->capture_default_str();
    cmd->add_option("--box-scores", a.box_scores,
                    "Detection: score each box from its tokens' log-probabilities (mean: exp of their mean; product: "
                    "exp of their sum), so the ranked mAP ranks boxes; off: every box scores 1")
        ->check(CLI::IsMember({"off", "mean", "product"}))
        ->capture_default_str();
    cmd->add_flag("--constrain", a.constrain,
                  "Detection: constrained decoding with the box codec's grammar (plain codecs): answers always parse, "
                  "labels from the class list, coordinates inside the frame (torch backend; OpenAI backend with "
                  "--guided-field)");
    cmd->add_option("--guided-field", a.guided_field,
                    "OpenAI backend: request field that carries the grammar as a regex for guided decoding "
                    "(vLLM: guided_regex; SGLang: regex); empty: not sent");
}

std::unique_ptr<zoom::backend> make_backend(const backend_args& a) {
    const std::string key = backend_key(a.backend);
    if (key != torch_backend_key) {
        if (key == "backend.openai" && !registry::contains<cli_backends>(key))
            RSCOVLM_THROW(zoom_error, "no_http",
                          "this rscovlm was built without cpp-httplib: --backend openai is unavailable");
        return registry::make<zoom::backend_kind, cli_backends>(key, backend_params(key, a));
    }
    // torch
    if (!a.backend_params.empty())
        RSCOVLM_THROW(usage_error, "bad_backend_params",
                      "--backend-params is not used by --backend torch (use --model-dir, --device)");
    if (!hooks().make_torch_backend)
        RSCOVLM_THROW(zoom_error, "no_torch",
                      "--backend torch runs in rscovlm-torch (the LibTorch plugin's executable)");
    if (a.model_dir.empty()) RSCOVLM_THROW(usage_error, "no_model_dir", "--backend torch needs --model-dir");
    return hooks().make_torch_backend(a.model_dir, a.device);
}

} // namespace rscovlm::cli
