#pragma once
/// \file strategy.hpp
/// \brief Resolution strategies (registry kind `resolution`): how many visual tokens an image gets.
///
/// A strategy maps an original size to a resolution plan (resized size, grid, tokens) without decoding
/// the image, so token budgets can be computed from headers (`io::probe_image`) or annotations alone.
/// Coordinates move between frames with the reference's conventions (`geometry::frame`).

#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/ops.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/python_random.hpp>
#include <rscovlm/resolution/smart_resize.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace rscovlm::resolution {

/// \brief A named (min_pixels, max_pixels) budget.
struct budget {
    std::string_view name;
    long long min_pixels;
    long long max_pixels;
};

/// \brief RSCoVLM multi-task training budget: 64*28^2 .. 1296*28^2 pixels (64..1296 tokens).
inline constexpr budget budget_multitask{"multitask", 64LL * 28 * 28, 1296LL * 28 * 28};
/// \brief RSCoVLM detection-only budget: 256*28^2 .. 1296*28^2.
inline constexpr budget budget_det{"det", 256LL * 28 * 28, 1296LL * 28 * 28};
/// \brief transformers `Qwen2VLImageProcessor` defaults: 56*56 .. 28*28*1280.
inline constexpr budget budget_hf_default{"hf_default", 56LL * 56, 28LL * 28 * 1280};
/// \brief qwen-vl-utils defaults: 4*28^2 .. 16384*28^2.
inline constexpr budget budget_qvu_default{"qvu_default", 4LL * 28 * 28, 16384LL * 28 * 28};

/// \brief Looks a budget up by name ("multitask", "det", "hf_default", "qvu_default", or "sqS" for S*S);
/// throws `resolution_error` "bad_budget".
inline budget find_budget(std::string_view name) {
    for (const budget& b : {budget_multitask, budget_det, budget_hf_default, budget_qvu_default})
        if (b.name == name) return b;
    if (name.size() > 2 && name.substr(0, 2) == "sq") {
        long long s = 0;
        bool ok = true;
        for (char c : name.substr(2)) {
            if (c < '0' || c > '9' || s > 1000000) {
                ok = false;
                break;
            }
            s = s * 10 + (c - '0');
        }
        if (ok && s > 0) return budget{name, s * s, s * s};
    }
    RSCOVLM_THROW(resolution_error, "bad_budget",
                  "unknown budget '" + std::string(name) + "' (multitask|det|hf_default|qvu_default|sq<S>)");
}

/// \brief The resolution decided for one image.
struct plan {
    int original_height = 0;
    int original_width = 0;
    int resized_height = 0;
    int resized_width = 0;
    /// `{1, resized_height/14, resized_width/14}`.
    std::array<int, 3> grid_thw{{1, 0, 0}};
    /// `<|image_pad|>` tokens = grid_h * grid_w / 4.
    long long tokens = 0;
    /// Budget handed to smart_resize.
    long long min_pixels = 0;
    long long max_pixels = 0;
    /// True when a random strategy applied its augmentation to this image.
    bool randomized = false;

    /// \brief The coordinate mapping between the two frames.
    geometry::frame frames() const noexcept { return {original_width, original_height, resized_width, resized_height}; }
};

/// \brief JSON of a plan (ADL): original and resized sizes, grid, tokens, budget, randomized.
inline void to_json(nlohmann::json& j, const plan& p) {
    j = nlohmann::json{{"original_size", {{"width", p.original_width}, {"height", p.original_height}}},
                       {"resized_size", {{"width", p.resized_width}, {"height", p.resized_height}}},
                       {"grid_thw", p.grid_thw},
                       {"tokens", p.tokens},
                       {"min_pixels", p.min_pixels},
                       {"max_pixels", p.max_pixels},
                       {"randomized", p.randomized}};
}

/// \brief Grid and token count of a resized size (`patch` 14, `merge` 2).
inline plan make_plan(int original_height, int original_width, size resized, long long min_pixels, long long max_pixels,
                      int patch = 14, int merge = 2) {
    plan p;
    p.original_height = original_height;
    p.original_width = original_width;
    p.resized_height = resized.height;
    p.resized_width = resized.width;
    p.grid_thw = {{1, resized.height / patch, resized.width / patch}};
    p.tokens = static_cast<long long>(p.grid_thw[1]) * p.grid_thw[2] / (static_cast<long long>(merge) * merge);
    p.min_pixels = min_pixels;
    p.max_pixels = max_pixels;
    return p;
}

