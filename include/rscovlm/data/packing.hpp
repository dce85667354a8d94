#pragma once
/// \file data/packing.hpp
/// Sample packing exactly as RSCoVLM trains with `--packing_data` (which forces `--flatten_data`):
///
///  1. `PackingMapDataset.cache_indices` (rscovlm/training/data/fast_data_packing.py) receives
///     `(index, messages, length)` items, buffers them, and every time the buffer holds
///     `packing_interval` (64) items bin-packs it with `binpacking.to_constant_volume(buffer,
///     max_length, weight_pos=-1)`; every bin but the last is emitted, the last bin's items become
///     the new buffer. At the end the buffer is packed once more and every bin is emitted.
///     The bin capacity is the training `max_length` (6144 in RSCoVLM's scripts).
///  2. `CachedPackingDatasetForQwen2_5VL.preprocess` encodes each member and sets its first label to
///     -100 (so the last token of one sample never predicts the first of the next).
///  3. `FlattenedDataCollatorForQwen2_5_VL` concatenates the members into one row: input_ids, labels,
///     M-RoPE position_ids (each member's own `get_rope_index`, so positions restart per sample),
///     `naive_position_ids` (arange per member: flash-attention's varlen path takes the sample
///     boundaries from its zeros, i.e. cu_seqlens), pixel_values and image_grid_thw; then truncates
///     the token tensors to max_length.
///
/// The unpacked path (`DataCollatorForQwen2_5_VL`) pads a batch on the right: input_ids with the
/// tokenizer's pad id, labels with -100 (IGNORE_INDEX), attention_mask with 0, position_ids with 1,
/// then truncates to max_length.
///
/// Pure logic, no I/O: members are any type with the fields of `engine::encoded_sample`
/// (`input_ids`, `labels`, `position_ids`, `image_grid_thw`, `pixel_values`, `pixel_rows`).

#include <rscovlm/errors.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::data {

/// IGNORE_INDEX of the reference collators.
inline constexpr std::int32_t ignore_index = -100;

/// `binpacking.to_constant_volume(weights, capacity)` (binpacking 1.5.x, the version RSCoVLM pins
/// through pip): items are visited heaviest first (a stable sort, so equal weights keep their
/// input order); each goes into the fullest bin it still fits in (`weight_sum + w <= capacity`,
/// the first such bin on ties); when it fits nowhere a new bin is opened, except for the very
/// first item, which always takes the initially open empty bin. Quirk kept: an item heavier than
/// the capacity still gets a bin of its own (it is never dropped). Returns, per bin, the input
/// positions in the order they were put in (heaviest first).
inline std::vector<std::vector<std::size_t>> to_constant_volume(const std::vector<std::size_t>& weights,
                                                                std::size_t capacity) {
    std::vector<std::vector<std::size_t>> bins;
    if (weights.empty()) return bins;
    // Stable descending order of the weights (Python `sorted(range(n), key=lambda i: -w[i])`).
    std::vector<std::size_t> order(weights.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return weights[a] > weights[b]; });
    bins.emplace_back();
    std::vector<std::size_t> sums{0};
    for (std::size_t k = 0; k < order.size(); ++k) {
        const std::size_t w = weights[order[k]];
        std::size_t best = sums.size();
        for (std::size_t b = 0; b < sums.size(); ++b)
            if (sums[b] + w <= capacity && (best == sums.size() || sums[b] > sums[best])) best = b;
        if (best == sums.size()) {
            if (k == 0) {
                best = 0;
            } else {
                sums.push_back(0);
                bins.emplace_back();
            }
        }
        bins[best].push_back(order[k]);
        sums[best] += w;
    }
    return bins;
}

/// Options of the packing plan.
struct packing_options {
    std::size_t max_length = 6144;     ///< bin capacity in tokens (the training max_length)
    std::size_t packing_interval = 64; ///< items buffered before each bin-packing round
};

/// One item of the plan: an id chosen by the caller (e.g. the mixture index) and its token count.
struct packing_item {
    std::size_t id = 0;
    std::size_t length = 0;
};

