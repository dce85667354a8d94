// Tests of the LibTorch Qwen2.5-VL plugin without downloaded weights: a tiny random model written to
// safetensors by the test itself. Torch is included before doctest (glog's CHECK would replace doctest's).
#include <rscovlm/torch/builtin.hpp>
#include <rscovlm/torch/generate.hpp>
#include <rscovlm/torch/model.hpp>
#include <rscovlm/torch/tiny.hpp>
#include <rscovlm/torch/vision.hpp>
#include <rscovlm/torch/vlm.hpp>
#include <rscovlm/torch/weight_names.hpp>

#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/data/detail/sha256.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/npy.hpp>
#include <rscovlm/io/video_source.hpp>

#include <torch/types.h>
#include <torch/utils.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace rt = rscovlm::torch;
namespace st = rscovlm::io::safetensors;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("rscovlm_torch_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "_" +
                std::to_string(counter++));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string str() const { return path.string(); }
    std::string operator/(const std::string& n) const { return (path / n).string(); }
};

template <class F> std::string error_id(F&& f) {
    auto r = rscovlm::try_call([&] {
        f();
        return 0;
    });
    return r ? std::string("ok") : r.error().id;
}

template <class F> std::string error_message(F&& f) {
    auto r = rscovlm::try_call([&] {
        f();
        return 0;
    });
    return r ? std::string() : r.error().message;
}

const rt::model_config& tiny() {
    static const rt::model_config c = rt::tiny_config();
    return c;
}

/// The tiny model, written once (flat layout, single file) and loaded in float32.
const rt::qwen2_5_vl& tiny_model() {
    static temp_dir dir;
    static const rt::qwen2_5_vl m = [] {
        rt::write_random_checkpoint(dir.str(), tiny(), {});
        return rt::qwen2_5_vl::load(dir.str());
    }();
    return m;
}

/// A prompt: `pre` text tokens, then one image per grid (<|vision_start|> pads <|vision_end|>), then `post`.
rt::sequence_input make_sequence(std::uint64_t seed, int pre, int post,
                                 const std::vector<std::array<std::int64_t, 3>>& grids) {
    const auto& c = tiny();
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::int64_t> tok(3, 400);
    std::normal_distribution<float> px(0.0f, 1.0f);
    rt::sequence_input s;
    for (int i = 0; i < pre; ++i)
        s.input_ids.push_back(tok(rng));
    for (const auto& g : grids) {
        s.input_ids.push_back(c.vision_start_token_id);
        const std::int64_t n = g[0] * g[1] * g[2];
        for (std::int64_t i = 0; i < n / 4; ++i)
            s.input_ids.push_back(c.image_token_id);
        s.input_ids.push_back(c.vision_end_token_id);
        for (std::int64_t i = 0; i < n * c.vision.patch_dim(); ++i)
            s.pixel_values.push_back(px(rng));
        s.grid_thw.push_back(g);
    }
    for (int i = 0; i < post; ++i)
        s.input_ids.push_back(tok(rng));
    return s;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

/// Full forward logits [B, L, V] of a batch.
at::Tensor full_logits(const rt::qwen2_5_vl& m, const rt::padded_batch& pb) {
    return m.forward(rt::embed_batch(m, pb), pb.position_ids, pb.mask, nullptr);
}

/// Rewrites the single-file checkpoint of `dir` through `edit`.
template <class F> void edit_checkpoint(const std::string& dir, F&& edit) {
    const std::string path = (fs::path(dir) / "model.safetensors").string();
    std::vector<std::vector<std::uint8_t>> keep;
    std::vector<st::tensor_view> views;
    {
        auto f = st::file::open(path);
        for (auto v : f.tensors()) {
            keep.emplace_back(v.bytes(), v.bytes() + v.size_bytes);
            v.data = keep.back().data();
            views.push_back(v);
        }
        keep.reserve(keep.size() + 4);
        edit(views, keep);
        // views point into `keep`, which outlives the mapped file.
        std::vector<std::uint8_t> bytes = st::serialize(views);
        std::ofstream out(path + ".tmp", std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    fs::rename(path + ".tmp", path);
}

} // namespace

TEST_CASE("torch: config round trip and validation") {
    const auto& c = tiny();
    auto back = rt::model_config::from_json(c.to_json());
    CHECK(back.text.mrope_section == c.text.mrope_section);
    CHECK(back.vision.fullatt_block_indexes == c.vision.fullatt_block_indexes);
    CHECK(back.vision.window_size == 56);
    CHECK(back.text.num_key_value_heads == 2);
    CHECK(back.eos_token_ids == c.eos_token_ids);
    // Nested text_config (newer transformers saves) overrides the top level.
    auto j = c.to_json();
    j["text_config"] = {{"num_hidden_layers", 1}};
    CHECK(rt::model_config::from_json(j).text.num_hidden_layers == 1);
    auto bad = c.to_json();
    bad["rope_scaling"]["mrope_section"] = {2, 3, 4};
    CHECK(error_id([&] { rt::model_config::from_json(bad); }) == "rscovlm.config.bad_model_config");
    bad = c.to_json();
    bad["hidden_size"] = "64";
    CHECK(error_id([&] { rt::model_config::from_json(bad); }) == "rscovlm.config.bad_model_config");
    bad = c.to_json();
    bad["vision_config"]["fullatt_block_indexes"] = {5};
    CHECK(error_id([&] { rt::model_config::from_json(bad); }) == "rscovlm.config.bad_model_config");
    temp_dir d;
    CHECK(error_id([&] { rt::model_config::load(d.str()); }) == "rscovlm.config.missing_model_config");
    // generation_config: eos list, defaults from the model when absent.
    auto g = rt::generation_config::from_json({{"eos_token_id", {7, 8}}, {"do_sample", true}, {"top_p", 0.5}});
    CHECK(g.eos_token_ids == std::vector<std::int64_t>{7, 8});
    CHECK(g.do_sample);
    CHECK(rt::generation_config::load(d.str(), c).eos_token_ids == c.eos_token_ids);
    CHECK(error_id([&] {
              rt::generation_config::from_json({{"top_p", 0.0}});
          }) == "rscovlm.config.bad_generation_config");
}

TEST_CASE("torch: weight names of both layouts and the memory estimate") {
    CHECK(rt::layout_name("visual.blocks.0.norm1.weight", rt::name_layout::nested) ==
          "model.visual.blocks.0.norm1.weight");
    CHECK(rt::layout_name("model.layers.1.mlp.up_proj.weight", rt::name_layout::nested) ==
          "model.language_model.layers.1.mlp.up_proj.weight");
    CHECK(rt::layout_name("lm_head.weight", rt::name_layout::nested) == "lm_head.weight");
    CHECK(rt::canonical_name("model.language_model.norm.weight") == "model.norm.weight");
    CHECK(rt::canonical_name("model.visual.merger.ln_q.weight") == "visual.merger.ln_q.weight");
    CHECK(rt::canonical_name("model.norm.weight") == "model.norm.weight");
    // Qwen2.5-VL-7B: 8.29 billion parameters (the published count).
    rt::model_config big;
    auto est = rt::estimate_memory(big, 2, 1000, 1);
    CHECK(est.parameters == 8292166656ULL);
    CHECK(est.kv_bytes_per_token == 2ULL * 28 * 4 * 128 * 2);
    CHECK(est.total_bytes == est.weight_bytes + est.kv_bytes_per_token * 1000);
}

TEST_CASE("torch: window index mirrors get_window_index") {
    rt::vision_config v = tiny().vision; // window 56 -> 2x2 merged units per window
    // grid 4x6 patches -> merged 2x3; padding 2 rows (a whole empty window row) and 1 column.
    auto w = rt::get_window_index(v, {{1, 4, 6}});
    CHECK(w.window_index == std::vector<std::int64_t>{0, 1, 3, 4, 2, 5});
    CHECK(w.cu_window_seqlens == std::vector<std::int64_t>{0, 16, 24});
    CHECK(w.cu_seqlens == std::vector<std::int64_t>{0, 24});
    // Two images and two frames: indices continue, one full-attention segment per frame.
    auto w2 = rt::get_window_index(v, {{1, 2, 2}, {2, 2, 4}});
    CHECK(w2.window_index == std::vector<std::int64_t>{0, 1, 2, 3, 4});
    CHECK(w2.cu_window_seqlens == std::vector<std::int64_t>{0, 4, 12, 20});
    CHECK(w2.cu_seqlens == std::vector<std::int64_t>{0, 4, 12, 20});
    // The released 7B window (112 px -> 4x4 merged units).
    rt::vision_config big;
    auto w3 = rt::get_window_index(big, {{1, 10, 10}});
    CHECK(w3.window_index.size() == 25);
    CHECK(w3.window_index[4] == 5); // first window holds rows 0..3 of a 5-wide grid
    CHECK(w3.cu_window_seqlens == std::vector<std::int64_t>{0, 64, 80, 96, 100});
}

TEST_CASE("torch: left-padded batches keep each row's M-RoPE positions") {
    const auto& c = tiny();
    auto s0 = make_sequence(1, 2, 3, {{1, 4, 4}});
    auto s1 = make_sequence(2, 7, 1, {{1, 2, 2}, {1, 2, 4}});
    auto single = rt::make_batch(c, {s0}, 0);
    auto batch = rt::make_batch(c, {s0, s1}, 0);
    const std::int64_t L = batch.input_ids.size(1), L0 = single.input_ids.size(1), pad = L - L0;
    REQUIRE(pad > 0);
    for (int a = 0; a < 3; ++a) {
        for (std::int64_t i = 0; i < pad; ++i)
            CHECK(batch.position_ids[a][0][i].item<std::int64_t>() == 1);
        for (std::int64_t i = 0; i < L0; ++i)
            CHECK(batch.position_ids[a][0][pad + i].item<std::int64_t>() ==
                  single.position_ids[a][0][i].item<std::int64_t>());
    }
    // rope_delta is taken against the padded length, so slot + delta continues the text positions.
    CHECK(batch.rope_deltas[0].item<std::int64_t>() == single.rope_deltas[0].item<std::int64_t>() - pad);
    CHECK(batch.mask[0].sum().item<std::int64_t>() == L0);
    // The image block of row 0 (grid 4x4 -> 2x2 merged) spans rows/cols 0..1 after 3 text tokens.
    CHECK(single.position_ids[1][0][3].item<std::int64_t>() == 3);
    CHECK(single.position_ids[1][0][5].item<std::int64_t>() == 4);
    CHECK(single.position_ids[2][0][4].item<std::int64_t>() == 4);
    CHECK(single.position_ids[0][0][6].item<std::int64_t>() == 3);
    CHECK(single.position_ids[0][0][7].item<std::int64_t>() == 5); // <|vision_end|> continues at max + 1
}

TEST_CASE("torch: window attention equals a naive masked attention") {
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    const auto& v = m.config().vision;
    // 3 images; the tower runs block 0 with windows and block 1 with full attention per image.
    std::vector<std::array<std::int64_t, 3>> grids = {{1, 6, 8}, {1, 4, 4}, {2, 2, 6}};
    std::int64_t n = 0;
    for (const auto& g : grids)
        n += g[0] * g[1] * g[2];
    at::manual_seed(3);
    at::Tensor px = at::randn({n, v.patch_dim()});
    at::Tensor got = m.encode_images(px, grids);

    // Naive tower in the original patch order: every patch gets (frame id, window id); attention is a
    // plain softmax over all patches with a mask, no reordering.
    const auto& blocks = m.vision().blocks();
    std::vector<std::int64_t> frame_of, window_of;
    std::vector<std::array<std::int64_t, 2>> hw;
    std::int64_t frame = 0, window_base = 0;
    const std::int64_t win = v.window_size / v.spatial_merge_size / v.patch_size;
    for (const auto& g : grids) {
        const std::int64_t lh = g[1] / 2, lw = g[2] / 2, nww = (lw + win - lw % win) / win;
        const std::int64_t nwh = (lh + win - lh % win) / win;
        for (std::int64_t t = 0; t < g[0]; ++t, ++frame) {
            for (std::int64_t bh = 0; bh < lh; ++bh)
                for (std::int64_t bw = 0; bw < lw; ++bw)
                    for (int ih = 0; ih < 2; ++ih)
                        for (int iw = 0; iw < 2; ++iw) {
                            frame_of.push_back(frame);
                            window_of.push_back(window_base + (bh / win) * nww + bw / win);
                            hw.push_back({bh * 2 + ih, bw * 2 + iw});
                        }
            window_base += nwh * nww;
        }
    }
    const std::int64_t hd = v.hidden_size / v.num_heads;
    at::Tensor cos = at::zeros({n, hd}), sin = at::zeros({n, hd});
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < hd / 2; ++j) {
            // 2-D rotary: first quarter frequencies of h, second quarter of w, then repeated.
            const std::int64_t q = hd / 4;
            const double inv = 1.0 / std::pow(10000.0, static_cast<double>(2 * (j % q)) / static_cast<double>(hd / 2));
            const double ang =
                static_cast<double>(j < q ? hw[static_cast<std::size_t>(i)][0] : hw[static_cast<std::size_t>(i)][1]) *
                inv;
            cos[i][j] = std::cos(ang);
            cos[i][j + hd / 2] = std::cos(ang);
            sin[i][j] = std::sin(ang);
            sin[i][j + hd / 2] = std::sin(ang);
        }
    auto rms = [](const at::Tensor& x, const at::Tensor& w) {
        return w * (x / at::sqrt(x.pow(2).mean(-1, true) + 1e-6));
    };
    auto rot = [&](const at::Tensor& x) {
        auto x1 = x.narrow(-1, 0, hd / 2), x2 = x.narrow(-1, hd / 2, hd / 2);
        return x * cos.unsqueeze(1) + at::cat({-x2, x1}, -1) * sin.unsqueeze(1);
    };
    // Patch embedding through the checkpoint weight, flattened plainly.
    at::Tensor x;
    {
        temp_dir d;
        rt::write_random_checkpoint(d.str(), tiny(), {}); // same seed -> same weights as tiny_model()
        auto ck = st::checkpoint::open(d.str());
        auto pw = st::to_f32(ck.tensor("visual.patch_embed.proj.weight"));
        at::Tensor w = at::tensor(pw).view({v.hidden_size, v.patch_dim()});
        x = at::matmul(px, w.t());
    }
    for (std::size_t bi = 0; bi < blocks.size(); ++bi) {
        const auto& b = blocks[bi];
        const bool full = bi == 1;
        at::Tensor keep = at::zeros({n, n}, at::kBool);
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < n; ++j)
                keep[i][j] = full ? frame_of[static_cast<std::size_t>(i)] == frame_of[static_cast<std::size_t>(j)]
                                  : window_of[static_cast<std::size_t>(i)] == window_of[static_cast<std::size_t>(j)];
        at::Tensor h = rms(x, b.norm1);
        at::Tensor qkv = (at::matmul(h, b.qkv_w.t()) + b.qkv_b).view({n, 3, v.num_heads, hd});
        at::Tensor q = rot(qkv.select(1, 0)), k = rot(qkv.select(1, 1)), vv = qkv.select(1, 2); // [n, H, hd]
        at::Tensor scores = at::einsum("ihd,jhd->hij", {q, k}) / std::sqrt(static_cast<double>(hd));
        scores = scores.masked_fill(keep.logical_not().unsqueeze(0), -INFINITY);
        at::Tensor o = at::einsum("hij,jhd->ihd", {at::softmax(scores, -1), vv}).reshape({n, -1});
        x = x + at::matmul(o, b.proj_w.t()) + b.proj_b;
        at::Tensor z = rms(x, b.norm2);
        at::Tensor g = at::matmul(z, b.gate_w.t()) + b.gate_b;
        x = x + at::matmul((g * at::sigmoid(g)) * (at::matmul(z, b.up_w.t()) + b.up_b), b.down_w.t()) + b.down_b;
    }
    CHECK(got.size(0) == n / 4);
    CHECK(got.size(1) == m.config().text.hidden_size);
    // Compare the block outputs before the merger: run the merger on the naive result.
    temp_dir d2;
    rt::write_random_checkpoint(d2.str(), tiny(), {});
    auto ck = st::checkpoint::open(d2.str());
    auto W = [&](const std::string& name) {
        auto t = ck.tensor(name);
        return at::tensor(st::to_f32(t)).view(at::IntArrayRef(t.shape));
    };
    at::Tensor y = rms(x, W("visual.merger.ln_q.weight")).view({n / 4, -1});
    y = at::matmul(y, W("visual.merger.mlp.0.weight").t()) + W("visual.merger.mlp.0.bias");
    y = 0.5 * y * (1.0 + at::erf(y / std::sqrt(2.0)));
    y = at::matmul(y, W("visual.merger.mlp.2.weight").t()) + W("visual.merger.mlp.2.bias");
    CHECK(max_abs_diff(got, y) < 1e-4);
}

