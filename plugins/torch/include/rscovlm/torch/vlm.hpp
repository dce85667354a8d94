#pragma once
/// \file
/// The text + image front end of the model: `Qwen2_5_VLProcessor` (chat template, image preprocessing,
/// `<|image_pad|>` expansion, tokenization) around `qwen2_5_vl`, and the Zoom-in Chain backend built on it.

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/processor/processor.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/resolution/video.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/generate.hpp>
#include <rscovlm/torch/model.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/token_trie.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rscovlm::torch {

/// Options of `vlm::load`.
struct vlm_options {
    load_options load;
    /// tokenizer.json or a directory holding it; empty: the model directory.
    std::string tokenizer;
    /// Pixel budget of images that are not already resized; unset: the checkpoint's
    /// (`checkpoint_budget`).
    std::optional<resolution::budget> budget;
};

/// The image budget a checkpoint was trained with, from `model_dir/preprocessor_config.json`:
/// `min_pixels` / `max_pixels`, else the newer `size` dict (`shortest_edge` / `longest_edge`), else
/// (no file, or neither) the Hugging Face image processor's defaults 56*56 .. 28*28*1280. A key may
/// come from each source (top-level keys win, as the image processor's `min_pixels` / `max_pixels`
/// arguments override `size`). transformers 4.50 itself ignores a `size` dict when it has both keys
/// (its `if ... raise / else: size = defaults`); later versions honour it, as here. A malformed file or
/// a non-positive or inverted budget is model_error "bad_config".
inline resolution::budget checkpoint_budget(const std::string& model_dir) {
    resolution::budget b = resolution::budget_hf_default;
    const std::string path = model_dir + "/preprocessor_config.json";
    const auto text = ::rscovlm::detail::py::try_read_file(path);
    if (!text) return b;
    const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    auto bad = [&](const std::string& why) { RSCOVLM_THROW(model_error, "bad_config", "'" + path + "': " + why); };
    if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
    auto number = [&](const nlohmann::json& v, const char* name) {
        if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
            bad(std::string(name) + " must be an integer");
        return v.get<long long>();
    };
    if (auto s = j.find("size"); s != j.end() && s->is_object()) {
        if (s->contains("shortest_edge")) b.min_pixels = number((*s)["shortest_edge"], "size.shortest_edge");
        if (s->contains("longest_edge")) b.max_pixels = number((*s)["longest_edge"], "size.longest_edge");
    }
    if (auto v = j.find("min_pixels"); v != j.end() && !v->is_null()) b.min_pixels = number(*v, "min_pixels");
    if (auto v = j.find("max_pixels"); v != j.end() && !v->is_null()) b.max_pixels = number(*v, "max_pixels");
    if (b.min_pixels <= 0 || b.max_pixels < b.min_pixels)
        bad("the pixel budget " + std::to_string(b.min_pixels) + ".." + std::to_string(b.max_pixels) +
            " needs 0 < min_pixels <= max_pixels");
    b.name = "checkpoint";
    return b;
}

/// A prompt ready for the model plus what the image preprocessing did.
struct prepared_prompt {
    sequence_input input;
    std::string text;                     ///< the rendered prompt (pads expanded)
    std::vector<resolution::plan> images; ///< per image: the resolution plan (sizes, grid, tokens)
};

/// Output of `vlm::generate`.
struct vlm_output {
    std::string text;
    std::vector<std::int64_t> tokens;
    std::string finish_reason; ///< "stop", "length" or "cancelled" (a stream returned false)
    std::int64_t prompt_tokens = 0;
    double prefill_seconds = 0.0;
    double decode_seconds = 0.0;
    /// With `sampling_options::logprobs` >= 0: the tokens of `text` with their log-probabilities (stop
    /// ids and tokens after a stop string's start left out; special tokens have empty text).
    std::vector<zoom::token_logprob> logprobs;
};

/// A stream of answer pieces with the tokens each completes (as `zoom::generation_options::on_text`);
/// returning false stops the row.
using text_stream = std::function<bool(const std::string& piece, const std::vector<zoom::token_logprob>& tokens)>;

