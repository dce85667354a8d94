// Fuzz target: image decoding (stb_image behind rscovlm's header checks and pixel limit), then the
// preprocessing path on whatever decodes, and the .npy parser on the same bytes.
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/npy.hpp>
#include <rscovlm/resolution/preprocess.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace rscovlm;
    io::load_options o;
    o.to_rgb = false;
    o.max_pixels = 1u << 20; // keep allocations small: larger declared sizes must be refused before decoding
    auto r = io::try_decode_image(data, size, o);
    if (r.ok()) {
        const image& img = r.value();
        if (img.size_bytes() != img.data.size()) __builtin_trap();
        resolution::preprocess_options po;
        po.min_pixels = 28 * 28;
        po.max_pixels = 56 * 56;
        po.threads = 1;
        auto p = resolution::try_preprocess(img, po);
        if (p.ok() && p.value().pixel_values.size() != p.value().rows * 1176) __builtin_trap();
        auto c = try_call([&] { return imaging::crop(img, -3, -2, img.width / 2 + 1, img.height / 2 + 1); });
        if (!c.ok()) __builtin_trap();
    }
    auto n = try_call([&] { return io::decode_npy(data, size); });
    if (n.ok() && n.value().data.size() < n.value().size()) __builtin_trap();
    return 0;
}
