#pragma once
/// \file
/// A Zoom-in Chain backend for OpenAI-compatible chat-completions servers (vLLM, SGLang, ... serving
/// RSCoVLM-7B), over cpp-httplib. Images go as base64 PNG data URLs at the size the controller already
/// chose (a multiple of 28 within the pixel budget), so the server's Qwen2.5-VL processor, whose
/// smart_resize is then the identity, resizes nothing.
///
/// Request layout mirrors RSCoVLM `rscovlm/eval/inferencer.py` BaseAPIInferencer.get_with_request
/// (Bearer key, model taken from `GET {base}/models` when not given). Compiled only when
/// `RSCOVLM_HAS_HTTPLIB` is set; `io::all_backends` is the `backend` catalog with it when it is.
///
/// Every request is bounded: one deadline covers the whole attempt (connect, send, headers, body;
/// `timeout_s`, 120 s by default), the response body is capped (`max_response_bytes`, default the
/// `response_bytes` limit of limits.hpp, checked as bytes arrive), and a failed attempt is retried
/// `max_retries` times (2) after `retry_backoff_s` (1 s, doubled each time): a silent server costs at
/// most about 6 minutes with the defaults. `http://` endpoints use rscovlm's own client (`io/http.hpp`);
/// `https://` ones go through cpp-httplib, stopped by a watchdog at the deadline.
/// Errors: `rscovlm.zoom.timeout` (the last attempt ran out of time), `rscovlm.zoom.http_failed` (the
/// last attempt failed otherwise: connection refused, closed early, malformed response, 429/5xx),
/// `rscovlm.zoom.http_error` (a 4xx other than 429, not retried), `rscovlm.limit.response_bytes` (a
/// body over the cap, not retried).

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::io {

/// Standard base64 (RFC 4648, with '=' padding) of `size` bytes.
inline std::string base64_encode(const std::uint8_t* data, std::size_t size) {
    static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        const std::uint32_t v = (std::uint32_t(data[i]) << 16) | (std::uint32_t(data[i + 1]) << 8) | data[i + 2];
        out.push_back(tbl[(v >> 18) & 63]);
        out.push_back(tbl[(v >> 12) & 63]);
        out.push_back(tbl[(v >> 6) & 63]);
        out.push_back(tbl[v & 63]);
    }
    if (i < size) {
        std::uint32_t v = std::uint32_t(data[i]) << 16;
        if (i + 1 < size) v |= std::uint32_t(data[i + 1]) << 8;
        out.push_back(tbl[(v >> 18) & 63]);
        out.push_back(tbl[(v >> 12) & 63]);
        out.push_back(i + 1 < size ? tbl[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

/// base64 of a byte vector.
inline std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
    return base64_encode(bytes.data(), bytes.size());
}

/// Standard base64 (RFC 4648) decoding; whitespace is skipped, padding optional. nullopt on any
/// other character, misplaced padding or a dangling bit group.
inline std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view s) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::vector<std::uint8_t> out;
    out.reserve(s.size() / 4 * 3);
    std::uint32_t acc = 0;
    int bits = 0, pad = 0;
    std::size_t count = 0;
    for (char c : s) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            ++pad;
            continue;
        }
        const int v = val(c);
        if (v < 0 || pad > 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        ++count;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
        }
    }
    if (count % 4 == 1 || pad > 2 || (pad > 0 && (count + static_cast<std::size_t>(pad)) % 4 != 0)) return std::nullopt;
    return out;
}

} // namespace rscovlm::io

#if RSCOVLM_HAS_HTTPLIB

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <rscovlm/errors.hpp>
#include <rscovlm/io/http.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/backend.hpp>

