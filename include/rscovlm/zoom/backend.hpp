#pragma once
/// \file
/// Generation backend interface driven by zoom::controller.
///
/// A backend receives a conversation in Hugging Face message format, where every
/// `{"type": "image"}` content item is matched, in order, to an entry of `images`.
/// Images are already resized to their final size (the backend must not resize them
/// again), and the backend returns the generated assistant text.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/image/image.hpp>

namespace rscovlm::zoom {

/// Sampling and stopping options for one generation call.
struct generation_options {
    /// Maximum number of tokens to generate.
    int max_new_tokens = 1024;
    /// Sampling temperature; 0 means greedy decoding.
    double temperature = 0.0;
    /// Nucleus sampling threshold (1.0 disables it).
    double top_p = 1.0;
    /// Top-k sampling (0 disables it).
    int top_k = 0;
    /// Random seed for sampling backends; absent means backend default.
    std::optional<std::uint64_t> seed;
    /// Generation stops after any of these strings; the stop string itself is not returned.
    std::vector<std::string> stop;
};

/// Token counts of the last generation, when a backend knows them (-1 = unknown).
struct usage {
    long prompt_tokens = -1;
    long completion_tokens = -1;
};

/// Abstract text generator over (messages, images).
class backend {
public:
    virtual ~backend() = default;

    /// Token counts of the most recent `generate` call; backends that cannot tell return {-1, -1}.
    virtual usage last_usage() const { return {}; }

    /// Generates the next assistant message for `messages` (HF format); `images` holds one
    /// already-resized image per `{"type":"image"}` item, in order of appearance.
    virtual std::string generate(const nlohmann::json& messages, const std::vector<rscovlm::image>& images,
                                 const generation_options& options) = 0;
};

} // namespace rscovlm::zoom