TEST_CASE("torch: incremental decoding with the KV cache equals a full forward") {
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    auto seq = make_sequence(11, 5, 9, {{1, 4, 6}});
    auto pb = rt::make_batch(m.config(), {seq}, 0);
    at::Tensor full = full_logits(m, pb);
    const std::int64_t L = pb.input_ids.size(1);
    const std::int64_t split = L - 6;
    at::Tensor img = m.encode_images(pb.pixel_values, pb.grid_thw);
    at::Tensor emb = m.embed(pb.input_ids, img);
    rt::kv_cache cache;
    at::Tensor first =
        m.forward(emb.narrow(1, 0, split), pb.position_ids.narrow(2, 0, split), pb.mask.narrow(1, 0, split), &cache);
    CHECK(max_abs_diff(first, full.narrow(1, 0, split)) < 1e-4);
    for (std::int64_t i = split; i < L; ++i) {
        at::Tensor step =
            m.forward(emb.narrow(1, i, 1), pb.position_ids.narrow(2, i, 1), pb.mask.narrow(1, i, 1), &cache);
        CHECK(max_abs_diff(step, full.narrow(1, i, 1)) < 1e-4);
    }
    CHECK(cache.length() == L);
    // Decode positions continue with the rope delta: slot + delta equals the text position of a full pass.
    CHECK((pb.rope_deltas[0].item<std::int64_t>() + L - 1) == pb.position_ids[0][0][L - 1].item<std::int64_t>());
    // Generation's cached loop reproduces greedy decoding by repeated full forwards.
    rt::sampling_options o;
    o.max_new_tokens = 6;
    auto gen = rt::generate(m, {seq}, o);
    REQUIRE(gen.tokens[0].size() == 6);
    auto grow = seq;
    for (int s = 0; s < 6; ++s) {
        auto b = rt::make_batch(m.config(), {grow}, 0);
        at::Tensor lg = full_logits(m, b);
        const std::int64_t next = lg[0][lg.size(1) - 1].argmax().item<std::int64_t>();
        CHECK(next == gen.tokens[0][static_cast<std::size_t>(s)]);
        grow.input_ids.push_back(next);
    }
}

TEST_CASE("torch: a long prompt's cached prefill runs in causal query blocks and equals the full forward") {
    // Prompts longer than the 256-row query block: the cached prefill (grouped_attention in blocks, each
    // against the keys up to its last row) against the no-cache forward (transformers' eager path), for a
    // left-padded batch whose rows start in different blocks; then a second cached chunk after them.
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    std::vector<rt::sequence_input> seqs = {make_sequence(31, 600, 40, {{1, 4, 6}}), make_sequence(32, 300, 3, {})};
    auto pb = rt::make_batch(m.config(), seqs, 0);
    const std::int64_t L = pb.input_ids.size(1);
    REQUIRE(L > 512);
    at::Tensor full = full_logits(m, pb);
    at::Tensor emb = rt::embed_batch(m, pb);
    const std::int64_t split = L - 20;
    rt::kv_cache cache;
    at::Tensor first =
        m.forward(emb.narrow(1, 0, split), pb.position_ids.narrow(2, 0, split), pb.mask.narrow(1, 0, split), &cache);
    at::Tensor rest = m.forward(emb.narrow(1, split, L - split), pb.position_ids.narrow(2, split, L - split),
                                pb.mask.narrow(1, split, L - split), &cache);
    // Row 1's padded positions attend to nothing and are meaningless: compare the real ones.
    const std::int64_t pad1 = L - static_cast<std::int64_t>(seqs[1].input_ids.size());
    CHECK(max_abs_diff(first[0], full[0].narrow(0, 0, split)) < 1e-4);
    CHECK(max_abs_diff(first[1].narrow(0, pad1, split - pad1), full[1].narrow(0, pad1, split - pad1)) < 1e-4);
    CHECK(max_abs_diff(rest, full.narrow(1, split, L - split)) < 1e-4);
    // Greedy generation (cached, blocked prefill) equals the rows run alone.
    rt::sampling_options o;
    o.max_new_tokens = 5;
    const auto both = rt::generate(m, seqs, o);
    for (std::size_t r = 0; r < seqs.size(); ++r)
        CHECK(both.tokens[r] == rt::generate(m, {seqs[r]}, o).tokens[0]);
}

