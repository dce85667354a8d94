// GDAL rasters: windowed reads against full decodes, the band, scaling and nodata rules, overview
// reads and their pixel counts (a sparse 30000x30000 GeoTIFF), GeoTIFF writing, and scene detection
// out to GeoJSON / GeoPackage checked against the known objects after an independent reprojection.
#include <doctest/doctest.h>

#if RSCOVLM_HAS_GDAL

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/io/gdal.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/image_source.hpp>
#include <rscovlm/pipeline/scene.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

using namespace rscovlm;
namespace fs = std::filesystem;

namespace {

fs::path gdal_temp_dir() {
    fs::path d = fs::temp_directory_path() / ("rscovlm_gdal_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

image gdal_pattern(int w, int h) {
    image im(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < 3; ++k)
                im.row(y)[3 * x + k] = static_cast<std::uint8_t>((x * 7 + y * 13 + k * 61 + (x * y) % 17) & 0xFF);
    return im;
}

/// A GTiff with `bands` bands of `type`, band b (1-based) holding value(x, y, b).
template <class F> void write_bands(const std::string& path, int w, int h, int bands, GDALDataType type, F value,
                                    const std::vector<GDALColorInterp>& interp = {}) {
    io::detail::gdal_init();
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    io::detail::dataset_ptr ds(drv->Create(path.c_str(), w, h, bands, type, nullptr));
    REQUIRE(ds);
    std::vector<double> buf(static_cast<std::size_t>(w) * h);
    for (int b = 1; b <= bands; ++b) {
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                buf[static_cast<std::size_t>(y) * w + x] = value(x, y, b);
        REQUIRE(ds->GetRasterBand(b)->RasterIO(GF_Write, 0, 0, w, h, buf.data(), w, h, GDT_Float64, 0, 0, nullptr) ==
                CE_None);
        if (static_cast<std::size_t>(b) <= interp.size()) ds->GetRasterBand(b)->SetColorInterpretation(interp[b - 1]);
    }
}

std::uint8_t stretch(double v, double lo, double hi) {
    return static_cast<std::uint8_t>(std::clamp(std::floor((v - lo) * 255.0 / (hi - lo) + 0.5), 0.0, 255.0));
}

/// A synthetic scene written as a tiled UTM 33N GeoTIFF (0.5 m pixels, origin 399960 E 5400000 N)
/// with overviews down to 256 px; returns the scene, `path` names the file.
data::scene write_scene_tif(const std::string& path, std::uint64_t seed, int w, int h) {
    data::scene_options so = data::scene_options::normal(seed);
    so.width = w;
    so.height = h;
    data::scene s = data::make_scene(so);
    io::geotiff_options go;
    go.overviews = io::overview_factors(w, h);
    io::write_geotiff(path, s.image, io::make_georef(32633, 399960.0, 5400000.0, 0.5), go);
    return s;
}

} // namespace

TEST_CASE("gdal: a tiled GeoTIFF reads as the image it was written from, with its georeferencing") {
    const fs::path dir = gdal_temp_dir();
    const image img = gdal_pattern(613, 411);
    const std::string path = (dir / "pattern.tif").string();
    io::geotiff_options go;
    go.overviews = io::overview_factors(img.width, img.height, 64);
    CHECK(go.overviews == std::vector<int>{2, 4, 8, 16});
    io::write_geotiff(path, img, io::make_georef(32633, 399960.0, 5400000.0, 0.5), go);

    io::gdal_source src(path);
    CHECK(src.width() == 613);
    CHECK(src.height() == 411);
    CHECK(src.driver() == "GTiff");
    CHECK(src.bands() == std::vector<int>{1, 2, 3});
    CHECK(src.overviews().size() == 4);
    CHECK(src.geo().georeferenced());
    CHECK(src.geo().epsg == "EPSG:32633");
    CHECK(src.geo().transform[0] == 399960.0);
    CHECK(src.geo().transform[5] == -0.5);
    const geometry::point m = src.geo().to_map(10, 20);
    CHECK(m.x == 399965.0);
    CHECK(m.y == 5399990.0);

    // Windows, inside and across the border (Pillow crop: zero outside).
    for (const zoom::pixel_box b : {zoom::pixel_box{0, 0, 613, 411}, zoom::pixel_box{17, 33, 300, 250},
                                    zoom::pixel_box{-20, -10, 40, 30}, zoom::pixel_box{600, 400, 700, 500}})
        CHECK(src.read(b).data == image::crop(img, b.x0, b.y0, b.x1, b.y1).data);
    // Resized views without overviews are the reference's resize of the full decode, pixel for pixel.
    CHECK(src.read_resized({0, 0, 613, 411}, 200, 130, image::filter::bicubic).data ==
          image::resize(img, 200, 130, image::filter::bicubic).data);
    CHECK(src.read_resized({50, 60, 400, 380}, 90, 77, image::filter::bicubic).data ==
          image::resize(image::crop(img, 50, 60, 400, 380), 90, 77, image::filter::bicubic).data);
    CHECK(src.stats().overview_reads == 0);

    // open_image_source: libtiff for TIFF (exact), GDAL when asked, and both give the same pixels.
    auto via_tiff = io::open_image_source(path);
    io::image_source_options go_gdal;
    go_gdal.reader = "gdal";
    auto via_gdal = io::open_image_source(path, go_gdal);
    CHECK(dynamic_cast<io::gdal_source*>(via_gdal.get()) != nullptr);
#if RSCOVLM_HAS_TIFF
    CHECK(dynamic_cast<io::tiff_source*>(via_tiff.get()) != nullptr);
#endif
    CHECK(via_tiff->read({5, 5, 120, 90}).data == via_gdal->read({5, 5, 120, 90}).data);

    // Formats only GDAL reads go to GDAL by themselves (NITF here).
    {
        GDALDriver* nitf = GetGDALDriverManager()->GetDriverByName("NITF");
        REQUIRE(nitf);
        io::detail::dataset_ptr in(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
        const std::string ntf = (dir / "pattern.ntf").string();
        io::detail::dataset_ptr out(nitf->CreateCopy(ntf.c_str(), in.get(), FALSE, nullptr, nullptr, nullptr));
        REQUIRE(out);
        out.reset();
        auto s = io::open_image_source(ntf);
        auto* g = dynamic_cast<io::gdal_source*>(s.get());
        REQUIRE(g != nullptr);
        CHECK(g->driver() == "NITF");
        CHECK(s->read({0, 0, 613, 411}).data == img.data);
    }
    // JPEG2000 (lossless), with its georeferencing.
    if (GDALDriver* jp2 = GetGDALDriverManager()->GetDriverByName("JP2OpenJPEG")) {
        io::detail::dataset_ptr in(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
        const std::string j2 = (dir / "pattern.jp2").string();
        CPLStringList jo;
        jo.SetNameValue("REVERSIBLE", "YES");
        jo.SetNameValue("QUALITY", "100");
        io::detail::dataset_ptr out(jp2->CreateCopy(j2.c_str(), in.get(), FALSE, jo.List(), nullptr, nullptr));
        REQUIRE(out);
        out.reset();
        auto s = io::open_image_source(j2);
        auto* g = dynamic_cast<io::gdal_source*>(s.get());
        REQUIRE(g != nullptr);
        CHECK(g->driver() == "JP2OpenJPEG");
        CHECK(g->geo().epsg == "EPSG:32633");
        CHECK(s->read({100, 50, 400, 300}).data == image::crop(img, 100, 50, 400, 300).data);
    }
    // Errors are typed.
    CHECK_THROWS_AS(io::gdal_source((dir / "missing.tif").string()), io_error);
    {
        std::FILE* f = std::fopen((dir / "junk.jp2").string().c_str(), "wb");
        std::fputs("\x00\x00\x00\x0cjP  garbage", f);
        std::fclose(f);
    }
    CHECK_FALSE(io::try_open_image_source((dir / "junk.jp2").string()).ok());
    io::gdal_options bad;
    bad.bands = {1, 2};
    CHECK_THROWS_WITH_AS(io::gdal_source(path, bad), doctest::Contains("bad_bands"), io_error);
    bad.bands = {4};
    CHECK_THROWS_WITH_AS(io::gdal_source(path, bad), doctest::Contains("bad_bands"), io_error);
    io::gdal_options small;
    small.max_region_pixels = 100;
    CHECK_THROWS_AS(io::gdal_source(path, small).read({0, 0, 20, 20}), limit_error);
    fs::remove_all(dir);
}

TEST_CASE("gdal: band selection, the scaling rule for 16-bit data, nodata, alpha and palettes") {
    const fs::path dir = gdal_temp_dir();
    const int W = 64, H = 48;
    // 16-bit, 3 bands, no colour interpretation; band 1 has nodata 0 (pixel (0, 0) only).
    auto v16 = [](int x, int y, int b) { return static_cast<double>(x * 100 + y * 10 + (b - 1) * 1000); };
    const std::string u16 = (dir / "u16.tif").string();
    write_bands(u16, W, H, 3, GDT_UInt16, v16);
    {
        io::detail::dataset_ptr ds(GDALDataset::Open(u16.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
        ds->GetRasterBand(1)->SetNoDataValue(0.0);
    }
    io::gdal_source s(u16);
    CHECK(s.data_type() == "UInt16");
    REQUIRE(s.ranges().size() == 3);
    // The exact range of each band, nodata excluded (band 1's minimum is pixel (0, 1)).
    CHECK(s.ranges()[0][0] == 10.0);
    CHECK(s.ranges()[0][1] == 63 * 100 + 47 * 10);
    CHECK(s.ranges()[1][0] == 1000.0);
    CHECK(s.ranges()[2][1] == 63 * 100 + 47 * 10 + 2000);
    const image all = s.read({0, 0, W, H});
    for (const auto& [x, y] : std::vector<std::pair<int, int>>{{1, 0}, {5, 7}, {63, 47}, {30, 20}})
        for (int b = 1; b <= 3; ++b)
            CHECK(all.row(y)[3 * x + b - 1] == stretch(v16(x, y, b), s.ranges()[b - 1][0], s.ranges()[b - 1][1]));
    // Nodata in any selected band paints the pixel with the nodata colour.
    CHECK(all.row(0)[0] == 0);
    CHECK(all.row(0)[1] == 0);
    CHECK(all.row(0)[2] == 0);
    io::gdal_options fixed;
    fixed.scale_range = std::array<double, 2>{0.0, 4095.0};
    fixed.nodata_rgb = {255, 0, 255};
    fixed.bands = {3, 2, 1};
    io::gdal_source f(u16, fixed);
    const image fx = f.read({0, 0, W, H});
    CHECK(fx.row(0)[0] == 255);
    CHECK(fx.row(0)[1] == 0);
    CHECK(fx.row(0)[2] == 255);
    CHECK(fx.row(7)[3 * 5 + 0] == stretch(v16(5, 7, 3), 0, 4095));
    CHECK(fx.row(7)[3 * 5 + 2] == stretch(v16(5, 7, 1), 0, 4095));
    CHECK(fx.row(47)[3 * 63 + 0] == 255); // over the range: clamped
    io::gdal_options clip;
    clip.scaling = io::gdal_scaling::clip;
    clip.bands = {1};
    io::gdal_source c(u16, clip);
    CHECK(c.ranges().empty());
    const image cl = c.read({0, 0, 3, 2});
    CHECK(cl.row(1)[0] == 10); // grey, replicated
    CHECK(cl.row(1)[1] == 10);
    CHECK(cl.row(1)[3 * 2] == 210);

    // 4 bands without colour interpretation: bands 1-3; with red/green/blue interpretation: those.
    auto v8 = [](int x, int y, int b) { return static_cast<double>((x + 3 * y + 50 * b) % 256); };
    const std::string rgbn = (dir / "rgbn.tif").string();
    write_bands(rgbn, W, H, 4, GDT_Byte, v8, {GCI_Undefined, GCI_Undefined, GCI_Undefined, GCI_Undefined});
    CHECK(io::gdal_source(rgbn).bands() == std::vector<int>{1, 2, 3});
    {
        // The automatic reader agrees: libtiff drops an extra sample that is not alpha (Pillow's RGBX),
        // and 16-bit data goes to GDAL.
        auto a = io::open_image_source(rgbn);
        CHECK(a->read({0, 0, W, H}).data == io::gdal_source(rgbn).read({0, 0, W, H}).data);
        CHECK(a->read({4, 4, 5, 5}).data == std::vector<std::uint8_t>{static_cast<std::uint8_t>(v8(4, 4, 1)),
                                                                      static_cast<std::uint8_t>(v8(4, 4, 2)),
                                                                      static_cast<std::uint8_t>(v8(4, 4, 3))});
        CHECK(dynamic_cast<io::gdal_source*>(io::open_image_source(u16).get()) != nullptr);
    }
    const std::string bgr = (dir / "bgr.tif").string();
    write_bands(bgr, W, H, 3, GDT_Byte, v8, {GCI_BlueBand, GCI_GreenBand, GCI_RedBand});
    io::gdal_source sb(bgr);
    CHECK(sb.bands() == std::vector<int>{3, 2, 1});
    CHECK(sb.read({4, 4, 5, 5}).data == std::vector<std::uint8_t>{static_cast<std::uint8_t>(v8(4, 4, 3)),
                                                                  static_cast<std::uint8_t>(v8(4, 4, 2)),
                                                                  static_cast<std::uint8_t>(v8(4, 4, 1))});
    // 8-bit RGBA: alpha composited on white exactly as imaging::to_rgb does.
    const std::string rgba = (dir / "rgba.tif").string();
    auto va = [](int x, int y, int b) { return b == 4 ? static_cast<double>((x * 37 + y) % 256) : (x * b + y) % 256; };
    write_bands(rgba, W, H, 4, GDT_Byte, va, {GCI_RedBand, GCI_GreenBand, GCI_BlueBand, GCI_AlphaBand});
    io::gdal_source sa(rgba);
    CHECK(sa.alpha_band() == 4);
    image four(W, H, 4);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            for (int b = 1; b <= 4; ++b)
                four.row(y)[4 * x + b - 1] = static_cast<std::uint8_t>(va(x, y, b));
    CHECK(sa.read({0, 0, W, H}).data == imaging::to_rgb(four).data);
    // A palette band is expanded through its colour table.
    const std::string pal = (dir / "pal.tif").string();
    write_bands(pal, W, H, 1, GDT_Byte, [](int x, int, int) { return static_cast<double>(x % 3); });
    {
        io::detail::dataset_ptr ds(GDALDataset::Open(pal.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
        GDALColorTable ct;
        const GDALColorEntry e0{10, 20, 30, 255}, e1{200, 100, 0, 255}, e2{1, 2, 3, 255};
        ct.SetColorEntry(0, &e0);
        ct.SetColorEntry(1, &e1);
        ct.SetColorEntry(2, &e2);
        ds->GetRasterBand(1)->SetColorTable(&ct);
        ds->GetRasterBand(1)->SetColorInterpretation(GCI_PaletteIndex);
    }
    CHECK(io::gdal_source(pal).read({0, 0, 3, 1}).data == std::vector<std::uint8_t>{10, 20, 30, 200, 100, 0, 1, 2, 3});
    fs::remove_all(dir);
}

TEST_CASE("gdal: overview reads for the zoom read a small fraction of a 30000x30000 GeoTIFF") {
    const fs::path dir = gdal_temp_dir();
    const std::string path = (dir / "big.tif").string();
    {
        // Sparse: unwritten tiles cost nothing on disk and read as zero; the levels are left empty.
        io::geotiff_options go;
        go.sparse = true;
        go.overviews = io::overview_factors(30000, 30000);
        go.overview_resampling = "NONE";
        io::geotiff_writer w(path, 30000, 30000, io::make_georef(32633, 300000.0, 5500000.0, 0.3), go);
        w.write(1000, 1000, gdal_pattern(256, 256));
        w.close();
    }
    io::gdal_options on;
    on.use_overviews = true;
    io::gdal_source src(path, on);
    REQUIRE(src.overviews().size() == 7); // 1/2 .. 1/128
    // The first view of the chain at the default budget (1003520 px): 1008x1008 from 30000x30000;
    // the coarsest level with >= 1008 px per side is the 1/16 one (1875 px).
    const zoom::pixel_box full{0, 0, 30000, 30000};
    CHECK(src.overview_level(full, 1008, 1008) == 4);
    const image first = src.read_resized(full, 1008, 1008, image::filter::bicubic);
    CHECK(first.width == 1008);
    CHECK(src.stats().pixels_read == 1875ull * 1875ull);
    CHECK(src.stats().pixels_read < 30000ull * 30000ull / 100);
    // A 3000x3000 crop for a 1001x1001 view comes from the 1/2 level (1/4 would give 750 px).
    src.reset_stats();
    CHECK(src.overview_level({1000, 1000, 4000, 4000}, 1001, 1001) == 1);
    src.read_resized({1000, 1000, 4000, 4000}, 1001, 1001, image::filter::bicubic);
    CHECK(src.stats().pixels_read == 1500ull * 1500ull);
    CHECK(src.stats().last_level == 1);
    // A target over the window's own size reads full resolution, exactly.
    src.reset_stats();
    const image exact = src.read_resized({990, 990, 1300, 1200}, 400, 300, image::filter::bicubic);
    CHECK(src.stats().overview_reads == 0);
    io::gdal_source off(path);
    CHECK(exact.data == image::resize(off.read({990, 990, 1300, 1200}), 400, 300, image::filter::bicubic).data);
#if RSCOVLM_HAS_TIFF
    // libtiff reads the unwritten (sparse) tiles as zero, as GDAL does.
    io::tiff_source lt(path);
    const image both = lt.read({900, 900, 1400, 1300});
    CHECK(both.data == off.read({900, 900, 1400, 1300}).data);
    CHECK(both.row(150)[3 * 150] != 0); // inside the written tile
#endif

    // The whole chain: the first view reads under 1% of the image.
    src.reset_stats();
    zoom::scripted_backend model({"<answer>yes</answer>"});
    const zoom::chain_result r = zoom::controller().run(src, "Is there a plane?", model);
    CHECK(r.answered);
    CHECK(r.images.front().width == r.trace.resized_width);
    CHECK(src.stats().pixels_read < 30000ull * 30000ull / 100);
    fs::remove_all(dir);
}

TEST_CASE("gdal: overviews of a real scene give a view close to the full decode") {
    const fs::path dir = gdal_temp_dir();
    const std::string path = (dir / "scene.tif").string();
    const data::scene s = write_scene_tif(path, 5, 1600, 1200);
    io::gdal_options on;
    on.use_overviews = true;
    io::gdal_source src(path, on);
    const image fast = src.read_resized({0, 0, 1600, 1200}, 392, 294, image::filter::bicubic);
    CHECK(src.stats().last_level == 2); // 400x300
    const image ref = image::resize(s.image, 392, 294, image::filter::bicubic);
    double diff = 0;
    for (std::size_t i = 0; i < ref.data.size(); ++i)
        diff += std::abs(static_cast<int>(ref.data[i]) - static_cast<int>(fast.data[i]));
    CHECK(diff / static_cast<double>(ref.data.size()) < 6.0);
    fs::remove_all(dir);
}

TEST_CASE("gdal: scene detection on a georeferenced synthetic scene gives the known objects on the map") {
    const fs::path dir = gdal_temp_dir();
    const std::string path = (dir / "scene.tif").string();
    const data::scene s = write_scene_tif(path, 21, 1500, 1100);
    const int W = s.image.width, H = s.image.height;
    const double ox = 399960.0, oy = 5400000.0, gsd = 0.5; // as write_scene_tif places it

    // Scripted replies: each window's objects (those wholly inside it), as the codec writes them in
    // the model's frame, in window order (one worker).
    const box_codec::plain_quad codec;
    resolution::fixed_budget sizing(256 * 28 * 28, 1296 * 28 * 28);
    pipeline::scene_detect_options o;
    o.split.sizes = {600};
    o.split.gaps = {100};
    o.classes = eval::dota_v1_classes();
    o.scene_id = "scene";
    const auto windows = data::sliding_windows(W, H, o.split);
    const std::vector<std::string> replies =
        pipeline::window_answers(s.objects, W, H, o.split, codec, sizing, o.classes);
    REQUIRE(replies.size() == windows.size());
    std::map<std::size_t, bool> covered; // objects wholly inside some window
    for (const auto& w : windows)
        for (std::size_t i = 0; i < s.objects.size(); ++i) {
            bool inside = true;
            for (const auto& p : s.objects[i].poly)
                inside = inside && p.x >= w.x_start && p.x < w.x_stop && p.y >= w.y_start && p.y < w.y_stop;
            if (inside) covered[i] = true;
        }
    REQUIRE(covered.size() > 20);
    io::gdal_source src(path);
    const pipeline::scene_detect_result r = pipeline::detect_scene(
        src, codec, sizing, [&] { return std::make_unique<zoom::scripted_backend>(replies); }, o);
    CHECK(r.failed == 0);
    CHECK(r.windows.size() == windows.size());
    CHECK(r.peak_windows == 2);
    CHECK(r.before_nms >= covered.size());
    // One detection per known object (duplicates from overlapping windows merged by NMS), each within
    // the codec's integer rounding of the object (about one pixel).
    REQUIRE(r.detections.size() == covered.size());
    // (The codec may start the polygon at another corner.)
    auto near = [](const geometry::quad& a, const geometry::quad& b, double tol) {
        for (const auto& p : a) {
            bool found = false;
            for (const auto& q : b)
                found = found || (std::abs(p.x - q.x) <= tol && std::abs(p.y - q.y) <= tol);
            if (!found) return false;
        }
        return true;
    };
    std::vector<std::size_t> match(r.detections.size(), static_cast<std::size_t>(-1));
    for (std::size_t d = 0; d < r.detections.size(); ++d)
        for (const auto& [i, yes] : covered)
            if (s.objects[i].label == r.detections[d].label && near(s.objects[i].poly, r.detections[d].quad, 1.5))
                match[d] = i;
    REQUIRE(std::count(match.begin(), match.end(), static_cast<std::size_t>(-1)) == 0);

    // GeoJSON and GeoPackage, read back with OGR; the known objects reprojected independently (EPSG
    // codes, the affine written out by hand).
    const io::geo_transformer t(src.geo());
    std::vector<io::geo_feature> features;
    for (const auto& d : r.detections) {
        io::geo_feature f;
        f.pixels.assign(d.quad.begin(), d.quad.end());
        f.properties = {{"class", d.label}, {"score", d.score}, {"window", r.windows[d.window].patch}};
        features.push_back(f);
    }
    const std::string gj = (dir / "det.geojson").string(), gp = (dir / "det.gpkg").string();
    io::write_geojson(gj, features, t);
    io::write_geopackage(gp, features, src.geo());
    OGRSpatialReference utm, wgs;
    utm.importFromEPSG(32633);
    wgs.importFromEPSG(4326);
    utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    struct ct_free {
        void operator()(OGRCoordinateTransformation* c) const { OGRCoordinateTransformation::DestroyCT(c); }
    };
    std::unique_ptr<OGRCoordinateTransformation, ct_free> ct(OGRCreateCoordinateTransformation(&utm, &wgs));
    REQUIRE(ct);
    for (const std::string& file : {gj, gp}) {
        io::detail::dataset_ptr ds(GDALDataset::Open(file.c_str(), GDAL_OF_VECTOR));
        REQUIRE(ds);
        OGRLayer* layer = ds->GetLayer(0);
        REQUIRE(layer);
        CHECK(layer->GetFeatureCount() == static_cast<GIntBig>(r.detections.size()));
        const bool geographic = file == gj;
        std::size_t k = 0, checked = 0;
        for (auto& feat : *layer) {
            REQUIRE(k < r.detections.size());
            const auto& obj = s.objects[match[k]];
            CHECK(std::string(feat->GetFieldAsString("class")) == obj.label);
            const auto* poly = feat->GetGeometryRef()->toPolygon();
            const OGRLinearRing* ring = poly->getExteriorRing();
            REQUIRE(ring->getNumPoints() == 5);
            // Every known corner is within ~1.5 px of some ring vertex.
            for (const auto& p : obj.poly) {
                double mx = ox + p.x * gsd, my = oy - p.y * gsd;
                if (geographic) REQUIRE(ct->Transform(1, &mx, &my));
                const double tol = geographic ? 2e-5 : 1.5 * gsd;
                bool found = false;
                for (int v = 0; v < 4; ++v)
                    found = found || (std::abs(ring->getX(v) - mx) < tol && std::abs(ring->getY(v) - my) < tol);
                CHECK(found);
                ++checked;
            }
            ++k;
        }
        CHECK(checked == 4 * r.detections.size());
        if (geographic) {
            // RFC 7946: counter-clockwise exterior rings, WGS84 (no "crs" member).
            layer->ResetReading();
            for (auto& feat : *layer)
                CHECK_FALSE(feat->GetGeometryRef()->toPolygon()->getExteriorRing()->isClockwise());
        } else {
            const OGRSpatialReference* srs = layer->GetSpatialRef();
            REQUIRE(srs);
            CHECK(std::string(srs->GetAuthorityCode(nullptr)) == "32633");
        }
    }
    // Property types over every feature: an integer then a fraction make a real field.
    std::vector<io::geo_feature> mixed(2);
    mixed[0].pixels = {{0, 0}, {10, 0}, {10, 10}};
    mixed[0].properties = {{"n", 1}, {"tag", "a"}};
    mixed[1].pixels = {{20, 0}, {30, 0}, {30, 10}};
    mixed[1].properties = {{"n", 0.75}, {"extra", true}};
    const std::string mp = (dir / "mixed.gpkg").string();
    io::write_geopackage(mp, mixed, src.geo());
    {
        io::detail::dataset_ptr ds(GDALDataset::Open(mp.c_str(), GDAL_OF_VECTOR));
        REQUIRE(ds);
        OGRLayer* layer = ds->GetLayer(0);
        OGRFeatureDefn* def = layer->GetLayerDefn();
        REQUIRE(def->GetFieldIndex("n") >= 0);
        CHECK(def->GetFieldDefn(def->GetFieldIndex("n"))->GetType() == OFTReal);
        CHECK(def->GetFieldIndex("extra") >= 0);
        std::vector<double> n;
        for (auto& feat : *layer)
            n.push_back(feat->GetFieldAsDouble("n"));
        CHECK(n == std::vector<double>{1.0, 0.75});
    }
    fs::remove_all(dir);
}

#endif // RSCOVLM_HAS_GDAL
