#pragma once
/// \file
/// Autoregressive generation: greedy and sampling, stop ids, `max_new_tokens`, left-padded batches and a
/// streaming callback. The logits processors mirror transformers' `RepetitionPenaltyLogitsProcessor`,
/// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper`, applied in that order.

#include <rscovlm/errors.hpp>
#include <rscovlm/resolution/rope_index.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/model.hpp>

#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::torch {

/// One prompt of a batch: token ids (image and video pads already expanded), its images and videos.
struct sequence_input {
    std::vector<std::int64_t> input_ids;
    /// Row-major `[patches, patch_dim]` float32 of all images of this sequence, in order.
    std::vector<float> pixel_values;
    std::vector<std::array<std::int64_t, 3>> grid_thw;
    /// Row-major `[patches, patch_dim]` float32 of all videos of this sequence, in order
    /// (`pixel_values_videos`), their `video_grid_thw` and `second_per_grid_ts` (seconds per temporal
    /// grid step, `temporal_patch_size / fps`; a missing entry counts as 1.0, as in the reference).
    std::vector<float> pixel_values_videos;
    std::vector<std::array<std::int64_t, 3>> video_grid_thw;
    std::vector<float> second_per_grid_ts;
};

/// Decoding options.
struct sampling_options {
    int max_new_tokens = 128;
    bool do_sample = false;
    double temperature = 1.0;
    int top_k = 0;      ///< 0 disables
    double top_p = 1.0; ///< 1 disables
    double repetition_penalty = 1.0;
    std::uint64_t seed = 0;
    /// Generation of a row stops after one of these ids (the id is kept in the output).
    std::vector<std::int64_t> stop_ids;
    /// Left-padding id (any id; padded slots are masked out).
    std::int64_t pad_token_id = 0;
    /// Log-probabilities to record (`generation_output::scores`): -1 none, 0 each chosen token's, k > 0
    /// also the k most likely ids at each step. They are of the model's distribution (log-softmax of the
    /// float32 logits) before the repetition penalty, temperature, top-k and top-p.
    int logprobs = -1;
    /// Optional logits processor (constrained decoding): called with each row's float32 logits before
    /// the repetition penalty and sampling, after the log-probabilities are read: (row, the ids that
    /// row generated so far, logits, vocabulary size). Set a logit to -inf to rule its id out.
    std::function<void(std::size_t row, const std::vector<std::int64_t>& generated, float* logits, std::int64_t V)>
        logits_processor;
    /// With `logits_processor`: whether it acts on row `row` now (unset: on every row). A step whose
    /// unfinished rows it all leaves alone picks on the device like one without a processor.
    std::function<bool(std::size_t row)> processes_row;
    /// Pick tokens on the model's device (`detail::pick_tokens`): the repetition penalty, temperature,
    /// top-k, top-p and the draw run as tensor operations over the whole batch, and only the B chosen ids
    /// come back to the host, not B x V logits. It takes every step without log-probabilities or a logits
    /// processor acting on an unfinished row; the others pick on the host (`detail::pick_token`). Both
    /// apply the same arithmetic and draw from the same seeded stream (one uniform number per sampled
    /// row, in row order), so they pick the same ids except where the double-precision probabilities,
    /// summed in another order, put a draw on the other side of a boundary. false: always the host.
    bool device_sampling = true;

    /// Whether tokens are drawn (`do_sample` with a positive temperature); otherwise greedy.
    bool sampling() const noexcept { return do_sample && temperature > 0.0; }

    /// Options from a `generation_config.json` (stop ids, sampling parameters).
    static sampling_options from(const generation_config& g) {
        sampling_options o;
        o.do_sample = g.do_sample;
        o.temperature = g.temperature;
        o.top_k = g.top_k;
        o.top_p = g.top_p;
        o.repetition_penalty = g.repetition_penalty;
        o.stop_ids = g.eos_token_ids;
        if (g.pad_token_id >= 0) o.pad_token_id = g.pad_token_id;
        if (g.max_new_tokens > 0) o.max_new_tokens = g.max_new_tokens;
        return o;
    }
};

/// Called for every generated token: (row, token id). Return false to stop that row.
using stream_callback = std::function<bool(std::size_t row, std::int64_t token)>;

/// The log-probability of a generated token and, when asked for, the most likely ids at its step.
struct token_score {
    double logprob = 0.0;
    std::vector<std::pair<std::int64_t, double>> top; ///< best first; ties by lower id
};