/// \brief Tokens Qwen2.5-VL spends on an image of this size under a budget (no decoding).
inline long long token_budget(long long height, long long width, long long min_pixels, long long max_pixels,
                              int factor = 28) {
    const size s = smart_resize(height, width, factor, min_pixels, max_pixels);
    return (static_cast<long long>(s.height) / (factor / 2)) * (s.width / (factor / 2)) / 4;
}

/// \brief Interface of the `resolution` registry kind.
class strategy : public registry::keyed {
public:
    /// \brief Resolution plan for an image of `height x width` (only the size is needed).
    virtual plan plan_size(int height, int width) = 0;
    /// \brief Resets any random state (no-op for deterministic strategies).
    virtual void reseed(std::uint64_t /*seed*/) {}
    /// \brief Plan drawing any randomness from `rng` instead of the strategy's own generator, so a
    /// caller reproduces a reference's call order on one shared stream (the data builders: the
    /// sample's `random` state). Must not modify the strategy (builders call it from several
    /// threads). Default: `plan_size` (deterministic strategies draw nothing).
    virtual plan plan_with(int height, int width, python_random& rng) {
        (void)rng;
        return plan_size(height, width);
    }
    /// \brief The parameters, as JSON accepted by `from_params`.
    virtual nlohmann::json describe() const = 0;
};

namespace detail {
inline int read_factor(registry::params& p) {
    const int f = p.get<int>("factor", 28);
    p.check(f > 0 && f % 2 == 0, "factor", "must be a positive even number (patch_size * merge_size)");
    return f;
}
inline smart_resize_variant read_variant(registry::params& p) {
    const std::string v = p.get<std::string>("variant", "qwen_vl_utils");
    p.check(v == "qwen_vl_utils" || v == "transformers" || v == "transformers_legacy", "variant",
            "must be 'qwen_vl_utils', 'transformers' or 'transformers_legacy'");
    return parse_variant(v);
}
inline const char* variant_name(smart_resize_variant v) noexcept {
    return resolution::variant_name(v);
}
} // namespace detail

/// \brief Fixed pixel budget: `smart_resize(h, w, factor, min_pixels, max_pixels)`.
class fixed_budget : public registry::component<fixed_budget, strategy> {
public:
    static constexpr std::string_view key = "resize.smart";
    static constexpr std::string_view summary =
        "smart_resize within a fixed pixel budget (presets multitask, det, hf_default, qvu_default)";

    fixed_budget() : fixed_budget(budget_multitask.min_pixels, budget_multitask.max_pixels) {}
    fixed_budget(long long min_pixels, long long max_pixels, int factor = 28,
                 smart_resize_variant variant = smart_resize_variant::qwen_vl_utils) {
        m_opt.min_pixels = min_pixels;
        m_opt.max_pixels = max_pixels;
        m_opt.factor = factor;
        m_opt.variant = variant;
    }
    /// Reads `preset` (a budget name, default multitask) overridden by `min_pixels`/`max_pixels`.
    static std::pair<long long, long long> read_budget(registry::params& p) {
        budget b = budget_multitask;
        if (p.has("preset")) {
            const std::string name = p.get<std::string>("preset", "multitask");
            const auto r = try_call([&] { return find_budget(name); });
            p.check(r.ok(), "preset", r.ok() ? "" : r.error().message);
            b = r.value();
        }
        const long long mn = p.get<long long>("min_pixels", b.min_pixels);
        const long long mx = p.get<long long>("max_pixels", b.max_pixels);
        p.check(mn >= 0, "min_pixels", "must be >= 0");
        p.check(mx > 0, "max_pixels", "must be > 0");
        return {mn, mx};
    }
    /// \brief Parameters: `preset` (budget name, default "multitask") or `min_pixels`/`max_pixels`, `factor`,
    /// `variant`.
    static fixed_budget from_params(registry::params& p) {
        const auto [mn, mx] = read_budget(p);
        return fixed_budget(mn, mx, detail::read_factor(p), detail::read_variant(p));
    }
    plan plan_size(int height, int width) override {
        return make_plan(height, width, smart_resize(height, width, m_opt), m_opt.min_pixels, m_opt.max_pixels,
                         m_opt.factor / 2, 2);
    }
    nlohmann::json describe() const override {
        return {{"min_pixels", m_opt.min_pixels},
                {"max_pixels", m_opt.max_pixels},
                {"factor", m_opt.factor},
                {"variant", detail::variant_name(m_opt.variant)}};
    }
    const smart_resize_options& options() const noexcept { return m_opt; }

private:
    smart_resize_options m_opt;
};