/// Tokenizer + chat template + model.
class vlm {
public:
    /// Loads the model of `model_dir` and its tokenizer.
    static vlm load(const std::string& model_dir, const vlm_options& o = {}) {
        vlm v;
        v.m_options = o;
        if (!v.m_options.budget) v.m_options.budget = checkpoint_budget(model_dir);
        v.m_model = std::make_shared<qwen2_5_vl>(qwen2_5_vl::load(model_dir, o.load));
        v.m_generation = generation_config::load(model_dir, v.m_model->config());
        v.m_tokenizer = std::make_shared<tokenizer::bpe_tokenizer>(
            tokenizer::bpe_tokenizer::from_file(o.tokenizer.empty() ? model_dir : o.tokenizer));
        const auto& c = v.m_model->config();
        auto pad = v.m_tokenizer->token_to_id("<|image_pad|>");
        if (!pad || *pad != c.image_token_id)
            RSCOVLM_THROW(model_error, "tokenizer_mismatch",
                          "the tokenizer's <|image_pad|> id " + (pad ? std::to_string(*pad) : std::string("(absent)")) +
                              " differs from the model's image_token_id " + std::to_string(c.image_token_id));
        if (v.m_tokenizer->vocab_size() > static_cast<std::size_t>(c.text.vocab_size))
            RSCOVLM_THROW(model_error, "tokenizer_mismatch",
                          "the tokenizer has " + std::to_string(v.m_tokenizer->vocab_size()) +
                              " ids, more than the model's " + std::to_string(c.text.vocab_size));
        return v;
    }

    const qwen2_5_vl& model() const { return *m_model; }
    const tokenizer::bpe_tokenizer& tok() const { return *m_tokenizer; }
    const generation_config& generation() const noexcept { return m_generation; }

    /// The processor of this model (generation mode, the model's vision constants, the image budget of
    /// `vlm_options` or the checkpoint). Holds a reference to the tokenizer.
    processor::qwen2_5_vl_processor processor() const {
        const auto& vc = m_model->config().vision;
        processor::options po;
        po.mode = processor::mode::generation;
        po.vision.patch_size = vc.patch_size;
        po.vision.merge_size = vc.spatial_merge_size;
        po.vision.temporal_patch_size = vc.temporal_patch_size;
        po.vision.tokens_per_second = static_cast<float>(vc.tokens_per_second);
        po.budget = m_options.budget.value_or(resolution::budget_hf_default);
        po.threads = 0;
        return processor::qwen2_5_vl_processor(*m_tokenizer, po);
    }

    /// Renders `messages` (HF format, `{"type":"image"}` items matched in order to `images`,
    /// `{"type":"video"}` items to `videos`) with the generation prompt, preprocesses the images
    /// (`resized`: keep their size, they are already final), expands the pads and tokenizes:
    /// `processor::qwen2_5_vl_processor` in generation mode (`Qwen2_5_VLProcessor.__call__` after
    /// `apply_chat_template`). Videos come already through the video pipeline (`io::load_video`).
    prepared_prompt prepare(const nlohmann::json& messages, const std::vector<image>& images, bool resized,
                            std::vector<resolution::video_result> videos = {}) const {
        processor::encoding e = processor().encode(messages, images, resized, std::move(videos));
        prepared_prompt p;
        p.input.input_ids.assign(e.input_ids.begin(), e.input_ids.end());
        p.input.pixel_values = std::move(e.pixel_values);
        for (const auto& g : e.image_grid_thw)
            p.input.grid_thw.push_back({g[0], g[1], g[2]});
        p.input.pixel_values_videos = std::move(e.pixel_values_videos);
        for (const auto& g : e.video_grid_thw)
            p.input.video_grid_thw.push_back({g[0], g[1], g[2]});
        p.input.second_per_grid_ts = e.second_per_grid_ts;
        p.text = std::move(e.text);
        p.images = std::move(e.plans);
        return p;
    }

    /// Generates the assistant answer to `messages`. `on_text` (optional) receives decoded text pieces
    /// as they are produced. Generation stops at a stop id, `max_new_tokens`, or a stop string (cut).
    vlm_output generate(const nlohmann::json& messages, const std::vector<image>& images, const sampling_options& o,
                        bool images_resized = false, const std::vector<std::string>& stop_strings = {},
                        const std::function<void(const std::string&)>& on_text = {}) const {
        return generate(prepare(messages, images, images_resized).input, o, stop_strings, on_text);
    }

    /// Generates from an already prepared prompt (see `prepare`).
    vlm_output generate(const sequence_input& input, const sampling_options& o,
                        const std::vector<std::string>& stop_strings = {},
                        const std::function<void(const std::string&)>& on_text = {}) const {
        row_request row;
        row.input = &input;
        row.max_new_tokens = o.max_new_tokens;
        row.stop_strings = &stop_strings;
        row.on_text = &on_text;
        return generate_rows({row}, o).front();
    }

    /// One request of a batch: its prepared prompt, its own token limit (at most the batch's
    /// `max_new_tokens`), stop strings and streams (`on_text`: pieces only; `on_piece`: pieces with
    /// their tokens, and may stop the row). Streamed text never includes a stop string or a prefix of
    /// one that may still complete, nor a partial UTF-8 character.
    struct row_request {
        const sequence_input* input = nullptr;
        int max_new_tokens = 0;
        const std::vector<std::string>* stop_strings = nullptr;
        const std::function<void(const std::string&)>* on_text = nullptr;
        const text_stream* on_piece = nullptr;
        /// Constrained decoding: only tokens whose bytes keep the answer inside this language, and a stop
        /// id only where it may end (`zoom::answer_constraint`).
        std::shared_ptr<const zoom::answer_constraint> constraint;
    };

