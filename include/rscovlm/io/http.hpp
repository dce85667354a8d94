#pragma once
/// \file
/// A small HTTP/1.1 client for the OpenAI-compatible backend, bounded in time and memory.
///
/// - `http::response_parser` is an incremental parser of one response over bytes (no sockets): feed it
///   what arrives, in pieces of any size, and it yields the status, headers and body. It handles
///   `Content-Length`, `Transfer-Encoding: chunked` (extensions and trailers ignored) and bodies that
///   end when the connection closes, skips interim 1xx responses, and checks sizes as bytes arrive,
///   before anything is stored: the body against the `response_bytes` limit (`limits.hpp`; a declared
///   `Content-Length` or chunk size over it fails at once), the status line, headers and trailers
///   against `max_head_bytes`. Malformed input gives `io_error` `rscovlm.io.http_malformed`, a body
///   over the limit `limit_error` `rscovlm.limit.response_bytes`; it never reads past the response.
/// - `http::request` sends one request over plain TCP (POSIX sockets, `Connection: close`) under one
///   deadline for the whole exchange (connect, send, status and headers, body): a server that trickles
///   bytes, or accepts and never answers, gives `io_error` `rscovlm.io.http_timeout` when the deadline
///   passes. Connection failures give `rscovlm.io.http_connect`, a connection closed before the
///   response is complete `rscovlm.io.http_truncated`. (Host-name resolution is the system's, before
///   the deadline's clock can interrupt it; numeric addresses skip it.)

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rscovlm/errors.hpp>
#include <rscovlm/limits.hpp>

#if defined(__unix__) || defined(__APPLE__)
#define RSCOVLM_HAS_HTTP_CLIENT 1
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#else
#define RSCOVLM_HAS_HTTP_CLIENT 0
#endif

namespace rscovlm::io::http {

/// One parsed response.
struct response {
    int status = 0;                                           ///< status code (100..999)
    std::string reason;                                       ///< reason phrase
    std::vector<std::pair<std::string, std::string>> headers; ///< names as sent, values trimmed
    std::string body;                                         ///< the body, de-chunked

    /// The value of the first header named `name` (case-insensitive), or "".
    std::string header(std::string_view name) const;
};

namespace detail {
inline char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}
inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}
inline bool is_token_char(char c) noexcept {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return false;
    return std::string_view("()<>@,;:\\\"/[]?={}").find(c) == std::string_view::npos;
}
inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace detail

inline std::string response::header(std::string_view name) const {
    for (const auto& h : headers)
        if (detail::iequals(h.first, name)) return h.second;
    return std::string();
}

/// Incremental parser of one HTTP/1.x response (see the file comment).
class response_parser {
public:
    /// Longest status line plus headers (of all interim responses too), and longest trailer section.
    static constexpr std::size_t default_max_head_bytes = 64 * 1024;

    /// `max_body_bytes`: 0 = the `response_bytes` limit of `limits::current()` (itself 0 = none).
    /// `what` names the response in error messages (e.g. "POST http://host/v1/chat/completions").
    explicit response_parser(std::uint64_t max_body_bytes = 0, std::string what = "HTTP response",
                             std::size_t max_head_bytes = default_max_head_bytes)
        : m_max_body(max_body_bytes ? max_body_bytes : limits::current().response_bytes), m_what(std::move(what)),
          m_max_head(max_head_bytes) {}

