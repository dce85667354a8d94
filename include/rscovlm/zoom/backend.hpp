#pragma once
/// \file
/// Generation backend interface driven by zoom::controller.
///
/// A backend receives a conversation in Hugging Face message format, where every
/// `{"type": "image"}` content item is matched, in order, to an entry of `images`.
/// Images are already resized to their final size (the backend must not resize them
/// again), and the backend returns the generated assistant text.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>

namespace rscovlm::zoom {

/// One generated token with its log-probability (natural log, of the model's distribution before
/// temperature, top-k and top-p), as OpenAI's `logprobs.content[]` gives it.
struct token_logprob {
    /// The token's bytes as they appear in the answer (a multi-byte character may be split between
    /// tokens, so a piece alone need not be valid UTF-8). Concatenated in order they give the answer.
    std::string text;
    double logprob = 0.0;
    /// The most likely tokens at this step, best first (when asked for): text and log-probability.
    std::vector<std::pair<std::string, double>> top;
};

/// A constraint on the answer's bytes, for constrained decoding: a deterministic automaton whose
/// state fits in 64 bits. A decoder that honours it admits a token only when every byte of it is a
/// valid `step` from the current state, and the end of the answer only where `can_end` holds, so the
/// answer always parses. Implementations: `box_codec::answer_grammar` (the box codecs' formats).
class answer_constraint {
public:
    using state = std::uint64_t;
    virtual ~answer_constraint() = default;
    /// The state before the first byte.
    virtual state start() const = 0;
    /// Advances `s` over `byte`; false (s unspecified) when the byte is not allowed there.
    virtual bool step(state& s, unsigned char byte) const = 0;
    /// True when the answer may end in state `s`.
    virtual bool can_end(state s) const = 0;
    /// The fewest bytes that lead from `s` to a state where the answer may end (0 where it may end
    /// now). A decoder with a token limit keeps this within the tokens it has left (every byte is a
    /// token in byte-level BPE), so even an answer cut by the limit is complete.
    virtual std::size_t min_bytes_to_end(state s) const = 0;
    /// The same language as a regular expression (Python `re` syntax), for servers with guided
    /// decoding (vLLM's `guided_regex`, SGLang's `regex`); empty when there is none.
    virtual std::string regex() const { return {}; }
    /// A JSON description from which a server can rebuild the same constraint (`rscovlm serve` takes it
    /// as the request field `rscovlm_grammar`); null when there is none.
    virtual nlohmann::json describe() const { return nullptr; }
};

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
    /// Token log-probabilities to return through `backend::last_logprobs`: -1 none, 0 each generated
    /// token's own, k > 0 also the k most likely alternatives at each step (OpenAI `top_logprobs`).
    int logprobs = -1;
    /// True (the controller's contract): the images are at their final size and are used as given.
    /// False: they are as a client sent them, and a backend that preprocesses locally resizes them
    /// within its pixel budget first, as the Hugging Face processor does (a server's requests).
    bool images_final = true;
    /// Constrained decoding: when set, a backend that can constrain keeps the answer inside this
    /// language (the torch backend masks the logits; the OpenAI backend sends `regex()` as the
    /// server's guided-decoding field when `guided_field` names one). Unset: free generation.
    std::shared_ptr<const answer_constraint> constraint;
    /// Optional stream of the answer as it is generated: each call gets the next piece of text (whole
    /// UTF-8 characters) and, when `logprobs` >= 0, the tokens that piece completes. Return false to
    /// stop generating (the answer so far is returned). Backends that cannot stream never call it.
    std::function<bool(const std::string& piece, const std::vector<token_logprob>& tokens)> on_text;
};

/// A video as its frames, in order (qwen-vl-utils' frame-list input, `{"type": "video", "video":
/// [frame, ...]}`): a backend that takes videos resizes each frame on its own within its video pixel
/// limits, and `fps` is the rate the frames were taken at, which sets the model's temporal positions.
struct video_frames {
    std::vector<rscovlm::image> frames;
    double fps = 2.0;
};

/// Token counts of the last generation, when a backend knows them (-1 = unknown).
struct usage {
    long prompt_tokens = -1;
    long completion_tokens = -1;
    /// Why generation ended, as OpenAI names it: "stop" (a stop token or string), "length" (the token
    /// limit), "cancelled" (`on_text` returned false); "" when the backend cannot tell.
    std::string finish_reason;
};

/// Abstract text generator over (messages, images).
class backend {
public:
    virtual ~backend() = default;

    /// Token counts of the most recent `generate` call; backends that cannot tell return {-1, -1}.
    virtual usage last_usage() const { return {}; }

    /// The token log-probabilities of the most recent `generate` call, when it asked for them
    /// (`generation_options::logprobs` >= 0) and the backend can tell; empty otherwise. They cover the
    /// returned answer: tokens cut with a stop string are not included.
    virtual std::vector<token_logprob> last_logprobs() const { return {}; }

    /// Generates the next assistant message for `messages` (HF format); `images` holds one
    /// already-resized image per `{"type":"image"}` item, in order of appearance.
    virtual std::string generate(const nlohmann::json& messages, const std::vector<rscovlm::image>& images,
                                 const generation_options& options) = 0;

    /// As `generate`, with `videos` matched in order to the `{"type":"video"}` items. Without videos this
    /// is `generate`; a backend that cannot take videos refuses them (zoom_error "video_unsupported").
    virtual std::string generate_with_video(const nlohmann::json& messages, const std::vector<rscovlm::image>& images,
                                            const std::vector<video_frames>& videos,
                                            const generation_options& options) {
        if (!videos.empty()) RSCOVLM_THROW(zoom_error, "video_unsupported", "this backend does not take videos");
        return generate(messages, images, options);
    }
};

} // namespace rscovlm::zoom