namespace rscovlm::io {

/// Options of openai_backend.
struct openai_options {
    /// Base URL of the API, e.g. "http://127.0.0.1:8000/v1" (a trailing "/chat/completions" is accepted).
    std::string endpoint = "http://127.0.0.1:8000/v1";
    /// Served model name; empty = the first id of `GET {endpoint}/models`.
    std::string model;
    /// Sent as `Authorization: Bearer <api_key>` when not empty.
    std::string api_key;
    /// Longest wait for the connection (within `timeout_s`).
    double connect_timeout_s = 10.0;
    /// Longest wait for one read to make progress (within `timeout_s`; <= 0: `timeout_s` only).
    double read_timeout_s = 0.0;
    /// Longest wait for one write to make progress (within `timeout_s`; <= 0: `timeout_s` only).
    double write_timeout_s = 0.0;
    /// Retries after connection errors, timeouts, malformed responses, HTTP 429 and 5xx (not after
    /// other 4xx or an oversized response).
    int max_retries = 2;
    /// Delay before the first retry; doubled for each further one.
    double retry_backoff_s = 1.0;
    /// Extra top-level request fields (e.g. {"repetition_penalty": 1.05}); they override the defaults.
    nlohmann::json extra_body = nlohmann::json::object();
    /// Deadline of each attempt, the whole request (connect, send, headers, body), in seconds (<= 0: none).
    double timeout_s = 120.0;
    /// Largest response body in bytes; 0 = the `response_bytes` limit (limits.hpp, 256 MiB by default).
    std::uint64_t max_response_bytes = 0;
    /// Request field that carries `generation_options::constraint`'s regex for guided decoding (vLLM
    /// `guided_regex`, SGLang `regex`), or "rscovlm_grammar" for `rscovlm serve`, which takes the
    /// grammar's own description (`answer_constraint::describe`); empty: constraints are not sent.
    std::string guided_field;
};

namespace detail {
struct split_url {
    std::string origin; ///< scheme://host[:port]
    std::string path;   ///< path prefix without trailing '/'
};
inline split_url parse_endpoint(const std::string& url) {
    const std::size_t scheme = url.find("://");
    if (scheme == std::string::npos || (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
        RSCOVLM_THROW(zoom_error, "bad_endpoint", "endpoint must start with http:// or https://, got '" + url + "'");
    const std::size_t slash = url.find('/', scheme + 3);
    split_url s;
    s.origin = url.substr(0, slash);
    s.path = slash == std::string::npos ? std::string() : url.substr(slash);
    while (!s.path.empty() && s.path.back() == '/')
        s.path.pop_back();
    const std::string suffix = "/chat/completions";
    if (s.path.size() >= suffix.size() && s.path.compare(s.path.size() - suffix.size(), suffix.size(), suffix) == 0)
        s.path.erase(s.path.size() - suffix.size());
    if (s.origin.size() <= scheme + 3) RSCOVLM_THROW(zoom_error, "bad_endpoint", "endpoint has no host: '" + url + "'");
    return s;
}
inline std::string clip_text(const std::string& s, std::size_t n = 300) {
    return s.size() > n ? s.substr(0, n) + "..." : s;
}
} // namespace detail

/// OpenAI-compatible chat-completions backend (registry key "backend.openai").
class openai_backend : public registry::component<openai_backend, zoom::backend> {
public:
    static constexpr std::string_view key = "backend.openai";
    static constexpr std::string_view summary =
        "OpenAI-compatible chat-completions server (vLLM, SGLang, ...), images as PNG data URLs, videos as "
        "PNG frames in a `data:video/jpeg` URL";
    static constexpr std::string_view backend = "io";

    explicit openai_backend(openai_options options)
        : m_opt(std::move(options)), m_url(detail::parse_endpoint(m_opt.endpoint)) {}

    /// Parameters: "endpoint" (base URL), "model" ("" = first of GET /models), "api_key_env" (the
    /// environment variable holding the key, "OPENAI_API_KEY"; the key itself never goes in a preset),
    /// "timeout_s" (deadline of each request), "read_timeout_s", "connect_timeout_s", "write_timeout_s",
    /// "max_retries", "retry_backoff_s", "max_response_bytes", "extra_body" (object), "guided_field"; defaults as
    /// `openai_options`.
    static openai_backend from_params(registry::params& p) {
        openai_options o;
        o.endpoint = p.get<std::string>("endpoint", o.endpoint);
        o.model = p.get<std::string>("model", o.model);
        const std::string key_env = p.get<std::string>("api_key_env", "OPENAI_API_KEY");
        if (!key_env.empty())
            if (const char* k = std::getenv(key_env.c_str())) o.api_key = k;
        o.timeout_s = p.get<double>("timeout_s", o.timeout_s);
        o.read_timeout_s = p.get<double>("read_timeout_s", o.read_timeout_s);
        o.connect_timeout_s = p.get<double>("connect_timeout_s", o.connect_timeout_s);
        o.write_timeout_s = p.get<double>("write_timeout_s", o.write_timeout_s);
        o.max_retries = p.get<int>("max_retries", o.max_retries);
        o.retry_backoff_s = p.get<double>("retry_backoff_s", o.retry_backoff_s);
        o.max_response_bytes = p.get<std::uint64_t>("max_response_bytes", o.max_response_bytes);
        o.extra_body = p.get<nlohmann::json>("extra_body", o.extra_body);
        o.guided_field = p.get<std::string>("guided_field", o.guided_field);
        p.check(o.extra_body.is_object(), "extra_body", "must be a JSON object");
        return openai_backend(std::move(o));
    }

    zoom::usage last_usage() const override { return m_usage; }
    /// `choices[0].logprobs.content` of the last answer, when `generation_options::logprobs` asked for it
    /// (each token's text from its `bytes` when given, else its `token`); entries that are not
    /// `{token, logprob}` objects are skipped.
    std::vector<zoom::token_logprob> last_logprobs() const override { return m_logprobs; }

    /// Reads an OpenAI `logprobs` object (`{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}`).
    static std::vector<zoom::token_logprob> read_logprobs(const nlohmann::json& lp) {
        std::vector<zoom::token_logprob> out;
        if (!lp.is_object() || !lp.contains("content") || !lp["content"].is_array()) return out;
        auto text_of = [](const nlohmann::json& e, std::string& t) {
            if (e.contains("bytes") && e["bytes"].is_array()) {
                t.clear();
                for (const auto& b : e["bytes"]) {
                    if (!b.is_number_integer() || b.get<long long>() < 0 || b.get<long long>() > 255) return false;
                    t.push_back(static_cast<char>(b.get<int>()));
                }
                return true;
            }
            if (!e.contains("token") || !e["token"].is_string()) return false;
            t = e["token"].get<std::string>();
            return true;
        };
        for (const auto& e : lp["content"]) {
            if (!e.is_object() || !e.contains("logprob") || !e["logprob"].is_number()) continue;
            zoom::token_logprob t;
            if (!text_of(e, t.text)) continue;
            t.logprob = e["logprob"].get<double>();
            if (e.contains("top_logprobs") && e["top_logprobs"].is_array())
                for (const auto& a : e["top_logprobs"]) {
                    std::string at;
                    if (a.is_object() && a.contains("logprob") && a["logprob"].is_number() && text_of(a, at))
                        t.top.emplace_back(std::move(at), a["logprob"].get<double>());
                }
            out.push_back(std::move(t));
        }
        return out;
    }

    /// The JSON body that `generate` would POST (exposed for inspection and tests). A video goes as vLLM's
    /// `video_url` of frames, `data:video/jpeg;base64,<frame>,<frame>,...`, with its `fps`; the frames are
    /// PNG (lossless; vLLM and `rscovlm serve` read them by their content).
    nlohmann::json make_request(const nlohmann::json& messages, const std::vector<image>& images,
                                const zoom::generation_options& g, const std::vector<zoom::video_frames>& videos = {}) {
        nlohmann::json msgs = nlohmann::json::array();
        std::size_t next_image = 0, next_video = 0;
        if (!messages.is_array()) RSCOVLM_THROW(zoom_error, "bad_messages", "messages must be a JSON array");
        for (const auto& m : messages) {
            if (!m.is_object() || !m.contains("role"))
                RSCOVLM_THROW(zoom_error, "bad_messages", "every message needs a role: " + detail::clip_text(m.dump()));
            nlohmann::json out{{"role", m["role"]}};
            const nlohmann::json& c = m.contains("content") ? m["content"] : nlohmann::json();
            if (!c.is_array()) {
                out["content"] = c.is_null() ? nlohmann::json("") : c;
            } else {
                nlohmann::json items = nlohmann::json::array();
                for (const auto& it : c) {
                    // Classified like the Qwen2.5-VL chat template: image first, then video, then text.
                    const bool is_image = it.is_object() && ((it.contains("type") && it["type"] == "image") ||
                                                             it.contains("image") || it.contains("image_url"));
                    const bool is_video = it.is_object() && ((it.contains("type") && it["type"] == "video") ||
                                                             it.contains("video") || it.contains("video_url"));
                    if (!is_image && is_video) {
                        if (next_video >= videos.size())
                            RSCOVLM_THROW(zoom_error, "video_count_mismatch",
                                          "messages hold more video items than the " + std::to_string(videos.size()) +
                                              " videos given");
                        const zoom::video_frames& v = videos[next_video++];
                        if (v.frames.empty()) RSCOVLM_THROW(zoom_error, "video_unsupported", "a video has no frames");
                        std::string url = "data:video/jpeg;base64,";
                        for (std::size_t k = 0; k < v.frames.size(); ++k)
                            url += (k ? "," : "") + base64_encode(encode_png(v.frames[k]));
                        items.push_back(
                            {{"type", "video_url"}, {"video_url", {{"url", std::move(url)}}}, {"fps", v.fps}});
                    } else if (is_image) {
                        if (next_image >= images.size())
                            RSCOVLM_THROW(zoom_error, "image_count_mismatch",
                                          "messages hold more image items than the " + std::to_string(images.size()) +
                                              " images given");
                        const std::vector<std::uint8_t> png = encode_png(images[next_image++]);
                        items.push_back({{"type", "image_url"},
                                         {"image_url", {{"url", "data:image/png;base64," + base64_encode(png)}}}});
                    } else if (it.is_object() && it.contains("text")) {
                        items.push_back({{"type", "text"}, {"text", it["text"]}});
                    }
                }
                out["content"] = items;
            }
            msgs.push_back(std::move(out));
        }
        if (next_image != images.size())
            RSCOVLM_THROW(zoom_error, "image_count_mismatch",
                          std::to_string(images.size()) + " images given but the messages hold " +
                              std::to_string(next_image) + " image items");
        if (next_video != videos.size())
            RSCOVLM_THROW(zoom_error, "video_count_mismatch",
                          std::to_string(videos.size()) + " videos given but the messages hold " +
                              std::to_string(next_video) + " video items");
        nlohmann::json body{{"model", model_name()},
                            {"messages", std::move(msgs)},
                            {"max_tokens", g.max_new_tokens},
                            {"temperature", g.temperature},
                            {"top_p", g.top_p}};
        if (g.top_k > 0) body["top_k"] = g.top_k; // vLLM/SGLang extension
        if (g.seed) body["seed"] = *g.seed;
        if (!g.stop.empty()) body["stop"] = g.stop;
        if (g.constraint && !m_opt.guided_field.empty()) {
            if (m_opt.guided_field == "rscovlm_grammar") { // rscovlm serve: the grammar itself
                const nlohmann::json d = g.constraint->describe();
                if (!d.is_null()) body[m_opt.guided_field] = d;
            } else {
                const std::string re = g.constraint->regex();
                if (!re.empty()) body[m_opt.guided_field] = re;
            }
        }
        if (g.logprobs >= 0) {
            body["logprobs"] = true;
            if (g.logprobs > 0) body["top_logprobs"] = g.logprobs;
        }
        if (m_opt.extra_body.is_object())
            for (auto it = m_opt.extra_body.begin(); it != m_opt.extra_body.end(); ++it)
                body[it.key()] = it.value();
        return body;
    }

    std::string generate(const nlohmann::json& messages, const std::vector<image>& images,
                         const zoom::generation_options& options) override {
        return generate_with_video(messages, images, {}, options);
    }

    /// As `generate`, with videos sent as their frames (see `make_request`).
    std::string generate_with_video(const nlohmann::json& messages, const std::vector<image>& images,
                                    const std::vector<zoom::video_frames>& videos,
                                    const zoom::generation_options& options) override {
        m_usage = zoom::usage{};
        m_logprobs.clear();
        const std::string body = make_request(messages, images, options, videos)
                                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        const std::string text = request("POST", m_url.path + "/chat/completions", body);
        nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            RSCOVLM_THROW(zoom_error, "bad_response",
                          "chat completion is not a JSON object: " + detail::clip_text(text));
        if (j.contains("usage") && j["usage"].is_object()) {
            const auto& u = j["usage"];
            if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer())
                m_usage.prompt_tokens = u["prompt_tokens"].get<long>();
            if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
                m_usage.completion_tokens = u["completion_tokens"].get<long>();
        }
        if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() ||
            !j["choices"][0].is_object() || !j["choices"][0].contains("message") ||
            !j["choices"][0]["message"].is_object())
            RSCOVLM_THROW(zoom_error, "bad_response",
                          "chat completion without choices[0].message: " + detail::clip_text(text));
        const auto& choice = j["choices"][0];
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
            m_usage.finish_reason = choice["finish_reason"].get<std::string>();
        if (options.logprobs >= 0 && choice.contains("logprobs")) m_logprobs = read_logprobs(choice["logprobs"]);
        const auto& msg = choice["message"];
        if (!msg.contains("content") || msg["content"].is_null()) return std::string();
        if (!msg["content"].is_string())
            RSCOVLM_THROW(zoom_error, "bad_response",
                          "choices[0].message.content is not a string: " + detail::clip_text(text));
        return msg["content"].get<std::string>();
    }

