// One concept: detection over a whole scene, streamed. The split windows (mmrotate's rule) are read from
// an image source one small batch at a time, each window is answered by a backend, the boxes are moved
// to the scene and merged with rotated NMS. With GDAL, the scene is a georeferenced GeoTIFF and the
// boxes land on the map (longitude/latitude through PROJ). A callback backend plays the model: it
// answers every window with one box in the window's centre.
#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/io/image_source.hpp>
#include <rscovlm/pipeline/scene.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

using namespace rscovlm;

int main() {
    data::scene_options so = data::scene_options::normal(3);
    so.width = 2000;
    so.height = 1500;
    const data::scene sc = data::make_scene(so);

    std::unique_ptr<zoom::image_source> src;
#if RSCOVLM_HAS_GDAL
    // A tiled GeoTIFF in UTM zone 33N with 0.5 m pixels and overviews, read back through GDAL.
    const std::string path = (std::filesystem::temp_directory_path() / "rscovlm_example_scene.tif").string();
    io::geotiff_options go;
    go.overviews = io::overview_factors(so.width, so.height);
    io::write_geotiff(path, sc.image, io::make_georef(32633, 399960.0, 5400000.0, 0.5), go);
    io::image_source_options oo;
    oo.reader = "gdal";
    src = io::open_image_source(path, oo);
#else
    src = std::make_unique<zoom::memory_source>(sc.image);
#endif

    // The model's answer for a window: one plane in the middle of its view (the view is the window
    // resized to the strategy's budget).
    auto make_backend = [] {
        return std::make_unique<zoom::callback_backend>(
            [](const nlohmann::json&, const std::vector<image>& views, const zoom::generation_options&) {
                const int cx = views.front().width / 2, cy = views.front().height / 2;
                return std::to_string(cx - 40) + "," + std::to_string(cy - 20) + "," + std::to_string(cx + 40) + "," +
                       std::to_string(cy - 20) + "," + std::to_string(cx + 40) + "," + std::to_string(cy + 20) + "," +
                       std::to_string(cx - 40) + "," + std::to_string(cy + 20) + " plane\n";
            });
    };
    const box_codec::plain_quad codec;
    resolution::fixed_budget sizing(256 * 28 * 28, 1296 * 28 * 28);
    pipeline::scene_detect_options o;
    o.split.sizes = {800};
    o.split.gaps = {200};
    o.classes = {"plane", "ship"};
    o.in_flight = 2; // two windows answered at once, four held in memory
    o.scene_id = "example";
    const pipeline::scene_detect_result r = pipeline::detect_scene(*src, codec, sizing, make_backend, o);
    std::printf("%zu windows, %zu boxes mapped, %zu after NMS, at most %zu windows in memory\n", r.windows.size(),
                r.before_nms, r.detections.size(), r.peak_windows);
    if (r.windows.size() != 9 || r.detections.size() != 9 || r.failed != 0) {
        std::printf("FAILED: expected 9 windows with one box each\n");
        return 1;
    }
    const auto& d = r.detections.front();
    std::printf("first box: %s at (%.1f, %.1f) in scene pixels, from window %s\n", d.label.c_str(), d.quad[0].x,
                d.quad[0].y, r.windows[d.window].patch.c_str());
#if RSCOVLM_HAS_GDAL
    const auto* g = dynamic_cast<io::gdal_source*>(src.get());
    const io::geo_transformer t(g->geo());
    const geometry::point ll = t.to_lonlat(d.quad[0].x, d.quad[0].y);
    std::printf("on the map: %.6f E, %.6f N (%s)\n", ll.x, ll.y, g->geo().epsg.c_str());
    if (ll.x < 13.6 || ll.x > 13.7 || ll.y < 48.7 || ll.y > 48.8) {
        std::printf("FAILED: the box is not where the geotransform puts it\n");
        return 1;
    }
    std::filesystem::remove(path);
#endif
    return 0;
}
