#pragma once
/// \file data/synthetic.hpp
/// Deterministic synthetic aerial scenes with exact DOTA ground truth: textured ground, a river,
/// a road grid, and rotated objects of the DOTA classes drawn as recognisable shapes (planes with
/// swept wings, ships with pointed bows, courts with their line markings, tanks, tracks...).
/// The same options give the same pixels and annotations on every platform (own RNG, no
/// std distributions, no floating-point order dependence between threads).

#include <rscovlm/data/dota.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/parallel.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::data {

/// Options of the synthetic scene generator.
struct scene_options {
    int width = 1024;                    ///< image width in pixels
    int height = 1024;                   ///< image height in pixels
    std::uint64_t seed = 0;              ///< everything derives from this seed
    double objects_per_megapixel = 60.0; ///< object density (ignored when num_objects >= 0)
    int num_objects = -1;                ///< exact number of placement attempts when >= 0
    std::vector<std::string> classes;    ///< classes to draw; empty = the 15 DOTA-v1.0 classes
    bool roads = true;                   ///< draw a road grid (vehicles drive on it, roundabouts at crossings)
    bool river = true;                   ///< draw a river (ships, harbors, bridges)
    double difficult_fraction = 0.05;    ///< share of objects marked difficult (tiny ones always are)
    int threads = 0;                     ///< 0 = hardware concurrency (the result does not depend on it)

    /// A 1024x1024 scene.
    static scene_options normal(std::uint64_t seed = 0) {
        scene_options o;
        o.seed = seed;
        return o;
    }
    /// An ultra-high-resolution 12000x9000 scene (LRS-VQA / MME-RealWorld scale).
    static scene_options uhr(std::uint64_t seed = 0) {
        scene_options o;
        o.width = 12000;
        o.height = 9000;
        o.seed = seed;
        o.objects_per_megapixel = 40.0;
        return o;
    }
};

/// A generated scene: RGB image and its DOTA objects (quads in pixel coordinates, rounded to 0.1).
struct scene {
    std::string name; ///< "synthetic_<seed>_<W>x<H>"
    rscovlm::image image;
    std::vector<dota_object> objects;
};

/// Classes the generator can draw: the DOTA-v1.0 classes plus container-crane and helipad.
inline constexpr std::string_view synthetic_classes[] = {"plane",
                                                         "baseball-diamond",
                                                         "bridge",
                                                         "ground-track-field",
                                                         "small-vehicle",
                                                         "large-vehicle",
                                                         "ship",
                                                         "tennis-court",
                                                         "basketball-court",
                                                         "storage-tank",
                                                         "soccer-ball-field",
                                                         "roundabout",
                                                         "harbor",
                                                         "swimming-pool",
                                                         "helicopter",
                                                         "container-crane",
                                                         "helipad"};

namespace detail {

/// splitmix64: the generator's only source of randomness (portable, seedable).
class scene_rng {
public:
    explicit scene_rng(std::uint64_t seed) : m_state(seed ^ 0x9E3779B97F4A7C15ULL) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, 1).
    double uniform() noexcept { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    double uniform(double a, double b) noexcept { return a + (b - a) * uniform(); }
    /// Uniform integer in [0, n).
    int below(int n) noexcept { return n <= 0 ? 0 : static_cast<int>(next() % static_cast<std::uint64_t>(n)); }

private:
    std::uint64_t m_state;
};

inline std::uint32_t hash32(std::uint32_t x) noexcept {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}
inline std::uint32_t hash2(std::int32_t x, std::int32_t y, std::uint32_t seed) noexcept {
    return hash32(static_cast<std::uint32_t>(x) * 0x9E3779B1U ^ hash32(static_cast<std::uint32_t>(y) + seed));
}
/// Lattice value noise in [0, 1) with smoothstep interpolation (cell size `cell` pixels), tabulated
/// for a whole image: lattice values and per-row / per-column weights.
class noise_layer {
public:
    noise_layer() = default;
    noise_layer(int width, int height, int cell, std::uint32_t seed) : m_nx(width / cell + 2) {
        const int ny = height / cell + 2;
        m_lattice.resize(static_cast<std::size_t>(m_nx) * static_cast<std::size_t>(ny));
        for (int j = 0; j < ny; ++j)
            for (int i = 0; i < m_nx; ++i)
                m_lattice[static_cast<std::size_t>(j * m_nx + i)] =
                    static_cast<float>(hash2(i, j, seed) >> 8) * (1.f / 16777216.f);
        auto axis = [cell](int n, std::vector<int>& idx, std::vector<float>& w) {
            idx.resize(static_cast<std::size_t>(n));
            w.resize(static_cast<std::size_t>(n));
            for (int p = 0; p < n; ++p) {
                const int i = p / cell;
                const float f = static_cast<float>(p - i * cell) / static_cast<float>(cell);
                idx[static_cast<std::size_t>(p)] = i;
                w[static_cast<std::size_t>(p)] = f * f * (3.f - 2.f * f);
            }
        };
        axis(width, m_ix, m_wx);
        axis(height, m_iy, m_wy);
    }
    /// Noise value at pixel (x, y) (inside the image it was built for).
    float operator()(int x, int y) const noexcept {
        const std::size_t i = static_cast<std::size_t>(m_ix[static_cast<std::size_t>(x)]);
        const std::size_t j = static_cast<std::size_t>(m_iy[static_cast<std::size_t>(y)]);
        const float sx = m_wx[static_cast<std::size_t>(x)], sy = m_wy[static_cast<std::size_t>(y)];
        const float* r0 = m_lattice.data() + j * static_cast<std::size_t>(m_nx) + i;
        const float* r1 = r0 + m_nx;
        const float top = r0[0] + (r0[1] - r0[0]) * sx;
        const float bot = r1[0] + (r1[1] - r1[0]) * sx;
        return top + (bot - top) * sy;
    }

private:
    int m_nx = 0;
    std::vector<float> m_lattice;
    std::vector<int> m_ix, m_iy;
    std::vector<float> m_wx, m_wy;
};

inline std::uint8_t clamp_u8(float v) noexcept {
    return static_cast<std::uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v + 0.5f));
}