/// A stream callback that also sees the token's score (present when `sampling_options::logprobs` >= 0).
using scored_callback = std::function<bool(std::size_t row, std::int64_t token, const token_score* score)>;

/// Output of `generate`.
struct generation_output {
    std::vector<std::vector<std::int64_t>> tokens; ///< generated ids per row (stop id included)
    std::vector<std::string> finish_reasons;       ///< "stop", "length" or "callback"
    std::vector<std::vector<token_score>> scores;  ///< per row, one per generated id (when logprobs >= 0)
    std::vector<std::int64_t> prompt_tokens;
    double prefill_seconds = 0.0;
    double decode_seconds = 0.0;
    std::int64_t decode_steps = 0;
};

/// Left-padded batch tensors.
struct padded_batch {
    at::Tensor input_ids;    ///< [B, L] int64
    at::Tensor mask;         ///< [B, L] int64
    at::Tensor position_ids; ///< [3, B, L] int64
    at::Tensor rope_deltas;  ///< [B] int64
    at::Tensor pixel_values; ///< [patches, patch_dim] float32 or undefined
    std::vector<std::array<std::int64_t, 3>> grid_thw;
    at::Tensor pixel_values_videos; ///< [patches, patch_dim] float32 or undefined
    std::vector<std::array<std::int64_t, 3>> video_grid_thw;
};