    /// Each id's raw bytes (special tokens and ids without a token: empty), built once.
    const std::vector<std::string>& token_table() const {
        std::call_once(m_table->once, [this] {
            const auto n = static_cast<std::size_t>(m_model->config().text.vocab_size);
            m_table->bytes.resize(n);
            for (std::size_t i = 0; i < n && i < m_tokenizer->vocab_size(); ++i)
                m_table->bytes[i] = m_tokenizer->token_bytes(static_cast<std::int32_t>(i), true);
            m_table->trie = zoom::token_trie(m_table->bytes);
        });
        return m_table->bytes;
    }
    /// The same bytes as a trie (constrained decoding), built with the table.
    const zoom::token_trie& token_index() const {
        token_table();
        return m_table->trie;
    }

    /// The scored token `id` as the API shows it (raw bytes; special tokens empty).
    zoom::token_logprob token_entry(std::int64_t id, const token_score& sc) const {
        zoom::token_logprob t;
        t.text = m_tokenizer->token_bytes(static_cast<std::int32_t>(id), true);
        t.logprob = sc.logprob;
        for (const auto& [tid, lp] : sc.top)
            t.top.emplace_back(m_tokenizer->token_bytes(static_cast<std::int32_t>(tid), true), lp);
        return t;
    }

    /// Continuous batching: gives finished row `row` a waiting request whose prompt has at most
    /// `max_prompt` tokens and that generates at most `max_new` (see `torch::batch_hooks`).
    using refill_fn =
        std::function<bool(std::size_t row, std::int64_t max_prompt, std::int64_t max_new, row_request& next)>;
    /// Receives each row's answer as soon as it is complete (every occupant of every row).
    using done_fn = std::function<void(std::size_t row, vlm_output&& out)>;