    /// Consumes bytes of the response; returns how many were used (fewer than given only once the
    /// response is complete: what follows it is not part of it). Throws on malformed or oversized input.
    std::size_t feed(std::string_view bytes) {
        std::size_t used = 0;
        while (used < bytes.size() && m_state != state::done) {
            std::string_view in = bytes.substr(used);
            switch (m_state) {
            case state::body_length: {
                const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, in.size()));
                m_res.body.append(in.data(), take);
                m_remaining -= take;
                used += take;
                if (m_remaining == 0) m_state = state::done;
                break;
            }
            case state::body_close:
                check_body(m_res.body.size() + static_cast<std::uint64_t>(in.size()));
                m_res.body.append(in.data(), in.size());
                used += in.size();
                break;
            case state::chunk_data: {
                const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, in.size()));
                m_res.body.append(in.data(), take);
                m_remaining -= take;
                used += take;
                if (m_remaining == 0) m_state = state::chunk_end;
                break;
            }
            default: {
                // Line-oriented states: collect up to '\n' within the budget of the current section.
                const std::size_t nl = in.find('\n');
                const std::size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
                if (m_line.size() + take > m_line_budget)
                    malformed(std::string(section_name()) + " longer than the " + std::to_string(m_line_budget) +
                              " bytes left for it");
                m_line.append(in.data(), take);
                used += take;
                if (nl == std::string_view::npos) break;
                const std::size_t raw = m_line.size();
                std::string line = std::move(m_line);
                m_line.clear();
                line.pop_back();
                if (!line.empty() && line.back() == '\r') line.pop_back();
                on_line(line, raw);
                break;
            }
            }
        }
        return used;
    }

    /// The connection closed: completes a body delimited by the close, else throws
    /// `rscovlm.io.http_truncated` when the response is incomplete.
    void finish() {
        if (m_state == state::body_close) m_state = state::done;
        if (m_state != state::done)
            RSCOVLM_THROW(io_error, "http_truncated",
                          m_what + ": the connection closed in the " + std::string(section_name()) + " after " +
                              std::to_string(m_total) + " bytes of the response");
    }

    /// The response is complete.
    bool done() const noexcept { return m_state == state::done; }
    /// The status line and headers are in (status and headers are final).
    bool head_done() const noexcept { return m_state != state::status_line && m_state != state::header_line; }
    /// The response parsed so far (complete once `done()`).
    const response& get() const noexcept { return m_res; }
    /// Moves the response out.
    response take() { return std::move(m_res); }

