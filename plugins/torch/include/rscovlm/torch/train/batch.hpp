#pragma once
/// \file
/// Training micro-batches: the collated tensors one forward/backward takes, how they are made from the
/// shards of `rscovlm data build` (plain and packed) or read pre-collated from a JSONL file, and the
/// model's causal-LM loss over them.
///
/// Collation mirrors RSCoVLM's collator for Qwen2.5-VL: samples are padded on the **right** to the
/// longest one (`input_ids` with the pad id, `labels` with -100, `attention_mask` with 0, and every
/// row of the M-RoPE `position_ids` with 1), `pixel_values` are the samples' rows concatenated in
/// sample order and `image_grid_thw` their grids. A packed row attends block-diagonally per member
/// (`segments`) with positions restarting, as the reference's varlen attention does.

#include <rscovlm/engine/shard_reader.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/io/npy.hpp>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::torch::train {

/// Training errors (`rscovlm.train.<code>`): configuration, data, distributed run, checkpoints.
class train_error : public ::rscovlm::error {
public:
    static constexpr std::string_view area_name = "train";
    train_error(std::string_view code, const std::string& message) : ::rscovlm::error("train", code, message) {}
};

/// Label value that the loss ignores.
inline constexpr std::int64_t ignore_index = -100;

/// One collated micro-batch (CPU tensors; the trainer moves them to the model's device).
struct micro_batch {
    at::Tensor input_ids;                              ///< [B, L] int64
    at::Tensor labels;                                 ///< [B, L] int64, -100 where not supervised
    at::Tensor attention_mask;                         ///< [B, L] int64, 1 = token, 0 = padding
    at::Tensor position_ids;                           ///< [3, B, L] int64 (M-RoPE t, h, w)
    at::Tensor pixel_values;                           ///< [rows, 1176] float32; undefined without images
    std::vector<std::array<std::int64_t, 3>> grid_thw; ///< one per image, in row order
    at::Tensor segments;                               ///< [B, L] int64 member ids of packed rows; undefined otherwise
    std::vector<std::int64_t> samples;                 ///< dataset indices of the samples (for logs)

    std::int64_t rows() const { return input_ids.defined() ? input_ids.size(0) : 0; }
    std::int64_t length() const { return input_ids.defined() ? input_ids.size(1) : 0; }
    /// Positions whose shifted label is supervised (the loss's denominator).
    std::int64_t label_tokens() const {
        if (!labels.defined() || labels.size(1) < 2) return 0;
        return labels.narrow(1, 1, labels.size(1) - 1).ne(ignore_index).sum().item<std::int64_t>();
    }
    /// Non-padding tokens (throughput).
    std::int64_t tokens() const { return attention_mask.defined() ? attention_mask.sum().item<std::int64_t>() : 0; }
};

/// Loss of one micro-batch.
struct loss_parts {
    at::Tensor mean;         ///< mean cross-entropy over the supervised positions (0-d, float32)
    at::Tensor sum;          ///< the same without the division
    std::int64_t tokens = 0; ///< supervised positions
};

/// Causal-LM loss as Qwen2.5-VL's forward computes it (transformers 4.50/4.51): logits in float32,
/// positions 0..L-2 predict labels 1..L-1, cross-entropy with -100 ignored, averaged over the supervised
/// positions of the whole micro-batch. With no supervised position the mean is NaN, as in the reference.
inline loss_parts causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels) {
    const std::int64_t V = logits.size(-1), L = logits.size(1);
    at::Tensor lg = logits.to(at::kFloat).narrow(1, 0, L - 1).reshape({-1, V});
    at::Tensor lb = labels.to(logits.device(), at::kLong).narrow(1, 1, L - 1).reshape({-1});
    loss_parts p;
    p.mean = at::cross_entropy_loss(lg, lb, {}, at::Reduction::Mean, ignore_index);
    p.sum = at::cross_entropy_loss(lg, lb, {}, at::Reduction::Sum, ignore_index);
    p.tokens = lb.ne(ignore_index).sum().item<std::int64_t>();
    return p;
}