/// Pads `batch` on the left with `pad_id` and computes M-RoPE positions (`resolution::get_rope_index`,
/// Qwen2.5-VL's temporal rule for videos). model_error "image_token_mismatch" / "video_token_mismatch"
/// when a prompt's image / video tokens do not match its grids, "bad_pixel_values" when the pixel rows do
/// not match the grids.
inline padded_batch make_batch(const model_config& cfg, const std::vector<sequence_input>& batch, std::int64_t pad_id) {
    if (batch.empty()) RSCOVLM_THROW(model_error, "bad_batch", "empty batch");
    std::size_t L = 0;
    for (const auto& s : batch) {
        if (s.input_ids.empty()) RSCOVLM_THROW(model_error, "bad_batch", "empty prompt");
        L = std::max(L, s.input_ids.size());
    }
    std::vector<std::vector<std::int64_t>> ids(batch.size(), std::vector<std::int64_t>(L, pad_id));
    std::vector<std::vector<std::int64_t>> mask(batch.size(), std::vector<std::int64_t>(L, 0));
    padded_batch p;
    std::vector<float> pixels, video_pixels;
    for (std::size_t b = 0; b < batch.size(); ++b) {
        const auto& s = batch[b];
        const std::size_t off = L - s.input_ids.size();
        std::copy(s.input_ids.begin(), s.input_ids.end(), ids[b].begin() + static_cast<std::ptrdiff_t>(off));
        std::fill(mask[b].begin() + static_cast<std::ptrdiff_t>(off), mask[b].end(), 1);
        pixels.insert(pixels.end(), s.pixel_values.begin(), s.pixel_values.end());
        p.grid_thw.insert(p.grid_thw.end(), s.grid_thw.begin(), s.grid_thw.end());
        video_pixels.insert(video_pixels.end(), s.pixel_values_videos.begin(), s.pixel_values_videos.end());
        p.video_grid_thw.insert(p.video_grid_thw.end(), s.video_grid_thw.begin(), s.video_grid_thw.end());
    }
    // M-RoPE positions of each row from the resolution component (transformers' get_rope_index with the
    // row's attention mask: padded slots get 1, rope_delta = max + 1 - padded length).
    const auto lopt = at::TensorOptions().dtype(at::kLong);
    const auto B = static_cast<std::int64_t>(batch.size()), Ls = static_cast<std::int64_t>(L);
    std::vector<std::int64_t> flat_ids, flat_mask, pos(static_cast<std::size_t>(3 * B * Ls)), deltas;
    resolution::rope_options ro;
    ro.vision_start_token_id = cfg.vision_start_token_id;
    ro.image_token_id = cfg.image_token_id;
    ro.video_token_id = cfg.video_token_id;
    ro.spatial_merge_size = cfg.vision.spatial_merge_size;
    ro.tokens_per_second = static_cast<float>(cfg.vision.tokens_per_second);
    const std::int64_t unit = static_cast<std::int64_t>(cfg.vision.spatial_merge_size) * cfg.vision.spatial_merge_size;
    auto count_check = [&](std::size_t b, const std::vector<std::array<std::int64_t, 3>>& thw, std::int64_t token,
                           const char* what, std::vector<std::array<int, 3>>& grids) {
        std::int64_t want = 0, have = 0;
        for (const auto& g : thw) {
            want += g[0] * g[1] * g[2] / unit;
            grids.push_back({static_cast<int>(g[0]), static_cast<int>(g[1]), static_cast<int>(g[2])});
        }
        for (auto id : batch[b].input_ids)
            have += id == token ? 1 : 0;
        if (want != have)
            RSCOVLM_THROW(model_error, std::string(what) + "_token_mismatch",
                          "sequence " + std::to_string(b) + " has " + std::to_string(have) + " " + what +
                              " tokens but its grids need " + std::to_string(want));
    };
    for (std::size_t b = 0; b < batch.size(); ++b) {
        std::vector<std::array<int, 3>> grids, video_grids;
        count_check(b, batch[b].grid_thw, cfg.image_token_id, "image", grids);
        count_check(b, batch[b].video_grid_thw, cfg.video_token_id, "video", video_grids);
        ro.second_per_grid_ts = batch[b].second_per_grid_ts;
        auto ri = resolution::get_rope_index(ids[b], grids, video_grids, ro, mask[b]);
        for (int a = 0; a < 3; ++a)
            std::copy(ri.position_ids[static_cast<std::size_t>(a)].begin(),
                      ri.position_ids[static_cast<std::size_t>(a)].end(),
                      pos.begin() + static_cast<std::ptrdiff_t>((a * B + static_cast<std::int64_t>(b)) * Ls));
        deltas.push_back(ri.rope_delta);
        flat_ids.insert(flat_ids.end(), ids[b].begin(), ids[b].end());
        flat_mask.insert(flat_mask.end(), mask[b].begin(), mask[b].end());
    }
    p.input_ids = at::tensor(flat_ids, lopt).view({B, Ls});
    p.mask = at::tensor(flat_mask, lopt).view({B, Ls});
    p.position_ids = at::tensor(pos, lopt).view({3, B, Ls});
    p.rope_deltas = at::tensor(deltas, lopt);
    const std::int64_t cols = cfg.vision.patch_dim();
    auto pixel_tensor = [&](const std::vector<float>& px, const std::vector<std::array<std::int64_t, 3>>& thw,
                            const char* what) {
        std::int64_t rows = 0;
        for (const auto& g : thw)
            rows += g[0] * g[1] * g[2];
        if (px.size() != static_cast<std::size_t>(rows * cols))
            RSCOVLM_THROW(model_error, "bad_pixel_values",
                          std::string(what) + " holds " + std::to_string(px.size()) + " values, its grids need " +
                              std::to_string(rows) + " rows of " + std::to_string(cols));
        return at::tensor(px, at::TensorOptions().dtype(at::kFloat)).view({rows, cols});
    };
    if (!p.grid_thw.empty()) p.pixel_values = pixel_tensor(pixels, p.grid_thw, "pixel_values");
    if (!p.video_grid_thw.empty())
        p.pixel_values_videos = pixel_tensor(video_pixels, p.video_grid_thw, "pixel_values_videos");
    return p;
}

/// The prompt embeddings of `pb`: its images and videos through the vision tower (one call each, as
/// `Qwen2_5_VLForConditionalGeneration.forward`), scattered into their pad tokens.
inline at::Tensor embed_batch(const qwen2_5_vl& model, const padded_batch& pb) {
    at::Tensor images, videos;
    if (pb.pixel_values.defined()) images = model.encode_images(pb.pixel_values, pb.grid_thw);
    if (pb.pixel_values_videos.defined()) videos = model.encode_images(pb.pixel_values_videos, pb.video_grid_thw);
    return model.embed(pb.input_ids, images, videos);
}

