#pragma once
/// \file engine/split.hpp
/// Splits a DOTA-layout dataset folder (images + annfiles) into patches on disk, as mmrotate's
/// `tools/data/dota/split/img_split.py` `main()` does: `OUT/images/<patch id><ext>` and
/// `OUT/annfiles/<patch id>.txt`, on several threads, with progress reporting. Optionally also a
/// COCO-style json of the patches with quad segmentations.

#include <rscovlm/data/detail/sha256.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/split.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/io/image_io.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rscovlm::engine {

/// A splitting job over one or more image folders.
struct split_job {
    std::vector<std::string> image_dirs; ///< `--img-dirs`
    std::vector<std::string> ann_dirs;   ///< `--ann-dirs`: empty, or one per image folder
    std::string out_dir;                 ///< `--save-dir` (images/ and annfiles/ are created in it)
    data::split_options options;
    std::string save_ext = ".png"; ///< ".png" (lossless) or ".jpg"
    int jpeg_quality = 95;         ///< cv2.imwrite's default JPEG quality
    int threads = 0;               ///< 0 = hardware concurrency
    /// zlib level of the PNG patches (stb's process-wide setting, restored afterwards); -1 keeps
    /// the current one (stb's default 8). Pixels do not depend on it, only speed and file size.
    int png_compression_level = -1;
    bool hash_pixels = false; ///< fill `patch_record::sha256_rgb`
    std::string coco_json;    ///< when non-empty, also write a COCO json of the patches here
};

/// What was written for one patch.
struct patch_record {
    std::string id, ori_id, file;
    int x_start = 0, y_start = 0, window_size = 0, width = 0, height = 0, channels = 0;
    std::size_t objects = 0;
    std::string sha256_rgb; ///< SHA-256 of the H x W x C pixels in RGB order (when hashed)
};

/// Summary of a split run.
struct split_report {
    std::size_t images = 0;
    std::size_t objects = 0;             ///< objects read
    std::size_t missing_annotations = 0; ///< images without a .txt (treated as empty, as the reference)
    std::size_t skipped_lines = 0;       ///< annotation lines with < 9 fields
    std::vector<patch_record> patches;   ///< sorted by file name
    double seconds = 0;
};

/// Progress callback: (images done, images total, patches written so far).
using split_progress = std::function<void(std::size_t, std::size_t, std::size_t)>;