/// \brief Fixed square budget `min = max = S*S` (RSCoVLM grounding at S = 224/336/448/1008).
class fixed_square : public registry::component<fixed_square, strategy> {
public:
    static constexpr std::string_view key = "resize.square";
    static constexpr std::string_view summary = "smart_resize with min_pixels = max_pixels = size^2 (grounding)";

    explicit fixed_square(int side = 448, int factor = 28,
                          smart_resize_variant variant = smart_resize_variant::qwen_vl_utils)
        : m_side(side) {
        m_opt.min_pixels = static_cast<long long>(side) * side;
        m_opt.max_pixels = m_opt.min_pixels;
        m_opt.factor = factor;
        m_opt.variant = variant;
    }
    /// \brief Parameters: `size` (default 448), `factor`, `variant`.
    static fixed_square from_params(registry::params& p) {
        const int s = p.get<int>("size", 448);
        p.check(s > 0 && s <= 100000, "size", "must be in [1, 100000]");
        return fixed_square(s, detail::read_factor(p), detail::read_variant(p));
    }
    plan plan_size(int height, int width) override {
        return make_plan(height, width, smart_resize(height, width, m_opt), m_opt.min_pixels, m_opt.max_pixels,
                         m_opt.factor / 2, 2);
    }
    nlohmann::json describe() const override {
        return {{"size", m_side}, {"factor", m_opt.factor}, {"variant", detail::variant_name(m_opt.variant)}};
    }

private:
    int m_side;
    smart_resize_options m_opt;
};

/// \brief Explicit `resized_height`/`resized_width` (qwen-vl-utils: `smart_resize(rh, rw, factor)` with its
/// default budget 4*28^2 .. 16384*28^2, so the size is snapped to multiples of the factor).
class explicit_size : public registry::component<explicit_size, strategy> {
public:
    static constexpr std::string_view key = "resize.explicit";
    static constexpr std::string_view summary = "explicit resized_height/resized_width, snapped by smart_resize";

    explicit_size(int resized_height = 448, int resized_width = 448, int factor = 28,
                  long long min_pixels = budget_qvu_default.min_pixels,
                  long long max_pixels = budget_qvu_default.max_pixels)
        : m_h(resized_height), m_w(resized_width) {
        m_opt.factor = factor;
        m_opt.min_pixels = min_pixels;
        m_opt.max_pixels = max_pixels;
    }
    /// \brief Parameters: `resized_height`, `resized_width` (required), `factor`, `min_pixels`, `max_pixels`.
    static explicit_size from_params(registry::params& p) {
        const int h = p.require<int>("resized_height");
        const int w = p.require<int>("resized_width");
        p.check(h > 0, "resized_height", "must be > 0");
        p.check(w > 0, "resized_width", "must be > 0");
        const int f = detail::read_factor(p);
        const long long mn = p.get<long long>("min_pixels", budget_qvu_default.min_pixels);
        const long long mx = p.get<long long>("max_pixels", budget_qvu_default.max_pixels);
        p.check(mx > 0, "max_pixels", "must be > 0");
        return explicit_size(h, w, f, mn, mx);
    }
    plan plan_size(int height, int width) override {
        return make_plan(height, width, smart_resize(m_h, m_w, m_opt), m_opt.min_pixels, m_opt.max_pixels,
                         m_opt.factor / 2, 2);
    }
    nlohmann::json describe() const override {
        return {{"resized_height", m_h},
                {"resized_width", m_w},
                {"factor", m_opt.factor},
                {"min_pixels", m_opt.min_pixels},
                {"max_pixels", m_opt.max_pixels}};
    }

private:
    int m_h, m_w;
    smart_resize_options m_opt;
};