struct rgb {
    float r, g, b;
};
inline rgb mix(const rgb& a, const rgb& b, float t) noexcept {
    return rgb{a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

/// River: centre line y = base + amp * sin(2 pi x / period + phase), half width hw(x).
struct river_shape {
    bool enabled = false;
    double base = 0, amp = 0, period = 1, phase = 0, half_width = 0, hw_amp = 0, hw_period = 1;
    double center(double x) const noexcept { return base + amp * std::sin(6.283185307179586 * x / period + phase); }
    double hw(double x) const noexcept {
        return half_width * (1.0 + hw_amp * std::sin(6.283185307179586 * x / hw_period + 1.3 * phase));
    }
    double slope_angle(double x) const noexcept {
        const double d = amp * 6.283185307179586 / period * std::cos(6.283185307179586 * x / period + phase);
        return std::atan(d);
    }
    std::vector<float> col_center, col_hw; // tabulated at pixel centres, one entry per column
    void tabulate(int width) {
        col_center.resize(static_cast<std::size_t>(width));
        col_hw.resize(static_cast<std::size_t>(width));
        for (int x = 0; x < width; ++x) {
            col_center[static_cast<std::size_t>(x)] = static_cast<float>(center(x + 0.5));
            col_hw[static_cast<std::size_t>(x)] = static_cast<float>(hw(x + 0.5));
        }
    }
    /// Signed distance (in y) from the bank at column floor(x): > 0 inside the water.
    double depth(double x, double y) const noexcept {
        if (!enabled || col_center.empty()) return -1e9;
        const int ix = std::clamp(static_cast<int>(std::floor(x)), 0, static_cast<int>(col_center.size()) - 1);
        return static_cast<double>(col_hw[static_cast<std::size_t>(ix)]) -
               std::abs(y - static_cast<double>(col_center[static_cast<std::size_t>(ix)]));
    }
};

struct road {
    bool vertical = true;
    double pos = 0; // x (vertical) or y (horizontal) of the left/top edge
    double width = 0;
};

struct class_spec {
    std::string_view label;
    double min_len, max_len;       // length of the long side (w) in pixels
    double min_aspect, max_aspect; // h / w
    int weight;
    enum place_kind { land, water, vehicle, bank, crossing, bridge_kind } place;
};

inline const class_spec* find_class_spec(std::string_view label) noexcept {
    static const class_spec specs[] = {
        {"plane", 40, 75, 0.9, 1.05, 6, class_spec::land},
        {"baseball-diamond", 70, 110, 1.0, 1.0, 2, class_spec::land},
        {"bridge", 0, 0, 0, 0, 0, class_spec::bridge_kind},
        {"ground-track-field", 150, 230, 0.5, 0.6, 1, class_spec::land},
        {"small-vehicle", 14, 22, 0.42, 0.52, 24, class_spec::vehicle},
        {"large-vehicle", 30, 55, 0.27, 0.34, 8, class_spec::vehicle},
        {"ship", 28, 110, 0.2, 0.3, 8, class_spec::water},
        {"tennis-court", 50, 70, 0.46, 0.5, 3, class_spec::land},
        {"basketball-court", 45, 60, 0.53, 0.6, 2, class_spec::land},
        {"storage-tank", 18, 60, 1.0, 1.0, 5, class_spec::land},
        {"soccer-ball-field", 110, 160, 0.62, 0.68, 1, class_spec::land},
        {"roundabout", 60, 100, 1.0, 1.0, 1, class_spec::crossing},
        {"harbor", 50, 110, 0.16, 0.26, 2, class_spec::bank},
        {"swimming-pool", 16, 40, 0.45, 0.7, 4, class_spec::land},
        {"helicopter", 22, 32, 0.9, 1.0, 1, class_spec::land},
        {"container-crane", 40, 70, 0.2, 0.3, 1, class_spec::bank},
        {"helipad", 20, 30, 1.0, 1.0, 1, class_spec::land},
    };
    for (const class_spec& s : specs)
        if (s.label == label) return &s;
    return nullptr;
}

/// A placed object: rotated rectangle (w along the object's heading), class and colour seed.
struct placed {
    geometry::rbox box;
    const class_spec* spec;
    std::uint32_t look; // per-object appearance seed
};

inline std::array<geometry::point, 4> rbox_corners(const geometry::rbox& r) noexcept {
    const double c = std::cos(r.theta), s = std::sin(r.theta);
    const double us[4] = {-0.5, 0.5, 0.5, -0.5}, vs[4] = {-0.5, -0.5, 0.5, 0.5};
    std::array<geometry::point, 4> out{};
    for (int i = 0; i < 4; ++i) {
        const double u = us[i] * r.w, v = vs[i] * r.h;
        out[static_cast<std::size_t>(i)] = geometry::point{r.cx + u * c - v * s, r.cy + u * s + v * c};
    }
    return out;
}

/// Separating-axis test for two rotated rectangles, each grown by `margin` pixels.
inline bool rboxes_overlap(const geometry::rbox& a, const geometry::rbox& b, double margin) noexcept {
    const geometry::rbox* r[2] = {&a, &b};
    for (int k = 0; k < 2; ++k) {
        for (int axis = 0; axis < 2; ++axis) {
            const double th = r[k]->theta + (axis ? 1.5707963267948966 : 0.0);
            const double ax = std::cos(th), ay = std::sin(th);
            double lo[2], hi[2];
            for (int m = 0; m < 2; ++m) {
                const double c = std::cos(r[m]->theta), s = std::sin(r[m]->theta);
                const double center = r[m]->cx * ax + r[m]->cy * ay;
                const double ext = 0.5 * (r[m]->w + 2 * margin) * std::abs(c * ax + s * ay) +
                                   0.5 * (r[m]->h + 2 * margin) * std::abs(-s * ax + c * ay);
                lo[m] = center - ext;
                hi[m] = center + ext;
            }
            if (hi[0] < lo[1] || hi[1] < lo[0]) return false;
        }
    }
    return true;
}

/// Uniform spatial hash of placed objects for overlap queries.
class placement_grid {
public:
    placement_grid(int w, int h, int cell)
        : m_cell(cell), m_nx(w / cell + 1), m_ny(h / cell + 1),
          m_cells(static_cast<std::size_t>(m_nx) * static_cast<std::size_t>(m_ny)) {}
    bool collides(const geometry::rbox& b, const std::vector<placed>& objs, double margin) const {
        const geometry::hbox hb = geometry::bounds(b);
        for (int gy = cy(hb.y1 - margin); gy <= cy(hb.y2 + margin); ++gy)
            for (int gx = cx(hb.x1 - margin); gx <= cx(hb.x2 + margin); ++gx)
                for (std::size_t idx : m_cells[static_cast<std::size_t>(gy * m_nx + gx)])
                    if (rboxes_overlap(b, objs[idx].box, margin)) return true;
        return false;
    }
    void add(const geometry::rbox& b, std::size_t index) {
        const geometry::hbox hb = geometry::bounds(b);
        for (int gy = cy(hb.y1); gy <= cy(hb.y2); ++gy)
            for (int gx = cx(hb.x1); gx <= cx(hb.x2); ++gx)
                m_cells[static_cast<std::size_t>(gy * m_nx + gx)].push_back(index);
    }

private:
    int cx(double x) const noexcept { return std::clamp(static_cast<int>(std::floor(x / m_cell)), 0, m_nx - 1); }
    int cy(double y) const noexcept { return std::clamp(static_cast<int>(std::floor(y / m_cell)), 0, m_ny - 1); }
    int m_cell, m_nx, m_ny;
    std::vector<std::vector<std::size_t>> m_cells;
};

/// Scene layout shared by the ground pass and the object placement.
struct scene_layout {
    int width = 0, height = 0;
    std::uint32_t seed = 0;
    river_shape river;
    std::vector<road> roads;
    std::vector<std::int16_t> col_road; // vertical road index per column, -1 none
    std::vector<std::int16_t> row_road; // horizontal road index per row, -1 none
    noise_layer water_noise, land_large, land_medium, land_fine;

    bool on_road(double x, double y) const noexcept {
        const int ix = static_cast<int>(std::floor(x)), iy = static_cast<int>(std::floor(y));
        if (ix < 0 || iy < 0 || ix >= width || iy >= height) return false;
        return col_road[static_cast<std::size_t>(ix)] >= 0 || row_road[static_cast<std::size_t>(iy)] >= 0;
    }
};

/// Ground colour of pixel (x, y): fields, river, banks, roads with lane markings.
inline rgb ground_pixel(const scene_layout& L, int x, int y) noexcept {
    const std::uint32_t s = L.seed;
    const float grain = static_cast<float>(hash2(x, y, s ^ 0xA5A5A5A5U) & 31U) - 15.5f;
    const double depth = L.river.depth(x + 0.5, y + 0.5);
    if (depth > 0) {
        const float n = L.water_noise(x, y);
        const float deep = static_cast<float>(std::min(1.0, depth / 40.0));
        rgb shallow{78, 104, 98}, dark{34, 62, 82};
        rgb c = mix(shallow, dark, deep);
        const float k = 0.85f + 0.3f * n + grain * 0.004f;
        return rgb{c.r * k, c.g * k, c.b * k};
    }
    const int vr = L.col_road[static_cast<std::size_t>(x)], hr = L.row_road[static_cast<std::size_t>(y)];
    if ((vr >= 0 || hr >= 0) && depth < -1.0) {
        rgb asphalt{98, 98, 102};
        float g = grain * 0.35f;
        // Lane markings: dashed centre line along the road, white edge lines.
        if (vr >= 0 && hr < 0) {
            const road& r = L.roads[static_cast<std::size_t>(vr)];
            const double off = x + 0.5 - r.pos;
            if (std::abs(off - r.width * 0.5) < 0.75 && (y / 12) % 2 == 0) return rgb{225 + g, 225 + g, 215 + g};
            if (off < 1.5 || off > r.width - 1.5) return rgb{190 + g, 190 + g, 185 + g};
        } else if (hr >= 0 && vr < 0) {
            const road& r = L.roads[static_cast<std::size_t>(hr)];
            const double off = y + 0.5 - r.pos;
            if (std::abs(off - r.width * 0.5) < 0.75 && (x / 12) % 2 == 0) return rgb{225 + g, 225 + g, 215 + g};
            if (off < 1.5 || off > r.width - 1.5) return rgb{190 + g, 190 + g, 185 + g};
        }
        return rgb{asphalt.r + g, asphalt.g + g, asphalt.b + g};
    }
    // Fields: large-scale land-use noise, medium-scale texture, per-pixel grain.
    const float n1 = L.land_large(x, y);
    const float n2 = L.land_medium(x, y);
    const float n3 = L.land_fine(x, y);
    const rgb grass{92, 122, 70}, dry{152, 142, 104}, soil{128, 108, 84}, urban{150, 148, 140};
    rgb c;
    if (n1 < 0.35f)
        c = mix(grass, dry, n1 / 0.35f * 0.6f);
    else if (n1 < 0.7f)
        c = mix(dry, soil, (n1 - 0.35f) / 0.35f);
    else
        c = mix(soil, urban, std::min(1.f, (n1 - 0.7f) / 0.3f));
    const float k = 0.82f + 0.26f * n2 + 0.08f * n3;
    c = rgb{c.r * k + grain * 0.5f, c.g * k + grain * 0.5f, c.b * k + grain * 0.5f};
    if (depth > -5.0) { // sandy bank
        const float t = static_cast<float>((depth + 5.0) / 5.0);
        c = mix(c, rgb{176 + grain * 0.4f, 164 + grain * 0.4f, 130 + grain * 0.4f}, t);
    }
    return c;
}

inline rgb palette(std::uint32_t look, int which) noexcept {
    static const rgb cars[] = {{235, 235, 235}, {30, 30, 34},    {170, 172, 178}, {160, 30, 30},
                               {40, 60, 130},   {220, 220, 215}, {90, 90, 96},    {200, 170, 60}};
    static const rgb decks[] = {{205, 205, 200}, {150, 60, 50}, {60, 80, 120}, {120, 125, 130}, {190, 120, 60}};
    static const rgb courts[] = {{62, 128, 92}, {52, 92, 150}, {176, 94, 64}};
    switch (which) {
    case 0:
        return cars[look % 8U];
    case 1:
        return decks[look % 5U];
    default:
        return courts[look % 3U];
    }
}

/// Colour of an object at local coordinates (u along the heading, v across), |u| <= w/2,
/// |v| <= h/2; returns false where the ground shows through.
inline bool shade_object(const placed& o, double u, double v, rgb& out) noexcept {
    const double w = o.box.w, h = o.box.h;
    const double s = 2.0 * u / w, t = 2.0 * v / h; // normalised [-1, 1]
    const double as = std::abs(s), at = std::abs(t);
    const std::string_view k = o.spec->label;
    auto line = [](double d, double half) { return std::abs(d) <= half; };
    const rgb white{236, 236, 232};
    if (k == "plane") {
        // Fuselage along u (nose at +u), swept wings reaching |t| = 1, tailplane, engines.
        double fus = 0.075 * w;
        if (s > 0.8) fus *= std::sqrt(std::max(0.0, 1.0 - ((s - 0.8) / 0.2) * ((s - 0.8) / 0.2)));
        if (s < -0.85) fus *= 0.6;
        const bool body = std::abs(v) <= fus;
        const double lead = 0.28 - 0.42 * at, chord = 0.32 - 0.18 * at;
        const bool wing = s <= lead && s >= lead - chord;
        const double tlead = -0.68 - 0.22 * at / 0.36, tchord = 0.16;
        const bool tail = at <= 0.36 && s <= tlead && s >= tlead - tchord;
        const double el = std::abs(at - 0.4), es = s - (0.28 - 0.42 * 0.4 + 0.04);
        const bool engine = el < 0.06 && es > -0.12 && es < 0.02;
        if (engine) {
            out = rgb{80, 82, 88};
            return true;
        }
        if (body) {
            out = (std::abs(v) > fus - 1.0) ? rgb{190, 192, 198} : rgb{238, 238, 242};
            return true;
        }
        if (wing || tail) {
            out = rgb{212, 214, 220};
            return true;
        }
        return false;
    }
    if (k == "helicopter") {
        const double ds = s - 0.25;
        const bool body = (ds * ds) / (0.35 * 0.35) + (t * t) / (0.32 * 0.32) <= 1.0;
        const bool boom = s < 0 && at < 0.07;
        const bool tail_rotor = s < -0.82 && s > -0.94 && at < 0.24;
        const bool rotor = (std::abs(ds) < 0.035) || (at < 0.035 && s > -0.5);
        if (body) {
            out = (ds * ds + t * t < 0.02) ? rgb{60, 80, 96} : rgb{74, 86, 70};
            return true;
        }
        if (rotor || tail_rotor) {
            out = rgb{36, 36, 38};
            return true;
        }
        if (boom) {
            out = rgb{70, 80, 66};
            return true;
        }
        return false;
    }
    if (k == "ship") {
        double half = 1.0;
        if (s > 0.45) half = std::sqrt(std::max(0.0, 1.0 - ((s - 0.45) / 0.55) * ((s - 0.45) / 0.55)));
        if (s < -0.92) half = 0.85;
        if (at > half) return false;
        const rgb deck = palette(o.look, 1);
        if (at > half - 0.16 || s < -0.97) {
            out = rgb{deck.r * 0.6f, deck.g * 0.6f, deck.b * 0.6f};
            return true;
        }
        if (s > -0.78 && s < -0.45 && at < 0.62) {
            out = white;
            return true;
        }
        if (s > -0.1 && s < 0.35 && std::fmod(std::abs(s) * 10.0, 1.0) < 0.5 && at < 0.5) {
            out = rgb{deck.r * 0.85f, deck.g * 0.85f, deck.b * 0.85f};
            return true;
        }
        out = deck;
        return true;
    }
    if (k == "storage-tank") {
        const double r = std::sqrt(s * s + t * t);
        if (r > 1.0) return false;
        if (r > 0.9) {
            out = rgb{168, 168, 162};
            return true;
        }
        if (r < 0.08) {
            out = rgb{120, 120, 118};
            return true;
        }
        const float shade = static_cast<float>(228.0 - 22.0 * r + 10.0 * (s - t) * 0.5);
        out = rgb{shade, shade, shade - 6};
        return true;
    }
    if (k == "baseball-diamond") {
        const double a = s + 1.0, b = 1.0 - t; // from the home-plate corner
        if (a * a + b * b > 4.0) return false;
        const rgb grass{84, 142, 64}, dirt{178, 132, 92};
        if (a < 0.06 && b < 0.06) {
            out = white;
            return true;
        }
        if ((std::abs(a - 0.8) < 0.05 && b < 0.05) || (std::abs(b - 0.8) < 0.05 && a < 0.05) ||
            (std::abs(a - 0.8) < 0.05 && std::abs(b - 0.8) < 0.05)) {
            out = white;
            return true;
        }
        if (a < 0.92 && b < 0.92 && !(a > 0.14 && b > 0.14 && a < 0.74 && b < 0.74)) {
            out = dirt;
            return true;
        }
        if (std::abs(a * a + b * b - 4.0) < 0.12 || (a * a + b * b > 1.9 * 1.9 && a * a + b * b <= 4.0)) {
            out = rgb{150, 116, 84};
            return true;
        }
        out = grass;
        return true;
    }
    if (k == "tennis-court") {
        const rgb surf = palette(o.look, 2);
        const double half_line = 0.55;
        const double cu = 0.82 * w / 2, cv = 0.74 * h / 2, sv = 0.58 * h / 2, su = 0.44 * w / 2;
        const double au = std::abs(u), av = std::abs(v);
        const bool lines = (line(au - cu, half_line) && av <= cv) || (line(av - cv, half_line) && au <= cu) ||
                           (line(av - sv, half_line) && au <= cu) || (line(au - su, half_line) && av <= sv) ||
                           (line(v, half_line) && au <= su);
        if (line(u, 0.8) && av <= cv + 2) {
            out = rgb{40, 40, 40};
            return true;
        }
        if (lines) {
            out = white;
            return true;
        }
        if (au <= cu && av <= cv) {
            out = surf;
            return true;
        }
        out = rgb{surf.r * 0.75f, surf.g * 0.75f, surf.b * 0.75f};
        return true;
    }
    if (k == "basketball-court") {
        const bool blue = (o.look & 1U) != 0;
        const rgb surf = blue ? rgb{64, 104, 160} : rgb{196, 146, 98};
        const double au = std::abs(u), av = std::abs(v), hl = 0.55;
        const double cu = 0.9 * w / 2, cv = 0.86 * h / 2;
        const double r_center = 0.18 * h;
        const double du = au - cu * 0.88, key_v = 0.2 * h;
        const bool lines = (line(au - cu, hl) && av <= cv) || (line(av - cv, hl) && au <= cu) ||
                           (line(u, hl) && av <= cv) || line(std::sqrt(u * u + v * v) - r_center, hl) ||
                           (line(du + 0.16 * w, hl) && av <= key_v) ||
                           (line(av - key_v, hl) && du >= -0.16 * w && au <= cu) ||
                           (line(std::sqrt(du * du + v * v) - 0.42 * h, hl) && au <= cu && au >= cu - 0.45 * h);
        if (au > cu + 1.5 || av > cv + 1.5) {
            out = rgb{surf.r * 0.7f, surf.g * 0.7f, surf.b * 0.7f};
            return true;
        }
        if (au <= cu && av <= cv && du >= -0.16 * w && av <= key_v) {
            out = lines ? white : rgb{surf.r * 0.8f, surf.g * 0.8f, surf.b * 0.85f};
            return true;
        }
        out = lines ? white : surf;
        return true;
    }
    if (k == "ground-track-field") {
        const double R = h / 2;
        const double dx = std::max(std::abs(u) - (w / 2 - R), 0.0);
        const double d = std::sqrt(dx * dx + v * v) - R; // < 0 inside the stadium shape
        if (d > 0) return false;
        const double track = 0.2 * h;
        if (d > -track) {
            const double lane = track / 6.0;
            if (std::fmod(-d, lane) < 0.6) {
                out = rgb{230, 220, 215};
                return true;
            }
            out = rgb{168, 72, 62};
            return true;
        }
        if (std::abs(d + track) < 1.2) {
            out = white;
            return true;
        }
        const bool stripe = (static_cast<int>(std::floor((u + w) / (w / 12))) % 2) == 0;
        out = stripe ? rgb{78, 146, 74} : rgb{70, 134, 68};
        if (std::abs(u) < 0.7 && std::abs(v) < R - track) out = white;
        return true;
    }
    if (k == "soccer-ball-field") {
        const double au = std::abs(u), av = std::abs(v), hl = 0.6;
        const double cu = 0.94 * w / 2, cv = 0.92 * h / 2;
        const bool lines = (line(au - cu, hl) && av <= cv) || (line(av - cv, hl) && au <= cu) ||
                           (line(u, hl) && av <= cv) || line(std::sqrt(u * u + v * v) - 0.13 * w, hl) ||
                           (line(au - (cu - 0.16 * w), hl) && av <= 0.44 * h) ||
                           (line(av - 0.44 * h, hl) && au >= cu - 0.16 * w && au <= cu) ||
                           (line(au - (cu - 0.06 * w), hl) && av <= 0.2 * h) ||
                           (line(av - 0.2 * h, hl) && au >= cu - 0.06 * w && au <= cu);
        if (lines) {
            out = white;
            return true;
        }
        const bool stripe = (static_cast<int>(std::floor((u + w) / (w / 10))) % 2) == 0;
        out = stripe ? rgb{74, 150, 72} : rgb{64, 136, 64};
        return true;
    }
    if (k == "roundabout") {
        const double r = std::sqrt(s * s + t * t);
        if (r > 1.0) return false;
        if (r < 0.42) {
            out = (r > 0.38) ? rgb{200, 200, 196} : rgb{88, 138, 76};
            return true;
        }
        if (std::abs(r - 0.71) < 0.012 * 100.0 / w && (static_cast<int>((std::atan2(t, s) + 3.2) * 8) % 2 == 0)) {
            out = white;
            return true;
        }
        out = (r > 0.975) ? rgb{180, 180, 176} : rgb{100, 100, 104};
        return true;
    }
    if (k == "harbor") {
        const double au = std::abs(u), av = std::abs(v);
        if (av > h / 2 - 1.5 || au > w / 2 - 1.5) {
            out = rgb{112, 108, 100};
            return true;
        }
        if (std::fmod(u + w, 14.0) < 1.0) {
            out = rgb{128, 124, 116};
            return true;
        }
        if (line(av - h * 0.3, 0.8) && std::fmod(u + w, 9.0) < 2.0) {
            out = rgb{70, 64, 58};
            return true;
        }
        out = rgb{158, 152, 140};
        return true;
    }
    if (k == "swimming-pool") {
        if (std::abs(u) > w / 2 - 1.5 || std::abs(v) > h / 2 - 1.5) {
            out = rgb{232, 232, 226};
            return true;
        }
        const double lane = h / 4.0;
        if (std::fmod(v + h, lane) < 0.6 && std::abs(u) < w / 2 - 4) {
            out = rgb{38, 110, 170};
            return true;
        }
        out = rgb{64, 168, 214};
        return true;
    }
    if (k == "small-vehicle") {
        // Rounded corners, windscreen and rear window.
        const double cr = 0.32;
        const double ex = std::max(as - (1 - cr), 0.0) / cr, ey = std::max(at - (1 - cr), 0.0) / cr;
        if (ex * ex + ey * ey > 1.0) return false;
        const rgb body = palette(o.look, 0);
        if (at < 0.72 && ((s > 0.18 && s < 0.45) || (s > -0.7 && s < -0.5))) {
            out = rgb{36, 44, 54};
            return true;
        }
        if (at > 0.82) {
            out = rgb{body.r * 0.7f, body.g * 0.7f, body.b * 0.7f};
            return true;
        }
        out = body;
        return true;
    }
    if (k == "large-vehicle") {
        const rgb cab = palette(o.look, 0), cargo = palette(o.look >> 3, 0);
        if (s > 0.64 && s < 0.7) return false; // gap between cab and trailer
        if (s >= 0.7) {
            if (s > 0.82 && s < 0.92 && at < 0.8) {
                out = rgb{36, 44, 54};
                return true;
            }
            out = cab;
            return true;
        }
        if (at > 0.88 || s < -0.97) {
            out = rgb{cargo.r * 0.7f, cargo.g * 0.7f, cargo.b * 0.7f};
            return true;
        }
        out = cargo;
        return true;
    }
    if (k == "container-crane") {
        const rgb steel = (o.look & 1U) ? rgb{200, 70, 44} : rgb{214, 170, 40};
        const bool rails = at > 0.7;
        const bool girder = std::fmod(u + w, w / 5.0) < 2.0;
        const bool diag = std::abs(std::fmod(u + w + v * 1.2, w / 5.0)) < 1.2;
        if (rails || girder || diag) {
            out = steel;
            return true;
        }
        if (s > 0.6 && at < 0.5) {
            out = rgb{70, 70, 74};
            return true;
        }
        return false;
    }
    if (k == "helipad") {
        const double r = std::sqrt(s * s + t * t);
        if (r > 1.0) return false;
        const bool ring = r > 0.78 && r < 0.88;
        const bool hbar = (std::abs(s - 0.27) < 0.08 || std::abs(s + 0.27) < 0.08) && at < 0.42;
        const bool cross = std::abs(s) < 0.3 && at < 0.07;
        out = (ring || hbar || cross) ? white : rgb{72, 74, 78};
        return true;
    }
    if (k == "bridge") {
        const double av = std::abs(v);
        if (av > h / 2 - 2.0) {
            out = rgb{70, 70, 72};
            return true;
        } // railings and shadow
        if (std::abs(v) < 0.75 && (static_cast<int>((u + w) / 12) % 2) == 0) {
            out = rgb{225, 225, 215};
            return true;
        }
        out = rgb{160, 158, 152};
        return true;
    }
    return false;
}

inline double round1(double v) noexcept {
    return std::round(v * 10.0) / 10.0;
}

} // namespace detail

/// Generates a scene. Throws data_error "bad_scene_options" on invalid sizes or unknown classes.
inline scene make_scene(const scene_options& opt) {
    using namespace detail;
    if (opt.width < 64 || opt.height < 64 || opt.width > 60000 || opt.height > 60000)
        RSCOVLM_THROW(data_error, "bad_scene_options",
                      "scene size must be within 64..60000 px, got " + std::to_string(opt.width) + "x" +
                          std::to_string(opt.height));
    std::vector<const class_spec*> classes;
    if (opt.classes.empty()) {
        for (std::string_view c : dota_v1_classes)
            classes.push_back(find_class_spec(c));
    } else {
        for (const std::string& c : opt.classes) {
            const class_spec* sp = find_class_spec(c);
            if (!sp) {
                std::string known;
                for (std::string_view k : synthetic_classes)
                    known += (known.empty() ? "" : ", ") + std::string(k);
                RSCOVLM_THROW(data_error, "bad_scene_options",
                              "unknown scene class '" + c + "' (known: " + known + ")");
            }
            classes.push_back(sp);
        }
    }
    auto has_class = [&](std::string_view k) {
        for (const class_spec* c : classes)
            if (c->label == k) return true;
        return false;
    };

    scene_rng rng(opt.seed);
    scene_layout L;
    L.width = opt.width;
    L.height = opt.height;
    L.seed = static_cast<std::uint32_t>(rng.next());
    const double W = opt.width, H = opt.height;

    // River, roughly horizontal, in the middle third.
    if (opt.river && opt.height >= 400) {
        L.river.enabled = true;
        L.river.half_width = std::min(H * 0.08, rng.uniform(60, 100));
        L.river.base = rng.uniform(H * 0.35, H * 0.65);
        L.river.amp = rng.uniform(0.02, 0.06) * std::min(H, 3000.0);
        L.river.period = rng.uniform(0.8, 1.6) * std::max(W, 800.0);
        L.river.phase = rng.uniform(0, 6.283185307179586);
        L.river.hw_amp = rng.uniform(0.05, 0.2);
        L.river.hw_period = rng.uniform(300, 900);
        L.river.tabulate(opt.width);
    }
    const double river_lo = L.river.enabled ? L.river.base - L.river.amp - L.river.half_width * 1.25 - 40 : -1;
    const double river_hi = L.river.enabled ? L.river.base + L.river.amp + L.river.half_width * 1.25 + 40 : -1;

    // Road grid: vertical roads cross the river (bridges), horizontal roads avoid it.
    L.col_road.assign(static_cast<std::size_t>(opt.width), -1);
    L.row_road.assign(static_cast<std::size_t>(opt.height), -1);
    if (opt.roads) {
        const int nv = std::max(1, static_cast<int>(W / 900.0));
        const int nh = std::max(1, static_cast<int>(H / 900.0));
        for (int i = 0; i < nv; ++i) {
            road r;
            r.vertical = true;
            r.width = std::floor(rng.uniform(20, 27));
            r.pos = std::floor((i + rng.uniform(0.25, 0.75)) * W / nv);
            if (r.pos + r.width >= W) r.pos = W - r.width - 1;
            L.roads.push_back(r);
        }
        for (int i = 0; i < nh; ++i) {
            road r;
            r.vertical = false;
            r.width = std::floor(rng.uniform(20, 27));
            // A few tries inside the band [i, i+1) * H / nh, away from the river.
            for (int attempt = 0; attempt < 12; ++attempt) {
                double pos = std::floor((i + rng.uniform(0.1, 0.9)) * H / nh);
                if (pos + r.width >= H) pos = H - r.width - 1;
                if (L.river.enabled && pos + r.width > river_lo && pos < river_hi) continue;
                r.pos = pos;
                L.roads.push_back(r);
                break;
            }
        }
        for (std::size_t i = 0; i < L.roads.size(); ++i) {
            const road& r = L.roads[i];
            const int a = static_cast<int>(r.pos), b = static_cast<int>(r.pos + r.width);
            for (int p = std::max(0, a); p < b; ++p) {
                if (r.vertical && p < opt.width) L.col_road[static_cast<std::size_t>(p)] = static_cast<std::int16_t>(i);
                if (!r.vertical && p < opt.height)
                    L.row_road[static_cast<std::size_t>(p)] = static_cast<std::int16_t>(i);
            }
        }
    }

    L.water_noise = noise_layer(opt.width, opt.height, 96, L.seed + 7);
    L.land_large = noise_layer(opt.width, opt.height, 320, L.seed + 1);
    L.land_medium = noise_layer(opt.width, opt.height, 56, L.seed + 2);
    L.land_fine = noise_layer(opt.width, opt.height, 12, L.seed + 3);

    // Ground pass (row-parallel; each pixel depends only on its coordinates).
    scene out;
    out.name =
        "synthetic_" + std::to_string(opt.seed) + "_" + std::to_string(opt.width) + "x" + std::to_string(opt.height);
    out.image = rscovlm::image(opt.width, opt.height, 3);
    {
        rscovlm::image& img = out.image;
        imaging::parallel_for(
            static_cast<std::size_t>(opt.height), opt.threads,
            [&](std::size_t y0, std::size_t y1) {
                for (std::size_t y = y0; y < y1; ++y) {
                    std::uint8_t* row = img.row(static_cast<int>(y));
                    for (int x = 0; x < opt.width; ++x) {
                        const rgb c = ground_pixel(L, x, static_cast<int>(y));
                        row[3 * x] = clamp_u8(c.r);
                        row[3 * x + 1] = clamp_u8(c.g);
                        row[3 * x + 2] = clamp_u8(c.b);
                    }
                }
            },
            16);
    }

    // Object placement.
    std::vector<placed> objs;
    placement_grid grid(opt.width, opt.height, 128);
    auto inside_image = [&](const geometry::rbox& b) {
        const geometry::hbox hb = geometry::bounds(b);
        return hb.x1 >= 1 && hb.y1 >= 1 && hb.x2 <= W - 2 && hb.y2 <= H - 2;
    };
    // Samples a 5x5 lattice over the rectangle: `pred(x, y)` must hold everywhere.
    auto all_points = [](const geometry::rbox& b, auto&& pred) {
        const double c = std::cos(b.theta), s = std::sin(b.theta);
        for (int i = 0; i <= 4; ++i)
            for (int j = 0; j <= 4; ++j) {
                const double u = (i / 4.0 - 0.5) * b.w, v = (j / 4.0 - 0.5) * b.h;
                if (!pred(b.cx + u * c - v * s, b.cy + u * s + v * c)) return false;
            }
        return true;
    };
    auto is_land = [&](double x, double y) { return L.river.depth(x, y) < -6.0 && !L.on_road(x, y); };
    auto is_water = [&](double x, double y) { return L.river.depth(x, y) > 4.0; };
    auto try_add = [&](const geometry::rbox& b, const class_spec* sp, std::uint32_t look, double margin) {
        if (!inside_image(b) || grid.collides(b, objs, margin)) return false;
        grid.add(b, objs.size());
        objs.push_back(placed{b, sp, look});
        return true;
    };

    // Bridges where vertical roads cross the river.
    if (L.river.enabled && has_class("bridge")) {
        for (const road& r : L.roads) {
            if (!r.vertical) continue;
            double top = 1e18, bot = -1e18;
            for (double x = r.pos; x <= r.pos + r.width; x += 1.0) {
                top = std::min(top, L.river.center(x) - L.river.hw(x));
                bot = std::max(bot, L.river.center(x) + L.river.hw(x));
            }
            top = std::floor(top - 8);
            bot = std::ceil(bot + 8);
            if (top < 2 || bot > H - 3) continue;
            geometry::rbox b{r.pos + r.width * 0.5, (top + bot) * 0.5, bot - top, r.width + 6, 1.5707963267948966};
            try_add(b, find_class_spec("bridge"), static_cast<std::uint32_t>(rng.next()), 0.0);
        }
    }
    // Roundabouts at road crossings.
    if (has_class("roundabout")) {
        for (const road& a : L.roads) {
            if (!a.vertical) continue;
            for (const road& b : L.roads) {
                if (b.vertical || rng.uniform() < 0.4) continue;
                const double d = std::floor(rng.uniform(std::max(60.0, 2.6 * std::max(a.width, b.width)), 100.0));
                geometry::rbox box{a.pos + a.width * 0.5, b.pos + b.width * 0.5, d, d, 0.0};
                if (all_points(box, [&](double x, double y) { return L.river.depth(x, y) < -6.0; }))
                    try_add(box, find_class_spec("roundabout"), static_cast<std::uint32_t>(rng.next()), 2.0);
            }
        }
    }

    // Random objects by class weight; large classes first so that they find room.
    int total_weight = 0;
    std::vector<const class_spec*> pool;
    for (const class_spec* c : classes)
        if (c->place != class_spec::bridge_kind && c->place != class_spec::crossing) {
            pool.push_back(c);
            total_weight += c->weight;
        }
    const int n_objects =
        opt.num_objects >= 0 ? opt.num_objects : static_cast<int>(std::lround(opt.objects_per_megapixel * W * H / 1e6));
    std::vector<const class_spec*> wanted;
    for (int i = 0; i < n_objects && total_weight > 0; ++i) {
        int pick = rng.below(total_weight);
        for (const class_spec* c : pool) {
            if (pick < c->weight) {
                wanted.push_back(c);
                break;
            }
            pick -= c->weight;
        }
    }
    std::stable_sort(wanted.begin(), wanted.end(),
                     [](const class_spec* a, const class_spec* b) { return a->max_len > b->max_len; });
    const road* roads_data = L.roads.empty() ? nullptr : L.roads.data();
    for (const class_spec* sp : wanted) {
        for (int attempt = 0; attempt < 40; ++attempt) {
            const double len = std::floor(rng.uniform(sp->min_len, sp->max_len));
            const double wid = std::max(4.0, std::floor(len * rng.uniform(sp->min_aspect, sp->max_aspect)));
            const std::uint32_t look = static_cast<std::uint32_t>(rng.next());
            geometry::rbox b{0, 0, len, sp->min_aspect == 1.0 ? len : wid,
                             rng.uniform(-3.141592653589793, 3.141592653589793)};
            bool ok = false;
            double margin = 2.0;
            switch (sp->place) {
            case class_spec::vehicle: {
                margin = 1.0;
                if (roads_data && rng.uniform() < 0.55) {
                    // Drive in a lane, heading along the road.
                    const road& r = L.roads[static_cast<std::size_t>(rng.below(static_cast<int>(L.roads.size())))];
                    if (b.h > r.width * 0.5 - 1) break;
                    const bool first_lane = rng.uniform() < 0.5;
                    const double lane = r.pos + r.width * (first_lane ? 0.25 : 0.75);
                    const double along = rng.uniform(len, (r.vertical ? H : W) - len);
                    b.theta = (r.vertical ? 1.5707963267948966 : 0.0) + (first_lane ? 3.141592653589793 : 0.0);
                    b.cx = r.vertical ? lane : along;
                    b.cy = r.vertical ? along : lane;
                    ok = all_points(b,
                                    [&](double x, double y) { return L.river.depth(x, y) < -2.0 && L.on_road(x, y); });
                } else {
                    b.cx = rng.uniform(0, W);
                    b.cy = rng.uniform(0, H);
                    ok = all_points(b, is_land);
                }
                break;
            }
            case class_spec::water: {
                if (!L.river.enabled) break;
                b.cx = rng.uniform(0, W);
                b.cy = L.river.center(b.cx) + rng.uniform(-0.7, 0.7) * L.river.hw(b.cx);
                b.theta = L.river.slope_angle(b.cx) + rng.uniform(-0.35, 0.35) +
                          (rng.uniform() < 0.5 ? 3.141592653589793 : 0.0);
                ok = all_points(b, is_water);
                break;
            }
            case class_spec::bank: {
                if (!L.river.enabled) break;
                // A pier / crane standing on the bank and reaching into the water, across the river.
                const double x = rng.uniform(0, W);
                const bool north = rng.uniform() < 0.5;
                const double bank = L.river.center(x) + (north ? -1.0 : 1.0) * L.river.hw(x);
                const double into = std::min(len * 0.75, L.river.hw(x) * 0.8);
                b.cx = x;
                b.cy = bank + (north ? 1.0 : -1.0) * (into - len * 0.5);
                b.theta = (north ? 1.5707963267948966 : -1.5707963267948966) + L.river.slope_angle(x) * 0.0;
                ok = true;
                margin = 3.0;
                break;
            }
            case class_spec::land:
            default:
                b.cx = rng.uniform(0, W);
                b.cy = rng.uniform(0, H);
                ok = all_points(b, is_land);
                break;
            }
            if (ok && try_add(b, sp, look, margin)) break;
        }
    }

    // Object rendering (objects never overlap, so the order does not matter).
    rscovlm::image& img = out.image;
    for (const placed& o : objs) {
        const geometry::hbox hb = geometry::bounds(o.box);
        const int x0 = std::max(0, static_cast<int>(std::floor(hb.x1))),
                  x1 = std::min(opt.width - 1, static_cast<int>(std::ceil(hb.x2)));
        const int y0 = std::max(0, static_cast<int>(std::floor(hb.y1))),
                  y1 = std::min(opt.height - 1, static_cast<int>(std::ceil(hb.y2)));
        const double c = std::cos(o.box.theta), s = std::sin(o.box.theta);
        for (int y = y0; y <= y1; ++y) {
            std::uint8_t* row = img.row(y);
            for (int x = x0; x <= x1; ++x) {
                const double dx = x + 0.5 - o.box.cx, dy = y + 0.5 - o.box.cy;
                const double u = dx * c + dy * s, v = -dx * s + dy * c;
                if (std::abs(u) > o.box.w * 0.5 || std::abs(v) > o.box.h * 0.5) continue;
                rgb col{};
                if (!shade_object(o, u, v, col)) continue;
                const float g = static_cast<float>(hash2(x, y, L.seed ^ 0x5bd1e995U) & 15U) - 7.5f;
                row[3 * x] = clamp_u8(col.r + g);
                row[3 * x + 1] = clamp_u8(col.g + g);
                row[3 * x + 2] = clamp_u8(col.b + g);
            }
        }
    }

    // Ground truth: the rectangles' corners (DOTA order: clockwise on screen), rounded to 0.1 px.
    scene_rng diff_rng(opt.seed ^ 0xD1FF1C017ULL);
    out.objects.reserve(objs.size());
    for (const placed& o : objs) {
        dota_object d;
        const auto corners = rbox_corners(o.box);
        for (std::size_t i = 0; i < 4; ++i)
            d.poly[i] = geometry::point{round1(corners[i].x), round1(corners[i].y)};
        d.label = std::string(o.spec->label);
        const bool tiny = std::min(o.box.w, o.box.h) < 8.0;
        d.difficulty = (tiny || diff_rng.uniform() < opt.difficult_fraction) ? 1 : 0;
        out.objects.push_back(std::move(d));
    }
    return out;
}

/// Non-throwing `make_scene`.
inline result<scene> try_make_scene(const scene_options& opt) {
    return try_call([&] { return make_scene(opt); });
}

} // namespace rscovlm::data
