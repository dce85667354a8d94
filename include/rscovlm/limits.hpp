#pragma once
/// \file limits.hpp
/// The safety-limits policy: every allocation whose size comes from an input (image pixels, vision
/// grids, TIFF tiles, crops, HTTP response bodies, token counts, output images) is checked here
/// before anything is allocated.
///
/// A limit that is exceeded throws `rscovlm::limit_error` whose id is `rscovlm.limit.<name>` (the
/// limit's stable name, listed below) and whose message names the offending input, the value asked
/// for and the limit, and how to raise it. The limits are process-wide defaults that a program may
/// change (`limits::current()`), scope (`limits::scoped`), or set from the environment
/// (`RSCOVLM_LIMIT_<NAME>`, e.g. `RSCOVLM_LIMIT_GRID_PATCHES=2000000`, read once at first use); a
/// value of 0 means "no limit". The CLI's `--limit NAME=VALUE` sets them too.
///
/// | name            | default         | what it bounds                                                  |
/// |-----------------|-----------------|-----------------------------------------------------------------|
/// | image_pixels    | 178,956,970     | decoded image width*height (Pillow's decompression-bomb error)  |
/// | output_pixels   | 178,956,970     | width*height of a resize / preprocess / crop / drawn output     |
/// | grid_patches    | 1,048,576       | t*h*w of one image/video grid (patches of 14x14 pixels)         |
/// | tile_bytes      | 268,435,456     | one decoded TIFF tile or strip buffer (256 MiB)                 |
/// | response_bytes  | 268,435,456     | one HTTP response body, chunked or not (256 MiB)                |
/// | tokens          | 16,777,216      | tokens in one encoded sequence                                  |
/// | file_bytes      | 2,147,483,648   | one file read whole into memory (2 GiB)                         |

#include <rscovlm/config.hpp>
#include <rscovlm/errors.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace rscovlm::limits {

/// The limits, one field per name in the table above (0 = no limit).
struct policy {
    std::uint64_t image_pixels = 2ull * 89478485ull;
    std::uint64_t output_pixels = 2ull * 89478485ull;
    std::uint64_t grid_patches = 1ull << 20;
    std::uint64_t tile_bytes = 256ull << 20;
    std::uint64_t response_bytes = 256ull << 20;
    std::uint64_t tokens = 1ull << 24;
    std::uint64_t file_bytes = 2ull << 30;

    /// The field named `name` (one of the table's names), or nullptr.
    std::uint64_t* field(std::string_view name) noexcept {
        if (name == "image_pixels") return &image_pixels;
        if (name == "output_pixels") return &output_pixels;
        if (name == "grid_patches") return &grid_patches;
        if (name == "tile_bytes") return &tile_bytes;
        if (name == "response_bytes") return &response_bytes;
        if (name == "tokens") return &tokens;
        if (name == "file_bytes") return &file_bytes;
        return nullptr;
    }
};

/// Every limit name, in the table's order.
inline constexpr std::string_view names[] = {"image_pixels",   "output_pixels", "grid_patches", "tile_bytes",
                                             "response_bytes", "tokens",        "file_bytes"};

namespace detail {

inline std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

/// Parses a non-negative integer with an optional K/M/G (powers of 1024) suffix; false on garbage.
inline bool parse_value(std::string_view text, std::uint64_t& out) {
    if (text.empty()) return false;
    std::uint64_t mult = 1;
    char last = text.back();
    if (last == 'k' || last == 'K') mult = 1ull << 10;
    if (last == 'm' || last == 'M') mult = 1ull << 20;
    if (last == 'g' || last == 'G') mult = 1ull << 30;
    if (mult != 1) text.remove_suffix(1);
    if (text.empty()) return false;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (mult != 1 && v > UINT64_MAX / mult) return false;
    out = v * mult;
    return true;
}

inline policy from_environment() {
    policy p;
    for (std::string_view name : names) {
        std::string var = "RSCOVLM_LIMIT_" + upper(name);
        if (const char* v = std::getenv(var.c_str())) {
            std::uint64_t value = 0;
            if (parse_value(v, value)) *p.field(name) = value;
        }
    }
    return p;
}
} // namespace detail

/// The process-wide limits (initialised from the environment on first use).
inline policy& current() {
    static policy p = detail::from_environment();
    return p;
}

/// Sets limit `name` to `value`; throws `config_error` "unknown_limit" for a name not in the table.
inline void set(std::string_view name, std::uint64_t value) {
    std::uint64_t* f = current().field(name);
    if (!f) RSCOVLM_THROW(config_error, "unknown_limit", "unknown limit '" + std::string(name) + "'");
    *f = value;
}

/// Parses "NAME=VALUE" (VALUE may end in K, M or G) and sets it; typed `config_error` on garbage.
inline void set_from_string(std::string_view assignment) {
    auto eq = assignment.find('=');
    std::uint64_t value = 0;
    if (eq == std::string_view::npos || !detail::parse_value(assignment.substr(eq + 1), value))
        RSCOVLM_THROW(config_error, "bad_limit",
                      "expected NAME=VALUE for a limit, got '" + std::string(assignment) + "'");
    set(assignment.substr(0, eq), value);
}

/// Restores the previous limits when it goes out of scope.
class scoped {
public:
    scoped() : m_saved(current()) {}
    explicit scoped(const policy& p) : m_saved(current()) { current() = p; }
    scoped(const scoped&) = delete;
    scoped& operator=(const scoped&) = delete;
    ~scoped() { current() = m_saved; }

private:
    policy m_saved;
};

/// Throws `limit_error` `rscovlm.limit.<name>` when `value` exceeds limit `name` (0 = unlimited).
/// `what` names the input ("image_grid_thw of image 2", "response body of POST /v1/...").
inline void check(std::string_view name, std::uint64_t value, std::string_view what) {
    std::uint64_t* f = current().field(name);
    std::uint64_t limit = f ? *f : 0;
    if (limit == 0 || value <= limit) return;
    RSCOVLM_THROW(limit_error, name,
                  std::string(what) + ": " + std::to_string(value) + " exceeds the " + std::string(name) +
                      " limit of " + std::to_string(limit) + " (raise it with RSCOVLM_LIMIT_" + detail::upper(name) +
                      " or --limit " + std::string(name) + "=N)");
}

/// `a*b`, saturating at UINT64_MAX, for sizes checked against a limit before allocating.
inline std::uint64_t mul(std::uint64_t a, std::uint64_t b) noexcept {
    if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}
inline std::uint64_t mul(std::uint64_t a, std::uint64_t b, std::uint64_t c) noexcept {
    return mul(mul(a, b), c);
}

} // namespace rscovlm::limits
