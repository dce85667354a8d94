#pragma once
/// \file
/// An OpenAI-compatible chat-completions server over any generation backend (`zoom::backend`): the
/// LibTorch Qwen2.5-VL model (`rscovlm serve --backend torch`), a scripted backend in tests, or another
/// OpenAI-compatible server behind it. So one client (`io::openai_backend`) talks to this server, vLLM
/// or SGLang alike.
///
/// Endpoints: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`.
/// - Requests: `messages` (system / user / assistant; content a string or parts: `text`, and
///   `image_url` whose `url` is a `data:` URL or, when an image root is configured, a file path or
///   `file://` URL under it; videos as frames: `video_url` whose `url` is vLLM's
///   `data:video/jpeg;base64,<frame>,<frame>,...` or a frame directory or list file under the image root,
///   or qwen-vl-utils' `{"type": "video", "video": [<image url>, ...]}`, each with an optional `fps`, the
///   frames' rate (default 2), for backends that take videos (`zoom::backend::generate_with_video`);
///   video files are not decoded), `model`, `max_tokens` (or `max_completion_tokens`), `temperature`,
///   `top_p`, `top_k` (vLLM's extension; -1 or 0 off), `seed`, `stop` (string or list), `n`,
///   `stream` (server-sent events, `stream_options.include_usage`), `logprobs`, `top_logprobs`.
///   `rscovlm_grammar` (`box_codec::answer_grammar::describe()`: box kind, classes, frame) constrains
///   decoding to a box codec's grammar, for backends that can constrain (the torch one). Other fields
///   are ignored, as vLLM does; vLLM's and SGLang's regex and grammar fields are refused (400), since
///   this server does not run arbitrary regular expressions and silently ignoring them would hide that.
/// - Images are decoded with `io::decode_image` (Pillow's pixels) and handed to the backend as sent
///   (`generation_options::images_final = false`): the backend's processor resizes them within its
///   pixel budget, as the Hugging Face processor does for vLLM.
/// - Concurrency: each HTTP worker (`threads`) serves one request; requests run at once on a pool of
///   backends made by the factory, so backends that share a batching engine (the torch one) decode
///   concurrent requests together.
/// - Limits, each answered with an OpenAI error body `{"error": {"message", "type", "param",
///   "code"}}`: request bytes (413), image count, image bytes and pixels, `max_tokens`, `n`, stop
///   strings (400), the time a request may take from arrival to its last token (504, `request_timeout_s`:
///   the answer leaves at the deadline even while the model is still in its prefill, which cannot be
///   interrupted; the generation then stops at its first token; a streaming request gets an error
///   event).
///   Unknown routes and methods 404, a missing or wrong API key 401, a model name other than the served
///   one 404, a server shutting down 503. Sampling requests without a seed get a fresh one each.
/// - Graceful shutdown (`stop`): new requests get 503 while those in flight finish (up to
///   `drain_timeout_s`); generations still running then stop at their next token (their requests get
///   503), and the listener closes. So `stop` takes the drain time plus what is already committed: a
///   token, or a prefill under way (a backend that batches may still run the prefills it has queued;
///   each generation stops at its first token). Generations that outlive their answer (a deadline
///   passed in their prefill) count against `max_generations` until they end.
/// Compiled only when `RSCOVLM_HAS_HTTPLIB` is set.

#if RSCOVLM_HAS_HTTPLIB

#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/openai_backend.hpp>
#include <rscovlm/io/video_source.hpp>
#include <rscovlm/zoom/backend.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rscovlm::io {

/// An API error: HTTP status and the OpenAI error fields. Its id is "rscovlm.serve.<code>".
class api_error : public ::rscovlm::error {
public:
    api_error(int status, std::string type, std::string code, std::string param, const std::string& message)
        : ::rscovlm::error("serve", code, message), m_status(status), m_type(std::move(type)), m_code(std::move(code)),
          m_param(std::move(param)) {}
    int status() const noexcept { return m_status; }
    const std::string& type() const noexcept { return m_type; }
    const std::string& code() const noexcept { return m_code; }
    const std::string& param() const noexcept { return m_param; }
    /// The OpenAI error body.
    nlohmann::json body() const {
        return {{"error",
                 {{"message", message()},
                  {"type", m_type},
                  {"param", m_param.empty() ? nlohmann::json() : nlohmann::json(m_param)},
                  {"code", m_code}}}};
    }

private:
    int m_status;
    std::string m_type, m_code, m_param;
};

/// Options of `openai_server`.
struct server_options {
    std::string host = "127.0.0.1";
    int port = 8000; ///< 0: any free port (`openai_server::bind` returns it)
    /// The model id `GET /v1/models` lists; requests naming another model get 404 (none named: fine).
    std::string model_name = "rscovlm";
    /// Directory that file-path images must lie under (after resolving `..` and links); empty: file
    /// paths are refused and only `data:` URLs are accepted.
    std::string image_root;
    /// When not empty, requests need `Authorization: Bearer <api_key>`.
    std::string api_key;
    std::size_t max_request_bytes = std::size_t(64) << 20; ///< 413 above
    std::size_t max_images = 32;                           ///< per request
    std::size_t max_videos = 4;                            ///< per request
    std::size_t max_video_frames = 768;                    ///< per request, all videos together
    std::uint64_t max_video_pixels = 1ull << 28;           ///< decoded frame pixels per request, all videos
    std::uint64_t max_image_pixels = 8192ull * 8192ull;    ///< per image, checked before decoding
    int default_max_tokens = 1024;                         ///< when a request gives none
    int max_tokens = 8192;                                 ///< largest accepted `max_tokens`
    int max_n = 8;
    std::size_t max_stop = 16;
    int max_top_logprobs = 20;
    /// From a request's arrival to its last token, in seconds (<= 0: no limit).
    double request_timeout_s = 600.0;
    int threads = 32; ///< HTTP workers: requests served at once
    double read_timeout_s = 30.0;
    double write_timeout_s = 30.0;
    double drain_timeout_s = 30.0; ///< how long `stop` waits for requests in flight
    /// Generations running at once, those whose request was already answered (a deadline passed during
    /// their prefill) included; more requests get 503 "overloaded". 0: twice `threads`.
    std::size_t max_generations = 0;
};