    /// The model name in use (queried from `GET /models` on first use when not configured).
    const std::string& model_name() {
        if (m_opt.model.empty()) {
            const std::string text = request("GET", m_url.path + "/models", std::string());
            nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
            if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array() ||
                j["data"].empty() || !j["data"][0].is_object() || !j["data"][0].contains("id") ||
                !j["data"][0]["id"].is_string())
                RSCOVLM_THROW(zoom_error, "no_model",
                              "GET " + m_url.path + "/models lists no model: " + detail::clip_text(text));
            m_opt.model = j["data"][0]["id"].get<std::string>();
        }
        return m_opt.model;
    }

    /// Number of HTTP attempts made so far (requests plus retries).
    int attempts() const noexcept { return m_attempts; }

private:
    /// The outcome of one attempt: a status and body, or a transport failure.
    struct attempt_result {
        bool transport_ok = false;
        bool timed_out = false;
        int status = 0;
        std::string body;
        std::string error;
    };

    std::vector<std::pair<std::string, std::string>> header_list() const {
        std::vector<std::pair<std::string, std::string>> h;
        if (!m_opt.api_key.empty()) h.emplace_back("Authorization", "Bearer " + m_opt.api_key);
        h.emplace_back("Accept", "application/json");
        return h;
    }

    attempt_result attempt_http(const char* method, const std::string& path, const std::string& body,
                                const std::string& what) {
#if !RSCOVLM_HAS_HTTP_CLIENT
        return attempt_httplib(method, path, body, what); // no POSIX sockets: cpp-httplib for http:// too
#else
        attempt_result r;
        http::client_options co;
        co.timeout_s = m_opt.timeout_s;
        co.connect_timeout_s = m_opt.connect_timeout_s;
        co.read_timeout_s = m_opt.read_timeout_s;
        co.write_timeout_s = m_opt.write_timeout_s;
        co.max_response_bytes = m_opt.max_response_bytes;
        std::vector<std::pair<std::string, std::string>> headers = header_list();
        if (std::string_view(method) == "POST") headers.emplace_back("Content-Type", "application/json");
        try {
            http::response res = http::request(http::parse_origin(m_url.origin), method, path, headers, body, co, what);
            r.transport_ok = true;
            r.status = res.status;
            r.body = std::move(res.body);
        } catch (const io_error& e) {
            r.timed_out = e.id() == "rscovlm.io.http_timeout";
            r.error = e.message();
        }
        return r;
#endif
    }