#if RSCOVLM_TORCH_HAS_SDPA
TEST_CASE("torch: SDPA attention equals the eager path on a left-padded batch with images") {
    // LibTorch 2.1+ only (where `ops::sdpa_enabled` can be true): the fused kernels against transformers'
    // eager arithmetic, on the real positions of a left-padded batch (whose padded rows SDPA must keep
    // finite), through the vision tower, a cached prefill in query blocks and greedy decoding.
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    std::vector<rt::sequence_input> seqs = {make_sequence(41, 300, 12, {{1, 4, 6}}), make_sequence(42, 9, 2, {}),
                                            make_sequence(43, 30, 0, {{1, 2, 2}})};
    auto pb = rt::make_batch(m.config(), seqs, 0);
    const bool was = rt::ops::sdpa_enabled();
    rt::ops::set_sdpa(false);
    at::Tensor eager = full_logits(m, pb);
    rt::sampling_options o;
    o.max_new_tokens = 6;
    const auto eager_ids = rt::generate(m, seqs, o).tokens;
    rt::ops::set_sdpa(true);
    at::Tensor fused = full_logits(m, pb);
    const auto fused_ids = rt::generate(m, seqs, o).tokens;
    rt::ops::set_sdpa(was);
    const std::int64_t L = pb.input_ids.size(1);
    for (std::size_t r = 0; r < seqs.size(); ++r) {
        const std::int64_t n = static_cast<std::int64_t>(seqs[r].input_ids.size());
        const auto row = static_cast<std::int64_t>(r);
        CHECK(max_abs_diff(fused[row].narrow(0, L - n, n), eager[row].narrow(0, L - n, n)) < 1e-4);
        CHECK(fused[row].isfinite().all().item<bool>());
        CHECK(fused_ids[r] == eager_ids[r]);
    }
}
#endif

TEST_CASE("torch: the last-position forward equals the full forward's last position") {
    // `last_only` skips the last layer's queries, attention output and MLP for every other position;
    // the last position's logits are those of the full forward, with and without a cache, on a
    // left-padded batch with images.
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    std::vector<rt::sequence_input> seqs = {make_sequence(61, 5, 7, {{1, 4, 4}}), make_sequence(62, 3, 1, {})};
    auto pb = rt::make_batch(m.config(), seqs, 0);
    const std::int64_t L = pb.input_ids.size(1);
    const at::Tensor full = full_logits(m, pb).narrow(1, L - 1, 1);
    const at::Tensor emb = rt::embed_batch(m, pb);
    const at::Tensor plain = m.forward(emb, pb.position_ids, pb.mask, nullptr, true);
    rt::kv_cache cache;
    const at::Tensor cached = m.forward(emb, pb.position_ids, pb.mask, &cache, true);
    CHECK(plain.sizes() == full.sizes());
    CHECK(max_abs_diff(plain, full) < 1e-4);
    CHECK(max_abs_diff(cached, full) < 1e-4);
    // The cache holds every position's keys and values (the golden tests' greedy steps decode from it).
    CHECK(cache.length() == L);
}

TEST_CASE("torch: batched generation with left padding equals single generation") {
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    std::vector<rt::sequence_input> seqs = {make_sequence(21, 3, 4, {{1, 4, 4}}),
                                            make_sequence(22, 9, 2, {{1, 2, 6}, {1, 2, 2}}),
                                            make_sequence(23, 6, 0, {})};
    rt::sampling_options o;
    o.max_new_tokens = 8;
    auto batched = rt::generate(m, seqs, o);
    auto pb = rt::make_batch(m.config(), seqs, 0);
    at::Tensor lb = full_logits(m, pb);
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        auto single = rt::generate(m, {seqs[i]}, o);
        CHECK(single.tokens[0] == batched.tokens[i]);
        auto ps = rt::make_batch(m.config(), {seqs[i]}, 0);
        at::Tensor ls = full_logits(m, ps);
        const std::int64_t Ls = ls.size(1), Lb = lb.size(1);
        // Real (non-padded) positions agree.
        CHECK(max_abs_diff(ls[0], lb[static_cast<std::int64_t>(i)].narrow(0, Lb - Ls, Ls)) < 1e-4);
    }
}

TEST_CASE("torch: generation options, stops and streaming") {
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    auto seq = make_sequence(31, 4, 4, {{1, 2, 2}});
    rt::sampling_options o;
    o.max_new_tokens = 5;
    auto greedy = rt::generate(m, {seq}, o);
    CHECK(greedy.finish_reasons[0] == "length");
    // A stop id ends generation and is kept.
    o.stop_ids = {greedy.tokens[0][2]};
    auto stopped = rt::generate(m, {seq}, o);
    CHECK(stopped.finish_reasons[0] == "stop");
    CHECK(stopped.tokens[0].size() <= 3);
    CHECK(stopped.tokens[0].back() == greedy.tokens[0][2]);
    // Streaming sees every token; returning false stops.
    o.stop_ids.clear();
    std::vector<std::int64_t> streamed;
    auto s = rt::generate(m, {seq}, o, [&](std::size_t, std::int64_t t) {
        streamed.push_back(t);
        return streamed.size() < 3;
    });
    CHECK(streamed.size() == 3);
    CHECK(s.finish_reasons[0] == "callback");
    // Sampling: top_k = 1 is greedy; a fixed seed reproduces; top_p keeps tokens within the vocabulary.
    o.do_sample = true;
    o.top_k = 1;
    o.temperature = 0.7;
    CHECK(rt::generate(m, {seq}, o).tokens[0] == greedy.tokens[0]);
    o.top_k = 0;
    o.top_p = 0.9;
    o.temperature = 1.5;
    o.seed = 7;
    o.repetition_penalty = 1.2;
    auto a = rt::generate(m, {seq}, o), b = rt::generate(m, {seq}, o);
    CHECK(a.tokens == b.tokens);
    for (auto t : a.tokens[0])
        CHECK((t >= 0 && t < m.config().text.vocab_size));
    // Repetition penalty as transformers: positive scores divided, negative multiplied.
    std::vector<float> lg = {2.0f, -1.0f, 1.5f};
    std::mt19937_64 rng(0);
    rt::sampling_options rp;
    rp.repetition_penalty = 2.0;
    CHECK(rt::detail::pick_token(lg, {0}, rp, rng) == 2);
    CHECK(lg[0] == 1.0f);
    lg = {-0.5f, -1.0f};
    CHECK(rt::detail::pick_token(lg, {0}, rp, rng) == 0);
    CHECK(lg[0] == -1.0f);
    // bfloat16 on CPU runs and stays close to float32.
    temp_dir d;
    rt::write_random_checkpoint(d.str(), tiny(), {});
    rt::load_options lo;
    lo.dtype = "bfloat16";
    auto mb = rt::qwen2_5_vl::load(d.str(), lo);
    CHECK(bool(mb.dtype() == at::kBFloat16));
    auto pb = rt::make_batch(m.config(), {seq}, 0);
    at::Tensor l32 = full_logits(m, pb), l16 = full_logits(mb, pb).to(at::kFloat);
    CHECK(bool(at::isfinite(l16).all().item<bool>()));
    CHECK(max_abs_diff(l32, l16) < 0.25);
}

TEST_CASE("torch: token log-probabilities are the log-softmax of the logits (chosen id and top k)") {
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    auto seq = make_sequence(41, 5, 4, {{1, 2, 2}});
    rt::sampling_options o;
    o.max_new_tokens = 4;
    o.logprobs = 3;
    auto g = rt::generate(m, {seq}, o);
    REQUIRE(g.scores.size() == 1);
    REQUIRE(g.scores[0].size() == g.tokens[0].size());
    auto grow = seq;
    for (std::size_t s = 0; s < g.tokens[0].size(); ++s) {
        const auto b = rt::make_batch(m.config(), {grow}, 0);
        const at::Tensor lg = full_logits(m, b)[0][b.input_ids.size(1) - 1];
        const at::Tensor lsm = at::log_softmax(lg.to(at::kDouble), 0);
        const std::int64_t tok = g.tokens[0][s];
        const auto& sc = g.scores[0][s];
        CHECK(sc.logprob == doctest::Approx(lsm[tok].item<double>()).epsilon(1e-4));
        REQUIRE(sc.top.size() == 3);
        const auto top = lsm.topk(3);
        for (int k = 0; k < 3; ++k) {
            CHECK(sc.top[static_cast<std::size_t>(k)].first == std::get<1>(top)[k].item<std::int64_t>());
            CHECK(sc.top[static_cast<std::size_t>(k)].second ==
                  doctest::Approx(std::get<0>(top)[k].item<double>()).epsilon(1e-4));
        }
        CHECK(sc.top[0].first == tok); // greedy: the chosen id is the most likely
        grow.input_ids.push_back(tok);
    }
    // Not asked for: none recorded, and the ids are the same.
    o.logprobs = -1;
    auto plain = rt::generate(m, {seq}, o);
    CHECK(plain.scores.empty());
    CHECK(plain.tokens == g.tokens);
}