/// Streaming `PackingMapDataset.cache_indices`: `add` items in arrival order, collect the groups it
/// closes, then `finish`. Each group lists its items in bin order (heaviest first).
///
/// Order: the reference feeds the buffer from `packing_workers` processes through one
/// multiprocessing queue, so its arrival order (hence its packs) depends on process timing. Here the
/// arrival order is the caller's order, i.e. the reference with one packing worker; the result is
/// fully deterministic.
class packing_planner {
public:
    explicit packing_planner(packing_options o = {}) : m_opt(o) {
        if (m_opt.max_length == 0)
            RSCOVLM_THROW(data_error, "bad_packing", "packing needs a max_length (bin capacity) > 0");
        if (m_opt.packing_interval == 0) RSCOVLM_THROW(data_error, "bad_packing", "packing_interval must be > 0");
    }
    /// Adds one item; returns the groups closed by this item (usually none).
    std::vector<std::vector<packing_item>> add(packing_item it) {
        m_buffer.push_back(it);
        if (m_buffer.size() < m_opt.packing_interval) return {};
        return round(false);
    }
    /// Packs what is left; every bin becomes a group.
    std::vector<std::vector<packing_item>> finish() {
        if (m_buffer.empty()) return {};
        return round(true);
    }
    /// Items waiting in the buffer.
    std::size_t buffered() const noexcept { return m_buffer.size(); }
    const packing_options& options() const noexcept { return m_opt; }

private:
    std::vector<std::vector<packing_item>> round(bool final) {
        std::vector<std::size_t> w(m_buffer.size());
        for (std::size_t i = 0; i < w.size(); ++i)
            w[i] = m_buffer[i].length;
        const auto bins = to_constant_volume(w, m_opt.max_length);
        std::vector<std::vector<packing_item>> groups;
        for (const auto& b : bins) {
            std::vector<packing_item> g;
            for (auto i : b)
                g.push_back(m_buffer[i]);
            groups.push_back(std::move(g));
        }
        // `groups, leftover = groups[:-1], groups[-1]` unless final: the last bin (the most recently
        // opened one, not the emptiest) goes back to the buffer, in its bin order.
        if (!final && !groups.empty()) {
            m_buffer = std::move(groups.back());
            groups.pop_back();
        } else {
            m_buffer.clear();
        }
        return groups;
    }
    packing_options m_opt;
    std::vector<packing_item> m_buffer;
};

/// The whole plan at once: groups of ids for items given in arrival order.
inline std::vector<std::vector<std::size_t>> plan_packs(const std::vector<packing_item>& items,
                                                        const packing_options& o = {}) {
    packing_planner p(o);
    std::vector<std::vector<std::size_t>> out;
    auto take = [&](std::vector<std::vector<packing_item>> gs) {
        for (auto& g : gs) {
            std::vector<std::size_t> ids;
            for (const auto& it : g)
                ids.push_back(it.id);
            out.push_back(std::move(ids));
        }
    };
    for (const auto& it : items)
        take(p.add(it));
    take(p.finish());
    return out;
}

/// One packed (flattened) training row, as `FlattenedDataCollatorForQwen2_5_VL` returns it for a
/// group (batch dimension of 1 left out).
struct packed_sequence {
    std::vector<std::int32_t> input_ids;
    std::vector<std::int32_t> labels;
    std::array<std::vector<std::int64_t>, 3> position_ids; ///< M-RoPE (t, h, w), restarting per member
    std::vector<std::int64_t> naive_position_ids;          ///< arange per member
    std::vector<std::int64_t> cu_seqlens;                  ///< member boundaries (zeros of naive ids) + total
    std::vector<std::array<int, 3>> grid_thw;              ///< every member's grids, concatenated
    std::vector<float> pixel_values;                       ///< every member's rows, concatenated
    std::size_t pixel_rows = 0;
    std::vector<std::size_t> member_lengths; ///< token counts before truncation
    std::vector<std::size_t> member_images;  ///< images per member
    bool truncated = false;                  ///< the row was cut to max_length
};

/// Options of `flatten_pack`.
struct flatten_options {
    std::size_t max_length = 6144; ///< 0 = no truncation (`max_length <= 0` in the reference)
    /// `CachedPackingDatasetForQwen2_5VL.preprocess` sets each member's first label to -100. The plain
    /// flattened collator (flatten_data without packing) does not.
    bool mask_first_label = true;
    // Reference quirk (kept): truncation cuts the token tensors only; pixel_values and image_grid_thw
    // keep every image, even one whose `<|image_pad|>` run was cut. binpacking gives an over-long
    // sample a bin of its own, so only such single-sample packs are ever cut.
};