    /// Generates every row of `first` as one left-padded batch with the sampling options `o` (rows stop
    /// on their own: at a stop id, their token limit or a stop string, which is cut). Greedy rows give
    /// what each gives alone (`torch::generate`'s batching keeps every row's positions and mask).
    /// With `refill`, a finished row takes a waiting request (continuous batching); with `done`, every
    /// answer goes there when it is complete (then the returned vector holds only what `done` did not
    /// take: nothing). The requests' pointers must stay valid until their answer is delivered.
    std::vector<vlm_output> generate_rows(const std::vector<row_request>& first, const sampling_options& o,
                                          const refill_fn& refill = {}, const done_fn& done = {}) const {
        std::vector<row_request> rows = first; // a row's current request (refills replace it)
        struct state {
            tokenizer::decode_stream text; ///< the answer so far (stop ids left out), decoded as it grows
            std::size_t scanned = 0;       ///< how much of it stop strings were searched in
            std::size_t shown = 0;         ///< how much of it was streamed
            std::size_t count = 0;
            struct scored {
                zoom::token_logprob token;
                std::size_t end = 0; ///< the text it needs shown before it is sent
            };
            std::vector<scored> pending; ///< scored tokens not yet sent with a piece
            std::size_t flushed = 0;     ///< scored tokens sent so far
            bool cancelled = false;
        };
        std::vector<state> st(rows.size());
        const std::set<std::int64_t> stops(o.stop_ids.begin(), o.stop_ids.end());
        static const std::vector<std::string> no_stops;
        static const std::vector<token_score> no_scores;
        auto stop_strings = [&](std::size_t r) -> const std::vector<std::string>& {
            return rows[r].stop_strings ? *rows[r].stop_strings : no_stops;
        };
        auto plain = [&](std::size_t r) { return rows[r].on_text && *rows[r].on_text; };
        auto piecewise = [&](std::size_t r) { return rows[r].on_piece && *rows[r].on_piece; };
        // The part of `text` that may be shown: before the first stop string, less a tail that could
        // still become one. No stop string starts before what was shown (its first bytes would have been
        // held back), so the search starts there: streaming costs time in the new text only.
        auto showable = [&](std::size_t r, const std::string& text, bool final) {
            std::size_t end = text.size();
            for (const auto& x : stop_strings(r))
                if (!x.empty()) end = std::min(end, text.find(x, std::min(st[r].shown, text.size())));
            if (!final && end == text.size())
                for (const auto& x : stop_strings(r))
                    for (std::size_t k = std::min(x.size() - 1, text.size()); k > 0; --k)
                        if (text.compare(text.size() - k, k, x, 0, k) == 0) {
                            end = std::min(end, text.size() - k);
                            break;
                        }
            return end;
        };
        // Streams what `text` adds to what was shown. `text` is the decode stream's final part (never a
        // partial character) or, at the end, the whole answer; both start with what was shown.
        auto emit = [&](std::size_t r, const std::string& text, bool final) {
            state& s = st[r];
            const std::size_t end = showable(r, text, final);
            if (end < s.shown) return true;
            std::string piece = text.substr(s.shown, end - s.shown);
            if (piece.empty() && (!final || s.pending.empty())) return true;
            s.shown = end;
            if (plain(r) && !piece.empty()) (*rows[r].on_text)(piece);
            bool go = true;
            if (piecewise(r)) {
                // The tokens whose text is now all shown (all of them at the end). A token without text
                // waits for text after it: one where a stop string may start is not the answer's (as
                // `finalize` counts them).
                std::vector<zoom::token_logprob> toks;
                std::size_t k = 0;
                auto shown_all = [&](const auto& p) {
                    return p.end < s.shown || (p.end == s.shown && !p.token.text.empty());
                };
                while (k < s.pending.size() && (final || shown_all(s.pending[k])))
                    toks.push_back(std::move(s.pending[k++].token));
                s.pending.erase(s.pending.begin(), s.pending.begin() + static_cast<std::ptrdiff_t>(k));
                s.flushed += toks.size();
                go = (*rows[r].on_piece)(piece, toks);
            } else {
                s.pending.clear();
            }
            return go;
        };
        auto cb = [&](std::size_t r, std::int64_t t, const token_score* sc) {
            state& s = st[r];
            ++s.count;
            const bool limit = static_cast<int>(s.count) >= rows[r].max_new_tokens;
            const bool streams = plain(r) || piecewise(r);
            if (!streams && stop_strings(r).empty()) return !limit;
            if (!stops.count(t)) {
                s.text.push(m_tokenizer->token_bytes(static_cast<std::int32_t>(t), true));
                // Its text ends with the final part, or within the character still held back.
                if (sc && piecewise(r))
                    s.pending.push_back(
                        {token_entry(t, *sc), s.text.text().size() + (s.text.pending().empty() ? 0 : 1)});
            }
            const std::string& text = s.text.text();
            bool stop = limit;
            for (const auto& x : stop_strings(r))
                if (!x.empty() &&
                    text.find(x, s.scanned >= x.size() - 1 ? s.scanned - (x.size() - 1) : 0) != std::string::npos)
                    stop = true;
            s.scanned = text.size();
            if (streams && !emit(r, text, false)) {
                s.cancelled = true;
                return false;
            }
            return !stop;
        };
        std::vector<sequence_input> batch;
        batch.reserve(rows.size());
        for (const auto& r : rows)
            batch.push_back(*r.input);
        sampling_options oc = o;
        struct cstate {
            zoom::answer_constraint::state s = 0;
            std::size_t consumed = 0;
            bool started = false, broken = false;
        };
        std::vector<cstate> cs(rows.size());
        if (refill ||
            std::any_of(rows.begin(), rows.end(), [](const row_request& r) { return r.constraint != nullptr; })) {
            // Only constrained rows need their logits on the host (a refill may bring one at any step).
            oc.processes_row = [&](std::size_t r) { return rows[r].constraint != nullptr; };
            oc.logits_processor = [&](std::size_t r, const std::vector<std::int64_t>& gen, float* lg, std::int64_t V) {
                const zoom::answer_constraint* c = rows[r].constraint.get();
                if (!c) return;
                const std::vector<std::string>& table = token_table(); // built once, when first constrained
                cstate& x = cs[r];
                if (!x.started) {
                    x.s = c->start();
                    x.started = true;
                }
                for (; x.consumed < gen.size() && !x.broken; ++x.consumed) {
                    const auto id = static_cast<std::size_t>(gen[x.consumed]);
                    if (stops.count(gen[x.consumed]) || id >= table.size()) continue;
                    for (char ch : table[id])
                        if (!c->step(x.s, static_cast<unsigned char>(ch))) {
                            x.broken = true; // cannot happen while the mask is applied; never mask then
                            break;
                        }
                }
                if (x.broken) return;
                const float neg = -std::numeric_limits<float>::infinity();
                const bool can_end = c->can_end(x.s);
                // Tokens left after this one: the answer must still be able to end within them (one
                // byte per token at worst), so an answer cut by the limit is complete too.
                const auto limit = static_cast<std::size_t>(std::max(1, rows[r].max_new_tokens));
                const std::size_t after = limit > gen.size() + 1 ? limit - gen.size() - 1 : 0;
                // The tokens that continue the answer (found in the trie, not by testing all V), stop ids
                // only where the answer may end; every other score becomes -inf (NaN too).
                std::vector<std::int64_t> ok;
                token_index().admissible(*c, x.s, after, ok);
                ok.erase(std::remove_if(ok.begin(), ok.end(),
                                        [&](std::int64_t id) { return id >= V || stops.count(id) != 0; }),
                         ok.end());
                if (can_end)
                    for (auto id : stops)
                        if (id >= 0 && id < V) ok.push_back(id);
                std::vector<float> kept(ok.size());
                bool any = false;
                for (std::size_t k = 0; k < ok.size(); ++k) {
                    kept[k] = lg[ok[k]];
                    if (!std::isnan(kept[k]) && kept[k] != neg) any = true;
                }
                std::fill(lg, lg + V, neg);
                for (std::size_t k = 0; k < ok.size(); ++k)
                    if (!std::isnan(kept[k])) lg[ok[k]] = kept[k];
                if (!any) // nothing the model can write continues the answer: end it
                    for (auto id : stops)
                        if (id >= 0 && id < V) lg[id] = 0.0f;
            };
        }
        std::vector<vlm_output> outs(rows.size());
        // A row's answer from its tokens, when it is complete.
        auto finalize = [&](std::size_t r, const std::vector<std::int64_t>& tokens, const std::string& reason,
                            const std::vector<token_score>& scores, std::int64_t prompt_tokens) {
            vlm_output out;
            out.tokens = tokens;
            const bool at_limit = static_cast<int>(out.tokens.size()) >= rows[r].max_new_tokens &&
                                  (out.tokens.empty() || !stops.count(out.tokens.back()));
            out.finish_reason = st[r].cancelled        ? "cancelled"
                                : reason == "callback" ? (at_limit ? "length" : "stop")
                                                       : reason;
            out.prompt_tokens = prompt_tokens;
            std::vector<std::int32_t> kept;
            for (auto t : out.tokens)
                if (!stops.count(t)) kept.push_back(static_cast<std::int32_t>(t));
            out.text = m_tokenizer->decode(kept, true);
            bool cut = false;
            for (const auto& x : stop_strings(r)) {
                auto pos = x.empty() ? std::string::npos : out.text.find(x);
                if (pos != std::string::npos) {
                    out.text.erase(pos);
                    cut = true;
                    if (!st[r].cancelled) out.finish_reason = "stop"; // cut by a stop string, even at the limit
                }
            }
            if (o.logprobs >= 0) {
                // Every token, less those that start at or after a stop string's start. Positions are in the
                // decoded text (invalid bytes replaced), not in the tokens' raw bytes.
                tokenizer::decode_stream at;
                for (std::size_t i = 0; i < out.tokens.size() && i < scores.size(); ++i) {
                    if (stops.count(out.tokens[i])) continue;
                    if (cut && at.text().size() >= out.text.size()) break;
                    out.logprobs.push_back(token_entry(out.tokens[i], scores[i]));
                    at.push(out.logprobs.back().text);
                }
            }
            if (!st[r].cancelled && (plain(r) || piecewise(r))) {
                // The rest of the answer, with the tokens not yet sent (those of the cut tail dropped).
                const std::size_t from = std::min(st[r].flushed, out.logprobs.size());
                st[r].pending.clear();
                for (std::size_t i = from; i < out.logprobs.size(); ++i)
                    st[r].pending.push_back({out.logprobs[i], 0}); // all sent with the last piece
                emit(r, out.text, true);
            }
            return out;
        };
        batch_hooks hooks;
        hooks.row_done = [&](std::size_t r, const std::vector<std::int64_t>& tokens, const std::string& reason,
                             const std::vector<token_score>& scores, std::int64_t prompt_tokens) {
            vlm_output out = finalize(r, tokens, reason, o.logprobs >= 0 ? scores : no_scores, prompt_tokens);
            if (done)
                done(r, std::move(out));
            else
                outs[r] = std::move(out);
        };
        if (refill) {
            // Room for refills: a whole `max_new_tokens` more, so a request that joins at any step of
            // the first batch's life still has room for its limit (allocated once, never grown).
            hooks.extra_capacity = std::max(0, o.max_new_tokens);
            hooks.refill = [&](std::size_t r, std::int64_t max_prompt, std::int64_t max_new, sequence_input& next) {
                row_request rq;
                if (!refill(r, max_prompt, max_new, rq) || !rq.input) return false;
                rows[r] = rq;
                st[r] = state{};
                cs[r] = cstate{};
                next = *rq.input;
                ++m_stats->refills; // counted before the request can be answered
                return true;
            };
        }
        generation_output g = torch::generate(*m_model, batch, oc, scored_callback(cb), &hooks);
        for (auto& out : outs) {
            out.prefill_seconds = g.prefill_seconds;
            out.decode_seconds = g.decode_seconds;
        }
        return outs;
    }