TEST_CASE("torch: sampling refuses NaN and infinite scores as torch.multinomial does") {
    std::mt19937_64 rng(0);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    auto outcome = [&](std::vector<float> lg, const rt::sampling_options& o) {
        // The device picker (`pick_tokens`, one row, the same draw) gives the same outcome.
        std::mt19937_64 same = rng;
        const std::vector<double> u = {std::uniform_real_distribution<double>(0.0, 1.0)(same)};
        const at::Tensor row = at::tensor(lg).view({1, static_cast<std::int64_t>(lg.size())});
        std::int64_t picked = -1, on_device = -1;
        const std::string id = error_id([&] { picked = rt::detail::pick_token(lg, {}, o, rng); });
        const std::string device_id = error_id([&] { on_device = rt::detail::pick_tokens(row, {}, o, u).at(0); });
        CHECK(device_id == id);
        if (id == "ok") CHECK(on_device == picked);
        return id == "ok" ? std::to_string(picked) : id;
    };
    const std::string refused = "rscovlm.torch.invalid_probabilities";
    rt::sampling_options s;
    s.do_sample = true;
    CHECK(outcome({nan, nan, nan}, s) == refused); // all-NaN logits: softmax is NaN
    CHECK(outcome({1.0f, nan, 0.5f}, s) == refused);
    CHECK(outcome({1.0f, inf, 0.5f}, s) == refused); // inf - inf in the softmax
    CHECK(outcome({-inf, -inf}, s) == refused);      // 0 / 0
    CHECK(outcome({-inf, 0.0f, -inf}, s) == "1");    // one finite score is a distribution
    s.top_k = 1;
    CHECK(outcome({nan, 1.0f}, s) == refused);
    s.top_k = 0;
    s.top_p = 0.5;
    CHECK(outcome({2.0f, nan}, s) == refused);
    s.temperature = 1e-30; // finite scores that overflow to inf once divided by the temperature
    CHECK(outcome({1e10f, 0.0f}, s) == refused);
    // Greedy decoding is torch.argmax: NaN counts as the maximum (its first occurrence).
    rt::sampling_options g;
    CHECK(outcome({1.0f, nan, 3.0f, nan}, g) == "1");
    CHECK(outcome({1.0f, 3.0f, 3.0f}, g) == "1");
}

TEST_CASE("torch: few-row products (row_gemm) equal linear, and a row's result does not depend on the batch") {
    ::torch::NoGradGuard ng;
    at::manual_seed(9);
    if (!rt::ops::row_gemm_applies(at::zeros({1, 8}), at::zeros({4, 8}))) {
        MESSAGE("row_gemm does not run on this CPU: linear falls back to LibTorch");
        return;
    }
    for (std::int64_t K : {1, 7, 8, 13, 64, 300}) {
        for (std::int64_t N : {1, 3, 4, 5, 130, 517}) {
            const at::Tensor w = at::randn({N, K}), b = at::randn({N});
            const at::Tensor x = at::randn({rt::ops::row_gemm_max_rows, K});
            for (std::int64_t M :
                 {std::int64_t{1}, std::int64_t{2}, std::int64_t{3}, std::int64_t{8}, rt::ops::row_gemm_max_rows}) {
                const at::Tensor xm = x.narrow(0, 0, M);
                const at::Tensor y = rt::ops::linear(xm, w, b);
                CHECK(max_abs_diff(y, at::linear(xm, w, b)) < 1e-4 * std::sqrt(static_cast<double>(K)));
                // Each row alone gives the same bits as in the batch, on one thread or two.
                rt::ops::set_row_gemm_threads(1);
                for (std::int64_t m = 0; m < M; ++m)
                    CHECK(rt::ops::linear(xm.narrow(0, m, 1), w, b).equal(y.narrow(0, m, 1)));
                rt::ops::set_row_gemm_threads(2);
            }
            // A [B, 1, K] decode input keeps its leading shape; more rows than the limit take LibTorch's path.
            const at::Tensor x3 = x.narrow(0, 0, 4).view({4, 1, K});
            CHECK(rt::ops::linear(x3, w).sizes() == at::IntArrayRef({4, 1, N}));
            const at::Tensor big = at::randn({rt::ops::row_gemm_max_rows + 1, K});
            CHECK(rt::ops::linear(big, w, b).equal(at::linear(big, w, b)));
        }
    }
    // A large product split between threads equals the one-thread result bit for bit.
    const at::Tensor w = at::randn({4099, 896}), x = at::randn({5, 896});
    rt::ops::set_row_gemm_threads(1);
    const at::Tensor one = rt::ops::row_gemm(x, w);
    rt::ops::set_row_gemm_threads(3);
    CHECK(rt::ops::row_gemm(x, w).equal(one));
    CHECK(max_abs_diff(one, at::linear(x, w)) < 1e-3);
    rt::ops::set_row_gemm_threads(2);
}

TEST_CASE("torch: picking on the device equals picking on the host, row by row and in generation") {
    // Random rows with ties and -inf entries, each option set with and without a repetition penalty:
    // `pick_tokens` over the batch against `pick_token` row by row, the same draws.
    std::mt19937_64 gen(5);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    const std::int64_t R = 64, V = 40;
    std::vector<std::vector<float>> rows(R, std::vector<float>(V));
    std::vector<std::set<std::int64_t>> seen(R);
    at::Tensor seen_mask = at::zeros({R, V}, at::TensorOptions().dtype(at::kBool));
    for (std::int64_t r = 0; r < R; ++r) {
        for (std::int64_t i = 0; i < V; ++i) {
            float v = std::round(nd(gen) * 4.0f) / 4.0f; // quarter steps: ties
            if (gen() % 9 == 0) v = -std::numeric_limits<float>::infinity();
            rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(i)] = v;
            if (gen() % 5 == 0) {
                seen[static_cast<std::size_t>(r)].insert(i);
                seen_mask[r][i] = true;
            }
        }
        rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(r % V)] = 1.0f; // one finite score at least
    }
    at::Tensor logits = at::empty({R, V});
    for (std::int64_t r = 0; r < R; ++r)
        std::copy(rows[static_cast<std::size_t>(r)].begin(), rows[static_cast<std::size_t>(r)].end(),
                  logits[r].data_ptr<float>());
    std::vector<rt::sampling_options> sets(5);
    sets[1].do_sample = true;
    sets[1].temperature = 0.7;
    sets[2].do_sample = true;
    sets[2].top_k = 5;
    sets[3].do_sample = true;
    sets[3].top_p = 0.8;
    sets[3].temperature = 1.3;
    sets[4].do_sample = true;
    sets[4].top_k = 12;
    sets[4].top_p = 0.6;
    int sampled_differently = 0;
    for (double penalty : {1.0, 1.3}) {
        for (auto o : sets) {
            o.repetition_penalty = penalty;
            std::mt19937_64 host_rng(11), device_rng(11);
            std::vector<double> u;
            if (o.do_sample)
                for (std::int64_t r = 0; r < R; ++r)
                    u.push_back(std::uniform_real_distribution<double>(0.0, 1.0)(device_rng));
            const auto on_device = rt::detail::pick_tokens(logits, seen_mask, o, u);
            for (std::int64_t r = 0; r < R; ++r) {
                std::vector<float> lv = rows[static_cast<std::size_t>(r)];
                CHECK(on_device[static_cast<std::size_t>(r)] ==
                      rt::detail::pick_token(lv, seen[static_cast<std::size_t>(r)], o, host_rng));
            }
            // The same rows with other draws pick other ids: the draw matters.
            if (o.do_sample && o.top_k != 1) {
                std::vector<double> v(u.size());
                for (std::size_t i = 0; i < v.size(); ++i)
                    v[i] = 1.0 - u[i];
                const auto other = rt::detail::pick_tokens(logits, seen_mask, o, v);
                sampled_differently += other != on_device ? 1 : 0;
            }
        }
    }
    CHECK(sampled_differently == 8);
    // A finished row's scores are never refused (its pick is discarded); an unfinished row's are.
    {
        rt::sampling_options so;
        so.do_sample = true;
        at::Tensor two = at::zeros({2, 4});
        two[0][1] = std::numeric_limits<float>::quiet_NaN();
        CHECK(rt::detail::pick_tokens(two, {}, so, {0.5, 0.5}, {true, false}).size() == 2);
        CHECK(error_id([&] {
                  rt::detail::pick_tokens(two, {}, so, {0.5, 0.5}, {false, false});
              }) == "rscovlm.torch.invalid_probabilities");
    }
    // The device's record of the ids each row holds: a refilled row (reset) drops what its previous
    // sequence queued and is rebuilt from the host's set; other rows keep their added ids.
    {
        rt::detail::seen_mask sm(2);
        std::vector<std::set<std::int64_t>> held = {{1, 2}, {3}};
        at::Tensor mk = sm.sync(held, 6, at::kCPU).clone();
        CHECK(mk.sum().item<std::int64_t>() == 3);
        sm.add(0, 5);
        sm.add(1, 4);
        sm.add(1, 9); // beyond the vocabulary: ignored
        sm.reset(1);  // row 1 now holds another prompt
        held[1] = {0};
        mk = sm.sync(held, 6, at::kCPU).clone();
        CHECK(mk[0].nonzero().view({-1}).equal(at::tensor(std::vector<std::int64_t>{1, 2, 5})));
        CHECK(mk[1].nonzero().view({-1}).equal(at::tensor(std::vector<std::int64_t>{0})));
    }
    // generate: the device path and the host path give the same sampled ids (a batch, a penalty, top-p).
    ::torch::NoGradGuard ng;
    const auto& m = tiny_model();
    std::vector<rt::sequence_input> seqs = {make_sequence(51, 4, 3, {{1, 2, 2}}), make_sequence(52, 9, 1, {})};
    rt::sampling_options o;
    o.max_new_tokens = 10;
    o.do_sample = true;
    o.temperature = 1.4;
    o.top_p = 0.95;
    o.top_k = 50;
    o.repetition_penalty = 1.3;
    o.seed = 3;
    const auto device = rt::generate(m, seqs, o);
    o.device_sampling = false;
    const auto host = rt::generate(m, seqs, o);
    CHECK(device.tokens == host.tokens);
    o.seed = 4;
    CHECK(rt::generate(m, seqs, o).tokens != host.tokens);
}