/// A parsed chat-completions request: messages in Hugging Face form (`{"type":"image"}` and
/// `{"type":"video"}` items matched in order to `images` and `videos`) and the generation options.
struct chat_request {
    nlohmann::json messages = nlohmann::json::array();
    std::vector<image> images;
    std::vector<zoom::video_frames> videos;
    zoom::generation_options options;
    std::string model;
    int n = 1;
    bool stream = false;
    bool include_usage = false;
    bool logprobs = false;
};

namespace serve_detail {

[[noreturn]] inline void bad(const std::string& param, const std::string& message,
                             const std::string& code = "invalid_value") {
    throw api_error(400, "invalid_request_error", code, param, message);
}

inline double number(const nlohmann::json& v, const std::string& param, double lo, double hi) {
    if (!v.is_number()) bad(param, param + " must be a number");
    const double x = v.get<double>();
    if (!(x >= lo && x <= hi))
        bad(param, param + " must be in [" + nlohmann::json(lo).dump() + ", " + nlohmann::json(hi).dump() + "]");
    return x;
}

inline long long integer(const nlohmann::json& v, const std::string& param, long long lo, long long hi) {
    if (!v.is_number_integer()) bad(param, param + " must be an integer");
    const long long x = v.is_number_unsigned() ? static_cast<long long>(std::min<std::uint64_t>(
                                                     v.get<std::uint64_t>(), static_cast<std::uint64_t>(hi) + 1))
                                               : v.get<long long>();
    if (x < lo || x > hi) bad(param, param + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
}

/// A part's URL: the string itself or its object's "url" (400 naming `param` otherwise).
inline std::string part_url(const nlohmann::json& u, const std::string& param, const char* what) {
    if (u.is_string()) return u.get<std::string>();
    if (u.is_object() && u.contains("url") && u["url"].is_string()) return u["url"].get<std::string>();
    bad(param, param + " needs " + what);
}

/// What a request's videos may still hold: frames and decoded pixels.
struct video_budget {
    std::size_t frames;
    std::uint64_t pixels;
};

[[noreturn]] inline void video_too_large(const server_options& o, const std::string& param) {
    bad(param, "the request's video frames exceed " + std::to_string(o.max_video_pixels) + " pixels in all",
        "video_too_large");
}

/// One video frame within the request's budget: `decode(max_pixels)` decodes it with at most the pixels
/// left (400 "too_many_frames" when no frame is left, "video_too_large" when no pixels are), and its
/// pixels are taken from the budget.
template <class Decode>
inline image budget_frame(video_budget& b, const server_options& o, const std::string& param, Decode&& decode) {
    if (b.frames == 0)
        bad(param, "more than " + std::to_string(o.max_video_frames) + " video frames in one request",
            "too_many_frames");
    --b.frames;
    if (b.pixels == 0) video_too_large(o, param);
    image frame = decode(std::min<std::uint64_t>(o.max_image_pixels, b.pixels));
    b.pixels -= std::min<std::uint64_t>(b.pixels, static_cast<std::uint64_t>(frame.width) *
                                                      static_cast<std::uint64_t>(frame.height));
    return frame;
}

/// Decodes image bytes of parameter `param` (400 "invalid_image" when they are not a usable image).
/// `max_pixels` (0: the server's image limit) below the image limit is a video frame's share of the
/// request's video budget: more pixels are 400 "video_too_large".
inline image decode_bytes(const std::vector<std::uint8_t>& bytes, const server_options& o, const std::string& param,
                          std::uint64_t max_pixels = 0) {
    load_options lo;
    lo.max_pixels = max_pixels ? max_pixels : o.max_image_pixels;
    try {
        return decode_image(bytes.data(), bytes.size(), lo, param);
    } catch (const limit_error& e) {
        if (lo.max_pixels < o.max_image_pixels) video_too_large(o, param);
        throw api_error(400, "invalid_request_error", "invalid_image", param,
                        "the image could not be used: " + e.message());
    } catch (const ::rscovlm::error& e) {
        throw api_error(400, "invalid_request_error", "invalid_image", param,
                        "the image could not be used: " + e.message());
    }
}

/// The bytes of a base64 data URL, and its media type (what stands between "data:" and ";base64").
inline std::pair<std::string, std::string_view> data_url(const std::string& url, const std::string& param,
                                                         const std::string& code) {
    const std::size_t comma = url.find(',');
    if (comma == std::string::npos) bad(param, "a data URL needs a ',' before its data", code);
    const std::string head = url.substr(5, comma - 5);
    if (head.size() < 7 || head.compare(head.size() - 7, 7, ";base64") != 0)
        bad(param, "only base64 data URLs are accepted (data:<type>;base64,...)", code);
    return {head.substr(0, head.size() - 7), std::string_view(url).substr(comma + 1)};
}

/// A file path of a part's URL, resolved and checked to lie under the image root (400/403 otherwise).
inline std::filesystem::path local_path(const std::string& url, const server_options& o, const std::string& param,
                                        const std::string& code) {
    if (url.compare(0, 7, "http://") == 0 || url.compare(0, 8, "https://") == 0)
        bad(param, "remote URLs are not fetched; send a data URL or a path under the server's image root",
            "unsupported_" + code);
    if (o.image_root.empty())
        bad(param, "file paths are refused: the server has no image root (send a data URL)", "unsupported_" + code);
    namespace fs = std::filesystem;
    std::string path = url.compare(0, 7, "file://") == 0 ? url.substr(7) : url;
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(fs::path(o.image_root), ec);
    fs::path p = fs::path(path);
    if (p.is_relative()) p = root / p;
    const fs::path full = fs::weakly_canonical(p, ec);
    if (ec) bad(param, "the path cannot be resolved", "invalid_" + code);
    const auto rel = full.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..")
        throw api_error(403, "permission_error", "path_outside_root", param,
                        "the path is outside the server's image root");
    return full;
}

/// Decodes the image of a part's URL.
inline image load_url(const std::string& url, const server_options& o, const std::string& param,
                      std::uint64_t max_pixels = 0) {
    if (url.compare(0, 5, "data:") == 0) {
        auto bytes = base64_decode(data_url(url, param, "invalid_image_url").second);
        if (!bytes) bad(param, "the data URL's base64 is malformed", "invalid_image_url");
        return decode_bytes(*bytes, o, param, max_pixels);
    }
    namespace fs = std::filesystem;
    const fs::path full = local_path(url, o, param, "image_url");
    std::error_code ec;
    if (!fs::is_regular_file(full, ec))
        throw api_error(400, "invalid_request_error", "image_not_found", param, "no image file at that path");
    std::vector<std::uint8_t> bytes;
    bool complete = true;
    try {
        bytes = image_detail::read_file(full.string(), o.max_request_bytes, &complete);
    } catch (const ::rscovlm::error& e) {
        throw api_error(400, "invalid_request_error", "invalid_image", param, e.message());
    }
    if (!complete)
        throw api_error(400, "invalid_request_error", "image_too_large", param,
                        "the image file is larger than " + std::to_string(o.max_request_bytes) + " bytes");
    return decode_bytes(bytes, o, param, max_pixels);
}

/// The frames of a video part, each decoded as an image; `frames_left` (the request's frame budget)
/// shrinks with each. The URL is a data URL of frames, `data:video/<type>;base64,<frame>,<frame>,...`
/// (vLLM's form for frames), or a path under the image root to a directory of frame images or a frame
/// list file (`io::open_frame_source`). Video files are not decoded (400 "invalid_video").
inline std::vector<image> load_video_url(const std::string& url, const server_options& o, const std::string& param,
                                         video_budget& budget) {
    std::vector<image> frames;
    static const std::string not_frames =
        ": video files (mp4, webm, ...) are not decoded by this server; send the frames as images "
        "(data:video/jpeg;base64,<frame>,<frame>,... or {\"type\": \"video\", \"video\": [<image url>, ...]})";
    if (url.compare(0, 5, "data:") == 0) {
        const auto [type, data] = data_url(url, param, "invalid_video");
        if (type.compare(0, 6, "video/") != 0) bad(param, "a video data URL must be data:video/...", "invalid_video");
        std::size_t at = 0;
        for (std::size_t k = 0; at <= data.size(); ++k) {
            std::size_t end = data.find(',', at);
            if (end == std::string_view::npos) end = data.size();
            frames.push_back(budget_frame(budget, o, param, [&](std::uint64_t limit) {
                auto bytes = base64_decode(data.substr(at, end - at));
                if (!bytes || bytes->empty())
                    bad(param, "frame " + std::to_string(k) + " of the data URL is not base64" + not_frames,
                        "invalid_video");
                try {
                    return decode_bytes(*bytes, o, param, limit);
                } catch (const api_error& e) {
                    if (e.code() == "video_too_large") throw;
                    bad(param, "frame " + std::to_string(k) + " of the data URL is not an image" + not_frames,
                        "invalid_video");
                }
            }));
            at = end + 1;
        }
        return frames;
    }
    const std::filesystem::path full = local_path(url, o, param, "video_url");
    frame_source src;
    try {
        src = open_frame_source(full.string());
    } catch (const ::rscovlm::error& e) {
        bad(param,
            "the video could not be opened: " + e.message() +
                (e.id().find("unsupported") != std::string::npos ? not_frames : ""),
            "invalid_video");
    }
    for (std::size_t k = 0; k < src.files.size(); ++k) {
        frames.push_back(budget_frame(budget, o, param, [&](std::uint64_t limit) {
            return load_url(src.files[k], o, param + " frame " + std::to_string(k), limit);
        }));
    }
    return frames;
}

} // namespace serve_detail

/// Parses and checks a chat-completions body (api_error 400/403 naming the parameter otherwise).
inline chat_request parse_chat_request(const nlohmann::json& body, const server_options& o) {
    using serve_detail::bad;
    if (!body.is_object()) bad("", "the request body must be a JSON object");
    chat_request r;
    r.options.images_final = false;
    r.options.max_new_tokens = o.default_max_tokens;
    auto has = [&](const char* k) { return body.contains(k) && !body[k].is_null(); };
    for (const char* k : {"guided_regex", "guided_grammar", "guided_json", "guided_choice"})
        if (has(k))
            bad(k, std::string(k) + " is not supported: this server does not constrain decoding",
                "unsupported_parameter");
    if (has("rscovlm_grammar")) {
        try {
            r.options.constraint = box_codec::answer_grammar::from_description(body["rscovlm_grammar"]);
        } catch (const ::rscovlm::error& e) {
            bad("rscovlm_grammar", e.message());
        }
    }
    if (has("response_format")) {
        const auto& f = body["response_format"];
        if (!f.is_object() || !f.contains("type") || f["type"] != "text")
            bad("response_format", "only response_format {\"type\": \"text\"} is supported", "unsupported_parameter");
    }
    if (has("model")) {
        if (!body["model"].is_string()) bad("model", "model must be a string");
        r.model = body["model"].get<std::string>();
    }
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
        bad("messages", "messages must be a non-empty array");
    const auto& msgs = body["messages"];
    serve_detail::video_budget budget{o.max_video_frames, o.max_video_pixels};
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        const std::string at = "messages[" + std::to_string(i) + "]";
        const auto& m = msgs[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) bad(at, at + " needs a string role");
        const std::string role = m["role"].get<std::string>();
        if (role != "system" && role != "user" && role != "assistant")
            bad(at + ".role", "role must be system, user or assistant, not '" + role + "'");
        nlohmann::json out{{"role", role}};
        const nlohmann::json c = m.contains("content") ? m["content"] : nlohmann::json();
        if (c.is_null()) {
            if (role != "assistant") bad(at + ".content", at + " has no content");
            out["content"] = "";
        } else if (c.is_string()) {
            out["content"] = c;
        } else if (c.is_array()) {
            nlohmann::json items = nlohmann::json::array();
            for (std::size_t j = 0; j < c.size(); ++j) {
                const std::string pat = at + ".content[" + std::to_string(j) + "]";
                const auto& part = c[j];
                if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
                    bad(pat, pat + " needs a string type");
                const std::string type = part["type"].get<std::string>();
                if (type == "text") {
                    if (!part.contains("text") || !part["text"].is_string())
                        bad(pat + ".text", "text must be a string");
                    items.push_back({{"type", "text"}, {"text", part["text"]}});
                } else if (type == "image_url" || type == "image") {
                    const nlohmann::json& u = type == "image_url"
                                                  ? (part.contains("image_url") ? part["image_url"] : nlohmann::json())
                                                  : (part.contains("image") ? part["image"] : nlohmann::json());
                    const std::string upar = pat + "." + type;
                    const std::string url = serve_detail::part_url(u, upar, "a url");
                    if (r.images.size() >= o.max_images)
                        bad(upar, "more than " + std::to_string(o.max_images) + " images in one request",
                            "too_many_images");
                    r.images.push_back(serve_detail::load_url(url, o, upar));
                    items.push_back({{"type", "image"}});
                } else if (type == "video_url" || type == "video") {
                    // vLLM's {"type": "video_url", "video_url": {"url"}} or qwen-vl-utils' {"type": "video",
                    // "video": [frame, ...] or url}, with an optional "fps" (the frames' rate, default 2).
                    const std::string vpar = pat + "." + type;
                    const nlohmann::json u = part.contains(type) ? part[type] : nlohmann::json();
                    if (r.videos.size() >= o.max_videos)
                        bad(vpar, "more than " + std::to_string(o.max_videos) + " videos in one request",
                            "too_many_videos");
                    zoom::video_frames v;
                    if (part.contains("fps") && !part["fps"].is_null())
                        v.fps = serve_detail::number(part["fps"], pat + ".fps", 1e-3, 1e3);
                    if (u.is_array()) {
                        if (u.empty()) bad(vpar, "a video needs at least one frame", "invalid_video");
                        for (std::size_t k = 0; k < u.size(); ++k) {
                            const std::string fpar = vpar + "[" + std::to_string(k) + "]";
                            if (!u[k].is_string()) bad(fpar, "a frame must be an image URL string");
                            v.frames.push_back(serve_detail::budget_frame(budget, o, fpar, [&](std::uint64_t limit) {
                                return serve_detail::load_url(u[k].get<std::string>(), o, fpar, limit);
                            }));
                        }
                    } else {
                        v.frames = serve_detail::load_video_url(
                            serve_detail::part_url(u, vpar, "a url or a list of frames"), o, vpar, budget);
                    }
                    r.videos.push_back(std::move(v));
                    items.push_back({{"type", "video"}});
                } else {
                    bad(pat + ".type",
                        "content part type '" + type + "' is not supported (text, image_url, video_url, video)");
                }
            }
            out["content"] = std::move(items);
        } else {
            bad(at + ".content", "content must be a string or an array of parts");
        }
        r.messages.push_back(std::move(out));
    }
    if (r.messages.back()["role"] == "assistant")
        bad("messages", "the last message must not be the assistant's (continuing an answer is not supported)");
    for (const char* k : {"max_tokens", "max_completion_tokens"})
        if (has(k)) r.options.max_new_tokens = static_cast<int>(serve_detail::integer(body[k], k, 1, o.max_tokens));
    if (has("temperature")) r.options.temperature = serve_detail::number(body["temperature"], "temperature", 0.0, 2.0);
    if (has("top_p")) {
        r.options.top_p = serve_detail::number(body["top_p"], "top_p", 0.0, 1.0);
        if (r.options.top_p <= 0.0) bad("top_p", "top_p must be > 0");
    }
    if (has("top_k")) {
        const long long k = serve_detail::integer(body["top_k"], "top_k", -1, 1 << 30);
        r.options.top_k = k <= 0 ? 0 : static_cast<int>(k);
    }
    if (has("seed")) {
        const auto& s = body["seed"];
        if (!s.is_number_integer()) bad("seed", "seed must be an integer");
        r.options.seed =
            s.is_number_unsigned() ? s.get<std::uint64_t>() : static_cast<std::uint64_t>(s.get<long long>());
    }
    if (has("stop")) {
        const auto& s = body["stop"];
        if (s.is_string()) {
            r.options.stop.push_back(s.get<std::string>());
        } else if (s.is_array()) {
            for (const auto& x : s) {
                if (!x.is_string()) bad("stop", "stop must be a string or a list of strings");
                r.options.stop.push_back(x.get<std::string>());
            }
        } else {
            bad("stop", "stop must be a string or a list of strings");
        }
        if (r.options.stop.size() > o.max_stop) bad("stop", "at most " + std::to_string(o.max_stop) + " stop strings");
        r.options.stop.erase(std::remove(r.options.stop.begin(), r.options.stop.end(), std::string()),
                             r.options.stop.end());
    }
    if (has("n")) r.n = static_cast<int>(serve_detail::integer(body["n"], "n", 1, o.max_n));
    if (has("stream")) {
        if (!body["stream"].is_boolean()) bad("stream", "stream must be a boolean");
        r.stream = body["stream"].get<bool>();
    }
    if (has("stream_options")) {
        const auto& so = body["stream_options"];
        if (!so.is_object()) bad("stream_options", "stream_options must be an object");
        if (so.contains("include_usage")) {
            if (!so["include_usage"].is_boolean())
                bad("stream_options.include_usage", "include_usage must be a boolean");
            r.include_usage = so["include_usage"].get<bool>();
        }
    }
    if (has("logprobs")) {
        if (!body["logprobs"].is_boolean()) bad("logprobs", "logprobs must be a boolean");
        r.logprobs = body["logprobs"].get<bool>();
    }
    if (has("top_logprobs")) {
        if (!r.logprobs) bad("top_logprobs", "top_logprobs needs logprobs: true");
        r.options.logprobs =
            static_cast<int>(serve_detail::integer(body["top_logprobs"], "top_logprobs", 0, o.max_top_logprobs));
    } else if (r.logprobs) {
        r.options.logprobs = 0;
    }
    return r;
}