private:
    enum class state {
        status_line,
        header_line,
        body_length,
        body_close,
        chunk_size,
        chunk_data,
        chunk_end,
        trailer,
        done
    };

    const char* section_name() const noexcept {
        switch (m_state) {
        case state::status_line:
            return "status line";
        case state::header_line:
            return "headers";
        case state::chunk_size:
            return "chunk size line";
        case state::chunk_data:
        case state::chunk_end:
            return "chunked body";
        case state::trailer:
            return "trailers";
        default:
            return "body";
        }
    }

    [[noreturn]] void malformed(const std::string& why) const {
        RSCOVLM_THROW(io_error, "http_malformed", m_what + ": malformed HTTP response (" + why + ")");
    }

    void check_body(std::uint64_t bytes) const {
        if (m_max_body == 0 || bytes <= m_max_body) return;
        RSCOVLM_THROW(limit_error, "response_bytes",
                      m_what + ": a response body of " + std::to_string(bytes) +
                          " bytes exceeds the response_bytes limit of " + std::to_string(m_max_body) +
                          " (raise it with RSCOVLM_LIMIT_RESPONSE_BYTES or --limit response_bytes=N)");
    }

    // Budget bookkeeping: head (status + headers of every interim response) and trailers each have
    // m_max_head bytes; a chunk-size line has 4 KiB (extensions included) and the CRLF after a chunk 2.
    void spend(std::size_t n) {
        m_total += n;
        m_line_budget -= std::min(m_line_budget, n);
    }

    void on_line(const std::string& line, std::size_t raw_size) {
        switch (m_state) {
        case state::status_line:
            spend(raw_size);
            parse_status(line);
            m_state = state::header_line;
            return;
        case state::header_line:
            spend(raw_size);
            if (line.empty()) return end_of_head();
            parse_header(line);
            return;
        case state::chunk_size:
            m_total += raw_size;
            return parse_chunk_size(line);
        case state::chunk_end:
            m_total += raw_size;
            if (!line.empty()) malformed("chunk data longer than its size");
            m_state = state::chunk_size;
            m_line_budget = chunk_line_max;
            return;
        case state::trailer:
            spend(raw_size);
            if (line.empty()) m_state = state::done;
            return;
        default:
            return;
        }
    }

    void parse_status(std::string_view s) {
        // HTTP/1.x SP 3DIGIT [SP reason]
        if (s.size() < 12 || s.substr(0, 5) != "HTTP/" || s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' ||
            s[7] > '9' || s[8] != ' ')
            malformed("bad status line '" + std::string(s.substr(0, 60)) + "'");
        int code = 0;
        for (std::size_t i = 9; i < 12; ++i) {
            if (s[i] < '0' || s[i] > '9') malformed("bad status code");
            code = code * 10 + (s[i] - '0');
        }
        if (code < 100) malformed("bad status code");
        if (s.size() > 12 && s[12] != ' ') malformed("bad status line");
        m_res.status = code;
        m_res.reason = std::string(s.size() > 13 ? s.substr(13) : std::string_view());
    }

    void parse_header(std::string_view s) {
        if (s.front() == ' ' || s.front() == '\t') malformed("folded header line");
        const std::size_t colon = s.find(':');
        if (colon == std::string_view::npos || colon == 0) malformed("header line without a name");
        for (std::size_t i = 0; i < colon; ++i)
            if (!detail::is_token_char(s[i])) malformed("bad header name");
        m_res.headers.emplace_back(std::string(s.substr(0, colon)), std::string(detail::trim(s.substr(colon + 1))));
    }

    void end_of_head() {
        const int st = m_res.status;
        if (st >= 100 && st < 200) {
            if (st == 101) malformed("unexpected protocol switch");
            // Interim response: the real one follows (the head budget is shared).
            m_res.headers.clear();
            m_res.status = 0;
            m_res.reason.clear();
            m_state = state::status_line;
            return;
        }
        if (st == 204 || st == 304) {
            m_state = state::done;
            return;
        }
        bool chunked = false, has_te = false, has_length = false;
        std::uint64_t length = 0;
        for (const auto& h : m_res.headers) {
            if (detail::iequals(h.first, "transfer-encoding")) {
                has_te = true;
                // The last coding decides: chunked ends the body, anything else runs to the close.
                std::string_view v = h.second;
                const std::size_t comma = v.rfind(',');
                chunked =
                    detail::iequals(detail::trim(comma == std::string_view::npos ? v : v.substr(comma + 1)), "chunked");
            } else if (detail::iequals(h.first, "content-length")) {
                std::string_view v = h.second;
                // A list ("12, 12") or repeated header must agree on one value.
                while (true) {
                    const std::size_t comma = v.find(',');
                    const std::uint64_t n = parse_length(detail::trim(v.substr(0, comma)));
                    if (has_length && n != length) malformed("conflicting Content-Length values");
                    has_length = true;
                    length = n;
                    if (comma == std::string_view::npos) break;
                    v.remove_prefix(comma + 1);
                }
            }
        }
        if (has_te) {
            m_state = chunked ? state::chunk_size : state::body_close;
            m_line_budget = chunk_line_max;
        } else if (has_length) {
            check_body(length);
            m_remaining = length;
            m_state = length == 0 ? state::done : state::body_length;
        } else {
            m_state = state::body_close;
        }
    }

    std::uint64_t parse_length(std::string_view v) const {
        if (v.empty() || v.size() > 19) malformed("bad Content-Length '" + std::string(v.substr(0, 40)) + "'");
        std::uint64_t n = 0;
        for (char c : v) {
            if (c < '0' || c > '9') malformed("bad Content-Length '" + std::string(v.substr(0, 40)) + "'");
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return n;
    }

    void parse_chunk_size(std::string_view s) {
        std::uint64_t n = 0;
        std::size_t i = 0;
        for (; i < s.size() && detail::hex_value(s[i]) >= 0; ++i) {
            if (i >= 15) malformed("chunk size too long");
            n = n * 16 + static_cast<std::uint64_t>(detail::hex_value(s[i]));
        }
        if (i == 0) malformed("bad chunk size line");
        const std::string_view rest = detail::trim(s.substr(i));
        if (!rest.empty() && rest.front() != ';') malformed("bad chunk size line");
        if (n == 0) {
            m_state = state::trailer;
            m_line_budget = m_max_head;
            return;
        }
        check_body(m_res.body.size() + n);
        m_remaining = n;
        m_state = state::chunk_data;
        m_line_budget = 2;
    }

    static constexpr std::size_t chunk_line_max = 4096;

    response m_res;
    std::uint64_t m_max_body;
    std::string m_what;
    std::size_t m_max_head;
    state m_state = state::status_line;
    std::string m_line;
    std::size_t m_line_budget = m_max_head;
    std::uint64_t m_remaining = 0;
    std::uint64_t m_total = 0;
};

#if RSCOVLM_HAS_HTTP_CLIENT

/// Where a request goes: an `http://host[:port]` origin split into its parts.
struct origin {
    std::string host;      ///< host name or address (IPv6 without brackets)
    std::string port;      ///< port (default "80")
    std::string authority; ///< host[:port] as written, for the Host header
};