TEST_CASE("torch: both name layouts and sharded checkpoints load to the same model") {
    ::torch::NoGradGuard ng;
    temp_dir flat, nested;
    rt::write_random_checkpoint(flat.str(), tiny(), {});
    rt::random_checkpoint_options o;
    o.layout = rt::name_layout::nested;
    o.max_shard_bytes = 64 * 1024;
    auto names = rt::write_random_checkpoint(nested.str(), tiny(), o);
    CHECK(names.front().rfind("model.visual.", 0) == 0);
    CHECK(fs::exists(nested / "model.safetensors.index.json"));
    auto ck = st::checkpoint::open(nested.str());
    CHECK(ck.files().size() > 2);
    CHECK(rt::detect_layout(ck.names()) == rt::name_layout::nested);
    auto a = rt::qwen2_5_vl::load(flat.str());
    auto b = rt::qwen2_5_vl::load(nested.str());
    auto seq = make_sequence(41, 2, 3, {{1, 2, 4}});
    auto pb = rt::make_batch(a.config(), {seq}, 0);
    CHECK(max_abs_diff(full_logits(a, pb), full_logits(b, pb)) == 0.0);
    // bfloat16 weights on disk load too.
    temp_dir bf;
    rt::random_checkpoint_options ob;
    ob.bf16 = true;
    rt::write_random_checkpoint(bf.str(), tiny(), ob);
    CHECK(st::checkpoint::open(bf.str()).info("model.norm.weight").type == st::dtype::bf16);
    CHECK(error_id([&] { rt::qwen2_5_vl::load(bf.str()); }) == "ok");
    // Tied embeddings: no lm_head in the checkpoint, the head is the embedding matrix.
    temp_dir tied;
    auto tc = tiny();
    tc.text.tie_word_embeddings = true;
    auto tnames = rt::write_random_checkpoint(tied.str(), tc, {});
    CHECK(std::find(tnames.begin(), tnames.end(), "lm_head.weight") == tnames.end());
    auto mt = rt::qwen2_5_vl::load(tied.str());
    CHECK(mt.text().embed_tokens().data_ptr() != nullptr);
}

namespace {

std::vector<char> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// True when `p` lies in a mapping of `file` (Linux /proc/self/maps).
bool in_mapping_of(const void* p, const std::string& file) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    const std::string canon = fs::canonical(file).string();
    while (std::getline(maps, line)) {
        if (line.size() < canon.size() || line.compare(line.size() - canon.size(), canon.size(), canon) != 0) continue;
        const auto dash = line.find('-'), space = line.find(' ');
        const auto lo = std::stoull(line.substr(0, dash), nullptr, 16);
        const auto hi = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
        if (addr >= lo && addr < hi) return true;
    }
    return false;
}

} // namespace

TEST_CASE("torch: weights mapped copy-on-write equal copied ones and never write the file") {
    ::torch::NoGradGuard ng;
    temp_dir d;
    rt::write_random_checkpoint(d.path.string(), rt::tiny_config(), {});
    const std::string file = (d.path / "model.safetensors").string();
    const auto before = file_bytes(file);
    rt::load_options copied;
    copied.dtype = "float32";
    rt::load_options mapped = copied;
    mapped.map_weights = true;
    CHECK_FALSE(copied.map_weights); // the default reads the weights into owned memory
    auto a = rt::qwen2_5_vl::load(d.path.string(), mapped);
    auto b = rt::qwen2_5_vl::load(d.path.string(), copied);
    const auto& pa = a.named_parameters();
    const auto& pb = b.named_parameters();
    REQUIRE(pa.size() == pb.size());
    std::size_t views = 0;
    for (std::size_t i = 0; i < pa.size(); ++i) {
        CHECK(pa[i].first == pb[i].first);
        CHECK(pa[i].second.equal(pb[i].second));
        CHECK_FALSE(in_mapping_of(pb[i].second.data_ptr(), file));
        // Read into the weight arena: each weight at a 64-byte boundary.
        CHECK(reinterpret_cast<std::uintptr_t>(pb[i].second.data_ptr()) % 64 == 0);
        views += in_mapping_of(pa[i].second.data_ptr(), file) ? 1 : 0;
    }
    // float32 stored, float32 computed: every weight is a view of the file's mapping (the writer aligns).
    CHECK(views == pa.size());
    // A write (an optimizer step, a merged adapter) copies the page for this process; the file and a
    // later load are untouched.
    at::Tensor w = pa.front().second;
    w.add_(1.0);
    CHECK_FALSE(w.equal(pb.front().second));
    CHECK(file_bytes(file) == before);
    auto c = rt::qwen2_5_vl::load(d.path.string(), mapped);
    CHECK(c.named_parameters().front().second.equal(pb.front().second));
    // bfloat16 stored, float32 computed: converted copies, not views.
    temp_dir e;
    rt::random_checkpoint_options bf;
    bf.bf16 = true;
    rt::write_random_checkpoint(e.path.string(), rt::tiny_config(), bf);
    auto f = rt::qwen2_5_vl::load(e.path.string(), mapped);
    CHECK_FALSE(in_mapping_of(f.named_parameters().front().second.data_ptr(), (e.path / "model.safetensors").string()));
    auto g = rt::qwen2_5_vl::load(e.path.string(), copied);
    REQUIRE(f.named_parameters().size() == g.named_parameters().size());
    for (std::size_t i = 0; i < g.named_parameters().size(); ++i) {
        CHECK(f.named_parameters()[i].second.equal(g.named_parameters()[i].second));
        CHECK(reinterpret_cast<std::uintptr_t>(g.named_parameters()[i].second.data_ptr()) % 64 == 0);
    }
}

TEST_CASE("torch: malformed checkpoints give typed errors naming the tensor") {
    temp_dir d;
    auto reset = [&] {
        fs::remove_all(d.path);
        fs::create_directories(d.path);
        rt::write_random_checkpoint(d.str(), tiny(), {});
    };
    auto load = [&] { rt::qwen2_5_vl::load(d.str()); };
    reset();
    CHECK(error_id(load) == "ok");
    // Missing tensor.
    edit_checkpoint(d.str(), [](std::vector<st::tensor_view>& v, auto&) {
        v.erase(std::remove_if(v.begin(), v.end(),
                               [](const st::tensor_view& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; }),
                v.end());
    });
    CHECK(error_id(load) == "rscovlm.torch.missing_weight");
    CHECK(error_message(load).find("model.layers.1.mlp.up_proj.weight") != std::string::npos);
    // Unexpected tensor.
    reset();
    std::vector<float> extra(4, 0.0f);
    edit_checkpoint(d.str(), [&](std::vector<st::tensor_view>& v, auto&) {
        v.push_back(st::make_view("model.layers.9.foo", st::dtype::f32, {4}, extra));
    });
    CHECK(error_id(load) == "rscovlm.torch.unexpected_weight");
    CHECK(error_message(load).find("model.layers.9.foo") != std::string::npos);
    // Mis-shaped tensor.
    reset();
    edit_checkpoint(d.str(), [](std::vector<st::tensor_view>& v, auto&) {
        for (auto& t : v)
            if (t.name == "visual.blocks.0.attn.qkv.bias") t.shape = {48, 2};
    });
    CHECK(error_id(load) == "rscovlm.torch.weight_shape");
    CHECK(error_message(load).find("visual.blocks.0.attn.qkv.bias") != std::string::npos);
    // Unsupported dtype.
    reset();
    edit_checkpoint(d.str(), [](std::vector<st::tensor_view>& v, auto&) {
        for (auto& t : v)
            if (t.name == "model.norm.weight") t.type = st::dtype::i32;
    });
    CHECK(error_id(load) == "rscovlm.torch.weight_dtype");
    // The same weight under both layouts.
    reset();
    edit_checkpoint(d.str(), [](std::vector<st::tensor_view>& v, auto&) {
        for (const auto& t : v)
            if (t.name == "model.norm.weight") {
                auto dup = t;
                dup.name = "model.language_model.norm.weight";
                v.push_back(dup);
                break;
            }
    });
    CHECK(error_id(load) == "rscovlm.torch.duplicate_weight");
    // A truncated file, a broken index, a missing shard, a missing config.
    reset();
    fs::resize_file(d / "model.safetensors", fs::file_size(d / "model.safetensors") - 3);
    CHECK(error_id(load) == "rscovlm.io.safetensors_bad_offsets");
    reset();
    fs::resize_file(d / "model.safetensors", 5);
    CHECK(error_id(load) == "rscovlm.io.safetensors_truncated");
    reset();
    {
        std::ofstream(d / "model.safetensors.index.json")
            << R"({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})";
    }
    CHECK(error_id(load) == "rscovlm.io.safetensors_open");
    reset();
    fs::remove(d / "config.json");
    CHECK(error_id(load) == "rscovlm.config.missing_model_config");
    // Memory limit and device checks happen before any weight is read.
    reset();
    rt::load_options lo;
    lo.memory_limit_bytes = 1024;
    std::uint64_t seen = 0;
    lo.on_estimate = [&](const rt::memory_estimate& e) { seen = e.total_bytes; };
    CHECK(error_id([&] { rt::qwen2_5_vl::load(d.str(), lo); }) == "rscovlm.limit.model_memory");
    CHECK(seen > 1024);
    rt::load_options ld;
    ld.device = "not-a-device";
    CHECK(error_id([&] { rt::qwen2_5_vl::load(d.str(), ld); }) == "rscovlm.torch.bad_device");
    ld.device = "cpu";
    ld.dtype = "int8";
    CHECK(error_id([&] { rt::qwen2_5_vl::load(d.str(), ld); }) == "rscovlm.torch.bad_dtype");
    // Inputs that do not match the model.
    const auto& m = tiny_model();
    auto seq = make_sequence(51, 2, 2, {{1, 2, 2}});
    seq.input_ids.erase(std::find(seq.input_ids.begin(), seq.input_ids.end(), m.config().image_token_id));
    CHECK(error_id([&] { rt::generate(m, {seq}, {}); }) == "rscovlm.torch.image_token_mismatch");
    // A sampled <|image_pad|> in a decode step (no pixel values) embeds as text, as transformers does.
    const at::Tensor pad_id = at::full({1, 1}, m.config().image_token_id, at::TensorOptions().dtype(at::kLong));
    CHECK(m.embed(pad_id).equal(m.text().embed(pad_id)));
    CHECK(error_id([&] { m.encode_images(at::zeros({4, 10}), {{1, 2, 2}}); }) == "rscovlm.torch.bad_pixel_values");
    CHECK(error_id([&] { m.encode_images(at::zeros({3, 1176}), {{1, 1, 3}}); }) == "rscovlm.torch.bad_grid");
}

