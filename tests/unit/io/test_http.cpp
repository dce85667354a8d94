// The bounded HTTP client of the OpenAI-compatible backend: the incremental response parser over bytes,
// and requests to hostile servers on 127.0.0.1 (trickling, hanging, endless, oversized).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rscovlm/errors.hpp>
#include <rscovlm/io/http.hpp>
#include <rscovlm/limits.hpp>

namespace {

namespace http = rscovlm::io::http;

// Parses `bytes` fed in pieces of `step` bytes (0 = all at once); returns the error id or "".
std::string parse_in_pieces(std::string_view bytes, std::size_t step, http::response& out, std::uint64_t cap = 1 << 20,
                            bool eof = true) {
    try {
        http::response_parser p(cap, "test");
        std::size_t pos = 0;
        while (pos < bytes.size() && !p.done()) {
            const std::size_t n = step == 0 ? bytes.size() - pos : std::min(step, bytes.size() - pos);
            const std::size_t used = p.feed(bytes.substr(pos, n));
            pos += used;
            if (used < n) break;
        }
        if (eof && !p.done()) p.finish();
        out = p.take();
        return "";
    } catch (const rscovlm::error& e) {
        return e.id();
    }
}

std::string parse_id(std::string_view bytes, std::uint64_t cap = 1 << 20) {
    http::response r;
    return parse_in_pieces(bytes, 0, r, cap);
}

} // namespace

TEST_CASE("http: response parser over bytes, in pieces of any size") {
    const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX-A:  v  \r\n\r\n"
                                "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: t\r\n\r\nNEXT";
    const std::string length = "HTTP/1.0 201 Created\r\ncontent-length: 4\r\nContent-Length: 4\r\n\r\nbodyEXTRA";
    const std::string closed = "HTTP/1.1 200 OK\nServer: x\n\nuntil the close";
    const std::string interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno";
    for (std::size_t step : {0, 1, 2, 3, 7, 64}) {
        CAPTURE(step);
        http::response r;
        REQUIRE(parse_in_pieces(chunked, step, r) == "");
        CHECK(r.status == 200);
        CHECK(r.reason == "OK");
        CHECK(r.body == "hello world");
        CHECK(r.header("x-a") == "v");
        REQUIRE(parse_in_pieces(length, step, r) == "");
        CHECK(r.status == 201);
        CHECK(r.body == "body");
        REQUIRE(parse_in_pieces(closed, step, r) == "");
        CHECK(r.body == "until the close");
        CHECK(r.header("server") == "x");
        REQUIRE(parse_in_pieces(interim, step, r) == "");
        CHECK(r.status == 503);
        CHECK(r.body == "no");
        CHECK(r.headers.size() == 1);
    }
    // The parser stops at the end of the response: what follows is not consumed.
    http::response_parser p(0, "test");
    CHECK(p.feed(length) == length.size() - 5);
    CHECK(p.done());
    http::response r;
    CHECK(parse_in_pieces("HTTP/1.1 204 No Content\r\n\r\n", 0, r, 1 << 20, false) == "");
    CHECK(r.status == 204);
}

