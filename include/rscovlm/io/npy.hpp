#pragma once
/// \file npy.hpp
/// \brief NumPy `.npy` (format 1.0 / 2.0) writer and reader for little-endian numeric arrays.

#include <rscovlm/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace rscovlm::io {

/// \brief An n-dimensional array read from a `.npy` file (raw little-endian bytes, C order).
struct npy_array {
    /// NumPy dtype string, e.g. "<f4", "<i8", "|u1".
    std::string dtype;
    std::vector<std::size_t> shape;
    bool fortran_order = false;
    std::vector<std::uint8_t> data;

    /// \brief Number of elements (product of the shape; 1 for a 0-d array).
    std::size_t size() const noexcept {
        std::size_t n = 1;
        for (std::size_t d : shape)
            n *= d;
        return n;
    }
    /// \brief The values as T; throws `io_error` "npy_dtype" when `dtype` is not T's.
    template <class T> std::vector<T> as() const;
};

namespace npy_detail {
template <class T> constexpr std::string_view npy_dtype() {
    if constexpr (std::is_same_v<T, float>)
        return "<f4";
    else if constexpr (std::is_same_v<T, double>)
        return "<f8";
    else if constexpr (std::is_same_v<T, std::int64_t>)
        return "<i8";
    else if constexpr (std::is_same_v<T, std::int32_t>)
        return "<i4";
    else if constexpr (std::is_same_v<T, std::int16_t>)
        return "<i2";
    else if constexpr (std::is_same_v<T, std::uint16_t>)
        return "<u2";
    else if constexpr (std::is_same_v<T, std::uint32_t>)
        return "<u4";
    else if constexpr (std::is_same_v<T, std::uint64_t>)
        return "<u8";
    else if constexpr (std::is_same_v<T, std::uint8_t>)
        return "|u1";
    else if constexpr (std::is_same_v<T, std::int8_t>)
        return "|i1";
    else
        static_assert(sizeof(T) == 0, "unsupported npy element type");
}

inline std::size_t npy_itemsize(std::string_view dtype) {
    if (dtype.size() < 3) return 0;
    std::size_t n = 0;
    for (char c : dtype.substr(2)) {
        if (c < '0' || c > '9') return 0;
        n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    return n;
}

inline std::string npy_header(std::string_view dtype, const std::vector<std::size_t>& shape) {
    std::string dict = "{'descr': '" + std::string(dtype) + "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        dict += std::to_string(shape[i]);
        if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
        if (i + 1 < shape.size()) dict += " ";
    }
    dict += "), }";
    // magic(6) + version(2) + header_len(2) + dict + padding + '\n', total a multiple of 64.
    std::size_t total = 10 + dict.size() + 1;
    const std::size_t pad = (64 - total % 64) % 64;
    dict.append(pad, ' ');
    dict += '\n';
    std::string h = "\x93NUMPY";
    h += '\x01';
    h += '\x00';
    const std::size_t len = dict.size();
    h += static_cast<char>(len & 0xff);
    h += static_cast<char>((len >> 8) & 0xff);
    return h + dict;
}
} // namespace npy_detail

/// \brief Encodes `data` (C order, `shape`) as `.npy` bytes (format 1.0).
template <class T> std::vector<std::uint8_t> encode_npy(const T* data, const std::vector<std::size_t>& shape) {
    static_assert(std::is_arithmetic_v<T>, "npy: arithmetic element types only");
    std::size_t n = 1;
    for (std::size_t d : shape)
        n *= d;
    const std::string h = npy_detail::npy_header(npy_detail::npy_dtype<T>(), shape);
    std::vector<std::uint8_t> out(h.begin(), h.end());
    const std::size_t off = out.size();
    out.resize(off + n * sizeof(T));
    if (n) std::memcpy(out.data() + off, data, n * sizeof(T)); // little-endian host (x86-64, aarch64)
    return out;
}

/// \brief Writes a `.npy` file; throws `io_error` "write_failed".
template <class T> void save_npy(const std::string& path, const T* data, const std::vector<std::size_t>& shape) {
    const auto bytes = encode_npy(data, shape);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot open '" + path + "' for writing");
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) RSCOVLM_THROW(io_error, "write_failed", "error while writing '" + path + "'");
}

/// \brief Writes a `.npy` file from a vector.
template <class T>
void save_npy(const std::string& path, const std::vector<T>& data, const std::vector<std::size_t>& shape) {
    std::size_t n = 1;
    for (std::size_t d : shape)
        n *= d;
    if (n != data.size())
        RSCOVLM_THROW(io_error, "npy_shape",
                      "save_npy: shape holds " + std::to_string(n) + " elements, data " + std::to_string(data.size()));
    save_npy(path, data.data(), shape);
}