TEST_CASE("torch: processor and zoom backend with the bundled tokenizer") {
    const std::string tok_path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    if (!fs::exists(tok_path)) {
        MESSAGE("skipped: bundled tokenizer " << tok_path << " is absent");
        return;
    }
    auto tok = rscovlm::tokenizer::bpe_tokenizer::from_file(tok_path);
    auto id = [&](const char* t) { return static_cast<std::int64_t>(tok.token_to_id(t).value()); };
    auto cfg = rt::tiny_config(static_cast<int>(tok.vocab_size()), id("<|image_pad|>"), id("<|vision_start|>"),
                               id("<|vision_end|>"), {id("<|im_end|>")});
    cfg.video_token_id = id("<|video_pad|>");
    cfg.text.tie_word_embeddings = true;
    temp_dir d;
    rt::write_random_checkpoint(d.str(), cfg, {});
    fs::copy_file(tok_path, d / "tokenizer.json");
    // Registry: the plugin's catalog builds the backend from JSON parameters.
    CHECK(rscovlm::registry::keys<rt::builtin>() == std::vector<std::string_view>{"backend.torch.qwen2_5_vl"});
    auto backend = rscovlm::registry::make<rt::backend_kind>("backend.torch.qwen2_5_vl", {{"model", d.str()}});
    REQUIRE(backend);
    rscovlm::image img(56, 84, 3);
    for (std::size_t i = 0; i < img.data.size(); ++i)
        img.data[i] = static_cast<std::uint8_t>(i * 7);
    nlohmann::json messages = nlohmann::json::array(
        {{{"role", "user"},
          {"content",
           nlohmann::json::array({{{"type", "image"}}, {{"type", "text"}, {"text", "Where is the ship?"}}})}}});
    rscovlm::zoom::generation_options go;
    go.max_new_tokens = 5;
    const std::string a = backend->generate(messages, {img}, go);
    CHECK(backend->last_usage().completion_tokens >= 1);
    CHECK(backend->last_usage().completion_tokens <= 5);
    // The 56 x 84 (w x h) image is used as given (already resized): grid 6 x 4 patches, 3 x 2 merged units -> 6 pads.
    auto* tb = dynamic_cast<rt::qwen2_5_vl_backend*>(backend.get());
    REQUIRE(tb != nullptr);
    auto prepared = tb->model().prepare(messages, {img}, true);
    CHECK((prepared.input.grid_thw.front() == std::array<std::int64_t, 3>{1, 6, 4}));
    CHECK(std::count(prepared.input.input_ids.begin(), prepared.input.input_ids.end(), cfg.image_token_id) == 6);
    CHECK(prepared.text.rfind("<|im_start|>assistant\n") == prepared.text.size() - 22);
    CHECK(backend->last_usage().prompt_tokens == static_cast<long>(prepared.input.input_ids.size()));
    // Deterministic greedy answer; a stop string cuts it.
    CHECK(backend->generate(messages, {img}, go) == a);
    if (a.size() > 2) {
        go.stop = {a.substr(1, 1)};
        CHECK(backend->generate(messages, {img}, go).size() <= 1);
    }
    // Backends of the same parameters share one model; requests queued together run as one batch and
    // give what each gives alone (greedy), each row with its own token limit and stop strings.
    {
        auto b2 = rscovlm::registry::make<rt::backend_kind>("backend.torch.qwen2_5_vl", {{"model", d.str()}});
        auto* t2 = dynamic_cast<rt::qwen2_5_vl_backend*>(b2.get());
        REQUIRE(t2 != nullptr);
        CHECK(t2->engine() == tb->engine());
        std::vector<rscovlm::image> imgs;
        for (int k = 0; k < 3; ++k) {
            rscovlm::image im(56 + 28 * k, 56, 3);
            for (std::size_t i = 0; i < im.data.size(); ++i)
                im.data[i] = static_cast<std::uint8_t>(i * (3 + k));
            imgs.push_back(im);
        }
        std::vector<rscovlm::zoom::generation_options> gos(3);
        gos[0].max_new_tokens = 4;
        gos[1].max_new_tokens = 6;
        gos[2].max_new_tokens = 5;
        std::vector<std::string> alone;
        for (int k = 0; k < 3; ++k)
            alone.push_back(
                backend->generate(messages, {imgs[static_cast<std::size_t>(k)]}, gos[static_cast<std::size_t>(k)]));
        tb->engine()->hold(true);
        std::vector<std::string> together(3);
        std::vector<std::thread> threads;
        std::vector<std::unique_ptr<rscovlm::zoom::backend>> own;
        for (int k = 0; k < 3; ++k)
            own.push_back(rscovlm::registry::make<rt::backend_kind>("backend.torch.qwen2_5_vl", {{"model", d.str()}}));
        for (int k = 0; k < 3; ++k)
            threads.emplace_back([&, k] {
                together[static_cast<std::size_t>(k)] = own[static_cast<std::size_t>(k)]->generate(
                    messages, {imgs[static_cast<std::size_t>(k)]}, gos[static_cast<std::size_t>(k)]);
            });
        while (tb->engine()->queued() < 3)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        tb->engine()->hold(false);
        for (auto& t : threads)
            t.join();
        CHECK(tb->engine()->largest_batch() == 3);
        CHECK(together == alone);
        CHECK(own[1]->last_usage().completion_tokens <= 6);
    }
    // Continuous batching: two rows, four requests; the short ones finish first and the waiting ones
    // take their rows mid-generation. Every answer equals the single-prompt one.
    {
        auto e = std::make_shared<rt::batch_engine>(rt::vlm::load(d.str()), 2);
        const int limits[4] = {2, 9, 3, 6};
        std::vector<rt::prepared_prompt> prompts;
        for (int k = 0; k < 4; ++k) {
            rscovlm::image im(56, 84, 3); // prompts of one length: whichever two run first, the others fit
            for (std::size_t i = 0; i < im.data.size(); ++i)
                im.data[i] = static_cast<std::uint8_t>(i * (7 + k));
            prompts.push_back(e->model().prepare(messages, {im}, true));
        }
        std::vector<rt::vlm_output> alone, together(4);
        for (int k = 0; k < 4; ++k) {
            rt::sampling_options so = e->model().default_sampling(limits[k]);
            so.do_sample = false;
            alone.push_back(e->model().generate(prompts[static_cast<std::size_t>(k)].input, so));
        }
        e->hold(true);
        std::vector<std::thread> threads;
        for (int k = 0; k < 4; ++k)
            threads.emplace_back([&, k] {
                rt::sampling_options so = e->model().default_sampling(limits[k]);
                so.do_sample = false;
                together[static_cast<std::size_t>(k)] = e->run(prompts[static_cast<std::size_t>(k)].input, so, {});
            });
        while (e->queued() < 4)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        e->hold(false);
        for (auto& t : threads)
            t.join();
        CHECK(e->largest_batch() == 2);
        CHECK(e->refills() >= 1);
        for (int k = 0; k < 4; ++k) {
            CAPTURE(k);
            CHECK(together[static_cast<std::size_t>(k)].tokens == alone[static_cast<std::size_t>(k)].tokens);
            CHECK(together[static_cast<std::size_t>(k)].text == alone[static_cast<std::size_t>(k)].text);
            CHECK(together[static_cast<std::size_t>(k)].prompt_tokens ==
                  alone[static_cast<std::size_t>(k)].prompt_tokens);
        }
    }
    // Streaming and log-probabilities through the backend: the pieces spell the answer, the tokens'
    // bytes spell it too, each piece's tokens are sent once, and returning false cancels.
    {
        rscovlm::zoom::generation_options so;
        so.max_new_tokens = 8;
        const std::string whole = backend->generate(messages, {img}, so);
        so.logprobs = 2;
        std::string pieces, spelled;
        std::size_t streamed_tokens = 0;
        so.on_text = [&](const std::string& piece, const std::vector<rscovlm::zoom::token_logprob>& toks) {
            pieces += piece;
            streamed_tokens += toks.size();
            return true;
        };
        CHECK(backend->generate(messages, {img}, so) == whole);
        CHECK(pieces == whole);
        const auto lps = backend->last_logprobs();
        CHECK(streamed_tokens == lps.size());
        for (const auto& t : lps) {
            spelled += t.text;
            CHECK(t.logprob <= 0.0);
            CHECK(t.top.size() == 2);
        }
        CHECK(spelled.compare(0, whole.size(), whole) == 0);
        CHECK(backend->last_usage().finish_reason != "");
        int calls = 0;
        so.on_text = [&](const std::string&, const std::vector<rscovlm::zoom::token_logprob>&) { return ++calls < 2; };
        backend->generate(messages, {img}, so);
        // Cancelled at the second piece; an answer that came in one piece finished on its own.
        if (calls == 2)
            CHECK(backend->last_usage().finish_reason == "cancelled");
        else
            CHECK(backend->last_usage().finish_reason != "cancelled");
        // A stop string is never streamed, even in part.
        if (whole.size() > 3) {
            so.on_text = [&](const std::string& piece, const std::vector<rscovlm::zoom::token_logprob>&) {
                pieces += piece;
                return true;
            };
            pieces.clear();
            so.stop = {whole.substr(2, 2)};
            const std::string cut = backend->generate(messages, {img}, so);
            CHECK(pieces == cut);
            CHECK(cut == whole.substr(0, whole.find(whole.substr(2, 2))));
        }
    }
    // A video through the backend (a server's video part): the frames take the frame-list path and the
    // answer is the model's own on the same preprocessed video; the frames' fps sets the temporal step.
    {
        std::vector<rscovlm::image> frames;
        for (int k = 0; k < 3; ++k) {
            rscovlm::image fr(56, 84, 3);
            for (std::size_t i = 0; i < fr.data.size(); ++i)
                fr.data[i] = static_cast<std::uint8_t>(i * (3 + k));
            frames.push_back(std::move(fr));
        }
        const nlohmann::json vmsg = nlohmann::json::array(
            {{{"role", "user"},
              {"content", nlohmann::json::array({{{"type", "video"}}, {{"type", "text"}, {"text", "What moves?"}}})}}});
        rscovlm::zoom::generation_options vo;
        vo.max_new_tokens = 6;
        const std::string via_backend = backend->generate_with_video(vmsg, {}, {{frames, 1.0}}, vo);
        rscovlm::resolution::video_options ro;
        ro.frames.fps = 1.0;
        auto vp = tb->model().prepare(vmsg, {}, true, {rscovlm::resolution::preprocess_frame_list(frames, ro)});
        REQUIRE(vp.input.video_grid_thw.size() == 1);
        CHECK(vp.input.video_grid_thw[0][0] == 2); // 3 frames padded to 4, 2 per temporal patch
        REQUIRE(vp.input.second_per_grid_ts.size() == 1);
        CHECK(vp.input.second_per_grid_ts[0] == doctest::Approx(2.0)); // temporal_patch_size / fps
        rt::sampling_options vso = tb->model().default_sampling(6);
        vso.do_sample = false;
        CHECK(via_backend == tb->model().generate(vp.input, vso).text);
        CHECK(backend->last_usage().prompt_tokens == static_cast<long>(vp.input.input_ids.size()));
        CHECK(std::count(vp.input.input_ids.begin(), vp.input.input_ids.end(), cfg.video_token_id) > 0);
    }
    // Characters split between tokens, an invalid byte and a stop string, forced through a logits
    // processor: the pieces never hold part of a character, spell the answer, and each token is sent
    // only once its text is shown; log-probabilities cover the tokens that start before the stop
    // string, counted in decoded text (U+FFFD is 3 bytes for 1 raw byte), not in raw bytes.
    {
        auto byte_id = [&](unsigned char b) {
            for (std::int32_t i = 0; i < static_cast<std::int32_t>(tok.vocab_size()); ++i)
                if (tok.token_bytes(i, true) == std::string(1, static_cast<char>(b)))
                    return static_cast<std::int64_t>(i);
            FAIL("no single-byte token for " << int(b));
            return std::int64_t{-1};
        };
        const std::vector<std::int64_t> forced = {byte_id('a'),  byte_id(0xE4), byte_id(0xB8), byte_id(0xAD),
                                                  byte_id(0xFF), byte_id('b'),  byte_id(0xC3), byte_id(0xA9),
                                                  byte_id('x'),  byte_id('y'),  byte_id('z'),  id("<|im_end|>")};
        const rt::vlm& v = tb->model();
        auto prepared = v.prepare(messages, {img}, true);
        rt::sampling_options so = v.default_sampling(16);
        so.do_sample = false;
        so.logprobs = 1;
        so.logits_processor = [&](std::size_t, const std::vector<std::int64_t>& gen, float* lg, std::int64_t V) {
            for (std::int64_t i = 0; i < V; ++i)
                lg[i] = i == forced[std::min(gen.size(), forced.size() - 1)] ? 0.0f : -1e9f;
        };
        const std::vector<std::string> stop = {"xy"};
        std::string pieces;
        std::vector<std::string> piece_list;
        rscovlm::tokenizer::decode_stream sent; // the tokens streamed so far
        bool ahead = false;
        const rt::text_stream on_piece = [&](const std::string& piece,
                                             const std::vector<rscovlm::zoom::token_logprob>& toks) {
            pieces += piece;
            piece_list.push_back(piece);
            for (const auto& t : toks)
                sent.push(t.text);
            if (!sent.pending().empty() || pieces.compare(0, sent.text().size(), sent.text()) != 0) ahead = true;
            return true;
        };
        rt::vlm::row_request rq;
        rq.input = &prepared.input;
        rq.max_new_tokens = 16;
        rq.stop_strings = &stop;
        rq.on_piece = &on_piece;
        const auto outs = v.generate_rows({rq}, so);
        REQUIRE(outs.size() == 1);
        const std::string expected = "a\xE4\xB8\xAD\xEF\xBF\xBD"
                                     "b\xC3\xA9";
        CHECK(outs[0].text == expected);
        CHECK(outs[0].finish_reason == "stop");
        CHECK(pieces == expected);
        CHECK_FALSE(ahead);
        CHECK(piece_list.size() >= 3); // streamed as it came, not in one piece at the end
        for (const auto& p : piece_list)
            CHECK(rscovlm::detail::unicode::is_valid_utf8(p));
        CHECK(outs[0].logprobs.size() == 8); // a E4 B8 AD FF b C3 A9; x starts the stop string
        CHECK(sent.full() == expected);
    }
    // Constrained decoding: the random model's free answers do not parse; under the codec's grammar
    // every answer is in the language and decodes with no dropped line, also when the token limit cuts
    // it (the constraint keeps the answer able to end within the tokens left).
    {
        const std::vector<std::string> classes = {"plane", "ship", "storage-tank", "small-vehicle"};
        const rscovlm::box_codec::rscovlm_plain<rscovlm::box_codec::box_kind::quad> quad;
        rscovlm::zoom::generation_options free_opt;
        free_opt.max_new_tokens = 24;
        const std::string free_answer = backend->generate(messages, {img}, free_opt);
        const auto grammar = rscovlm::box_codec::make_answer_grammar(quad, classes, img.width, img.height);
        REQUIRE(grammar);
        CHECK_FALSE(grammar->accepts(free_answer));
        int answers = 0;
        for (int limit : {6, 20, 32, 48}) {
            for (int k = 0; k < 3; ++k) {
                rscovlm::image im(56 + 28 * k, 84, 3);
                for (std::size_t i = 0; i < im.data.size(); ++i)
                    im.data[i] = static_cast<std::uint8_t>(i * (5 + k) + limit);
                rscovlm::zoom::generation_options co;
                co.max_new_tokens = limit;
                const auto g = rscovlm::box_codec::make_answer_grammar(quad, classes, im.width, im.height);
                co.constraint = g;
                co.logprobs = 0;
                const std::string ans = backend->generate(messages, {im}, co);
                CAPTURE(ans);
                CAPTURE(limit);
                CHECK(backend->last_usage().completion_tokens <= limit);
                // A limit below the shortest answer's bytes (one byte per token at worst) gives "".
                if (static_cast<std::size_t>(limit) < g->min_bytes_to_end(g->start()))
                    CHECK(ans.empty());
                else
                    CHECK(g->accepts(ans));
                rscovlm::box_codec::decode_options d;
                d.classes = classes;
                d.frame = rscovlm::geometry::frame{im.width, im.height, im.width, im.height};
                const auto r = quad.decode(ans, d);
                CHECK(r.dropped.total() == 0);
                CHECK(r.fuzzy_matched == 0);
                if (limit >= 20) CHECK((!r.objects.empty() || ans == "There are none."));
                ++answers;
            }
        }
        CHECK(answers == 12);
    }
    // The checkpoint's preprocessor_config.json sets the budget unless the options give one.
    CHECK(rt::vlm::load(d.str()).processor().opts().budget.max_pixels ==
          rscovlm::resolution::budget_hf_default.max_pixels);
    std::ofstream(d / "preprocessor_config.json") << R"({"min_pixels": 50176, "max_pixels": 1016064,
        "size": {"shortest_edge": 3136, "longest_edge": 12845056}})";
    const auto pb = rt::vlm::load(d.str()).processor().opts().budget;
    CHECK(pb.min_pixels == 50176);
    CHECK(pb.max_pixels == 1016064);
    rt::vlm_options given;
    given.budget = rscovlm::resolution::budget_det;
    CHECK(rt::vlm::load(d.str(), given).processor().opts().budget.max_pixels ==
          rscovlm::resolution::budget_det.max_pixels);
    // A model whose image token differs from the tokenizer's is refused.
    temp_dir bad;
    auto cfg2 = cfg;
    cfg2.image_token_id = 5;
    rt::write_random_checkpoint(bad.str(), cfg2, {});
    fs::copy_file(tok_path, bad / "tokenizer.json");
    CHECK(error_id([&] { rt::vlm::load(bad.str()); }) == "rscovlm.torch.tokenizer_mismatch");
}

