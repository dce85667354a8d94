#pragma once
/// \file engine/readers.hpp
/// Dataset readers over files: DOTA folders (images probed for their size) and VOC XML annotations, and
/// the `dataset_reader` catalog of core + file readers.

#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/packing.hpp>
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/safetensors.hpp>
#include <rscovlm/io/video_source.hpp>
#include <rscovlm/io/xml_annotations.hpp>
#include <rscovlm/processor/processor.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/rope_index.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/encoding.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rscovlm::engine {

// ------------------------------------------------------------------------------------------ readers

/// DOTA-layout folder: `data_path` holds the images, `annotation_path` the `<id>.txt` files (an
/// image without a .txt has no objects). Image sizes are read from the file headers.
class dota_reader : public registry::component<dota_reader, data::dataset_reader> {
public:
    static constexpr std::string_view key = "reader.dota";
    static constexpr std::string_view summary = "DOTA folder: images + annfiles/<id>.txt (imagesource/gsd headers)";
    static constexpr std::string_view backend = "io";
    std::vector<data::record> read(const data::dataset_source& s) const override {
        namespace fs = std::filesystem;
        if (!fs::is_directory(s.data_path))
            RSCOVLM_THROW(io_error, "not_a_directory", "image folder '" + s.data_path + "' does not exist");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(s.data_path)) {
            const std::string ext = e.path().extension().string();
            if (ext == ".png" || ext == ".jpg" || ext == ".JPG" || ext == ".jpeg" || ext == ".bmp" || ext == ".tif")
                files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        std::vector<data::detection_record> recs;
        std::vector<std::string> classes;
        for (const auto& f : files) {
            data::detection_record r;
            r.image = f.string();
            const io::image_info info = io::probe_image(r.image);
            r.width = info.width;
            r.height = info.height;
            const fs::path txt = fs::path(s.annotation_path) / (f.stem().string() + ".txt");
            if (!s.annotation_path.empty() && fs::is_regular_file(txt)) {
                for (const auto& o : data::read_dota(txt.string()).objects) {
                    data::det_instance inst;
                    for (const auto& p : o.poly) {
                        inst.polygon.push_back(p.x);
                        inst.polygon.push_back(p.y);
                    }
                    inst.bbox = io::detail::polygon_box(inst.polygon);
                    inst.label = o.label;
                    inst.difficulty = o.difficulty;
                    if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
                    r.objects.push_back(std::move(inst));
                }
            }
            recs.push_back(std::move(r));
        }
        // The DOTA-v1.0 class list when every label belongs to it (prompts list all 15 classes).
        bool all_v1 = true;
        for (const auto& c : classes)
            all_v1 = all_v1 && std::find(std::begin(data::dota_v1_classes), std::end(data::dota_v1_classes), c) !=
                                   std::end(data::dota_v1_classes);
        std::vector<std::string> cls;
        if (all_v1)
            for (auto c : data::dota_v1_classes)
                cls.emplace_back(c);
        else
            cls = classes;
        std::vector<data::record> out;
        for (auto& r : recs) {
            r.classes = cls;
            out.emplace_back(std::move(r));
        }
        return out;
    }
};

/// VOC-style XML annotations (DIOR / DIOR-R, roLabelImg, HRSC2016): `annotation_path` is one
/// .xml file or a folder of them, `data_path` the image folder.
class voc_xml_reader : public registry::component<voc_xml_reader, data::dataset_reader> {
public:
    static constexpr std::string_view key = "reader.voc_xml";
    static constexpr std::string_view summary = "VOC XML with bndbox/robndbox (DIOR-R) or HRSC2016 mbox_* (tinyxml2)";
    static constexpr std::string_view backend = "io";
    std::vector<data::record> read(const data::dataset_source& s) const override {
        namespace fs = std::filesystem;
        std::vector<fs::path> files;
        if (fs::is_directory(s.annotation_path)) {
            for (const auto& e : fs::directory_iterator(s.annotation_path))
                if (e.path().extension() == ".xml") files.push_back(e.path());
            std::sort(files.begin(), files.end());
        } else {
            files.push_back(s.annotation_path);
        }
        std::vector<data::detection_record> recs;
        std::vector<std::string> classes;
        for (const auto& f : files) {
            recs.push_back(io::read_xml_annotation(f.string(), s.data_path));
            for (const auto& o : recs.back().objects)
                if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
        }
        std::vector<data::record> out;
        for (auto& r : recs) {
            r.classes = classes;
            out.emplace_back(std::move(r));
        }
        return out;
    }
};

/// Readers that need the io backends.
using data_readers = registry::type_list<dota_reader, voc_xml_reader>;
/// Every reader (core + io).
using all_data_readers = registry::concat_t<data::builtin_readers, data_readers>;

/// Makes any reader (core or io) by key.
inline std::unique_ptr<data::dataset_reader> make_any_reader(const std::string& key) {
    return registry::make<data::reader_kind, all_data_readers>(key, nlohmann::json::object());
}

/// Image size probe for `build_options::image_size`.
inline std::pair<int, int> image_size_of(const std::string& path) {
    const io::image_info i = io::probe_image(path);
    return {i.width, i.height};
}

} // namespace rscovlm::engine