/// The OpenAI `logprobs` object of a choice.
inline nlohmann::json logprobs_json(const std::vector<zoom::token_logprob>& toks, bool with_top) {
    auto entry = [](const std::string& text, double lp) {
        nlohmann::json bytes = nlohmann::json::array();
        for (char c : text)
            bytes.push_back(static_cast<int>(static_cast<unsigned char>(c)));
        return nlohmann::json{{"token", text}, {"logprob", std::isfinite(lp) ? lp : -9999.0}, {"bytes", bytes}};
    };
    nlohmann::json content = nlohmann::json::array();
    for (const auto& t : toks) {
        nlohmann::json e = entry(t.text, t.logprob);
        nlohmann::json top = nlohmann::json::array();
        if (with_top)
            for (const auto& [text, lp] : t.top)
                top.push_back(entry(text, lp));
        e["top_logprobs"] = std::move(top);
        content.push_back(std::move(e));
    }
    return {{"content", std::move(content)}};
}

/// The server. Build it with a backend factory (called when every backend made so far is busy) and
/// options; `bind` then `run` (blocking) or `start` (a background thread); `stop` to shut down.
class openai_server {
public:
    using backend_factory = std::function<std::unique_ptr<zoom::backend>()>;
    /// One line per finished request (method, path, status, seconds), for a log.
    using log_sink = std::function<void(const std::string&)>;