    /// Sampling options from the generation config with `max_new_tokens`.
    sampling_options default_sampling(int max_new_tokens) const {
        sampling_options s = sampling_options::from(m_generation);
        s.max_new_tokens = max_new_tokens;
        return s;
    }

private:
    vlm_options m_options;
    std::shared_ptr<qwen2_5_vl> m_model;
    std::shared_ptr<tokenizer::bpe_tokenizer> m_tokenizer;
    generation_config m_generation;
    struct table_cache {
        std::once_flag once;
        std::vector<std::string> bytes;
        zoom::token_trie trie;
    };
    std::shared_ptr<table_cache> m_table = std::make_shared<table_cache>();
    struct stats {
        std::atomic<std::size_t> refills{0};
    };
    std::shared_ptr<stats> m_stats = std::make_shared<stats>();

public:
    /// Rows handed a waiting request mid-generation so far (continuous batching).
    std::size_t refills() const noexcept { return m_stats->refills.load(); }
};

/// One model shared by threads that batches their requests: prompts that arrive while a batch runs
/// wait, then run together as one left-padded batch of up to `max_batch` rows (each row finishing on
/// its own). Greedy requests with the same stop ids and repetition penalty share batches and give what
/// each gives alone; sampling requests run alone, so their seed gives the single-prompt result.
class batch_engine {
public:
    explicit batch_engine(vlm model, std::size_t max_batch = 8)
        : m_vlm(std::move(model)), m_max_batch(std::max<std::size_t>(1, max_batch)), m_worker([this] { loop(); }) {}
    ~batch_engine() {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_stopping = true;
        }
        m_cv.notify_all();
        m_worker.join();
    }
    batch_engine(const batch_engine&) = delete;
    batch_engine& operator=(const batch_engine&) = delete;

    const vlm& model() const noexcept { return m_vlm; }
    /// Holds (true) or resumes (false) the dispatch of queued requests: while held, requests queue up
    /// and run as one batch on release (benchmarks, tests).
    void hold(bool on) {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_held = on;
        }
        m_cv.notify_all();
    }
    /// Turns continuous batching on (the default) or off: when on, a row that finishes takes a waiting
    /// request that fits (its prompt no longer than the cache slot, its token limit within what is
    /// left), which is prefilled alone and decoded with the running batch.
    void continuous(bool on) {
        std::lock_guard<std::mutex> lock(m_mu);
        m_continuous = on;
    }
    /// Requests that joined a running batch so far.
    std::size_t refills() const noexcept { return m_vlm.refills(); }
    /// Requests waiting for a batch.
    std::size_t queued() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_queue.size();
    }
    /// The largest batch run so far.
    std::size_t largest_batch() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_largest;
    }

    /// Generates the answer to a prepared prompt (blocks until its batch has run; errors of the batch
    /// are raised in every caller of it). `on_piece` (optional) streams the answer from the engine's
    /// thread; returning false stops this request only.
    vlm_output run(const sequence_input& input, const sampling_options& o, const std::vector<std::string>& stops,
                   text_stream on_piece = {}, std::shared_ptr<const zoom::answer_constraint> constraint = {}) {
        if (o.max_new_tokens <= 0) { // nothing to generate
            vlm_output none;
            none.finish_reason = "length";
            none.prompt_tokens = static_cast<std::int64_t>(input.input_ids.size());
            return none;
        }
        auto r = std::make_shared<request>();
        r->input = input;
        r->options = o;
        r->stops = stops;
        if (on_piece) // streamed tokens carry this request's own top_logprobs, not its batch's largest
            r->on_piece = [want = o.logprobs, f = std::move(on_piece)](const std::string& piece,
                                                                       const std::vector<zoom::token_logprob>& toks) {
                if (want < 0) return f(piece, {});
                std::vector<zoom::token_logprob> own = toks;
                for (auto& t : own)
                    if (static_cast<int>(t.top.size()) > want) t.top.resize(static_cast<std::size_t>(want));
                return f(piece, own);
            };
        r->constraint = std::move(constraint);
        std::future<vlm_output> f = r->done.get_future();
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_queue.push_back(r);
        }
        m_cv.notify_all();
        return f.get();
    }