namespace detail {

/// cv2.imread(path) semantics on rscovlm's decoder: 3 channels, alpha dropped (not composited),
/// grey replicated; pixels stay in RGB order here (cv2 would hold them as BGR).
inline rscovlm::image imread_color(const std::string& path) {
    io::load_options lo;
    lo.to_rgb = false;
    lo.max_pixels = 1ull << 30; // OpenCV's CV_IO_MAX_IMAGE_PIXELS
    rscovlm::image raw = io::load_image(path, lo);
    if (raw.channels == 3) return raw;
    rscovlm::image out(raw.width, raw.height, 3);
    const std::size_t n = static_cast<std::size_t>(raw.width) * static_cast<std::size_t>(raw.height);
    const std::uint8_t* s = raw.data.data();
    std::uint8_t* d = out.data.data();
    for (std::size_t i = 0; i < n; ++i, s += raw.channels, d += 3) {
        if (raw.channels <= 2) {
            d[0] = d[1] = d[2] = s[0];
        } else {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    return out;
}

/// img_split.py `_load_dota_single`: image files with these extensions are taken.
inline bool is_split_image(const std::filesystem::path& p) {
    const std::string e = p.extension().string();
    return e == ".jpg" || e == ".JPG" || e == ".png" || e == ".tif" || e == ".bmp";
}

} // namespace detail

/// Runs a split job. Throws io_error for unreadable folders/files, image_error for bad images,
/// data_error for malformed annotations or options. Output is deterministic for any thread count.
inline split_report split_dota(const split_job& job, const split_progress& progress = {}) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    data::validate(job.options);
    if (job.save_ext != ".png" && job.save_ext != ".jpg")
        RSCOVLM_THROW(data_error, "bad_split_options",
                      "save extension must be .png or .jpg, got '" + job.save_ext + "'");
    if (job.png_compression_level < -1 || job.png_compression_level > 9)
        RSCOVLM_THROW(data_error, "bad_split_options", "PNG compression level must be -1 or 0..9");
    if (!job.ann_dirs.empty() && job.ann_dirs.size() != job.image_dirs.size())
        RSCOVLM_THROW(data_error, "bad_split_options", "give one annotation folder per image folder");
    struct item {
        std::string path, id, ann;
    };
    std::vector<item> items;
    for (std::size_t d = 0; d < job.image_dirs.size(); ++d) {
        const std::string& dir = job.image_dirs[d];
        if (!fs::is_directory(dir))
            RSCOVLM_THROW(io_error, "not_a_directory", "image folder '" + dir + "' does not exist");
        if (!job.ann_dirs.empty() && !fs::is_directory(job.ann_dirs[d]))
            RSCOVLM_THROW(io_error, "not_a_directory", "annotation folder '" + job.ann_dirs[d] + "' does not exist");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir))
            if (detail::is_split_image(e.path())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const fs::path& f : files) {
            item it;
            it.path = f.string();
            it.id = f.stem().string();
            if (!job.ann_dirs.empty()) it.ann = (fs::path(job.ann_dirs[d]) / (it.id + ".txt")).string();
            items.push_back(std::move(it));
        }
    }
    const fs::path img_out = fs::path(job.out_dir) / "images", ann_out = fs::path(job.out_dir) / "annfiles";
    fs::create_directories(img_out);
    fs::create_directories(ann_out);

    struct png_level_guard {
        int saved = stbi_write_png_compression_level;
        bool active = false;
        explicit png_level_guard(int level) {
            if (level >= 0) {
                stbi_write_png_compression_level = level;
                active = true;
            }
        }
        ~png_level_guard() {
            if (active) stbi_write_png_compression_level = saved;
        }
    } png_level(job.png_compression_level);

    split_report report;
    report.images = items.size();
    std::vector<std::vector<patch_record>> per_image(items.size());
    std::vector<std::vector<data::patch_annotation>> coco_anns(job.coco_json.empty() ? 0 : items.size());
    std::mutex mu;
    std::size_t images_done = 0, patches_done = 0;
    std::atomic<std::size_t> next{0};
    std::exception_ptr first_error;
    std::atomic<bool> failed{false};
    const int threads = imaging::resolve_threads(job.threads);
    const int outer = std::max(1, std::min<int>(threads, static_cast<int>(items.size())));
    const int inner = std::max(1, threads / outer);

    auto process = [&](std::size_t i) {
        const item& it = items[i];
        data::dota_annotation ann;
        bool missing = false;
        if (!it.ann.empty()) {
            if (fs::is_regular_file(it.ann)) {
                data::dota_read_options ro;
                ro.dialect = data::dota_dialect::mmrotate;
                ann = data::read_dota(it.ann, ro);
            } else {
                missing = true; // "Can't find ..., treated as empty txtfile"
            }
        }
        const rscovlm::image img = detail::imread_color(it.path);
        std::vector<data::patch_annotation> patches =
            data::split_annotations(it.id, img.width, img.height, ann.objects, job.options);
        std::vector<patch_record> recs(patches.size());
        std::exception_ptr inner_error;
        std::mutex inner_mu;
        auto write_patch = [&](std::size_t k) {
            const data::patch_annotation& p = patches[k];
            const rscovlm::image patch = data::crop_patch(img, p.window, job.options);
            patch_record& r = recs[k];
            r.id = p.id;
            r.ori_id = p.ori_id;
            r.file = p.id + job.save_ext;
            r.x_start = p.window.x_start;
            r.y_start = p.window.y_start;
            r.window_size = p.window.size();
            r.width = patch.width;
            r.height = patch.height;
            r.channels = patch.channels;
            r.objects = p.objects.size();
            if (job.hash_pixels) r.sha256_rgb = data::detail::sha256_hex(patch.data.data(), patch.data.size());
            const std::string img_path = (img_out / r.file).string();
            if (job.save_ext == ".png")
                io::save_png(img_path, patch);
            else
                io::save_jpeg(img_path, patch, job.jpeg_quality);
            const std::string text = data::format_patch_annotation(p);
            const std::string ann_path = (ann_out / (p.id + ".txt")).string();
            std::ofstream f(ann_path, std::ios::binary | std::ios::trunc);
            f.write(text.data(), static_cast<std::streamsize>(text.size()));
            if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write " + ann_path);
        };
        imaging::parallel_for(
            patches.size(), inner,
            [&](std::size_t b, std::size_t e) {
                for (std::size_t k = b; k < e; ++k) {
#if RSCOVLM_HAS_EXCEPTIONS
                    try {
                        write_patch(k);
                    } catch (...) {
                        std::lock_guard<std::mutex> lock(inner_mu);
                        if (!inner_error) inner_error = std::current_exception();
                    }
#else
                    write_patch(k);
#endif
                }
            },
            1);
#if RSCOVLM_HAS_EXCEPTIONS
        if (inner_error) std::rethrow_exception(inner_error);
#endif
        std::lock_guard<std::mutex> lock(mu);
        report.objects += ann.objects.size();
        report.skipped_lines += ann.skipped_lines;
        if (missing) ++report.missing_annotations;
        per_image[i] = std::move(recs);
        if (!job.coco_json.empty()) coco_anns[i] = std::move(patches);
        ++images_done;
        patches_done += per_image[i].size();
        if (progress) progress(images_done, items.size(), patches_done);
    };
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= items.size() || failed.load()) return;
#if RSCOVLM_HAS_EXCEPTIONS
            try {
                process(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!first_error) first_error = std::current_exception();
                failed.store(true);
            }