TEST_CASE("http: malformed, truncated and oversized responses give typed errors") {
    CHECK(parse_id("") == "rscovlm.io.http_truncated");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort") == "rscovlm.io.http_truncated");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab") == "rscovlm.io.http_truncated");
    CHECK(parse_id("SSH-2.0-OpenSSH\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 2x0 OK\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 099 Low\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nno colon\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab") ==
          "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n") ==
          "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n") ==
          "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 101 Switching\r\n\r\n") == "rscovlm.io.http_malformed");
    // Head and chunk-size lines are bounded: endless headers or an endless line fail, without storing them.
    std::string endless_headers = "HTTP/1.1 200 OK\r\n";
    while (endless_headers.size() < 2 * http::response_parser::default_max_head_bytes)
        endless_headers += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    CHECK(parse_id(endless_headers) == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\n" + std::string(100000, 'a')) == "rscovlm.io.http_malformed");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(10000, 'e')) ==
          "rscovlm.io.http_malformed");
    // The body cap: a declared length or chunk size over it fails before the body arrives.
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: 6000000000\r\n\r\n", 1000) == "rscovlm.limit.response_bytes");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n", 999) ==
          "rscovlm.limit.response_bytes");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n", 1000) ==
          "rscovlm.io.http_truncated");
    CHECK(parse_id("HTTP/1.1 200 OK\r\n\r\n" + std::string(1001, 'x'), 1000) == "rscovlm.limit.response_bytes");
    CHECK(parse_id("HTTP/1.1 200 OK\r\n\r\n" + std::string(1000, 'x'), 1000) == "");
    // 0 = the response_bytes limit of limits.hpp.
    rscovlm::limits::scoped keep;
    rscovlm::limits::set("response_bytes", 10);
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 0) == "rscovlm.limit.response_bytes");
    CHECK(parse_id("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0) == "");
}

TEST_CASE("http: origins") {
    auto o = http::parse_origin("http://127.0.0.1:8000");
    CHECK(o.host == "127.0.0.1");
    CHECK(o.port == "8000");
    CHECK(o.authority == "127.0.0.1:8000");
    o = http::parse_origin("http://[::1]:9/v1");
    CHECK(o.host == "::1");
    CHECK(o.port == "9");
    o = http::parse_origin("http://example.org");
    CHECK(o.port == "80");
    for (const char* bad : {"https://x", "http://", "http://h:", "http://h:x1", "http://[::1", "http://[::1]x"})
        CHECK_THROWS_AS(http::parse_origin(bad), rscovlm::config_error);
}

#if RSCOVLM_HAS_HTTP_CLIENT

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// A raw TCP server on 127.0.0.1: reads each request, then runs `behave(fd, stopping)` on the connection.
// Connections are served one after another until the server is destroyed.
struct raw_server {
    using behaviour = std::function<void(int fd, const std::atomic<bool>& stopping)>;
    int listen_fd = -1;
    int port = 0;
    std::atomic<bool> stopping{false};
    std::atomic<int> connections{0};
    std::thread th;

    explicit raw_server(behaviour behave) {
        listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(listen_fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        REQUIRE(::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
        REQUIRE(::listen(listen_fd, 8) == 0);
        socklen_t len = sizeof(a);
        REQUIRE(::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port = ntohs(a.sin_port);
        th = std::thread([this, behave] {
            while (!stopping) {
                pollfd p{listen_fd, POLLIN, 0};
                if (::poll(&p, 1, 10) <= 0) continue;
                const int fd = ::accept(listen_fd, nullptr, nullptr);
                if (fd < 0) continue;
                ++connections;
                read_request(fd);
                behave(fd, stopping);
                ::close(fd);
            }
        });
    }
    ~raw_server() {
        stopping = true;
        th.join();
        ::close(listen_fd);
    }
    std::string origin() const { return "http://127.0.0.1:" + std::to_string(port); }

    // Reads the head and a Content-Length body (bounded waits, so a stopping server never blocks).
    void read_request(int fd) {
        std::string got;
        char buf[4096];
        std::size_t need = std::string::npos;
        while (!stopping) {
            const std::size_t end = got.find("\r\n\r\n");
            if (end != std::string::npos && need == std::string::npos) {
                need = end + 4;
                const std::size_t cl = got.find("Content-Length: ");
                if (cl != std::string::npos && cl < end) need += std::stoul(got.substr(cl + 16));
            }
            if (need != std::string::npos && got.size() >= need) return;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 10) <= 0) continue;
            const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) return;
            got.append(buf, static_cast<std::size_t>(n));
        }
    }
};

// Sends all of `s`; false once the client is gone.
bool send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void pause_ms(int ms, const std::atomic<bool>& stopping) {
    for (int i = 0; i < ms && !stopping; i += 5)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::string request_error(const raw_server& s, const http::client_options& o) {
    try {
        http::request(http::parse_origin(s.origin()), "GET", "/v1/models", {}, {}, o, "GET /v1/models");
        return "";
    } catch (const rscovlm::error& e) {
        return e.id();
    }
}

// One byte every 50 ms, in the body (declared 1000 bytes) or in the headers.
void trickle_body(int fd, const std::atomic<bool>& stopping) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")) return;
    while (!stopping && send_all(fd, "x"))
        pause_ms(50, stopping);
}
void trickle_headers(int fd, const std::atomic<bool>& stopping) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nX-Slow: ")) return;
    while (!stopping && send_all(fd, "y"))
        pause_ms(50, stopping);
}
// Accepts and reads the request, then never answers (until the client gives up and closes).
void hang(int fd, const std::atomic<bool>& stopping) {
    char c = 0;
    while (!stopping) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10) > 0 && ::recv(fd, &c, 1, 0) <= 0) return;
    }
}
void endless_chunked(int fd, const std::atomic<bool>& stopping) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    const std::string chunk = "1000\r\n" + std::string(0x1000, 'c') + "\r\n";
    while (!stopping && send_all(fd, chunk)) {
    }
}
void huge_length(int fd, const std::atomic<bool>&) {
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 6000000000\r\n\r\n" + std::string(1000, 'h'));
}
void long_close_delimited(int fd, const std::atomic<bool>& stopping) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")) return;
    const std::string block(0x4000, 'b');
    while (!stopping && send_all(fd, block)) {
    }
}
void ok_models(int fd, const std::atomic<bool>&) {
    const std::string body = R"({"data":[{"id":"m"}]})";
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

http::client_options small_bounds() {
    http::client_options o;
    o.timeout_s = 0.3;
    o.connect_timeout_s = 1;
    o.max_response_bytes = 64 * 1024;
    return o;
}

} // namespace

TEST_CASE("http: a request gets its response from a well-behaved server") {
    raw_server s(ok_models);
    const http::response r = http::request(http::parse_origin(s.origin()), "GET", "/v1/models", {{"Accept", "*/*"}}, {},
                                           small_bounds(), "GET /v1/models");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"data":[{"id":"m"}]})");
}