private:
    struct request {
        sequence_input input;
        sampling_options options;
        std::vector<std::string> stops;
        text_stream on_piece;
        std::shared_ptr<const zoom::answer_constraint> constraint;
        std::promise<vlm_output> done;
        bool answered = false;
    };

    static bool batchable(const sampling_options& a, const sampling_options& b) {
        return !a.do_sample && !b.do_sample && a.stop_ids == b.stop_ids && a.pad_token_id == b.pad_token_id &&
               a.repetition_penalty == b.repetition_penalty;
    }

    void loop() {
        for (;;) {
            std::vector<std::shared_ptr<request>> batch;
            {
                std::unique_lock<std::mutex> lock(m_mu);
                m_cv.wait(lock, [this] { return m_stopping || (!m_held && !m_queue.empty()); });
                if (m_queue.empty()) return; // stopping, nothing left
                batch.push_back(m_queue.front());
                m_queue.pop_front();
                for (auto it = m_queue.begin(); it != m_queue.end() && batch.size() < m_max_batch;) {
                    if (batchable(batch.front()->options, (*it)->options)) {
                        batch.push_back(*it);
                        it = m_queue.erase(it);
                    } else {
                        ++it;
                    }
                }
                m_largest = std::max(m_largest, batch.size());
            }
            // Every request of the batch, and each one a finished row takes from the queue, is answered
            // as soon as its row finishes; an error answers those not yet answered.
            std::vector<std::shared_ptr<request>> occupant = batch;
            std::vector<std::shared_ptr<request>> all = batch;
            try {
                sampling_options o = batch.front()->options;
                std::vector<vlm::row_request> rows;
                for (const auto& r : batch) {
                    o.max_new_tokens = std::max(o.max_new_tokens, r->options.max_new_tokens);
                    o.logprobs = std::max(o.logprobs, r->options.logprobs);
                    rows.push_back(row_of(*r));
                }
                const sampling_options front = batch.front()->options;
                {
                    // Requests waiting now may take a row later: the batch's token cap (and its cache)
                    // covers theirs too.
                    std::lock_guard<std::mutex> lock(m_mu);
                    if (m_continuous)
                        for (const auto& q : m_queue)
                            if (batchable(front, q->options))
                                o.max_new_tokens = std::max(o.max_new_tokens, q->options.max_new_tokens);
                }
                auto refill = [&](std::size_t row, std::int64_t max_prompt, std::int64_t max_new,
                                  vlm::row_request& next) {
                    std::lock_guard<std::mutex> lock(m_mu);
                    if (m_held || !m_continuous) return false;
                    // First come, first served: only the request at the head of the queue may take the
                    // row; one that does not fit (yet) holds the others back, so none waits forever.
                    if (m_queue.empty()) return false;
                    const request& q = *m_queue.front();
                    if (!batchable(front, q.options) || q.options.logprobs > o.logprobs ||
                        static_cast<std::int64_t>(q.input.input_ids.size()) > max_prompt ||
                        q.options.max_new_tokens > std::min<std::int64_t>(max_new, o.max_new_tokens))
                        return false;
                    occupant[row] = m_queue.front();
                    all.push_back(m_queue.front());
                    m_queue.pop_front();
                    next = row_of(*occupant[row]);
                    return true;
                };
                auto deliver = [&](std::size_t row, vlm_output&& out) {
                    request& r = *occupant[row];
                    const int want = r.options.logprobs;
                    if (want < 0) out.logprobs.clear(); // computed for a neighbour of its batch
                    for (auto& t : out.logprobs)
                        if (static_cast<int>(t.top.size()) > want)
                            t.top.resize(static_cast<std::size_t>(std::max(0, want)));
                    r.answered = true;
                    r.done.set_value(std::move(out));
                };
                m_vlm.generate_rows(rows, o, refill, deliver);
            } catch (...) {
                for (const auto& r : all)
                    if (!r->answered) {
                        r->answered = true;
                        r->done.set_exception(std::current_exception());
                    }
            }
        }
    }

    static vlm::row_request row_of(request& r) {
        vlm::row_request row;
        row.input = &r.input;
        row.max_new_tokens = r.options.max_new_tokens;
        row.stop_strings = &r.stops;
        row.on_piece = r.on_piece ? &r.on_piece : nullptr;
        row.constraint = r.constraint;
        return row;
    }

    vlm m_vlm;
    std::size_t m_max_batch;
    mutable std::mutex m_mu;
    std::condition_variable m_cv;
    std::deque<std::shared_ptr<request>> m_queue;
    bool m_stopping = false, m_held = false, m_continuous = true;
    std::size_t m_largest = 0;
    std::thread m_worker; // last: started after the members it uses
};