TEST_CASE("torch: checkpoint_budget reads preprocessor_config.json (min/max_pixels, size dict, defaults)") {
    temp_dir d;
    const auto budget = [&](const std::string& json) {
        std::ofstream(d / "preprocessor_config.json") << json;
        const auto b = rt::checkpoint_budget(d.str());
        return std::make_pair(b.min_pixels, b.max_pixels);
    };
    CHECK(rt::checkpoint_budget(d.str()).min_pixels == 3136); // no file: the image processor's defaults
    CHECK(budget(R"({"min_pixels": 200704, "max_pixels": 1016064})") == std::make_pair(200704LL, 1016064LL));
    CHECK(budget(R"({"size": {"shortest_edge": 50176, "longest_edge": 802816}})") == std::make_pair(50176LL, 802816LL));
    CHECK(budget(R"({"size": {"shortest_edge": 50176, "longest_edge": 802816}, "max_pixels": 1204224})") ==
          std::make_pair(50176LL, 1204224LL));
    CHECK(budget(R"({"image_mean": [0.5]})") == std::make_pair(3136LL, 1003520LL)); // 56*56 .. 28*28*1280
    for (const char* bad :
         {"[1]", "{\"min_pixels\": \"many\"}", "{\"min_pixels\": 9000, \"max_pixels\": 100}", "{oops"}) {
        CAPTURE(bad);
        std::ofstream(d / "preprocessor_config.json") << bad;
        CHECK(error_id([&] { rt::checkpoint_budget(d.str()); }) == "rscovlm.torch.bad_config");
    }
}

namespace {

at::Tensor npy_tensor(const std::string& path) {
    const auto a = rscovlm::io::load_npy(path);
    REQUIRE(a.dtype == "<f4");
    REQUIRE(a.shape.size() == 2);
    at::Tensor t = at::empty({static_cast<std::int64_t>(a.shape[0]), static_cast<std::int64_t>(a.shape[1])},
                             at::TensorOptions().dtype(at::kFloat));
    REQUIRE(a.data.size() == static_cast<std::size_t>(t.numel()) * sizeof(float));
    std::memcpy(t.data_ptr(), a.data.data(), a.data.size());
    return t;
}

/// Calls `fn(record)` for every JSON line of `file` (a golden `cases.jsonl`; a missing file is a failure)
/// with the record's id in the failure messages; returns the number of records.
template <class F> int for_each_case(const fs::path& file, F&& fn) {
    REQUIRE_MESSAGE(fs::exists(file), file.string() << " is missing");
    std::ifstream in(file);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto c = nlohmann::json::parse(line);
        INFO(c["id"].get<std::string>());
        fn(c);
        ++n;
    }
    return n;
}

