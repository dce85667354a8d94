// Fuzz target: the incremental HTTP response parser (io/http.hpp) must take any bytes and either
// complete a response or fail with a typed rscovlm error, never storing a body over its cap, and with
// the same outcome however the bytes are split into pieces.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <rscovlm/errors.hpp>
#include <rscovlm/io/http.hpp>

namespace {

constexpr std::uint64_t cap = 4096;

struct outcome {
    std::string error; // error id, or "" when the response completed
    std::size_t consumed = 0;
    rscovlm::io::http::response response;
};

outcome parse(std::string_view bytes, std::size_t step) {
    outcome o;
    try {
        rscovlm::io::http::response_parser p(cap, "fuzz", 1024);
        while (o.consumed < bytes.size() && !p.done()) {
            const std::size_t n = step == 0 ? bytes.size() - o.consumed : std::min(step, bytes.size() - o.consumed);
            const std::size_t used = p.feed(bytes.substr(o.consumed, n));
            if (used > n) std::abort();
            o.consumed += used;
            if (p.get().body.size() > cap) std::abort();
            if (used < n) {
                if (!p.done()) std::abort(); // bytes are left unread only after the end of the response
                break;
            }
        }
        if (!p.done()) p.finish();
        o.response = p.take();
    } catch (const rscovlm::error& e) {
        o.error = e.id();
        if (o.error.rfind("rscovlm.", 0) != 0) std::abort();
    }
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const outcome whole = parse(bytes, 0);
    if (whole.error.empty()) {
        const auto& r = whole.response;
        if (r.status < 100 || r.status > 999 || r.body.size() > cap) std::abort();
    } else if (whole.error != "rscovlm.io.http_malformed" && whole.error != "rscovlm.io.http_truncated" &&
               whole.error != "rscovlm.limit.response_bytes") {
        std::abort();
    }
    for (std::size_t step : {std::size_t(1), std::size_t(3) + size % 13}) {
        if (step == 1 && size > 8192) continue;
        const outcome piece = parse(bytes, step);
        if (piece.error != whole.error) std::abort();
        if (!whole.error.empty()) continue;
        if (piece.consumed != whole.consumed || piece.response.status != whole.response.status ||
            piece.response.reason != whole.response.reason || piece.response.headers != whole.response.headers ||
            piece.response.body != whole.response.body)
            std::abort();
    }
    return 0;
}
