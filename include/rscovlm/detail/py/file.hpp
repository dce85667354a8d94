#pragma once
/// \file detail/py/file.hpp
/// Python `open(path, "rb").read()`: the whole file as bytes (no newline translation, no decoding).
/// Callers that raise their own error type use `read_file(path, out)`; the others use
/// `read_file_or_throw`, which raises io_error.

#include <rscovlm/errors.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace rscovlm::detail::py {

/// Outcome of `read_file`.
enum class read_status {
    ok,          ///< the whole file is in `out`
    open_failed, ///< the file could not be opened (missing, no permission)
    read_failed, ///< it opened but reading failed (a directory, an I/O error)
};

/// Reads the whole file at `path` into `out` (replaced).
inline read_status read_file(const std::string& path, std::string& out) {
    out.clear();
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return read_status::open_failed;
    std::error_code ec; // size hint, one allocation for regular files (not for directories or pipes)
    const auto size = std::filesystem::is_regular_file(path, ec) ? std::filesystem::file_size(path, ec) : 0;
    if (!ec && size > 0) {
        out.resize(static_cast<std::size_t>(size));
        out.resize(std::fread(&out[0], 1, out.size(), f));
    }
    char buf[1 << 16];
    std::size_t got = 0;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0)
        out.append(buf, got);
    const bool bad = std::ferror(f) != 0;
    std::fclose(f);
    return bad ? read_status::read_failed : read_status::ok;
}

/// The bytes of the file at `path`; nullopt when it cannot be opened or read.
inline std::optional<std::string> try_read_file(const std::string& path) {
    std::string out;
    if (read_file(path, out) != read_status::ok) return std::nullopt;
    return out;
}

/// The bytes of the file at `path`. Throws io_error `open_code` with `open_message` when it cannot
/// be opened, io_error "read_failed" when reading fails.
inline std::string read_file_or_throw(const std::string& path, const char* open_code, const std::string& open_message) {
    std::string out;
    switch (read_file(path, out)) {
    case read_status::ok:
        break;
    case read_status::open_failed:
        RSCOVLM_THROW(::rscovlm::io_error, open_code, open_message);
    case read_status::read_failed:
        RSCOVLM_THROW(::rscovlm::io_error, "read_failed", "error while reading '" + path + "'");
    }
    return out;
}

} // namespace rscovlm::detail::py
