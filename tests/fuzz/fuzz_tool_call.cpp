// Fuzz target: the Zoom-in Chain output parser must accept any bytes without throwing or crashing,
// and every call it accepts must carry four finite coordinates; the box policy must keep them sane.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <rscovlm/zoom/region.hpp>
#include <rscovlm/zoom/tool_call.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const rscovlm::zoom::parsed_output p = rscovlm::zoom::parse_output(text);
    if (!p.has_tool_tag && (!p.calls.empty() || !p.dropped.empty())) std::abort();
    for (const auto& c : p.calls) {
        if (c.name != rscovlm::zoom::tool_name) std::abort();
        for (double v : c.bbox)
            if (!std::isfinite(v)) std::abort();
        rscovlm::zoom::box_policy policy;
        auto fb = rscovlm::zoom::apply_box_policy({c.bbox[0], c.bbox[1], c.bbox[2], c.bbox[3]}, 1008, 756, policy);
        if (fb.ok()) {
            const auto& b = fb.box;
            if (!(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= 1008 && b.y2 <= 756 && b.x2 > b.x1 && b.y2 > b.y1)) std::abort();
        }
    }
    return 0;
}