/// The prompt logits of one forward pass of `pb`'s first row, every position, against a golden `.npy`.
void check_prompt_logits(const rt::qwen2_5_vl& m, const rt::padded_batch& pb, const fs::path& npy) {
    const at::Tensor got = full_logits(m, pb)[0];
    const at::Tensor want = npy_tensor(npy.string());
    REQUIRE((got.sizes() == want.sizes()));
    CHECK(max_abs_diff(got, want) <= 1e-4);
}

/// A golden checkpoint of tests/data/torch/reference, loaded once, in float32 (the expected numbers are
/// float32 computations on the stored weights).
const rt::vlm& reference_vlm(const std::string& dir) {
    static std::map<std::string, std::shared_ptr<rt::vlm>> models;
    if (!models.count(dir)) {
        rt::vlm_options vo;
        vo.load.dtype = "float32";
        models.emplace(dir, std::make_shared<rt::vlm>(rt::vlm::load(dir, vo)));
    }
    return *models.at(dir);
}

} // namespace

TEST_CASE("torch: logits and greedy ids match transformers 4.50") {
    // tests/data/torch/reference: two tiny random checkpoints (flat F32 with an untied head; nested BF16
    // with tied embeddings) and what transformers' own Qwen2_5_VLForConditionalGeneration computes for
    // six prompts (see its README). Part of the repository: a missing folder is a failure.
    const fs::path ref(RSCOVLM_TORCH_REFERENCE_DIR);
    ::torch::NoGradGuard ng;
    const int cases = for_each_case(ref / "cases.jsonl", [&](const nlohmann::json& c) {
        const rt::vlm& v = reference_vlm((ref / c["model"].get<std::string>()).string());
        std::vector<rscovlm::image> images;
        for (const auto& p : c["images"])
            images.push_back(rscovlm::io::load_image((ref / p.get<std::string>()).string()));
        // The sizes are multiples of 28 inside the default budget: the processor keeps them.
        const auto prepared = v.prepare(c["messages"], images, false);
        CHECK(prepared.input.input_ids == c["input_ids"].get<std::vector<std::int64_t>>());
        const auto grids = c["image_grid_thw"].get<std::vector<std::array<std::int64_t, 3>>>();
        CHECK((prepared.input.grid_thw == grids));
        const std::size_t patch_dim = static_cast<std::size_t>(v.model().config().vision.patch_dim());
        std::size_t offset = 0;
        for (std::size_t i = 0; i < grids.size(); ++i) {
            const std::size_t n = static_cast<std::size_t>(grids[i][0] * grids[i][1] * grids[i][2]) * patch_dim;
            REQUIRE(offset + n <= prepared.input.pixel_values.size());
            CHECK(rscovlm::data::detail::sha256_hex(prepared.input.pixel_values.data() + offset, n * sizeof(float)) ==
                  c["pixel_values_sha256"][i].get<std::string>());
            offset += n;
        }
        CHECK(offset == prepared.input.pixel_values.size());
        // Prompt logits of one forward pass, every position.
        const auto pb = rt::make_batch(v.model().config(), {prepared.input}, 0);
        check_prompt_logits(v.model(), pb, ref / c["logits_file"].get<std::string>());
        // Greedy ids (none of the 16 is a stop id).
        rt::sampling_options o;
        o.max_new_tokens = c["max_new_tokens"].get<int>();
        const auto g = rt::generate(v.model(), {prepared.input}, o);
        CHECK(g.tokens[0] == c["greedy_ids_no_stop"].get<std::vector<std::int64_t>>());
    });
    CHECK(cases == 6);
}

TEST_CASE("torch: videos (and an image beside them) match transformers 4.50") {
    // tests/data/torch/video_model: transformers 4.50's own modeling code on the ../reference checkpoints
    // with pixel_values_videos, video_grid_thw and second_per_grid_ts (its README says how). The video
    // pixels come from the video pipeline (tests/data/video, torch's scalar kernels).
    const fs::path data(RSCOVLM_TEST_DATA_DIR);
    const fs::path ref = data / "torch" / "reference", dir = data / "torch" / "video_model";
    ::torch::NoGradGuard ng;
    const int cases = for_each_case(dir / "cases.jsonl", [&](const nlohmann::json& c) {
        const rt::vlm& v = reference_vlm((ref / c["model"].get<std::string>()).string());
        nlohmann::json content = nlohmann::json::array();
        std::vector<rscovlm::image> images;
        std::vector<rscovlm::resolution::video_result> videos;
        std::vector<std::string> hashes;
        for (const auto& part : c["inputs"]) {
            const std::string kind = part["type"].get<std::string>();
            content.push_back({{"type", kind}});
            hashes.push_back(part["pixel_values_sha256"].get<std::string>());
            if (kind == "image") {
                images.push_back(rscovlm::io::load_image((ref / "images" / part["name"].get<std::string>()).string()));
                continue;
            }
            const auto& a = part["args"];
            rscovlm::io::video_load_options o;
            o.source_fps = a["source_fps"].get<double>();
            if (a.contains("fps")) o.video.frames.fps = a["fps"].get<double>();
            if (a.contains("min_frames")) o.video.frames.min_frames = a["min_frames"].get<double>();
            if (a.contains("nframes")) o.video.frames.nframes = a["nframes"].get<int>();
            o.video.min_pixels = a["min_pixels"].get<double>();
            o.video.max_pixels = a["max_pixels"].get<double>();
            o.video.torch_kernel = rscovlm::imaging::torch_kernel::scalar;
            videos.push_back(rscovlm::io::load_video((data / "video" / part["name"].get<std::string>()).string(), o));
        }
        content.push_back({{"type", "text"}, {"text", c["prompt"].get<std::string>()}});
        const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", content}}});
        const auto prepared = v.prepare(messages, images, false, videos);
        CHECK(prepared.input.input_ids == c["input_ids"].get<std::vector<std::int64_t>>());
        CHECK((prepared.input.grid_thw == c["image_grid_thw"].get<std::vector<std::array<std::int64_t, 3>>>()));
        CHECK((prepared.input.video_grid_thw == c["video_grid_thw"].get<std::vector<std::array<std::int64_t, 3>>>()));
        CHECK(prepared.input.second_per_grid_ts == c["second_per_grid_ts"].get<std::vector<float>>());
        // Pixel values, per image / video in prompt order, against the golden's.
        const std::size_t patch_dim = static_cast<std::size_t>(v.model().config().vision.patch_dim());
        std::size_t io = 0, vo = 0, k = 0;
        for (const auto& part : c["inputs"]) {
            const auto g = part["grid_thw"].get<std::array<std::size_t, 3>>();
            const std::size_t n = g[0] * g[1] * g[2] * patch_dim;
            const bool video = part["type"] == "video";
            const auto& px = video ? prepared.input.pixel_values_videos : prepared.input.pixel_values;
            std::size_t& off = video ? vo : io;
            REQUIRE(off + n <= px.size());
            CHECK(rscovlm::data::detail::sha256_hex(px.data() + off, n * sizeof(float)) == hashes[k++]);
            off += n;
        }
        // M-RoPE positions (Qwen2.5-VL's temporal rule: frame * second_per_grid_t * tokens_per_second).
        const auto pb = rt::make_batch(v.model().config(), {prepared.input}, 0);
        const auto pos = c["position_ids"].get<std::vector<std::vector<std::int64_t>>>();
        for (std::int64_t a = 0; a < 3; ++a) {
            const at::Tensor row = pb.position_ids[a][0].contiguous();
            CHECK(std::vector<std::int64_t>(row.data_ptr<std::int64_t>(), row.data_ptr<std::int64_t>() + row.numel()) ==
                  pos[static_cast<std::size_t>(a)]);
        }
        CHECK(pb.rope_deltas[0].item<std::int64_t>() == c["rope_delta"].get<std::int64_t>());
        // Prompt logits, then 16 greedy ids and the logits that chose them (KV-cached steps).
        check_prompt_logits(v.model(), pb, dir / c["logits_file"].get<std::string>());
        rt::sampling_options o;
        o.max_new_tokens = c["max_new_tokens"].get<int>();
        o.logprobs = 0;
        const auto g = rt::generate(v.model(), {prepared.input}, o);
        CHECK(g.tokens[0] == c["greedy_ids"].get<std::vector<std::int64_t>>());
        const at::Tensor steps = npy_tensor((dir / c["step_logits_file"].get<std::string>()).string());
        REQUIRE(g.scores[0].size() == static_cast<std::size_t>(steps.size(0)));
        for (std::int64_t i = 0; i < steps.size(0); ++i) {
            // The chosen id's log-probability is the log-softmax of the reference's step logits.
            const float lp = at::log_softmax(steps[i], 0)[g.tokens[0][static_cast<std::size_t>(i)]].item<float>();
            CHECK(std::abs(g.scores[0][static_cast<std::size_t>(i)].logprob - lp) <= 1e-4);
        }
        // A left-padded batch with a text-only row gives the video row the same ids.
        rt::sequence_input text;
        text.input_ids =
            std::vector<std::int64_t>(prepared.input.input_ids.begin(), prepared.input.input_ids.begin() + 40);
        const auto gb = rt::generate(v.model(), {text, prepared.input}, o);
        CHECK(gb.tokens[1] == g.tokens[0]);
        // Grids that do not match the video tokens are typed errors.
        rt::sequence_input bad = prepared.input;
        bad.video_grid_thw.clear();
        bad.pixel_values_videos.clear();
        CHECK(error_id([&] { rt::make_batch(v.model().config(), {bad}, 0); }) == "rscovlm.torch.video_token_mismatch");
        bad = prepared.input;
        bad.pixel_values_videos.resize(bad.pixel_values_videos.size() - 1);
        CHECK(error_id([&] { rt::make_batch(v.model().config(), {bad}, 0); }) == "rscovlm.torch.bad_pixel_values");
    });
    CHECK(cases == 4);
}
