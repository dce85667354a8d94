// Fuzz target: the dataset record readers (COCO detection, LLaVA conversations, refGeo grounding,
// LRS-VQA) on arbitrary text, then the sample builders on whatever parsed. The first byte picks the
// reader and whether the file is read as JSON or JSON Lines; the rest is the file's text. Malformed
// records must raise rscovlm::error (typed, naming the file and record); anything else (crash, other
// exception, sanitizer report) is a bug.
#include <rscovlm/data/all.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace rscovlm;
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const std::string base =
        (std::filesystem::temp_directory_path() / ("rscovlm_fuzz_records_" + std::to_string(::getpid()))).string();
    const std::string path = base + ((mode & 4) ? ".jsonl" : ".json");
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data) + 1, static_cast<std::streamsize>(size - 1));
    }
    auto guard = [](auto&& f) {
        try {
            f();
        } catch (const rscovlm::error&) {
        }
    };
    data::build_options bo; // no image loader: the builders never open the files records name
    data::python_random rng(mode);
    switch (mode & 3) {
    case 0:
        guard([&] {
            data::coco_read_options o;
            o.keep_empty_gt = (mode & 8) != 0;
            for (const auto& r : data::read_coco_detection(path, "imgs", o))
                for (auto reg : {data::region_type::hbb, data::region_type::obb, data::region_type::polygon})
                    guard([&] { (void)data::build_detection(r, reg, bo, rng); });
        });
        break;
    case 1:
        guard([&] {
            data::llava_read_options o;
            o.null_image_ok = (mode & 8) != 0;
            for (const auto& r : data::read_llava(path, "imgs", o)) {
                guard([&] { (void)data::build_chat(r, bo, rng); });
                guard([&] { (void)data::build_geochat(r, bo, rng); });
            }
        });
        break;
    case 2:
        guard([&] {
            for (const auto& r : data::read_refgeo(path, "refgeo"))
                for (auto reg : {data::region_type::hbb, data::region_type::obb})
                    guard([&] { (void)data::build_grounding(r, reg, bo, rng); });
        });
        break;
    default:
        guard([&] {
            for (const auto& r : data::read_lrsvqa(path, "lrsvqa"))
                guard([&] { (void)data::build_lrsvqa_zoom(r, bo, rng); });
        });
        break;
    }
    std::remove(path.c_str());
    return 0;
}
