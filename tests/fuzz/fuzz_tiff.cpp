// Fuzz target: the windowed TIFF reader (io::tiff_source) on arbitrary bytes: open, read a few
// windows (inside, overlapping the edges, outside) and a downsampled whole view, with small pixel
// and cache limits. Damaged files must raise rscovlm::error (typed); anything else (crash, other
// exception, sanitizer report) is a bug. The corpus (tests/fuzz/corpus/tiff/) is made by
// make_tiff_corpus.py. Without libtiff it compiles to a target that only says so.
#include <rscovlm/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>

#if RSCOVLM_HAS_TIFF
#include <rscovlm/io/tiff.hpp>

#include <algorithm>
#include <memory>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace rscovlm;
    static const std::string path =
        (std::filesystem::temp_directory_path() / ("rscovlm_fuzz_tiff_" + std::to_string(::getpid()) + ".tif"))
            .string();
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    io::tiff_options o;
    o.max_pixels = std::uint64_t{1} << 16;
    o.max_region_pixels = std::uint64_t{1} << 14;
    o.cache_bytes = std::size_t{1} << 16;
    auto opened = try_call([&] { return std::make_unique<io::tiff_source>(path, o); });
    if (opened.ok()) {
        io::tiff_source& src = *opened.value();
        const int w = src.width(), h = src.height();
        if (w <= 0 || h <= 0) __builtin_trap();
        const zoom::pixel_box boxes[] = {{0, 0, std::min(w, 64), std::min(h, 64)},
                                         {w / 2 - 3, h / 2 - 3, w / 2 + 5, h / 2 + 4},
                                         {-4, -4, 4, 4},
                                         {w - 2, h - 2, w + 3, h + 3},
                                         {w + 10, h + 10, w + 12, h + 12}};
        for (const auto& b : boxes) {
            auto r = try_call([&] { return src.read(b); });
            if (r.ok() && (r.value().width != b.width() || r.value().height != b.height() || r.value().channels != 3))
                __builtin_trap();
        }
        auto v = try_call([&] { return src.read_resized({0, 0, w, h}, 8, 8, image::filter::bicubic); });
        if (v.ok() && (v.value().width != 8 || v.value().height != 8)) __builtin_trap();
    }
    std::remove(path.c_str());
    return 0;
}

#else

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    (void)data;
    (void)size;
    static const bool said = [] {
        std::fputs("fuzz_tiff: skipped: built without libtiff\n", stderr);
        return true;
    }();
    (void)said;
    return 0;
}

#endif