TEST_CASE("http: the deadline bounds the whole request (trickling and hanging servers)") {
    {
        raw_server s(trickle_body);
        CHECK(request_error(s, small_bounds()) == "rscovlm.io.http_timeout");
    }
    {
        raw_server s(trickle_headers);
        CHECK(request_error(s, small_bounds()) == "rscovlm.io.http_timeout");
    }
    {
        raw_server s(hang);
        CHECK(request_error(s, small_bounds()) == "rscovlm.io.http_timeout");
        // The per-read wait gives up sooner than the deadline when set.
        http::client_options o = small_bounds();
        o.timeout_s = 5;
        o.read_timeout_s = 0.1;
        CHECK(request_error(s, o) == "rscovlm.io.http_timeout");
    }
}

TEST_CASE("http: the response cap holds for endless, declared-huge and close-delimited bodies") {
    {
        raw_server s(endless_chunked);
        http::client_options o = small_bounds();
        o.timeout_s = 5; // the cap, not the deadline, ends it
        CHECK(request_error(s, o) == "rscovlm.limit.response_bytes");
    }
    {
        raw_server s(huge_length);
        CHECK(request_error(s, small_bounds()) == "rscovlm.limit.response_bytes");
    }
    {
        raw_server s(long_close_delimited);
        http::client_options o = small_bounds();
        o.timeout_s = 5;
        CHECK(request_error(s, o) == "rscovlm.limit.response_bytes");
    }
}

TEST_CASE("http: connection refused is a typed error") {
    int port = 0;
    {
        raw_server s(hang);
        port = s.port;
    }
    try {
        http::request(http::parse_origin("http://127.0.0.1:" + std::to_string(port)), "GET", "/", {}, {},
                      small_bounds(), "GET /");
        FAIL("expected an error");
    } catch (const rscovlm::io_error& e) {
        CHECK(e.id() == "rscovlm.io.http_connect");
    }
}

#if RSCOVLM_HAS_HTTPLIB

#include <nlohmann/json.hpp>

#include <rscovlm/io/openai_backend.hpp>

namespace {
std::string backend_error(const raw_server& s, rscovlm::io::openai_options o, int* attempts = nullptr) {
    o.endpoint = s.origin() + "/v1";
    o.model = "m";
    rscovlm::io::openai_backend model(o);
    const nlohmann::json msgs = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
    std::string id;
    try {
        model.generate(msgs, {}, {});
    } catch (const rscovlm::error& e) {
        id = e.id();
    }
    if (attempts) *attempts = model.attempts();
    return id;
}

rscovlm::io::openai_options backend_bounds() {
    rscovlm::io::openai_options o;
    o.timeout_s = 0.3;
    o.max_retries = 1;
    o.retry_backoff_s = 0.01;
    o.max_response_bytes = 64 * 1024;
    return o;
}
} // namespace

TEST_CASE("zoom: the OpenAI backend times out on trickling and hanging servers, retrying once") {
    int attempts = 0;
    {
        raw_server s(trickle_body);
        CHECK(backend_error(s, backend_bounds(), &attempts) == "rscovlm.zoom.timeout");
        CHECK(attempts == 2);
    }
    {
        raw_server s(hang);
        CHECK(backend_error(s, backend_bounds(), &attempts) == "rscovlm.zoom.timeout");
        CHECK(attempts == 2);
        CHECK(s.connections == 2);
    }
}

TEST_CASE("zoom: the OpenAI backend caps the response body and does not retry an oversized one") {
    int attempts = 0;
    for (auto behave : {endless_chunked, huge_length, long_close_delimited}) {
        raw_server s(behave);
        rscovlm::io::openai_options o = backend_bounds();
        o.timeout_s = 5;
        CHECK(backend_error(s, o, &attempts) == "rscovlm.limit.response_bytes");
        CHECK(attempts == 1);
    }
    // Without max_response_bytes the response_bytes limit applies.
    rscovlm::limits::scoped keep;
    rscovlm::limits::set("response_bytes", 1000);
    raw_server s(huge_length);
    rscovlm::io::openai_options o = backend_bounds();
    o.max_response_bytes = 0;
    CHECK(backend_error(s, o) == "rscovlm.limit.response_bytes");
}

TEST_CASE("zoom: OpenAI backend defaults give up within minutes") {
    const rscovlm::io::openai_options o;
    CHECK(o.timeout_s == 120.0);
    CHECK(o.max_retries == 2);
    CHECK(o.retry_backoff_s == 1.0);
    // Worst case on a silent server: every attempt runs to its deadline, plus the backoff between them.
    const double worst = (o.max_retries + 1) * o.timeout_s + o.retry_backoff_s * ((1 << o.max_retries) - 1);
    CHECK(worst < 400);
}

#endif // RSCOVLM_HAS_HTTPLIB

#endif // RSCOVLM_HAS_HTTP_CLIENT