#else
            process(i);
#endif
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < outer; ++t)
        pool.emplace_back(worker);
    worker();
    for (auto& th : pool)
        th.join();
#if RSCOVLM_HAS_EXCEPTIONS
    if (first_error) std::rethrow_exception(first_error);
#endif
    for (auto& v : per_image)
        for (auto& r : v)
            report.patches.push_back(std::move(r));
    std::sort(report.patches.begin(), report.patches.end(),
              [](const patch_record& a, const patch_record& b) { return a.file < b.file; });

    if (!job.coco_json.empty()) {
        // COCO layout: one image per patch, quad segmentations, axis-aligned bbox of the quad.
        nlohmann::json images = nlohmann::json::array(), anns = nlohmann::json::array(), cats = nlohmann::json::array();
        std::map<std::string, int> cat_ids;
        std::vector<const data::patch_annotation*> all;
        for (const auto& v : coco_anns)
            for (const auto& p : v)
                all.push_back(&p);
        std::sort(all.begin(), all.end(), [](const auto* a, const auto* b) { return a->id < b->id; });
        for (const auto* p : all)
            for (const auto& o : p->objects)
                cat_ids.emplace(o.label, 0);
        int next_cat = 1;
        for (auto& kv : cat_ids) {
            kv.second = next_cat++;
            cats.push_back({{"id", kv.second}, {"name", kv.first}});
        }
        int image_id = 0, ann_id = 0;
        for (const auto* p : all) {
            ++image_id;
            images.push_back(
                {{"id", image_id}, {"file_name", p->id + job.save_ext}, {"width", p->width}, {"height", p->height}});
            for (const auto& o : p->objects) {
                const geometry::hbox hb = geometry::bounds(o.poly);
                nlohmann::json seg = nlohmann::json::array();
                for (const auto& pt : o.poly) {
                    seg.push_back(pt.x);
                    seg.push_back(pt.y);
                }
                anns.push_back({{"id", ++ann_id},
                                {"image_id", image_id},
                                {"category_id", cat_ids[o.label]},
                                {"segmentation", nlohmann::json::array({seg})},
                                {"bbox", {hb.x1, hb.y1, hb.x2 - hb.x1, hb.y2 - hb.y1}},
                                {"area", geometry::area(o.poly)},
                                {"iscrowd", 0},
                                {"difficulty", o.difficulty}});
            }
        }
        std::ofstream f(job.coco_json, std::ios::binary | std::ios::trunc);
        f << nlohmann::json{{"images", images}, {"annotations", anns}, {"categories", cats}}.dump();
        if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write " + job.coco_json);
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

/// Non-throwing `split_dota`.
inline result<split_report> try_split_dota(const split_job& job, const split_progress& progress = {}) {
    return try_call([&] { return split_dota(job, progress); });
}

} // namespace rscovlm::engine