/// Splits "http://host[:port]" (an IPv6 host in brackets); `config_error` "bad_url" when it is not one.
inline origin parse_origin(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.substr(0, scheme.size()) != scheme)
        RSCOVLM_THROW(config_error, "bad_url", "expected an http:// URL, got '" + std::string(url) + "'");
    std::string_view auth = url.substr(scheme.size());
    auth = auth.substr(0, auth.find_first_of("/?#"));
    origin o;
    o.authority = std::string(auth);
    std::string_view host = auth, port;
    if (!auth.empty() && auth.front() == '[') {
        const std::size_t rb = auth.find(']');
        if (rb == std::string_view::npos)
            RSCOVLM_THROW(config_error, "bad_url", "unclosed '[' in '" + std::string(url) + "'");
        host = auth.substr(1, rb - 1);
        if (rb + 1 < auth.size()) {
            if (auth[rb + 1] != ':') RSCOVLM_THROW(config_error, "bad_url", "bad port in '" + std::string(url) + "'");
            port = auth.substr(rb + 2);
        }
    } else if (const std::size_t colon = auth.rfind(':'); colon != std::string_view::npos) {
        host = auth.substr(0, colon);
        port = auth.substr(colon + 1);
    }
    if (host.empty()) RSCOVLM_THROW(config_error, "bad_url", "no host in '" + std::string(url) + "'");
    if (auth.find(':') != std::string_view::npos &&
        (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos))
        RSCOVLM_THROW(config_error, "bad_url", "bad port in '" + std::string(url) + "'");
    o.host = std::string(host);
    o.port = port.empty() ? std::string("80") : std::string(port);
    return o;
}

/// Time and size bounds of one request.
struct client_options {
    /// Deadline of the whole request (connect, send, status and headers, body), in seconds (<= 0: none).
    double timeout_s = 120.0;
    /// Longest wait for the connection to be established (within the deadline).
    double connect_timeout_s = 10.0;
    /// Longest wait for one read to make progress (within the deadline; <= 0: the deadline only).
    double read_timeout_s = 0.0;
    /// Longest wait for one write to make progress (within the deadline; <= 0: the deadline only).
    double write_timeout_s = 0.0;
    /// Largest response body; 0 = the `response_bytes` limit of `limits::current()`.
    std::uint64_t max_response_bytes = 0;
};

namespace detail {

class socket_fd {
public:
    explicit socket_fd(int fd) noexcept : m_fd(fd) {}
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    ~socket_fd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    int get() const noexcept { return m_fd; }
    int release() noexcept {
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }
    void reset(int fd) noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = fd;
    }

private:
    int m_fd;
};

enum class wait_result { ready, deadline, idle };

using clock = std::chrono::steady_clock;

/// `s` seconds from now; `time_point::max()` for no bound (s <= 0, not finite, or beyond ~3 years).
inline clock::time_point after(double s) {
    if (!(s > 0) || s > 1e8) return clock::time_point::max();
    return clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
}

/// Waits for `events` on `fd` until the deadline or for `step_s` (<= 0: no step limit).
inline wait_result wait_fd(int fd, short events, clock::time_point deadline, double step_s) {
    const clock::time_point step_end = after(step_s);
    while (true) {
        const clock::time_point now = clock::now();
        const bool by_deadline = deadline <= step_end;
        const clock::time_point end = by_deadline ? deadline : step_end;
        if (now >= end) return by_deadline ? wait_result::deadline : wait_result::idle;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count() + 1;
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60 * 1000)));
        if (r > 0) return wait_result::ready;
        if (r < 0 && errno != EINTR)
            RSCOVLM_THROW(io_error, "http_connect", std::string("poll failed: ") + std::strerror(errno));
    }
}

inline std::string seconds_text(double s) {
    std::string t = std::to_string(s);
    while (t.size() > 1 && t.back() == '0')
        t.pop_back();
    if (!t.empty() && t.back() == '.') t.pop_back();
    return t;
}

} // namespace detail

