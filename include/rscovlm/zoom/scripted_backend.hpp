#pragma once
/// \file
/// Deterministic backends for tests, demos and dry runs: replies from a script or a callback, and
/// every request recorded (messages, image sizes, options).

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/errors.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/backend.hpp>

namespace rscovlm::zoom {

/// What a recording backend saw in one generate call.
struct recorded_request {
    nlohmann::json messages;
    std::vector<std::pair<int, int>> image_sizes; ///< (width, height) of each image, in order
    generation_options options;
};

/// Replies with a fixed list of outputs, in order; records every request (registry key
/// "backend.scripted").
class scripted_backend : public registry::component<scripted_backend, backend> {
public:
    static constexpr std::string_view key = "backend.scripted";
    static constexpr std::string_view summary =
        "scripted replies, in order, every request recorded (tests, demos, dry runs)";

    /// `replies` are returned one per call. When they run out the call raises
    /// `rscovlm.zoom.script_exhausted`, unless `repeat_last` is set.
    explicit scripted_backend(std::vector<std::string> replies, bool repeat_last = false)
        : m_replies(std::move(replies)), m_repeat_last(repeat_last) {}

    /// Parameters: "replies" (array of strings, required, not empty), "repeat_last" (bool, false).
    static scripted_backend from_params(registry::params& p) {
        std::vector<std::string> replies = p.require<std::vector<std::string>>("replies");
        p.check(!replies.empty(), "replies", "must hold at least one reply");
        const bool repeat_last = p.get<bool>("repeat_last", false);
        return scripted_backend(std::move(replies), repeat_last);
    }

    std::string generate(const nlohmann::json& messages, const std::vector<image>& images,
                         const generation_options& options) override {
        record(messages, images, options);
        std::size_t i = m_requests.size() - 1;
        if (i >= m_replies.size()) {
            if (m_repeat_last && !m_replies.empty()) return m_replies.back();
            RSCOVLM_THROW(zoom_error, "script_exhausted",
                          "scripted backend: call " + std::to_string(i + 1) + " but only " +
                              std::to_string(m_replies.size()) + " replies were scripted");
        }
        return m_replies[i];
    }

    /// Requests received so far.
    const std::vector<recorded_request>& requests() const noexcept { return m_requests; }

private:
    void record(const nlohmann::json& messages, const std::vector<image>& images, const generation_options& o) {
        recorded_request r;
        r.messages = messages;
        for (const auto& im : images)
            r.image_sizes.emplace_back(im.width, im.height);
        r.options = o;
        m_requests.push_back(std::move(r));
    }
    std::vector<std::string> m_replies;
    bool m_repeat_last;
    std::vector<recorded_request> m_requests;
};

/// Replies through a callback (e.g. an oracle that knows the scene); records every request.
class callback_backend : public backend {
public:
    using function =
        std::function<std::string(const nlohmann::json&, const std::vector<image>&, const generation_options&)>;
    explicit callback_backend(function f) : m_f(std::move(f)) {}
    std::string generate(const nlohmann::json& messages, const std::vector<image>& images,
                         const generation_options& options) override {
        recorded_request r;
        r.messages = messages;
        for (const auto& im : images)
            r.image_sizes.emplace_back(im.width, im.height);
        r.options = options;
        m_requests.push_back(std::move(r));
        return m_f(messages, images, options);
    }
    const std::vector<recorded_request>& requests() const noexcept { return m_requests; }

private:
    function m_f;
    std::vector<recorded_request> m_requests;
};

} // namespace rscovlm::zoom