    openai_server(backend_factory make, server_options o, log_sink log = {})
        : m_make(std::move(make)), m_opt(std::move(o)), m_log(std::move(log)) {
        routes();
    }
    ~openai_server() { stop(); }
    openai_server(const openai_server&) = delete;
    openai_server& operator=(const openai_server&) = delete;

    /// Binds the listening socket (`port` 0: any free port) and returns the port. io_error "bind_failed"
    /// when the address cannot be bound.
    int bind() {
        if (m_port > 0) return m_port;
        if (m_opt.port == 0) {
            m_port = m_http.bind_to_any_port(m_opt.host);
        } else {
            m_port = m_http.bind_to_port(m_opt.host, m_opt.port) ? m_opt.port : -1;
        }
        if (m_port <= 0)
            RSCOVLM_THROW(io_error, "bind_failed",
                          "cannot listen on " + m_opt.host + ":" + std::to_string(m_opt.port) +
                              " (address in use, or not an address of this machine)");
        return m_port;
    }
    int port() const noexcept { return m_port; }

    /// Serves until `stop` (binds first when needed); returns at once when `stop` came first.
    void run() {
        bind();
        {
            std::lock_guard<std::mutex> lock(m_mu);
            if (m_draining) return;
            m_in_run = true;
        }
        m_http.listen_after_bind();
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_in_run = false;
        }
        m_idle.notify_all();
    }
    /// `run` on a background thread; returns once the server accepts connections.
    void start() {
        bind();
        m_thread = std::thread([this] { run(); });
        for (int i = 0; i < 500 && !m_http.is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    /// Graceful shutdown: new requests get 503, those in flight finish (up to `drain_timeout_s`), then
    /// the listener closes. Safe to call more than once and from any thread but a handler's.
    void stop() {
        {
            std::unique_lock<std::mutex> lock(m_mu);
            m_draining = true;
            const auto until =
                std::chrono::steady_clock::now() +
                std::chrono::milliseconds(static_cast<long long>(std::max(0.0, m_opt.drain_timeout_s) * 1000));
            auto idle = [this] { return m_active == 0 && m_generating == 0; };
            if (!m_idle.wait_until(lock, until, idle)) {
                // Past the drain time: what still runs stops at its next token (a prefill in progress
                // ends first) and its request is answered 503; nothing may outlive the server.
                m_abort = true;
                m_idle.wait(lock, idle);
            }
        }
        // The listener may still be starting (a stop right after `run` began): stop it until `run`
        // returns, since cpp-httplib's stop does nothing before it listens.
        for (;;) {
            m_http.stop();
            std::unique_lock<std::mutex> lock(m_mu);
            if (!m_in_run) break;
            m_idle.wait_for(lock, std::chrono::milliseconds(10), [this] { return !m_in_run; });
            if (!m_in_run) break;
        }
        if (m_thread.joinable()) m_thread.join();
    }

    /// Requests served so far, and those running now.
    std::size_t served() const noexcept { return m_served.load(); }
    std::size_t active() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_active;
    }

    /// The non-streaming answer to a chat-completions body (what `POST /v1/chat/completions` returns;
    /// api_error on a bad request or a failed generation).
    nlohmann::json complete(const nlohmann::json& body) {
        const auto deadline = deadline_from_now();
        auto req = std::make_shared<const chat_request>(parse_chat_request(body, m_opt));
        check_model(*req);
        const std::vector<choice> choices = run_bounded(req, deadline);
        return completion_json(*req, choices);
    }

private:
    using clock = std::chrono::steady_clock;

    struct choice {
        std::string text;
        std::string finish_reason;
        std::vector<zoom::token_logprob> logprobs;
        long prompt_tokens = -1, completion_tokens = -1;
        std::exception_ptr error;
        bool timed_out = false;
        bool aborted = false; ///< stopped by a shutdown past its drain time
    };

    /// Events from the generating threads to the streaming writer.
    struct event {
        int index = 0;
        std::string piece;
        std::vector<zoom::token_logprob> tokens;
        bool finished = false;
    };
    struct channel {
        std::mutex mu;
        std::condition_variable cv;
        std::deque<event> q;
        std::atomic<bool> cancelled{false};
    };

    /// One request's generation, shared by its handler and the thread that generates it, so the handler
    /// can answer at the deadline (or when the client leaves) while the generation ends on its own.
    struct generation {
        std::shared_ptr<const chat_request> req;
        std::optional<clock::time_point> deadline;
        channel ch;             ///< streamed events (streaming requests), the end, and cancellation
        std::vector<choice> cs; ///< set when `finished`
        bool finished = false;  ///< under ch.mu
    };

    /// Starts `r`'s choices on a thread of their own (counted in `m_generating` until it ends), streaming
    /// events to `r->ch` when `stream`.
    void launch(const std::shared_ptr<generation>& r, bool stream) {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            const std::size_t cap = m_opt.max_generations ? m_opt.max_generations
                                                          : 2 * static_cast<std::size_t>(std::max(1, m_opt.threads));
            if (m_generating >= cap)
                throw api_error(503, "server_error", "overloaded", "",
                                "the server runs as many generations as it allows (" + std::to_string(cap) +
                                    "); try again later");
            ++m_generating;
        }
        try {
            std::thread([this, r, stream] {
                std::vector<choice> cs;
                try {
                    cs = run_choices(*r->req, r->deadline, stream ? &r->ch : nullptr, r->ch.cancelled);
                } catch (...) { // no thread or memory for the choices: each reports it
                    cs.resize(static_cast<std::size_t>(std::max(1, r->req->n)));
                    for (auto& c : cs)
                        c.error = std::current_exception();
                }
                {
                    std::lock_guard<std::mutex> lock(r->ch.mu);
                    r->cs = std::move(cs);
                    r->finished = true;
                }
                r->ch.cv.notify_all();
                // Notified under the lock: `stop` (and the destructor) cannot pass before this returns.
                std::lock_guard<std::mutex> lock(m_mu);
                --m_generating;
                m_idle.notify_all();
            }).detach();
        } catch (...) {
            std::lock_guard<std::mutex> lock(m_mu);
            --m_generating;
            throw;
        }
    }

    /// Waits on `r`'s channel (`lock` holds its mutex) until `ready`, up to `r`'s deadline; false when the
    /// deadline came first.
    template <class Ready> static bool wait_for(generation& r, std::unique_lock<std::mutex>& lock, Ready ready) {
        if (!r.deadline) {
            r.ch.cv.wait(lock, ready);
            return true;
        }
        return r.ch.cv.wait_until(lock, *r.deadline, ready);
    }

    /// Waits for `r` to finish, up to its deadline; false when the deadline came first.
    static bool await(generation& r) {
        std::unique_lock<std::mutex> lock(r.ch.mu);
        return wait_for(r, lock, [&] { return r.finished; });
    }

    /// Runs `req` to the end or its deadline: the choices, or api_error 504 when the deadline passes first
    /// (the generation then stops at its next token).
    std::vector<choice> run_bounded(std::shared_ptr<const chat_request> req,
                                    std::optional<clock::time_point> deadline) {
        auto r = std::make_shared<generation>();
        r->req = std::move(req);
        r->deadline = deadline;
        launch(r, false);
        if (!await(*r)) {
            r->ch.cancelled = true;
            throw timeout_error();
        }
        return std::move(r->cs);
    }

    static api_error shutting_down_error() {
        return api_error(503, "server_error", "shutting_down", "", "the server is shutting down");
    }

    static api_error timeout_error() {
        return api_error(504, "timeout_error", "request_timeout", "",
                         "the request did not finish within the server's time limit");
    }

    /// A backend from the pool, returned on destruction.
    class lease {
    public:
        explicit lease(openai_server& s) : m_s(s) {
            {
                std::lock_guard<std::mutex> lock(s.m_pool_mu);
                if (!s.m_pool.empty()) {
                    m_b = std::move(s.m_pool.back());
                    s.m_pool.pop_back();
                }
            }
            if (!m_b) m_b = s.m_make();
            if (!m_b) throw api_error(500, "server_error", "no_backend", "", "the backend factory returned no backend");
        }
        ~lease() {
            std::lock_guard<std::mutex> lock(m_s.m_pool_mu);
            m_s.m_pool.push_back(std::move(m_b));
        }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        zoom::backend& operator*() { return *m_b; }

    private:
        openai_server& m_s;
        std::unique_ptr<zoom::backend> m_b;
    };

    std::optional<clock::time_point> deadline_from_now() const {
        if (!(m_opt.request_timeout_s > 0) || m_opt.request_timeout_s > 1e7) return std::nullopt;
        return clock::now() + std::chrono::milliseconds(static_cast<long long>(m_opt.request_timeout_s * 1000));
    }

    void check_model(const chat_request& req) const {
        if (!req.model.empty() && req.model != m_opt.model_name)
            throw api_error(404, "invalid_request_error", "model_not_found", "model",
                            "the model '" + req.model + "' does not exist (this server serves '" + m_opt.model_name +
                                "')");
    }

    /// Generates choice `i` of `req` on a pooled backend, streaming its events to `ch` when given (the
    /// last event of a choice has `finished` set, whatever happened).
    choice run_one(const chat_request& req, int i, std::optional<clock::time_point> deadline, channel* ch,
                   const std::atomic<bool>& cancelled) {
        choice c;
        std::string streamed;
        try {
            if (m_abort) {
                c.aborted = true;
                throw shutting_down_error();
            }
            lease b(*this);
            zoom::generation_options g = req.options;
            if (g.seed && i > 0) g.seed = *g.seed + static_cast<std::uint64_t>(i); // n samples differ
            if (!g.seed && g.temperature > 0.0) g.seed = fresh_seed();             // unseeded sampling differs per call
            g.on_text = [&](const std::string& piece, const std::vector<zoom::token_logprob>& toks) {
                if (deadline && clock::now() > *deadline) {
                    c.timed_out = true;
                    return false;
                }
                if (m_abort) {
                    c.aborted = true;
                    return false;
                }
                if (cancelled) return false; // the client left, or its handler answered already
                if (ch) {
                    streamed += piece;
                    push(*ch, event{i, piece, toks, false});
                }
                return true;
            };
            c.text = req.videos.empty() ? (*b).generate(req.messages, req.images, g)
                                        : (*b).generate_with_video(req.messages, req.images, req.videos, g);
            const zoom::usage u = (*b).last_usage();
            c.prompt_tokens = u.prompt_tokens;
            c.completion_tokens = u.completion_tokens;
            c.finish_reason = u.finish_reason.empty() ? "stop" : u.finish_reason;
            if (req.options.logprobs >= 0) c.logprobs = (*b).last_logprobs();
            if (deadline && clock::now() > *deadline) c.timed_out = true;
        } catch (...) {
            c.error = std::current_exception();
        }
        if (ch) {
            // The rest of the answer from a backend that does not stream (or streamed only part of it).
            event rest{i, {}, {}, true};
            if (!c.error && !c.timed_out) {
                if (c.text.size() > streamed.size() && c.text.compare(0, streamed.size(), streamed) == 0)
                    rest.piece = c.text.substr(streamed.size());
                if (streamed.empty()) rest.tokens = c.logprobs;
            }
            try {
                push(*ch, std::move(rest));
            } catch (...) { // out of memory: the stream ends when the generation has finished
            }
        }
        return c;
    }

    /// Runs the request's choices at once (one thread each when n > 1).
    std::vector<choice> run_choices(const chat_request& req, std::optional<clock::time_point> deadline, channel* ch,
                                    const std::atomic<bool>& cancelled) {
        std::vector<choice> out(static_cast<std::size_t>(req.n));
        if (req.n == 1) {
            out[0] = run_one(req, 0, deadline, ch, cancelled);
            return out;
        }
        std::vector<std::thread> ts;
        try {
            for (int i = 0; i < req.n; ++i)
                ts.emplace_back(
                    [&, i] { out[static_cast<std::size_t>(i)] = run_one(req, i, deadline, ch, cancelled); });
        } catch (...) { // a thread could not start: those that did finish first
            for (auto& t : ts)
                t.join();
            throw;
        }
        for (auto& t : ts)
            t.join();
        return out;
    }

    static void push(channel& ch, event e) {
        {
            std::lock_guard<std::mutex> lock(ch.mu);
            ch.q.push_back(std::move(e));
        }
        ch.cv.notify_all();
    }

    static std::uint64_t fresh_seed() {
        static std::mutex mu;
        static std::mt19937_64 rng(std::random_device{}());
        std::lock_guard<std::mutex> lock(mu);
        return rng();
    }

    static std::string new_id() {
        static std::atomic<std::uint64_t> counter{0};
        std::mt19937_64 rng(static_cast<std::uint64_t>(clock::now().time_since_epoch().count()) ^
                            (++counter * 0x9E3779B97F4A7C15ull));
        static const char hex[] = "0123456789abcdef";
        std::string s = "chatcmpl-";
        for (int i = 0; i < 24; ++i)
            s.push_back(hex[rng() & 15]);
        return s;
    }
    static long long now_s() {
        return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    /// Raises the first choice's error as an api_error (timeouts 504, bad input 400, others 500).
    static void raise_failure(const std::vector<choice>& cs) {
        for (const auto& c : cs) {
            if (c.aborted) throw shutting_down_error();
            if (c.timed_out) throw timeout_error();
            if (!c.error) continue;
            try {
                std::rethrow_exception(c.error);
            } catch (const api_error&) {
                throw;
            } catch (const limit_error& e) {
                throw api_error(400, "invalid_request_error", "limit_exceeded", "", e.what());
            } catch (const ::rscovlm::error& e) {
                const bool input = e.id().find("image") != std::string::npos ||
                                   e.id().find("resolution") != std::string::npos ||
                                   e.id().find("video") != std::string::npos;
                throw api_error(input ? 400 : 500, input ? "invalid_request_error" : "server_error",
                                "generation_failed", "", e.what());
            } catch (const std::exception& e) {
                throw api_error(500, "server_error", "generation_failed", "", e.what());
            } catch (...) {
                throw api_error(500, "server_error", "generation_failed", "", "unknown error");
            }
        }
    }

    nlohmann::json completion_json(const chat_request& req, const std::vector<choice>& cs) const {
        raise_failure(cs);
        nlohmann::json choices = nlohmann::json::array();
        long completion = 0, prompt = 0;
        for (std::size_t i = 0; i < cs.size(); ++i) {
            const choice& c = cs[i];
            nlohmann::json j{{"index", i},
                             {"message", {{"role", "assistant"}, {"content", c.text}}},
                             {"logprobs", nullptr},
                             {"finish_reason", c.finish_reason}};
            if (req.logprobs) j["logprobs"] = logprobs_json(c.logprobs, req.options.logprobs > 0);
            choices.push_back(std::move(j));
            completion += std::max(0L, c.completion_tokens);
            prompt = std::max(prompt, c.prompt_tokens);
        }
        return {
            {"id", new_id()},
            {"object", "chat.completion"},
            {"created", now_s()},
            {"model", m_opt.model_name},
            {"choices", std::move(choices)},
            {"usage",
             {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}}}};
    }

    static std::string dump(const nlohmann::json& j) {
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }

    static void send_error(httplib::Response& res, const api_error& e) {
        res.status = e.status();
        res.set_content(dump(e.body()), "application/json");
    }

    /// Admission: auth and draining; counts the request active until `done` runs.
    bool admit(const httplib::Request& req, httplib::Response& res) {
        if (!m_opt.api_key.empty()) {
            const std::string h = req.get_header_value("Authorization");
            if (h != "Bearer " + m_opt.api_key) {
                send_error(res, api_error(401, "invalid_request_error", "invalid_api_key", "",
                                          "a valid API key is required (Authorization: Bearer ...)"));
                return false;
            }
        }
        std::lock_guard<std::mutex> lock(m_mu);
        if (m_draining) {
            send_error(res, shutting_down_error());
            return false;
        }
        ++m_active;
        return true;
    }
    void done() {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            --m_active;
        }
        ++m_served;
        m_idle.notify_all();
    }

    void routes() {
        m_http.new_task_queue = [n = std::max(1, m_opt.threads)] {
            return new httplib::ThreadPool(static_cast<std::size_t>(n));
        };
        m_http.set_payload_max_length(m_opt.max_request_bytes);
        auto secs = [](double s) {
            return std::chrono::microseconds(static_cast<long long>(std::max(0.001, s) * 1e6));
        };
        m_http.set_read_timeout(secs(m_opt.read_timeout_s));
        m_http.set_write_timeout(secs(m_opt.write_timeout_s));
        m_http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            const int st = res.status;
            const std::string code = st == 404   ? "not_found"
                                     : st == 413 ? "request_too_large"
                                     : st == 400 ? "bad_request"
                                                 : "http_" + std::to_string(st);
            const std::string msg = st == 404   ? "no route " + req.method + " " + req.path
                                    : st == 413 ? "the request body is larger than the server accepts"
                                                : "HTTP " + std::to_string(st);
            res.set_content(
                dump(api_error(st, st >= 500 ? "server_error" : "invalid_request_error", code, "", msg).body()),
                "application/json");
        });
        m_http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown error";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            send_error(res, api_error(500, "server_error", "internal_error", "", what));
        });
        m_http.Get("/health",
                   [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
        m_http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
            if (!admit(req, res)) return;
            res.set_content(dump({{"object", "list"},
                                  {"data", nlohmann::json::array({{{"id", m_opt.model_name},
                                                                   {"object", "model"},
                                                                   {"created", now_s()},
                                                                   {"owned_by", "rscovlm"}}})}}),
                            "application/json");
            done();
        });
        m_http.Post("/v1/chat/completions",
                    [this](const httplib::Request& req, httplib::Response& res) { chat(req, res); });
    }

    void log(const httplib::Request& req, int status, clock::time_point t0) {
        if (!m_log) return;
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        char buf[64];
        std::snprintf(buf, sizeof buf, " %d %.3f s", status, s);
        m_log(req.method + " " + req.path + buf);
    }

    void chat(const httplib::Request& hreq, httplib::Response& res) {
        const auto t0 = clock::now();
        if (!admit(hreq, res)) {
            log(hreq, res.status, t0);
            return;
        }
        struct guard {
            openai_server* s;
            bool armed = true;
            ~guard() {
                if (armed) s->done();
            }
        } g{this};
        const auto deadline = deadline_from_now();
        chat_request req;
        try {
            const nlohmann::json body = nlohmann::json::parse(hreq.body, nullptr, false);
            if (body.is_discarded())
                throw api_error(400, "invalid_request_error", "invalid_json", "", "the request body is not valid JSON");
            req = parse_chat_request(body, m_opt);
            check_model(req);
            if (!req.stream) {
                auto shared = std::make_shared<const chat_request>(std::move(req));
                const std::vector<choice> cs = run_bounded(shared, deadline);
                res.set_content(dump(completion_json(*shared, cs)), "application/json");
                log(hreq, 200, t0);
                return;
            }
        } catch (const api_error& e) {
            send_error(res, e);
            log(hreq, e.status(), t0);
            return;
        }
        // Streaming: the generation runs while the provider writes its events; the request stays
        // active until the provider is done (the guard moves into the provider's release).
        g.armed = false;
        auto shared = std::make_shared<const chat_request>(std::move(req));
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, shared, deadline, t0, hreq_path = hreq.path](std::size_t, httplib::DataSink& sink) {
                stream(shared, deadline, sink);
                if (m_log) {
                    char buf[64];
                    std::snprintf(buf, sizeof buf, " 200 %.3f s (stream)",
                                  std::chrono::duration<double>(clock::now() - t0).count());
                    m_log("POST " + hreq_path + buf);
                }
                return false; // done (sink.done called) or the client is gone
            },
            [this](bool) { done(); });
    }

    void stream(const std::shared_ptr<const chat_request>& shared, std::optional<clock::time_point> deadline,
                httplib::DataSink& sink) {
        const chat_request& req = *shared;
        const std::string id = new_id();
        const long long created = now_s();
        bool alive = true;
        auto send = [&](const nlohmann::json& j) {
            if (!alive) return;
            const std::string s = "data: " + dump(j) + "\n\n";
            alive = sink.write(s.data(), s.size());
        };
        auto chunk = [&](int index, nlohmann::json delta, const nlohmann::json& finish, const nlohmann::json& lp) {
            nlohmann::json c{
                {"index", index}, {"delta", std::move(delta)}, {"logprobs", lp}, {"finish_reason", finish}};
            return nlohmann::json{{"id", id},
                                  {"object", "chat.completion.chunk"},
                                  {"created", created},
                                  {"model", m_opt.model_name},
                                  {"choices", nlohmann::json::array({std::move(c)})}};
        };
        for (int i = 0; i < req.n; ++i)
            send(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
        // The stream's end: `[DONE]`, then the sink is closed (unless the client has left).
        auto end_stream = [&] {
            static const std::string done_line = "data: [DONE]\n\n";
            if (alive) alive = sink.write(done_line.data(), done_line.size());
            if (alive) sink.done();
        };
        auto r = std::make_shared<generation>();
        r->req = shared;
        r->deadline = deadline;
        try {
            launch(r, true);
        } catch (const api_error& e) { // the headers are sent: the refusal (overloaded) is the stream's event
            send(e.body());
            end_stream();
            return;
        }
        // Events until every choice has finished, the deadline passes or the client leaves; in the last
        // two cases the generation is told to stop and ends on its own.
        int finished = 0;
        bool late = false;
        while (finished < req.n && alive && !late) {
            event e;
            {
                std::unique_lock<std::mutex> lock(r->ch.mu);
                late = !wait_for(*r, lock, [&] { return !r->ch.q.empty() || r->finished; });
                if (!late && r->ch.q.empty()) break; // finished without its last events (an error)
                if (!late) {
                    e = std::move(r->ch.q.front());
                    r->ch.q.pop_front();
                }
            }
            if (late) break;
            if (!e.piece.empty() || !e.tokens.empty()) {
                nlohmann::json lp = req.logprobs ? logprobs_json(e.tokens, req.options.logprobs > 0) : nlohmann::json();
                send(chunk(e.index, {{"content", e.piece}}, nullptr, lp));
            }
            if (e.finished) ++finished;
        }
        if (late || !alive || !await(*r)) {
            r->ch.cancelled = true;
            if (alive) send(timeout_error().body());
            end_stream();
            return;
        }
        const std::vector<choice>& cs = r->cs;
        try {
            raise_failure(cs);
            long prompt = 0, completion = 0;
            for (std::size_t i = 0; i < cs.size(); ++i) {
                send(chunk(static_cast<int>(i), nlohmann::json::object(), cs[i].finish_reason, nullptr));
                prompt = std::max(prompt, cs[i].prompt_tokens);
                completion += std::max(0L, cs[i].completion_tokens);
            }
            if (req.include_usage)
                send({{"id", id},
                      {"object", "chat.completion.chunk"},
                      {"created", created},
                      {"model", m_opt.model_name},
                      {"choices", nlohmann::json::array()},
                      {"usage",
                       {{"prompt_tokens", prompt},
                        {"completion_tokens", completion},
                        {"total_tokens", prompt + completion}}}});
        } catch (const api_error& e) {
            send(e.body());
        }
        end_stream();
    }

    backend_factory m_make;
    server_options m_opt;
    log_sink m_log;
    httplib::Server m_http;
    std::thread m_thread;
    int m_port = -1;
    mutable std::mutex m_mu;
    std::condition_variable m_idle;
    std::size_t m_active = 0;     ///< requests being answered
    std::size_t m_generating = 0; ///< generations running (one may outlive its request's answer)
    bool m_draining = false, m_in_run = false;
    std::atomic<bool> m_abort{false}; ///< past the drain time: generations stop at their next token
    std::atomic<std::size_t> m_served{0};
    std::mutex m_pool_mu;
    std::vector<std::unique_ptr<zoom::backend>> m_pool;
};

} // namespace rscovlm::io

#endif // RSCOVLM_HAS_HTTPLIB