namespace detail {

inline at::Tensor long_matrix(const nlohmann::json& j, const std::string& what) {
    if (!j.is_array() || j.empty() || !j[0].is_array())
        RSCOVLM_THROW(train_error, "bad_micro_batch", what + " must be a non-empty array of arrays");
    const std::int64_t rows = static_cast<std::int64_t>(j.size()), cols = static_cast<std::int64_t>(j[0].size());
    at::Tensor t = at::empty({rows, cols}, at::TensorOptions().dtype(at::kLong));
    auto* p = t.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
        const auto& row = j[static_cast<std::size_t>(r)];
        if (!row.is_array() || static_cast<std::int64_t>(row.size()) != cols)
            RSCOVLM_THROW(train_error, "bad_micro_batch", what + ": rows of different lengths");
        for (std::int64_t c = 0; c < cols; ++c) {
            const auto& v = row[static_cast<std::size_t>(c)];
            if (!v.is_number_integer()) RSCOVLM_THROW(train_error, "bad_micro_batch", what + ": not an integer");
            p[r * cols + c] = v.get<std::int64_t>();
        }
    }
    return t;
}

} // namespace detail

/// Parses one line of a pre-collated micro-batch file (the format of the training oracle's
/// `micro_batches.jsonl`: `input_ids`, `labels`, `attention_mask` `[B][L]`, `position_ids` `[3][B][L]`,
/// `image_grid_thw`, `pixel_values` = `.npy` files of float32 rows, concatenated in order, a relative
/// path resolved against `base_dir` or else the nearest directory above it where it exists; optional `segments`
/// `[B][L]` and `samples`). train_error "bad_micro_batch" names what is wrong.
inline micro_batch parse_micro_batch(const nlohmann::json& j, const std::filesystem::path& base_dir) {
    if (!j.is_object()) RSCOVLM_THROW(train_error, "bad_micro_batch", "a micro-batch must be a JSON object");
    auto need = [&](const char* k) -> const nlohmann::json& {
        auto it = j.find(k);
        if (it == j.end()) RSCOVLM_THROW(train_error, "bad_micro_batch", std::string("micro-batch lacks '") + k + "'");
        return *it;
    };
    micro_batch b;
    b.input_ids = detail::long_matrix(need("input_ids"), "input_ids");
    b.labels = detail::long_matrix(need("labels"), "labels");
    b.attention_mask = j.contains("attention_mask") ? detail::long_matrix(j["attention_mask"], "attention_mask")
                                                    : at::ones_like(b.input_ids);
    const auto shape = b.input_ids.sizes();
    if (b.labels.sizes() != shape || b.attention_mask.sizes() != shape)
        RSCOVLM_THROW(train_error, "bad_micro_batch", "input_ids, labels and attention_mask differ in shape");
    const auto& pos = need("position_ids");
    if (!pos.is_array() || pos.size() != 3)
        RSCOVLM_THROW(train_error, "bad_micro_batch", "position_ids must be [3][B][L]");
    std::vector<at::Tensor> axes;
    for (std::size_t a = 0; a < 3; ++a) {
        axes.push_back(detail::long_matrix(pos[a], "position_ids"));
        if (axes.back().sizes() != shape)
            RSCOVLM_THROW(train_error, "bad_micro_batch", "position_ids rows differ from input_ids in shape");
    }
    b.position_ids = at::stack(axes, 0);
    if (j.contains("segments")) {
        b.segments = detail::long_matrix(j["segments"], "segments");
        if (b.segments.sizes() != shape)
            RSCOVLM_THROW(train_error, "bad_micro_batch", "segments differ from input_ids in shape");
    }
    if (j.contains("samples") && j["samples"].is_array())
        for (const auto& s : j["samples"])
            if (s.is_number_integer()) b.samples.push_back(s.get<std::int64_t>());
    std::int64_t expected_rows = 0;
    if (j.contains("image_grid_thw")) {
        for (const auto& g : j["image_grid_thw"]) {
            if (!g.is_array() || g.size() != 3)
                RSCOVLM_THROW(train_error, "bad_micro_batch", "image_grid_thw entries must be [t, h, w]");
            std::array<std::int64_t, 3> a{g[0].get<std::int64_t>(), g[1].get<std::int64_t>(), g[2].get<std::int64_t>()};
            if (a[0] <= 0 || a[1] <= 0 || a[2] <= 0)
                RSCOVLM_THROW(train_error, "bad_micro_batch", "image_grid_thw entries must be positive");
            b.grid_thw.push_back(a);
            expected_rows += a[0] * a[1] * a[2];
        }
    }
    if (j.contains("pixel_values")) {
        std::vector<at::Tensor> parts;
        for (const auto& f : j["pixel_values"]) {
            if (!f.is_string()) RSCOVLM_THROW(train_error, "bad_micro_batch", "pixel_values must list .npy files");
            std::filesystem::path p(f.get<std::string>());
            if (p.is_relative()) {
                // Relative to the file's directory, else to the nearest directory above it that holds
                // the path (the training oracle names its files from its root: data/pixel_values/...).
                std::filesystem::path found;
                for (auto d = base_dir; !d.empty(); d = d.parent_path()) {
                    if (std::filesystem::exists(d / p)) {
                        found = d / p;
                        break;
                    }
                    if (d == d.parent_path()) break;
                }
                p = found.empty() ? base_dir / p : found;
            }
            io::npy_array a = io::load_npy(p.string());
            if (a.shape.size() != 2 || a.shape[1] != 1176)
                RSCOVLM_THROW(train_error, "bad_micro_batch", p.string() + ": pixel rows must be [rows, 1176]");
            std::vector<float> v = a.as<float>();
            parts.push_back(at::from_blob(v.data(), {static_cast<std::int64_t>(a.shape[0]), 1176},
                                          at::TensorOptions().dtype(at::kFloat))
                                .clone());
        }
        if (!parts.empty()) b.pixel_values = at::cat(parts, 0);
    }
    const std::int64_t have = b.pixel_values.defined() ? b.pixel_values.size(0) : 0;
    if (have != expected_rows)
        RSCOVLM_THROW(train_error, "bad_micro_batch",
                      "pixel_values have " + std::to_string(have) + " rows, image_grid_thw needs " +
                          std::to_string(expected_rows));
    return b;
}