/// The Zoom-in Chain backend running the LibTorch model (registry key "backend.torch.qwen2_5_vl").
/// Backends built from the same parameters share one model and its `batch_engine`, so the workers of a
/// benchmark run with `--in-flight N` load the model once and their requests run as batches.
class qwen2_5_vl_backend : public zoom::backend {
public:
    static constexpr std::string_view key = "backend.torch.qwen2_5_vl";
    static constexpr std::string_view summary =
        "Qwen2.5-VL / RSCoVLM checkpoint run with LibTorch (CPU or CUDA); concurrent requests batched";
    static constexpr std::string_view backend = "torch";

    explicit qwen2_5_vl_backend(vlm model, std::size_t max_batch = 8)
        : m_engine(std::make_shared<batch_engine>(std::move(model), max_batch)) {}
    explicit qwen2_5_vl_backend(std::shared_ptr<batch_engine> engine) : m_engine(std::move(engine)) {}

    /// Parameters: "model" (directory, required), "device" ("cpu"), "dtype" ("auto"), "tokenizer" (""),
    /// "max_batch" (8: rows of one batch). The model of the same parameters is loaded once per process
    /// while a backend holds it.
    static qwen2_5_vl_backend from_params(registry::params& p) {
        vlm_options o;
        const std::string dir = p.require<std::string>("model");
        o.load.device = p.get<std::string>("device", "cpu");
        o.load.dtype = p.get<std::string>("dtype", "auto");
        o.tokenizer = p.get<std::string>("tokenizer", "");
        const int max_batch = p.get<int>("max_batch", 8);
        p.check(max_batch >= 1, "max_batch", "must be >= 1");
        static std::mutex mu;
        static std::map<std::string, std::weak_ptr<batch_engine>> engines;
        const std::string id =
            dir + "\n" + o.load.device + "\n" + o.load.dtype + "\n" + o.tokenizer + "\n" + std::to_string(max_batch);
        std::lock_guard<std::mutex> lock(mu);
        if (auto e = engines[id].lock()) return qwen2_5_vl_backend(e);
        auto e = std::make_shared<batch_engine>(vlm::load(dir, o), static_cast<std::size_t>(max_batch));
        engines[id] = e;
        return qwen2_5_vl_backend(e);
    }

