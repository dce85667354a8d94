// Fuzz target: every box codec's decoder on arbitrary bytes (must never crash or throw), plus
// the JSON repair and min_area_rect on numbers taken from the input.
#include <rscovlm/box_codec/all.hpp>
#include <rscovlm/geometry/all.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace bc = rscovlm::box_codec;
namespace geo = rscovlm::geometry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const std::vector<std::unique_ptr<bc::codec>> codecs = [] {
        std::vector<std::unique_ptr<bc::codec>> v;
        for (auto k : rscovlm::registry::keys<bc::builtin>())
            v.push_back(rscovlm::registry::make<bc::kind>(k, nlohmann::json::object()));
        return v;
    }();
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    bc::decode_options o;
    o.classes = {"plane", "small-vehicle", "ship", "storage-tank"};
    o.frame = geo::frame{1024 + data[0], 768, 812, 616};
    o.fuzzy = (data[0] & 1) != 0;
    const auto& c = codecs[data[0] % codecs.size()];
    const bc::decode_result r = c->decode(text, o);
    for (const auto& ob : r.objects)
        if (ob.coords.size() != bc::arity(c->kind())) __builtin_trap();
    if (data[0] % 7 == 0) (void)bc::parse_detection_json(text);
    // min_area_rect on up to 64 points read from the bytes (float32 and int32 paths)
    if (size >= 9 && data[0] % 3 == 0) {
        std::vector<geo::point_f32> pf;
        std::vector<geo::point_i32> pi;
        for (std::size_t i = 1; i + 8 <= size && pf.size() < 64; i += 8) {
            std::int32_t a, b;
            std::memcpy(&a, data + i, 4);
            std::memcpy(&b, data + i + 4, 4);
            pi.push_back(geo::point_i32{a, b});
            float fa, fb;
            std::memcpy(&fa, data + i, 4);
            std::memcpy(&fb, data + i + 4, 4);
            if (fa == fa && fb == fb && fa - fa == 0 && fb - fb == 0) pf.push_back(geo::point_f32{fa, fb});
        }
        (void)geo::try_min_area_rect(pi);
        (void)geo::try_min_area_rect(pf);
    }
    return 0;
}