/// Reads a micro-batch JSONL file (one micro-batch per line, blank lines skipped); relative pixel
/// paths are resolved against the file's directory. io_error "open" when unreadable; train_error
/// "bad_micro_batch" with the line number otherwise.
inline std::vector<micro_batch> read_micro_batches(const std::string& path) {
    std::ifstream in(path);
    if (!in) RSCOVLM_THROW(io_error, "open", "cannot open micro-batch file '" + path + "'");
    const auto base = std::filesystem::path(path).parent_path();
    std::vector<micro_batch> out;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded())
            RSCOVLM_THROW(train_error, "bad_micro_batch", path + ":" + std::to_string(n) + ": not valid JSON");
#if RSCOVLM_HAS_EXCEPTIONS
        try {
            out.push_back(parse_micro_batch(j, base));
        } catch (const ::rscovlm::error& e) {
            RSCOVLM_THROW(train_error, "bad_micro_batch", path + ":" + std::to_string(n) + ": " + e.what());
        } catch (const nlohmann::json::exception& e) {
            RSCOVLM_THROW(train_error, "bad_micro_batch", path + ":" + std::to_string(n) + ": " + e.what());
        }
#else
        out.push_back(parse_micro_batch(j, base));
#endif
    }
    return out;
}

/// One training example as the collator sees it (a shard sample, or a packed row).
struct example {
    std::vector<std::int32_t> input_ids, labels;
    std::array<std::vector<std::int64_t>, 3> position_ids;
    std::vector<std::array<std::int64_t, 3>> grid_thw;
    std::vector<float> pixel_values;      ///< rows x 1176
    std::vector<std::int64_t> cu_seqlens; ///< packed: member boundaries (empty for a plain sample)
    std::int64_t index = 0;
};

inline example to_example(const engine::shard_sample& s) {
    example e;
    e.input_ids = s.input_ids;
    e.labels = s.labels;
    e.position_ids = s.position_ids;
    for (const auto& g : s.grid_thw)
        e.grid_thw.push_back({g[0], g[1], g[2]});
    e.pixel_values = s.pixel_values;
    e.index = s.index;
    if (!s.video_grid_thw.empty())
        RSCOVLM_THROW(train_error, "video_sample",
                      "sample " + std::to_string(s.index) + " holds a video: video training is not supported yet");
    return e;
}

inline example to_example(const engine::shard_pack& p) {
    example e;
    e.input_ids = p.input_ids;
    e.labels = p.labels;
    e.position_ids = p.position_ids;
    for (const auto& g : p.grid_thw)
        e.grid_thw.push_back({g[0], g[1], g[2]});
    e.pixel_values = p.pixel_values;
    e.cu_seqlens = p.cu_seqlens;
    e.index = p.members.empty() ? 0 : p.members.front().index;
    return e;
}