    zoom::usage last_usage() const override { return m_usage; }
    std::vector<zoom::token_logprob> last_logprobs() const override { return m_logprobs; }

    /// Greedy when `temperature` is 0, otherwise sampling with temperature / top-p / top-k; stop ids from
    /// the generation config; stop strings cut the answer. Images are used at their given size unless `images_final` is
    /// false (then the budget applies). `on_text` streams the answer and `logprobs` fills `last_logprobs`. The prompt
    /// is prepared on the calling thread; generation joins the engine's next batch.
    std::string generate(const nlohmann::json& messages, const std::vector<image>& images,
                         const zoom::generation_options& options) override {
        return run(messages, images, {}, options);
    }

    /// As `generate`, with videos: each video's frames take qwen-vl-utils' frame-list path (each frame
    /// resized on its own within the video pixel limits, `fps` the sample rate of the temporal positions),
    /// then the processor's video path, as `generate --video DIR --video-frames-as-list` does.
    std::string generate_with_video(const nlohmann::json& messages, const std::vector<image>& images,
                                    const std::vector<zoom::video_frames>& videos,
                                    const zoom::generation_options& options) override {
        std::vector<resolution::video_result> prepared;
        prepared.reserve(videos.size());
        for (const auto& v : videos) {
            resolution::video_options o;
            o.frames.fps = v.fps;
            prepared.push_back(resolution::preprocess_frame_list(v.frames, o));
        }
        return run(messages, images, std::move(prepared), options);
    }

    const vlm& model() const noexcept { return m_engine->model(); }
    /// The engine this backend shares.
    const std::shared_ptr<batch_engine>& engine() const noexcept { return m_engine; }

private:
    std::string run(const nlohmann::json& messages, const std::vector<image>& images,
                    std::vector<resolution::video_result> videos, const zoom::generation_options& options) {
        const vlm& v = m_engine->model();
        sampling_options s = v.default_sampling(options.max_new_tokens);
        s.do_sample = options.temperature > 0.0;
        s.temperature = options.temperature > 0.0 ? options.temperature : 1.0;
        s.top_p = options.top_p;
        s.top_k = options.top_k;
        s.seed = options.seed.value_or(0);
        s.logprobs = options.logprobs;
        m_usage = {};
        m_logprobs.clear();
        vlm_output out =
            m_engine->run(v.prepare(messages, images, options.images_final, std::move(videos)).input, s, options.stop,
                          options.on_text ? text_stream(options.on_text) : text_stream(), options.constraint);
        m_usage.prompt_tokens = static_cast<long>(out.prompt_tokens);
        m_usage.completion_tokens = static_cast<long>(out.tokens.size());
        m_usage.finish_reason = out.finish_reason;
        m_logprobs = std::move(out.logprobs);
        return out.text;
    }

    std::shared_ptr<batch_engine> m_engine;
    zoom::usage m_usage;
    std::vector<zoom::token_logprob> m_logprobs;
};

} // namespace rscovlm::torch