    /// https:// through cpp-httplib: the body streams into a capped buffer and a watchdog stops the
    /// client at the deadline (cpp-httplib's own timeouts bound each read, not the request).
    attempt_result attempt_httplib(const char* method, const std::string& path, const std::string& body,
                                   const std::string& what) {
        using clock = std::chrono::steady_clock;
        attempt_result r;
        const double limit_s = m_opt.timeout_s > 0 && m_opt.timeout_s < 1e8 ? m_opt.timeout_s : 1e8;
        auto us = [](double s) { return std::chrono::microseconds(static_cast<long long>(std::max(0.0, s) * 1e6)); };
        auto within = [&](double s) { return s > 0 ? std::min(s, limit_s) : limit_s; }; // also maps NaN to limit_s
        httplib::Client cli(m_url.origin);
        cli.set_connection_timeout(us(within(m_opt.connect_timeout_s)));
        cli.set_read_timeout(us(within(m_opt.read_timeout_s)));
        cli.set_write_timeout(us(within(m_opt.write_timeout_s)));
        const std::uint64_t cap =
            m_opt.max_response_bytes ? m_opt.max_response_bytes : limits::current().response_bytes;
        std::uint64_t too_big = 0;
        httplib::Request req;
        req.method = method;
        req.path = path;
        for (const auto& h : header_list())
            req.headers.emplace(h.first, h.second);
        if (std::string_view(method) == "POST") {
            req.headers.emplace("Content-Type", "application/json");
            req.body = body;
        }
        req.response_handler = [&](const httplib::Response& res) {
            const std::string len = res.get_header_value("Content-Length");
            if (!len.empty() && len.size() < 20 && len.find_first_not_of("0123456789") == std::string::npos) {
                const std::uint64_t n = std::stoull(len);
                if (cap && n > cap) {
                    too_big = n;
                    return false;
                }
            }
            return true;
        };
        req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
            if (cap && r.body.size() + n > cap) {
                too_big = r.body.size() + n;
                return false;
            }
            r.body.append(data, n);
            return true;
        };
        std::mutex mu;
        std::condition_variable cv;
        bool finished = false, fired = false;
        const clock::time_point deadline = clock::now() + std::chrono::duration_cast<clock::duration>(us(limit_s));
        std::thread watchdog([&] {
            std::unique_lock<std::mutex> lock(mu);
            if (cv.wait_until(lock, deadline, [&] { return finished; })) return;
            fired = true;
            // Stop until the request returns (a stop before the socket exists does nothing).
            while (!finished) {
                lock.unlock();
                cli.stop();
                lock.lock();
                cv.wait_for(lock, std::chrono::milliseconds(10), [&] { return finished; });
            }
        });
        httplib::Result res = cli.send(req);
        {
            std::lock_guard<std::mutex> lock(mu);
            finished = true;
        }
        cv.notify_all();
        watchdog.join();
        if (too_big)
            RSCOVLM_THROW(limit_error, "response_bytes",
                          what + ": a response body of " + std::to_string(too_big) +
                              " bytes exceeds the response_bytes limit of " + std::to_string(cap) +
                              " (raise it with RSCOVLM_LIMIT_RESPONSE_BYTES or --limit response_bytes=N)");
        if (fired || (res.error() == httplib::Error::Read && clock::now() >= deadline)) {
            r.timed_out = true;
            r.error = what + ": no complete response within the request deadline of " +
                      http::detail::seconds_text(m_opt.timeout_s) + " s";
            return r;
        }
        if (!res) {
            r.timed_out = res.error() == httplib::Error::Read || res.error() == httplib::Error::Write ||
                          res.error() == httplib::Error::ConnectionTimeout;
            r.error = what + ": " + httplib::to_string(res.error());
            return r;
        }
        r.transport_ok = true;
        r.status = res->status;
        return r;
    }

    std::string request(const char* method, const std::string& path, const std::string& body) {
        const std::string what = std::string(method) + " " + m_url.origin + path;
        const bool https = m_url.origin.compare(0, 8, "https://") == 0;
        std::string last;
        bool last_timed_out = false;
        double delay = m_opt.retry_backoff_s;
        for (int attempt = 0; attempt <= std::max(0, m_opt.max_retries); ++attempt) {
            if (attempt > 0 && delay > 0) {
                std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long long>(delay * 1e6)));
                delay *= 2;
            }
            ++m_attempts;
            attempt_result res =
                https ? attempt_httplib(method, path, body, what) : attempt_http(method, path, body, what);
            if (!res.transport_ok) {
                last = res.error;
                last_timed_out = res.timed_out;
                continue;
            }
            if (res.status == 200) return std::move(res.body);
            last = "HTTP " + std::to_string(res.status) + ": " + detail::clip_text(res.body);
            last_timed_out = false;
            if (res.status != 429 && res.status < 500) RSCOVLM_THROW(zoom_error, "http_error", what + " -> " + last);
        }
        const std::string tries = std::to_string(std::max(0, m_opt.max_retries) + 1) + " attempts";
        if (last_timed_out)
            RSCOVLM_THROW(zoom_error, "timeout", what + " timed out after " + tries + " (" + last + ")");
        RSCOVLM_THROW(zoom_error, "http_failed", what + " failed after " + tries + " (" + last + ")");
    }

    openai_options m_opt;
    detail::split_url m_url;
    zoom::usage m_usage;
    std::vector<zoom::token_logprob> m_logprobs;
    int m_attempts = 0;
};

} // namespace rscovlm::io

#endif // RSCOVLM_HAS_HTTPLIB

#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/builtin.hpp>

namespace rscovlm::io {

#if RSCOVLM_HAS_HTTPLIB
/// `backend` components that need the io libraries.
using backends = registry::type_list<openai_backend>;
#else
/// `backend` components that need the io libraries (none without cpp-httplib).
using backends = registry::type_list<>;
#endif
/// Every `backend` component of core and io: the catalog for `registry::make<zoom::backend_kind, io::all_backends>`.
using all_backends = registry::concat_t<zoom::builtin_backends, backends>;

} // namespace rscovlm::io