/// Collates examples into one micro-batch: right padding to the longest (`pad_id`, -100, mask 0,
/// position 1), pixel rows concatenated in order. Packed examples get `segments` (member k = k + 1,
/// padding 0); a batch mixing packed and plain rows treats a plain row as one member.
inline micro_batch collate(const std::vector<example>& xs, std::int64_t pad_id) {
    if (xs.empty()) RSCOVLM_THROW(train_error, "empty_batch", "cannot collate an empty micro-batch");
    std::int64_t L = 0;
    bool packed = false;
    for (const auto& x : xs) {
        L = std::max<std::int64_t>(L, static_cast<std::int64_t>(x.input_ids.size()));
        packed = packed || !x.cu_seqlens.empty();
        if (x.labels.size() != x.input_ids.size())
            RSCOVLM_THROW(train_error, "bad_example",
                          "example " + std::to_string(x.index) + ": labels and input_ids differ in length");
        for (const auto& p : x.position_ids)
            if (p.size() != x.input_ids.size())
                RSCOVLM_THROW(train_error, "bad_example",
                              "example " + std::to_string(x.index) + ": position_ids and input_ids differ in length");
    }
    const std::int64_t B = static_cast<std::int64_t>(xs.size());
    auto opt = at::TensorOptions().dtype(at::kLong);
    micro_batch b;
    b.input_ids = at::full({B, L}, pad_id, opt);
    b.labels = at::full({B, L}, ignore_index, opt);
    b.attention_mask = at::zeros({B, L}, opt);
    b.position_ids = at::ones({3, B, L}, opt);
    if (packed) b.segments = at::zeros({B, L}, opt);
    auto* ids = b.input_ids.data_ptr<std::int64_t>();
    auto* lab = b.labels.data_ptr<std::int64_t>();
    auto* msk = b.attention_mask.data_ptr<std::int64_t>();
    auto* pos = b.position_ids.data_ptr<std::int64_t>();
    std::vector<at::Tensor> pixels;
    for (std::int64_t r = 0; r < B; ++r) {
        const auto& x = xs[static_cast<std::size_t>(r)];
        const std::int64_t n = static_cast<std::int64_t>(x.input_ids.size());
        for (std::int64_t i = 0; i < n; ++i) {
            ids[r * L + i] = x.input_ids[static_cast<std::size_t>(i)];
            lab[r * L + i] = x.labels[static_cast<std::size_t>(i)];
            msk[r * L + i] = 1;
            for (std::int64_t a = 0; a < 3; ++a)
                pos[(a * B + r) * L + i] = x.position_ids[static_cast<std::size_t>(a)][static_cast<std::size_t>(i)];
        }
        if (packed) {
            auto* seg = b.segments.data_ptr<std::int64_t>();
            if (x.cu_seqlens.size() < 2) {
                for (std::int64_t i = 0; i < n; ++i)
                    seg[r * L + i] = 1;
            } else {
                for (std::size_t k = 0; k + 1 < x.cu_seqlens.size(); ++k)
                    if (x.cu_seqlens[k] < 0 || x.cu_seqlens[k] > x.cu_seqlens[k + 1] || x.cu_seqlens[k + 1] > n)
                        RSCOVLM_THROW(train_error, "bad_example",
                                      "example " + std::to_string(x.index) +
                                          ": cu_seqlens are not increasing within [0, " + std::to_string(n) + "]");
                for (std::size_t k = 0; k + 1 < x.cu_seqlens.size(); ++k)
                    for (std::int64_t i = x.cu_seqlens[k]; i < x.cu_seqlens[k + 1] && i < n; ++i)
                        seg[r * L + i] = static_cast<std::int64_t>(k) + 1;
            }
        }
        std::int64_t rows = 0;
        for (const auto& g : x.grid_thw) {
            b.grid_thw.push_back(g);
            rows += g[0] * g[1] * g[2];
        }
        if (static_cast<std::int64_t>(x.pixel_values.size()) != rows * 1176)
            RSCOVLM_THROW(train_error, "bad_example",
                          "example " + std::to_string(x.index) +
                              ": pixel rows do not match its image grids (was the "
                              "shard written without pixels?)");
        if (rows > 0)
            pixels.push_back(at::from_blob(const_cast<float*>(x.pixel_values.data()), {rows, 1176},
                                           at::TensorOptions().dtype(at::kFloat))
                                 .clone());
        b.samples.push_back(x.index);
    }
    if (!pixels.empty()) b.pixel_values = at::cat(pixels, 0);
    return b;
}

} // namespace rscovlm::torch::train