/// `FlattenedDataCollatorForQwen2_5_VL` over one group (members in group order), with the labels
/// fix-up of `CachedPackingDatasetForQwen2_5VL`. `S` has the fields of `engine::encoded_sample`.
template <class S> packed_sequence flatten_pack(const std::vector<const S*>& members, const flatten_options& o = {}) {
    packed_sequence p;
    std::size_t total = 0;
    for (const S* s : members)
        total += s->input_ids.size();
    p.input_ids.reserve(total);
    p.labels.reserve(total);
    for (auto& a : p.position_ids)
        a.reserve(total);
    p.naive_position_ids.reserve(total);
    for (const S* s : members) {
        const std::size_t n = s->input_ids.size();
        if (s->labels.size() != n)
            RSCOVLM_THROW(data_error, "bad_sample",
                          "pack member has " + std::to_string(s->labels.size()) + " labels for " + std::to_string(n) +
                              " input ids");
        for (const auto& a : s->position_ids)
            if (a.size() != n)
                RSCOVLM_THROW(data_error, "bad_sample",
                              "pack member has " + std::to_string(a.size()) + " positions for " + std::to_string(n) +
                                  " input ids");
        p.input_ids.insert(p.input_ids.end(), s->input_ids.begin(), s->input_ids.end());
        const std::size_t lb = p.labels.size();
        p.labels.insert(p.labels.end(), s->labels.begin(), s->labels.end());
        if (o.mask_first_label && n > 0) p.labels[lb] = ignore_index;
        for (std::size_t a = 0; a < 3; ++a)
            p.position_ids[a].insert(p.position_ids[a].end(), s->position_ids[a].begin(), s->position_ids[a].end());
        for (std::size_t k = 0; k < n; ++k)
            p.naive_position_ids.push_back(static_cast<std::int64_t>(k));
        p.grid_thw.insert(p.grid_thw.end(), s->image_grid_thw.begin(), s->image_grid_thw.end());
        p.pixel_values.insert(p.pixel_values.end(), s->pixel_values.begin(), s->pixel_values.end());
        p.pixel_rows += s->pixel_rows;
        p.member_lengths.push_back(n);
        p.member_images.push_back(s->image_grid_thw.size());
    }
    if (o.max_length > 0 && p.input_ids.size() > o.max_length) {
        // process_exceed='truncate' (the default; the reference's 'replace' branch of this collator
        // reads an undefined attention_mask and cannot run).
        p.truncated = true;
        p.input_ids.resize(o.max_length);
        p.labels.resize(o.max_length);
        for (auto& a : p.position_ids)
            a.resize(o.max_length);
        p.naive_position_ids.resize(o.max_length);
    }
    // transformers' prepare_fa2_from_position_ids: cu_seqlens = positions of the zeros + [length].
    for (std::size_t k = 0; k < p.naive_position_ids.size(); ++k)
        if (p.naive_position_ids[k] == 0) p.cu_seqlens.push_back(static_cast<std::int64_t>(k));
    p.cu_seqlens.push_back(static_cast<std::int64_t>(p.input_ids.size()));
    return p;
}

/// A right-padded batch as `DataCollatorForQwen2_5_VL` returns it (row-major [batch, length]).
struct padded_batch {
    std::size_t batch = 0, length = 0;
    std::vector<std::int32_t> input_ids;                   ///< pad_token_id where padded
    std::vector<std::int32_t> labels;                      ///< -100 where padded
    std::vector<std::uint8_t> attention_mask;              ///< 1 for tokens, 0 for padding
    std::array<std::vector<std::int64_t>, 3> position_ids; ///< [3][batch * length], 1 where padded
    std::vector<std::array<int, 3>> grid_thw;
    std::vector<float> pixel_values;
    std::size_t pixel_rows = 0;
};

/// Options of `collate_padded`.
struct collate_options {
    std::int32_t pad_token_id = 151643; ///< Qwen2.5-VL's tokenizer.pad_token_id (`<|endoftext|>`)
    std::size_t max_length = 6144;      ///< 0 = no truncation
};

/// `DataCollatorForQwen2_5_VL` with process_exceed='truncate' and PADDING_TO_MAX_LENGTH=False:
/// pad every example on the right to the longest one, then cut all rows to max_length. Quirk kept:
/// pixel_values / image_grid_thw are concatenated whole, whatever the truncation cut.
template <class S> padded_batch collate_padded(const std::vector<const S*>& examples, const collate_options& o = {}) {
    padded_batch b;
    b.batch = examples.size();
    std::size_t longest = 0;
    for (const S* s : examples) {
        if (s->labels.size() != s->input_ids.size())
            RSCOVLM_THROW(data_error, "bad_sample",
                          "example has " + std::to_string(s->labels.size()) + " labels for " +
                              std::to_string(s->input_ids.size()) + " input ids");
        for (const auto& a : s->position_ids)
            if (a.size() != s->input_ids.size())
                RSCOVLM_THROW(data_error, "bad_sample",
                              "example has " + std::to_string(a.size()) + " positions for " +
                                  std::to_string(s->input_ids.size()) + " input ids");
        longest = std::max(longest, s->input_ids.size());
    }
    b.length = o.max_length > 0 ? std::min(longest, o.max_length) : longest;
    b.input_ids.assign(b.batch * b.length, o.pad_token_id);
    b.labels.assign(b.batch * b.length, ignore_index);
    b.attention_mask.assign(b.batch * b.length, 0);
    for (auto& a : b.position_ids)
        a.assign(b.batch * b.length, 1);
    for (std::size_t r = 0; r < examples.size(); ++r) {
        const S* s = examples[r];
        const std::size_t n = std::min(s->input_ids.size(), b.length);
        for (std::size_t k = 0; k < n; ++k) {
            b.input_ids[r * b.length + k] = s->input_ids[k];
            b.labels[r * b.length + k] = s->labels[k];
            b.attention_mask[r * b.length + k] = 1;
            for (std::size_t a = 0; a < 3; ++a)
                b.position_ids[a][r * b.length + k] = s->position_ids[a][k];
        }
        b.grid_thw.insert(b.grid_thw.end(), s->image_grid_thw.begin(), s->image_grid_thw.end());
        b.pixel_values.insert(b.pixel_values.end(), s->pixel_values.begin(), s->pixel_values.end());
        b.pixel_rows += s->pixel_rows;
    }
    return b;
}

} // namespace rscovlm::data
