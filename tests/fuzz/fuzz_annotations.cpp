// Fuzz target: the data engine's annotation parsers (DOTA txt in both dialects, VOC/DIOR-R/HRSC
// XML, JSON records) and the builders fed with what they parse. Malformed input may raise
// rscovlm::error (typed, with file and line); anything else (crash, other exception, sanitizer
// report) is a bug.
#include <rscovlm/data/all.hpp>
#include <rscovlm/io/xml_annotations.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace rscovlm;
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto guard = [](auto&& f) {
        try {
            f();
        } catch (const rscovlm::error&) {
        }
    };
    guard([&] {
        const auto a = data::parse_dota(text, "fuzz.txt");
        if (!a.objects.empty()) {
            data::detection_record r;
            r.width = 1024;
            r.height = 1024;
            for (const auto& o : a.objects) {
                data::det_instance d;
                for (const auto& p : o.poly) {
                    d.polygon.push_back(p.x);
                    d.polygon.push_back(p.y);
                }
                d.label = o.label;
                r.objects.push_back(d);
            }
            data::build_options bo;
            data::python_random rng(1);
            for (auto reg : {data::region_type::hbb, data::region_type::obb, data::region_type::polygon})
                guard([&] { (void)data::build_detection(r, reg, bo, rng); });
        }
    });
    guard([&] {
        data::dota_read_options ro;
        ro.dialect = data::dota_dialect::mmrotate;
        const auto a = data::parse_dota(text, "fuzz.txt", ro);
        for (const auto& o : a.objects)
            (void)data::format_dota_line(o, {data::dota_number_format::numpy_float32, "", {}, true});
        (void)data::split_annotations("P", 700, 500, a.objects, data::split_options{});
    });
    guard([&] { (void)io::parse_xml_annotation(text, "fuzz.xml", "img"); });
    guard([&] {
        const auto j = data::detail::parse_json_text(text, "fuzz.json");
        (void)data::detail::py_json_dumps(nlohmann::ordered_json::parse(j.dump()));
    });
    return 0;
}
