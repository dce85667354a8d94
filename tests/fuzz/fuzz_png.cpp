// Fuzz target: rscovlm's own PNG decoder (io/png.hpp) on arbitrary bytes, with a small pixel limit so
// that declared sizes above it are refused before inflating. Whatever decodes must have a consistent
// buffer and must decode to the same pixels a second time (no dependence on uninitialised memory).
#include <rscovlm/io/png.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace rscovlm;
#if defined(RSCOVLM_HAS_PNG_DECODER)
    auto r = try_call([&] { return io::decode_png(data, size, std::uint64_t{1} << 20); });
    if (r.ok()) {
        const image& img = r.value();
        if (img.empty() || img.size_bytes() != img.data.size()) __builtin_trap();
        if (img.channels < 1 || img.channels > 4) __builtin_trap();
        auto again = try_call([&] { return io::decode_png(data, size, std::uint64_t{1} << 20); });
        if (!again.ok() || again.value().data != img.data) __builtin_trap();
    }
    auto h = try_call([&] { return io::read_png_header(data, size); });
    if (h.ok() && (h.value().width == 0 || h.value().height == 0)) __builtin_trap();
#else
    (void)data;
    (void)size;
    static const bool said = [] {
        std::fputs("fuzz_png: skipped: built without the PNG decoder (libdeflate or zlib)\n", stderr);
        return true;
    }();
    (void)said;
#endif
    return 0;
}