namespace detail {

/// Applies repetition penalty, temperature, top-k and top-p to one row of float32 logits and picks a
/// token (argmax when not sampling). `seen` holds the ids already in the sequence.
inline std::int64_t pick_token(std::vector<float>& logits, const std::set<std::int64_t>& seen,
                               const sampling_options& o, std::mt19937_64& rng) {
    const std::size_t V = logits.size();
    // RepetitionPenaltyLogitsProcessor: score < 0 ? score * p : score / p, for every id already present.
    if (o.repetition_penalty != 1.0)
        for (auto id : seen)
            if (id >= 0 && static_cast<std::size_t>(id) < V) {
                float& s = logits[static_cast<std::size_t>(id)];
                s = s < 0 ? static_cast<float>(s * o.repetition_penalty) : static_cast<float>(s / o.repetition_penalty);
            }
    if (!o.sampling()) { // greedy: first maximum, as torch.argmax (NaN is the maximum)
        for (std::size_t i = 0; i < V; ++i)
            if (std::isnan(logits[i])) return static_cast<std::int64_t>(i);
        return static_cast<std::int64_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    for (auto& s : logits)
        s = static_cast<float>(s / o.temperature);
    const float neg_inf = -std::numeric_limits<float>::infinity();
    // The softmax of scores holding NaN or +inf, or only -inf, has NaN probabilities, which
    // torch.multinomial refuses ("probability tensor contains either inf, nan or element < 0").
    bool any_above_neg_inf = false;
    for (std::size_t i = 0; i < V; ++i) {
        if (std::isnan(logits[i]) || logits[i] == -neg_inf)
            RSCOVLM_THROW(model_error, "invalid_probabilities",
                          std::string("sampling: the scores contain ") + (std::isnan(logits[i]) ? "NaN" : "+inf") +
                              " (id " + std::to_string(i) + "), so the probabilities are not a distribution");
        if (logits[i] != neg_inf) any_above_neg_inf = true;
    }
    if (!any_above_neg_inf)
        RSCOVLM_THROW(model_error, "invalid_probabilities",
                      "sampling: every score is -inf, so the probabilities are not a distribution");
    if (o.top_k > 0 && static_cast<std::size_t>(o.top_k) < V) {
        // TopKLogitsWarper: remove scores below the k-th largest.
        std::vector<float> sorted(logits);
        std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(), std::greater<float>());
        const float kth = sorted[static_cast<std::size_t>(o.top_k - 1)];
        for (auto& s : logits)
            if (s < kth) s = neg_inf;
    }
    // Softmax.
    const float mx = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(V);
    double sum = 0;
    for (std::size_t i = 0; i < V; ++i)
        sum += (p[i] = logits[i] == neg_inf ? 0.0 : std::exp(static_cast<double>(logits[i] - mx)));
    for (auto& x : p)
        x /= sum;
    if (o.top_p < 1.0) {
        // TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability is <= 1 - top_p,
        // always keeping the most probable one.
        std::vector<std::size_t> order(V);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
        double cum = 0;
        for (std::size_t r = 0; r + 1 < V; ++r) {
            cum += p[order[r]];
            if (cum <= 1.0 - o.top_p) p[order[r]] = 0.0;
        }
        double s2 = 0;
        for (auto x : p)
            s2 += x;
        for (auto& x : p)
            x /= s2;
    }
    std::uniform_real_distribution<double> U(0.0, 1.0);
    double u = U(rng), acc = 0;
    std::int64_t last = 0;
    for (std::size_t i = 0; i < V; ++i) {
        if (p[i] <= 0) continue;
        last = static_cast<std::int64_t>(i);
        acc += p[i];
        if (u < acc) return last;
    }
    return last;
}

/// The ids each row of a batch holds, as a [B, V] bool mask on the logits' device, kept in step with the
/// host's sets: `add` queues an accepted id, `reset` marks a row whose sequence was replaced (a
/// continuous-batching refill; its queued ids are dropped), and `sync` rebuilds the reset rows from the
/// host's sets, applies the queued ids and returns the mask.
class seen_mask {
public:
    explicit seen_mask(std::size_t rows) : m_stale(rows, true) {}

    void add(std::size_t row, std::int64_t id) {
        if (!m_mask.defined() || m_stale[row] || id < 0 || id >= m_mask.size(1)) return;
        m_rows.push_back(static_cast<std::int64_t>(row));
        m_ids.push_back(id);
    }

    void reset(std::size_t row) { m_stale[row] = true; }