/// \brief Parses `.npy` bytes; throws `io_error` "npy_format" for anything malformed or big-endian.
inline npy_array decode_npy(const std::uint8_t* p, std::size_t n, std::string_view name = "npy") {
    auto bad = [&](const std::string& why) { RSCOVLM_THROW(io_error, "npy_format", std::string(name) + ": " + why); };
    if (n < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) bad("not a .npy file (bad magic)");
    const int major = p[6];
    std::size_t hlen = 0, hoff = 0;
    if (major == 1) {
        hlen = static_cast<std::size_t>(p[8]) | (static_cast<std::size_t>(p[9]) << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) bad("truncated header");
        hlen = static_cast<std::size_t>(p[8]) | (static_cast<std::size_t>(p[9]) << 8) |
               (static_cast<std::size_t>(p[10]) << 16) | (static_cast<std::size_t>(p[11]) << 24);
        hoff = 12;
    } else {
        bad("unsupported format version " + std::to_string(major));
    }
    if (hlen > n - hoff) bad("truncated header");
    const std::string h(reinterpret_cast<const char*>(p + hoff), hlen);
    npy_array a;
    auto field = [&](const std::string& key) -> std::size_t {
        const std::size_t k = h.find("'" + key + "'");
        if (k == std::string::npos) bad("header has no '" + key + "'");
        std::size_t c = h.find(':', k);
        if (c == std::string::npos) bad("malformed header");
        ++c;
        while (c < h.size() && h[c] == ' ')
            ++c;
        return c;
    };
    std::size_t c = field("descr");
    if (c >= h.size() || (h[c] != '\'' && h[c] != '"')) bad("descr is not a string");
    const char q = h[c];
    const std::size_t e = h.find(q, c + 1);
    if (e == std::string::npos) bad("unterminated descr");
    a.dtype = h.substr(c + 1, e - c - 1);
    c = field("fortran_order");
    a.fortran_order = h.compare(c, 4, "True") == 0;
    c = field("shape");
    if (c >= h.size() || h[c] != '(') bad("shape is not a tuple");
    const std::size_t close = h.find(')', c);
    if (close == std::string::npos) bad("unterminated shape");
    std::size_t cur = 0;
    bool in_num = false;
    for (std::size_t i = c + 1; i < close; ++i) {
        const char ch = h[i];
        if (ch >= '0' && ch <= '9') {
            if (cur > (static_cast<std::size_t>(1) << 48)) bad("shape too large");
            cur = cur * 10 + static_cast<std::size_t>(ch - '0');
            in_num = true;
        } else if (ch == ',' || ch == ' ' || ch == 'L') {
            if (in_num && ch != 'L') {
                a.shape.push_back(cur);
                cur = 0;
                in_num = false;
            }
        } else {
            bad("bad character in shape");
        }
    }
    if (in_num) a.shape.push_back(cur);
    if (!a.dtype.empty() && a.dtype[0] == '>' && a.dtype.size() > 2 && a.dtype.substr(1) != "u1" &&
        a.dtype.substr(1) != "i1")
        bad("big-endian dtype " + a.dtype + " is not supported");
    const std::size_t item = npy_detail::npy_itemsize(a.dtype);
    if (item == 0) bad("unsupported dtype '" + a.dtype + "'");
    std::size_t count = 1;
    for (std::size_t d : a.shape) {
        if (d != 0 && count > (static_cast<std::size_t>(-1) / 16) / d) bad("shape too large");
        count *= d;
    }
    const std::size_t need = count * item;
    const std::size_t off = hoff + hlen;
    if (need > n - off)
        bad("data is truncated (" + std::to_string(n - off) + " of " + std::to_string(need) + " bytes)");
    a.data.assign(p + off, p + off + need);
    return a;
}

/// \brief Reads a `.npy` file.
inline npy_array load_npy(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) RSCOVLM_THROW(io_error, "open_failed", "cannot open '" + path + "' for reading");
    std::vector<std::uint8_t> buf;
    std::uint8_t chunk[65536];
    for (;;) {
        const std::size_t k = std::fread(chunk, 1, sizeof chunk, f);
        buf.insert(buf.end(), chunk, chunk + k);
        if (k < sizeof chunk) break;
    }
    std::fclose(f);
    return decode_npy(buf.data(), buf.size(), path);
}

template <class T> std::vector<T> npy_array::as() const {
    const std::string_view want = npy_detail::npy_dtype<T>();
    const bool same = dtype == want || (want.size() == 3 && dtype.size() == 3 && dtype.substr(1) == want.substr(1) &&
                                        (dtype[0] == '=' || dtype[0] == '<' || dtype[0] == '|'));
    if (!same)
        RSCOVLM_THROW(io_error, "npy_dtype", "npy array has dtype '" + dtype + "', not '" + std::string(want) + "'");
    std::vector<T> out(size());
    if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
    return out;
}

} // namespace rscovlm::io