/// \brief RSCoVLM's random-resize augmentation (`DenseDetDataset.random_resize`), seeded.
///
/// Per image, as the reference with `random.seed(seed)`: `if random() <= prob:` draw
/// `scale = uniform(min_pixels / (h*w), max_pixels / (h*w))` — a *pixel* ratio that the reference applies
/// linearly to each side: `int(h * scale), int(w * scale)` — then `smart_resize` of that size within the
/// budget; otherwise plain `smart_resize(h, w)`. The draws use a CPython-compatible Mersenne Twister, so a
/// Python loop with the same seed and call order gives the same sizes. A side truncated to 0 raises
/// "zero_size" exactly where the reference raises ZeroDivisionError.
class random_resize : public registry::component<random_resize, strategy> {
public:
    static constexpr std::string_view key = "resize.random";
    static constexpr std::string_view summary =
        "RSCoVLM random-resize augmentation: uniform pixel-ratio scale, then smart_resize (seeded)";

    explicit random_resize(long long min_pixels = budget_multitask.min_pixels,
                           long long max_pixels = budget_multitask.max_pixels, double prob = 1.0,
                           std::uint64_t seed = 0, int factor = 28)
        : m_prob(prob), m_seed(seed), m_rng(seed) {
        m_opt.min_pixels = min_pixels;
        m_opt.max_pixels = max_pixels;
        m_opt.factor = factor;
    }
    /// \brief Parameters: `preset` or `min_pixels`/`max_pixels` (default multitask), `prob` (1.0), `seed` (0),
    /// `factor`.
    static random_resize from_params(registry::params& p) {
        const auto [mn, mx] = fixed_budget::read_budget(p);
        const double prob = p.get<double>("prob", 1.0);
        p.check(prob >= 0.0 && prob <= 1.0, "prob", "must be in [0, 1]");
        const auto seed = p.get<std::uint64_t>("seed", 0);
        return random_resize(mn, mx, prob, seed, detail::read_factor(p));
    }
    plan plan_size(int height, int width) override { return plan_with(height, width, m_rng); }
    /// \brief The same draws from an external generator (`random() <= prob`, always consumed, then
    /// `uniform`), leaving the strategy's own generator untouched.
    plan plan_with(int height, int width, python_random& rng) override {
        if (height <= 0 || width <= 0)
            RSCOVLM_THROW(resolution_error, "zero_size",
                          "random_resize: image size " + std::to_string(height) + "x" + std::to_string(width));
        if (rng.random() <= m_prob) {
            const double orig = static_cast<double>(static_cast<long long>(height) * width);
            const double scale =
                rng.uniform(static_cast<double>(m_opt.min_pixels) / orig, static_cast<double>(m_opt.max_pixels) / orig);
            const double hs = static_cast<double>(height) * scale, ws = static_cast<double>(width) * scale;
            const long long rh = static_cast<long long>(hs),
                            rw = static_cast<long long>(ws); // Python int(): truncation
            plan p = make_plan(height, width, smart_resize(rh, rw, m_opt), m_opt.min_pixels, m_opt.max_pixels,
                               m_opt.factor / 2, 2);
            p.randomized = true;
            return p;
        }
        return make_plan(height, width, smart_resize(height, width, m_opt), m_opt.min_pixels, m_opt.max_pixels,
                         m_opt.factor / 2, 2);
    }
    void reseed(std::uint64_t seed) override {
        m_seed = seed;
        m_rng.seed_with(seed);
    }
    nlohmann::json describe() const override {
        return {{"min_pixels", m_opt.min_pixels},
                {"max_pixels", m_opt.max_pixels},
                {"prob", m_prob},
                {"seed", m_seed},
                {"factor", m_opt.factor}};
    }

private:
    double m_prob;
    std::uint64_t m_seed;
    python_random m_rng;
    smart_resize_options m_opt;
};

} // namespace rscovlm::resolution