    const at::Tensor& sync(const std::vector<std::set<std::int64_t>>& held, std::int64_t V, c10::Device dev) {
        if (!m_mask.defined())
            m_mask = at::zeros({static_cast<std::int64_t>(m_stale.size()), V},
                               at::TensorOptions().dtype(at::kBool).device(dev));
        // Ids queued for a row that was reset since belong to its previous sequence.
        std::size_t kept = 0;
        for (std::size_t i = 0; i < m_rows.size(); ++i)
            if (!m_stale[static_cast<std::size_t>(m_rows[i])]) {
                m_rows[kept] = m_rows[i];
                m_ids[kept++] = m_ids[i];
            }
        m_rows.resize(kept);
        m_ids.resize(kept);
        for (std::size_t b = 0; b < m_stale.size(); ++b) {
            if (!m_stale[b]) continue;
            m_stale[b] = false;
            m_mask[static_cast<std::int64_t>(b)].zero_();
            for (auto id : held[b])
                if (id >= 0 && id < V) {
                    m_rows.push_back(static_cast<std::int64_t>(b));
                    m_ids.push_back(id);
                }
        }
        if (!m_rows.empty()) {
            const auto lopt = at::TensorOptions().dtype(at::kLong);
            m_mask.index_put_({at::tensor(m_rows, lopt).to(dev), at::tensor(m_ids, lopt).to(dev)},
                              at::ones({}, at::TensorOptions().dtype(at::kBool).device(dev)));
        }
        m_rows.clear();
        m_ids.clear();
        return m_mask;
    }

private:
    at::Tensor m_mask;
    std::vector<bool> m_stale;
    std::vector<std::int64_t> m_rows, m_ids;
};

/// `pick_token` for a whole batch on the logits' device: `logits` [R, V] (any float dtype), `seen` [R, V]
/// bool (the ids each row holds; needed only with a repetition penalty), `u` one uniform number in
/// [0, 1) per row when sampling. Returns the R chosen ids. The arithmetic mirrors `pick_token` step for
/// step: the penalty and temperature in double rounded to float32, top-k on float32, the softmax,
/// top-p (a stable ascending sort) and the cumulative sum in double, and the first id whose cumulative
/// probability exceeds the row's draw. Raises model_error "invalid_probabilities" as `pick_token` does,
/// for a row that is not `done` (rows marked done in `done`, when given, are picked but never refused).
inline std::vector<std::int64_t> pick_tokens(const at::Tensor& logits, const at::Tensor& seen,
                                             const sampling_options& o, const std::vector<double>& u,
                                             const std::vector<bool>& done = {}) {
    at::Tensor s = logits.to(at::kFloat);
    const std::int64_t R = s.size(0), V = s.size(1);
    if (o.repetition_penalty != 1.0 && seen.defined()) {
        const at::Tensor d = s.to(at::kDouble);
        const at::Tensor pen = at::where(d < 0, d * o.repetition_penalty, d / o.repetition_penalty).to(at::kFloat);
        s = at::where(seen, pen, s);
    }
    auto to_host = [](const at::Tensor& t) { return t.to(at::kCPU).contiguous(); };
    std::vector<std::int64_t> ids(static_cast<std::size_t>(R));
    if (!o.sampling()) {
        const at::Tensor a = to_host(s.argmax(-1));
        std::copy(a.data_ptr<std::int64_t>(), a.data_ptr<std::int64_t>() + R, ids.begin());
        return ids;
    }
    if (static_cast<std::int64_t>(u.size()) != R)
        RSCOVLM_THROW(model_error, "bad_sampling", "pick_tokens: one uniform number per row is needed");
    s = (s.to(at::kDouble) / o.temperature).to(at::kFloat);
    const float inf = std::numeric_limits<float>::infinity();
    {
        const at::Tensor bad = to_host(at::stack({(s.isnan() | s.eq(inf)).any(-1), s.eq(-inf).all(-1)}, 0));
        const bool* b = bad.data_ptr<bool>();
        for (std::int64_t r = 0; r < R; ++r)
            if ((b[r] || b[R + r]) && !(static_cast<std::size_t>(r) < done.size() && done[static_cast<std::size_t>(r)]))
                RSCOVLM_THROW(model_error, "invalid_probabilities",
                              std::string("sampling: the scores of row ") + std::to_string(r) +
                                  (b[r] ? " contain NaN or +inf" : " are all -inf") +
                                  ", so the probabilities are not a distribution");
    }
    if (o.top_k > 0 && o.top_k < V) {
        const at::Tensor kth = std::get<0>(s.topk(o.top_k, -1, true, true)).narrow(-1, o.top_k - 1, 1);
        s = s.masked_fill(s < kth, -inf);
    }
    const at::Tensor mx = std::get<0>(s.max(-1, true));
    at::Tensor p = (s - mx).to(at::kDouble).exp().masked_fill(s.eq(-inf), 0.0);
    p = p / p.sum(-1, true);
    if (o.top_p < 1.0) {
        const auto sorted = p.sort(/*stable=*/true, -1, /*descending=*/false);
        const at::Tensor& sp = std::get<0>(sorted);
        at::Tensor drop = sp.cumsum(-1) <= 1.0 - o.top_p;
        drop.narrow(-1, V - 1, 1).fill_(false); // the most probable id always stays
        p = p.scatter(-1, std::get<1>(sorted), sp.masked_fill(drop, 0.0));
        p = p / p.sum(-1, true);
    }
    const at::Tensor draw = at::tensor(u, at::TensorOptions().dtype(at::kDouble)).to(p.device()).view({R, 1});
    at::Tensor idx = (p.cumsum(-1) <= draw).sum(-1);
    // A draw beyond the (rounded) total takes the last id with a probability, as `pick_token`.
    const at::Tensor last =
        at::where(p > 0, at::arange(V, at::TensorOptions().dtype(at::kLong).device(p.device())), -1).amax(-1);
    idx = at::where(idx >= V, last, idx);
    const at::Tensor h = to_host(idx);
    std::copy(h.data_ptr<std::int64_t>(), h.data_ptr<std::int64_t>() + R, ids.begin());
    return ids;
}

/// log-softmax of `row` (V float32 logits) at `id`, and the `k` most likely ids (double accumulation).
inline token_score score_token(const float* row, std::int64_t V, std::int64_t id, int k) {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = 0; i < V; ++i)
        if (row[i] > mx || std::isnan(row[i])) mx = row[i];
    double sum = 0.0;
    for (std::int64_t i = 0; i < V; ++i)
        sum += std::exp(static_cast<double>(row[i]) - static_cast<double>(mx));
    const double lse = static_cast<double>(mx) + std::log(sum);
    token_score s;
    s.logprob = static_cast<double>(row[id]) - lse;
    if (k > 0) {
        std::vector<std::int64_t> idx(static_cast<std::size_t>(V));
        std::iota(idx.begin(), idx.end(), 0);
        const auto kk = static_cast<std::ptrdiff_t>(std::min<std::int64_t>(k, V));
        std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [&](std::int64_t a, std::int64_t b) {
            return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        for (std::ptrdiff_t i = 0; i < kk; ++i)
            s.top.emplace_back(idx[static_cast<std::size_t>(i)],
                               static_cast<double>(row[idx[static_cast<std::size_t>(i)]]) - lse);
    }
    return s;
}

} // namespace detail