/// Sends one request and reads its response under `o`'s deadline and size cap (see the file comment).
/// `target` is the request path ("/v1/models"); `what` names the request in error messages.
inline response request(const origin& to, std::string_view method, std::string_view target,
                        const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body,
                        const client_options& o, const std::string& what) {
    using detail::clock;
    const clock::time_point deadline = detail::after(o.timeout_s);
    auto timed_out = [&](const std::string& phase) {
        RSCOVLM_THROW(io_error, "http_timeout",
                      what + ": " + phase + " (request deadline " + detail::seconds_text(o.timeout_s) + " s)");
    };
    auto idle = [&](const std::string& phase, double step_s) {
        RSCOVLM_THROW(io_error, "http_timeout",
                      what + ": " + phase + " (no progress for " + detail::seconds_text(step_s) + " s)");
    };

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(to.host.c_str(), to.port.c_str(), &hints, &found); rc != 0 || !found)
        RSCOVLM_THROW(io_error, "http_connect", what + ": cannot resolve '" + to.host + "': " + ::gai_strerror(rc));
    struct addr_guard {
        addrinfo* p;
        ~addr_guard() { ::freeaddrinfo(p); }
    } guard{found};

    detail::socket_fd sock(-1);
    std::string last_error = "no address";
    bool connect_timed_out = false;
    for (addrinfo* a = found; a && sock.get() < 0; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            last_error = std::strerror(errno);
            continue;
        }
        detail::socket_fd candidate(fd);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last_error = std::strerror(errno);
                continue;
            }
            const detail::wait_result w = detail::wait_fd(fd, POLLOUT, deadline, o.connect_timeout_s);
            if (w == detail::wait_result::deadline) timed_out("connecting to " + to.authority);
            if (w == detail::wait_result::idle) {
                connect_timed_out = true;
                last_error = "connect timed out after " + detail::seconds_text(o.connect_timeout_s) + " s";
                continue;
            }
            int err = 0;
            socklen_t len = sizeof(err);
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            if (err != 0) {
                last_error = std::strerror(err);
                continue;
            }
        }
        sock.reset(candidate.release());
    }
    if (sock.get() < 0) {
        if (connect_timed_out) RSCOVLM_THROW(io_error, "http_timeout", what + ": " + last_error);
        RSCOVLM_THROW(io_error, "http_connect", what + ": cannot connect to " + to.authority + ": " + last_error);
    }
#if defined(SO_NOSIGPIPE)
    {
        int one = 1;
        ::setsockopt(sock.get(), SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
    }
#endif
#if defined(MSG_NOSIGNAL)
    constexpr int send_flags = MSG_NOSIGNAL;
#else
    constexpr int send_flags = 0;
#endif

    std::string head;
    head.reserve(256 + body.size());
    head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(to.authority).append("\r\n");
    for (const auto& h : headers)
        head.append(h.first).append(": ").append(h.second).append("\r\n");
    if (!body.empty() || method == "POST" || method == "PUT")
        head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    head.append("Connection: close\r\n\r\n");
    head.append(body);

    std::size_t sent = 0;
    while (sent < head.size()) {
        const ssize_t n = ::send(sock.get(), head.data() + sent, head.size() - sent, send_flags);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const detail::wait_result w = detail::wait_fd(sock.get(), POLLOUT, deadline, o.write_timeout_s);
            if (w == detail::wait_result::deadline) timed_out("deadline passed while sending the request");
            if (w == detail::wait_result::idle) idle("sending the request", o.write_timeout_s);
            continue;
        }
        RSCOVLM_THROW(io_error, "http_connect",
                      what + ": connection lost while sending the request: " + std::strerror(errno));
    }

    response_parser parser(o.max_response_bytes, what);
    char buf[16384];
    while (!parser.done()) {
        const ssize_t n = ::recv(sock.get(), buf, sizeof(buf), 0);
        if (n > 0) {
            parser.feed(std::string_view(buf, static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0) {
            parser.finish();
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            const char* phase = parser.head_done() ? "reading the response body" : "waiting for the response headers";
            const detail::wait_result w = detail::wait_fd(sock.get(), POLLIN, deadline, o.read_timeout_s);
            if (w == detail::wait_result::deadline) timed_out(std::string("deadline passed while ") + phase);
            if (w == detail::wait_result::idle) idle(phase, o.read_timeout_s);
            continue;
        }
        RSCOVLM_THROW(io_error, "http_connect", what + ": connection lost: " + std::strerror(errno));
    }
    return parser.take();
}

#endif // RSCOVLM_HAS_HTTP_CLIENT

} // namespace rscovlm::io::http