/// Continuous batching hooks of `generate`. When a row finishes, `row_done` reports it (every row is
/// reported once per occupant, the last ones when the loop ends); then `refill` may give that row a
/// new prompt, which is prefilled alone and joins the running batch in place: its keys and values are
/// written right-aligned before the current cache slot (so its prompt may have at most `max_prompt`
/// tokens) and its positions continue from its own prompt, so a greedy row gives what it gives alone.
/// `max_new` is what the cache has room for; the row's own limit is the caller's (the stream callback
/// returning false), at most `sampling_options::max_new_tokens`.
struct batch_hooks {
    std::function<void(std::size_t row, const std::vector<std::int64_t>& tokens, const std::string& finish_reason,
                       const std::vector<token_score>& scores, std::int64_t prompt_tokens)>
        row_done;
    std::function<bool(std::size_t row, std::int64_t max_prompt, std::int64_t max_new, sequence_input& next)> refill;
    /// Cache slots to allocate beyond the first batch's prompt and `max_new_tokens`, for refills.
    std::int64_t extra_capacity = 0;
};

inline generation_output generate(const qwen2_5_vl& model, const std::vector<sequence_input>& batch,
                                  const sampling_options& o, const scored_callback& on_token,
                                  batch_hooks* hooks = nullptr);

/// Generates continuations of every sequence of `batch` (left-padded into one batch, one KV cache).
inline generation_output generate(const qwen2_5_vl& model, const std::vector<sequence_input>& batch,
                                  const sampling_options& o, const stream_callback& on_token = {}) {
    scored_callback cb;
    if (on_token) cb = [&on_token](std::size_t r, std::int64_t t, const token_score*) { return on_token(r, t); };
    return generate(model, batch, o, cb);
}

/// `generate` with a callback that also sees each token's score, and optional continuous batching.
inline generation_output generate(const qwen2_5_vl& model, const std::vector<sequence_input>& batch,
                                  const sampling_options& o, const scored_callback& on_token, batch_hooks* hooks) {
    ::torch::NoGradGuard no_grad;
    using clock = std::chrono::steady_clock;
    const model_config& cfg = model.config();
    padded_batch pb = make_batch(cfg, batch, o.pad_token_id);
    const auto B = static_cast<std::size_t>(pb.input_ids.size(0));
    const std::int64_t L = pb.input_ids.size(1);
    generation_output out;
    out.tokens.assign(B, {});
    out.finish_reasons.assign(B, "length");
    out.scores.assign(B, {});
    for (const auto& s : batch)
        out.prompt_tokens.push_back(static_cast<std::int64_t>(s.input_ids.size()));
    std::vector<std::set<std::int64_t>> seen(B);
    for (std::size_t b = 0; b < B; ++b)
        seen[b].insert(batch[b].input_ids.begin(), batch[b].input_ids.end());
    std::vector<bool> done(B, false), reported(B, false);
    std::mt19937_64 rng(o.seed);
    const std::set<std::int64_t> stops(o.stop_ids.begin(), o.stop_ids.end());
    auto report = [&](std::size_t b) {
        if (reported[b]) return;
        reported[b] = true;
        if (hooks && hooks->row_done)
            hooks->row_done(b, out.tokens[b], out.finish_reasons[b], out.scores[b], out.prompt_tokens[b]);
    };

    auto t0 = clock::now();
    kv_cache cache;
    cache.rope_deltas = pb.rope_deltas;
    // Decoding never reallocates (refills only take rows that fit in what is left).
    cache.capacity_hint =
        L + std::max(0, o.max_new_tokens) + (hooks ? std::max<std::int64_t>(0, hooks->extra_capacity) : 0);
    at::Tensor logits = model.forward(embed_batch(model, pb), pb.position_ids, pb.mask, &cache, true);
    out.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    auto t1 = clock::now();
    std::int64_t slot = L;
    std::vector<std::int64_t> next(B, o.pad_token_id);
    // Steps without log-probabilities or a logits processor acting on an unfinished row pick on the
    // device (`detail::pick_tokens`, `sampling_options::device_sampling`): only the B chosen ids come
    // back to the host, not B x V logits.
    auto device_pick = [&] {
        if (!o.device_sampling || o.logprobs >= 0) return false;
        if (!o.logits_processor) return true;
        if (!o.processes_row) return false;
        for (std::size_t b = 0; b < B; ++b)
            if (!done[b] && o.processes_row(b)) return false;
        return true;
    };
    // With a repetition penalty on the device: the ids each row holds, as a [B, V] bool mask.
    detail::seen_mask seen_dev(B);
    // Records row b's next token and updates its state (stops, callback, limit).
    auto accept = [&](std::size_t b, std::int64_t tok, const float* row, std::int64_t V) {
        next[b] = tok;
        out.tokens[b].push_back(tok);
        const token_score* score = nullptr;
        if (o.logprobs >= 0) {
            out.scores[b].push_back(detail::score_token(row, V, tok, o.logprobs));
            score = &out.scores[b].back();
        }
        seen[b].insert(tok);
        seen_dev.add(b, tok);
        if (stops.count(tok)) {
            done[b] = true;
            out.finish_reasons[b] = "stop";
        }
        if (on_token && !on_token(b, tok, score) && !done[b]) {
            done[b] = true;
            out.finish_reasons[b] = "callback";
        }
        if (!done[b] && static_cast<int>(out.tokens[b].size()) >= o.max_new_tokens) done[b] = true; // "length"
        if (done[b]) report(b);
    };
    // Picks row b's next token from its logits `row` (V floats) on the host.
    auto choose = [&](std::size_t b, const float* row, std::int64_t V) {
        std::vector<float> lv(row, row + V);
        if (o.logits_processor) o.logits_processor(b, out.tokens[b], lv.data(), V);
        accept(b, detail::pick_token(lv, seen[b], o, rng), row, V);
    };
    // Gives finished row b a waiting prompt, prefilled alone and written into the cache before `slot`.
    auto refill = [&](std::size_t b) {
        sequence_input nx;
        while (done[b] && hooks && hooks->refill) {
            const std::int64_t room = cache.capacity() - slot;
            if (room < 1 || !hooks->refill(b, slot, room, nx)) return;
            padded_batch nb = make_batch(cfg, {nx}, o.pad_token_id);
            const std::int64_t P = nb.input_ids.size(1);
            if (P > slot) RSCOVLM_THROW(model_error, "bad_refill", "a refilled prompt is longer than the cache slot");
            kv_cache own;
            own.capacity_hint = P;
            at::Tensor lg = model.forward(embed_batch(model, nb), nb.position_ids, nb.mask, &own, true);
            const auto bi = static_cast<std::int64_t>(b);
            for (std::size_t li = 0; li < cache.keys.size(); ++li) {
                cache.keys[li][bi].narrow(1, slot - P, P).copy_(own.keys[li][0].narrow(1, 0, P));
                cache.values[li][bi].narrow(1, slot - P, P).copy_(own.values[li][0].narrow(1, 0, P));
            }
            cache.mask[bi].zero_();
            cache.mask[bi].narrow(0, slot - P, P).fill_(1);
            pb.rope_deltas.data_ptr<std::int64_t>()[b] = P + nb.rope_deltas[0].item<std::int64_t>() - slot;
            out.tokens[b].clear();
            out.scores[b].clear();
            out.finish_reasons[b] = "length";
            out.prompt_tokens[b] = static_cast<std::int64_t>(nx.input_ids.size());
            seen[b] = std::set<std::int64_t>(nx.input_ids.begin(), nx.input_ids.end());
            seen_dev.reset(b);
            done[b] = false;
            reported[b] = false;
            const at::Tensor first = lg.select(1, 0).to(at::kCPU, at::kFloat).contiguous(); // [1, V]
            choose(b, first.data_ptr<float>(), first.size(1));
        }
    };
    if (o.max_new_tokens <= 0) std::fill(done.begin(), done.end(), true);
    while (!std::all_of(done.begin(), done.end(), [](bool d) { return d; })) {
        std::fill(next.begin(), next.end(), o.pad_token_id);
        if (device_pick()) {
            const at::Tensor last = logits.select(1, 0); // [B, V]
            at::Tensor seen_now;
            if (o.repetition_penalty != 1.0) seen_now = seen_dev.sync(seen, last.size(1), last.device());
            std::vector<double> u;
            if (o.sampling()) {
                // One draw per unfinished row, in row order: the host path's stream.
                std::uniform_real_distribution<double> U(0.0, 1.0);
                for (std::size_t b = 0; b < B; ++b)
                    u.push_back(done[b] ? 0.0 : U(rng));
            }
            const auto chosen = detail::pick_tokens(last, seen_now, o, u, done);
            for (std::size_t b = 0; b < B; ++b)
                if (!done[b]) accept(b, chosen[b], nullptr, 0);
        } else {
            at::Tensor last = logits.select(1, 0).to(at::kCPU, at::kFloat).contiguous(); // [B, V]
            const std::int64_t V = last.size(1);
            for (std::size_t b = 0; b < B; ++b)
                if (!done[b]) choose(b, last.data_ptr<float>() + static_cast<std::int64_t>(b) * V, V);
        }
        if (hooks && hooks->refill)
            for (std::size_t b = 0; b < B; ++b)
                if (done[b]) refill(b);
        if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
        // Decode step: position = cache slot + rope_delta on all three axes.
        const auto lopt = at::TensorOptions().dtype(at::kLong);
        at::Tensor ids = at::tensor(next, lopt).view({static_cast<std::int64_t>(B), 1});
        at::Tensor pos = (pb.rope_deltas + slot)
                             .view({1, static_cast<std::int64_t>(B), 1})
                             .expand({3, static_cast<std::int64_t>(B), 1});
        at::Tensor m = at::ones({static_cast<std::int64_t>(B), 1}, lopt);
        logits = model.forward(model.embed(ids), pos, m, &cache, true);
        ++slot;
        ++out.decode_steps;
    }
    for (std::size_t b = 0; b < B; ++b)
        report(b);
    if (o.logprobs < 0) out.scores.clear();
    out.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return out;
}

} // namespace rscovlm::torch
