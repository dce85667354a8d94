// Windowed TIFF reads (tiled, striped, BigTIFF) against full decodes, and the chain over a TIFF.
#include <doctest/doctest.h>

#if RSCOVLM_HAS_TIFF

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <tiffio.h>
#include <unistd.h>

#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/image_source.hpp>
#include <rscovlm/io/tiff.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

using namespace rscovlm;
namespace fs = std::filesystem;

namespace {

fs::path tiff_temp_dir() {
    fs::path d = fs::temp_directory_path() / ("rscovlm_zoom_tiff_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

image tiff_pattern(int w, int h, int c) {
    image im(w, h, c);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c; ++k)
                im.at(x, y, k) = static_cast<std::uint8_t>((x * (3 + k) + y * (5 + 2 * k) + (x * y >> 4)) & 255);
    return im;
}

struct tiff_layout {
    bool tiled = true;
    int block_w = 64, block_h = 64; // tile size, or rows per strip in block_h
    bool separate = false;
    bool bigtiff = false;
    std::uint16_t compression = COMPRESSION_LZW;
};

// Writes `img` (1, 3 or 4 channels) as a TIFF with libtiff.
void write_tiff(const std::string& path, const image& img, const tiff_layout& L) {
    TIFF* t = TIFFOpen(path.c_str(), L.bigtiff ? "w8" : "w");
    REQUIRE(t != nullptr);
    const int c = img.channels;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(img.width));
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(img.height));
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, c);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, c >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, L.separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, L.compression);
    if (c == 4) {
        std::uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    const int planes = L.separate ? c : 1, per = L.separate ? 1 : c;
    if (L.tiled) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, L.block_w);
        TIFFSetField(t, TIFFTAG_TILELENGTH, L.block_h);
        std::vector<std::uint8_t> buf(static_cast<std::size_t>(L.block_w * L.block_h * per));
        for (int p = 0; p < planes; ++p)
            for (int ty = 0; ty < img.height; ty += L.block_h)
                for (int tx = 0; tx < img.width; tx += L.block_w) {
                    std::fill(buf.begin(), buf.end(), 0);
                    for (int y = ty; y < std::min(img.height, ty + L.block_h); ++y)
                        for (int x = tx; x < std::min(img.width, tx + L.block_w); ++x)
                            for (int k = 0; k < per; ++k)
                                buf[static_cast<std::size_t>(((y - ty) * L.block_w + (x - tx)) * per + k)] =
                                    img.at(x, y, L.separate ? p : k);
                    ttile_t idx = TIFFComputeTile(t, static_cast<std::uint32_t>(tx), static_cast<std::uint32_t>(ty), 0,
                                                  static_cast<tsample_t>(p));
                    REQUIRE(TIFFWriteEncodedTile(t, idx, buf.data(), static_cast<tmsize_t>(buf.size())) >= 0);
                }
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, L.block_h);
        for (int p = 0; p < planes; ++p)
            for (int sy = 0; sy < img.height; sy += L.block_h) {
                const int rows = std::min(L.block_h, img.height - sy);
                std::vector<std::uint8_t> buf(static_cast<std::size_t>(rows * img.width * per));
                for (int y = sy; y < sy + rows; ++y)
                    for (int x = 0; x < img.width; ++x)
                        for (int k = 0; k < per; ++k)
                            buf[static_cast<std::size_t>(((y - sy) * img.width + x) * per + k)] =
                                img.at(x, y, L.separate ? p : k);
                tstrip_t idx = TIFFComputeStrip(t, static_cast<std::uint32_t>(sy), static_cast<tsample_t>(p));
                REQUIRE(TIFFWriteEncodedStrip(t, idx, buf.data(), static_cast<tmsize_t>(buf.size())) >= 0);
            }
    }
    TIFFClose(t);
}

// Independent full decode through libtiff's RGBA interface.
image full_decode_rgba(const std::string& path) {
    TIFF* t = TIFFOpen(path.c_str(), "r");
    REQUIRE(t != nullptr);
    std::uint32_t w = 0, h = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    std::vector<std::uint32_t> raster(static_cast<std::size_t>(w) * h);
    REQUIRE(TIFFReadRGBAImageOriented(t, w, h, raster.data(), ORIENTATION_TOPLEFT, 0) == 1);
    TIFFClose(t);
    image out(static_cast<int>(w), static_cast<int>(h), 3);
    for (std::size_t i = 0; i < raster.size(); ++i) {
        out.data[i * 3 + 0] = static_cast<std::uint8_t>(TIFFGetR(raster[i]));
        out.data[i * 3 + 1] = static_cast<std::uint8_t>(TIFFGetG(raster[i]));
        out.data[i * 3 + 2] = static_cast<std::uint8_t>(TIFFGetB(raster[i]));
    }
    return out;
}

std::set<std::uint32_t> touched_blocks(const io::tiff_source& s, const zoom::pixel_box& b) {
    std::set<std::uint32_t> out;
    const int x0 = std::max(0, b.x0), y0 = std::max(0, b.y0), x1 = std::min(s.width(), b.x1),
              y1 = std::min(s.height(), b.y1);
    for (int by = y0 / s.block_height(); by <= (y1 - 1) / s.block_height(); ++by)
        for (int bx = x0 / s.block_width(); bx <= (x1 - 1) / s.block_width(); ++bx)
            out.insert(static_cast<std::uint32_t>(by * s.blocks_across() + bx));
    return out;
}

const std::vector<zoom::pixel_box> windows{{0, 0, 300, 200},     {10, 20, 40, 50},  {63, 63, 65, 65},
                                           {250, 150, 300, 200}, {-10, -5, 30, 30}, {280, 190, 330, 240},
                                           {128, 0, 192, 200}};

void check_windows(const std::string& path, const image& rgb) {
    io::tiff_source src(path);
    REQUIRE(src.width() == rgb.width);
    REQUIRE(src.height() == rgb.height);
    for (const auto& w : windows) {
        src.clear_cache();
        src.reset_stats();
        image got = src.read(w);
        CHECK(got.data == image::crop(rgb, w.x0, w.y0, w.x1, w.y1).data);
        // Only the blocks the window touches are decoded, each once.
        std::set<std::uint32_t> decoded(src.stats().decoded.begin(), src.stats().decoded.end());
        CHECK(decoded == touched_blocks(src, w));
        CHECK(src.stats().blocks_decoded == decoded.size());
    }
    // Downsampled first view, band by band from blocks: identical to resizing the full decode.
    src.clear_cache();
    src.reset_stats();
    image view = src.read_resized(zoom::pixel_box{0, 0, rgb.width, rgb.height}, 112, 84, image::filter::bicubic);
    CHECK(view.data == image::resize(rgb, 112, 84).data);
    CHECK(src.stats().blocks_decoded == static_cast<std::size_t>(src.blocks_across() * src.blocks_down()));
    image part = src.read_resized(zoom::pixel_box{37, 11, 290, 171}, 56, 84, image::filter::bicubic);
    CHECK(part.data == image::resize(image::crop(rgb, 37, 11, 290, 171), 56, 84).data);
}

} // namespace

TEST_CASE("zoom: tiled TIFF windows equal full decodes and touch only their tiles") {
    const fs::path dir = tiff_temp_dir();
    const image rgb = tiff_pattern(300, 200, 3);
    const std::string path = (dir / "tiled.tif").string();
    write_tiff(path, rgb, tiff_layout{});
    CHECK(full_decode_rgba(path).data == rgb.data);
    io::tiff_source probe(path);
    CHECK(probe.tiled());
    CHECK(probe.blocks_across() == 5);
    CHECK(probe.blocks_down() == 4);
    check_windows(path, rgb);
    fs::remove_all(dir);
}

TEST_CASE("zoom: striped grey TIFF windows") {
    const fs::path dir = tiff_temp_dir();
    const image grey = tiff_pattern(300, 200, 1);
    const std::string path = (dir / "striped.tif").string();
    tiff_layout L;
    L.tiled = false;
    L.block_h = 16;
    L.compression = COMPRESSION_NONE;
    write_tiff(path, grey, L);
    io::tiff_source probe(path);
    CHECK_FALSE(probe.tiled());
    CHECK(probe.block_width() == 300);
    CHECK(probe.blocks_down() == 13);
    check_windows(path, imaging::to_rgb(grey));
    fs::remove_all(dir);
}

TEST_CASE("zoom: BigTIFF with separate RGBA planes") {
    const fs::path dir = tiff_temp_dir();
    const image rgba = tiff_pattern(300, 200, 4);
    const std::string path = (dir / "big.tif").string();
    tiff_layout L;
    L.bigtiff = true;
    L.separate = true;
    L.block_w = 32;
    L.block_h = 48;
    L.compression = COMPRESSION_ADOBE_DEFLATE;
    write_tiff(path, rgba, L);
    check_windows(path, imaging::to_rgb(rgba)); // alpha composited on white, like qwen-vl-utils
    fs::remove_all(dir);
}

TEST_CASE("zoom: TIFF limits and errors") {
    const fs::path dir = tiff_temp_dir();
    const std::string path = (dir / "lim.tif").string();
    write_tiff(path, tiff_pattern(300, 200, 3), tiff_layout{});
    io::tiff_options o;
    o.max_pixels = 1000;
    CHECK_THROWS_AS(io::tiff_source(path, o), limit_error);
    o = io::tiff_options{};
    o.max_region_pixels = 100;
    io::tiff_source s(path, o);
    CHECK_THROWS_AS(s.read({0, 0, 20, 20}), limit_error);
    CHECK_NOTHROW(s.read({0, 0, 10, 10}));
    CHECK_THROWS_AS(io::tiff_source((dir / "missing.tif").string()), io_error);
    {
        std::FILE* f = std::fopen((dir / "junk.tif").string().c_str(), "wb");
        std::fputs("II*\0garbage", f);
        std::fclose(f);
    }
    auto r = io::try_open_image_source((dir / "junk.tif").string());
    CHECK_FALSE(r.ok());
    // Other formats are decoded once into memory.
    const image small = tiff_pattern(40, 30, 3);
    io::save_png((dir / "small.png").string(), small);
    auto png = io::open_image_source((dir / "small.png").string());
    REQUIRE(dynamic_cast<zoom::memory_source*>(png.get()) != nullptr);
    CHECK(png->read({5, 5, 20, 25}).data == image::crop(small, 5, 5, 20, 25).data);
    fs::remove_all(dir);
}

TEST_CASE("zoom: the chain over a tiled TIFF equals the chain over the decoded image (synthetic UHR scene)") {
    const fs::path dir = tiff_temp_dir();
    data::scene_options so;
    so.width = 1600;
    so.height = 1200;
    so.seed = 7;
    so.objects_per_megapixel = 20;
    data::scene sc = data::make_scene(so);
    const std::string tif = (dir / "scene.tif").string();
    write_tiff(tif, sc.image, tiff_layout{true, 256, 256, false, false, COMPRESSION_NONE});
    auto tsrc = io::open_image_source(tif);
    CHECK(dynamic_cast<io::tiff_source*>(tsrc.get()) != nullptr);
    auto psrc = std::make_unique<zoom::memory_source>(sc.image);

    // Zoom on the first object's bounding box (in the resized frame), then answer with its label.
    zoom::controller_options opt;
    opt.max_pixels = 28 * 28 * 400;
    const auto rs = resolution::smart_resize(so.height, so.width, 28, opt.min_pixels, opt.max_pixels);
    REQUIRE_FALSE(sc.objects.empty());
    const auto& obj = sc.objects.front();
    double x1 = 1e9, y1 = 1e9, x2 = -1e9, y2 = -1e9;
    for (const auto& p : obj.poly) {
        x1 = std::min(x1, p.x);
        y1 = std::min(y1, p.y);
        x2 = std::max(x2, p.x);
        y2 = std::max(y2, p.y);
    }
    const double sx = static_cast<double>(rs.width) / so.width, sy = static_cast<double>(rs.height) / so.height;
    const std::string reply = zoom::format_tool_call(x1 * sx - 20, y1 * sy - 20, x2 * sx + 20, y2 * sy + 20);
    zoom::scripted_backend m1({reply, obj.label}), m2({reply, obj.label});
    auto r1 = zoom::controller(opt).run(*tsrc, "What is this object?", m1);
    auto r2 = zoom::controller(opt).run(*psrc, "What is this object?", m2);
    CHECK(r1.answered);
    CHECK(r1.answer == obj.label);
    REQUIRE(r1.images.size() == 2);
    REQUIRE(r2.images.size() == 2);
    CHECK(r1.images[0].data == r2.images[0].data);
    CHECK(r1.images[1].data == r2.images[1].data);
    CHECK(zoom::to_json(r1.trace) == zoom::to_json(r2.trace));
    // The crop contains the object's box in the original frame.
    const auto& z = r1.trace.steps[0].zooms.at(0);
    CHECK(z.crop.x0 <= x1);
    CHECK(z.crop.x1 >= x2);
    fs::remove_all(dir);
}

TEST_CASE("zoom: TIFF tile and strip buffers are bounded by the tile_bytes limit when the file is opened") {
    const fs::path dir = tiff_temp_dir();
    // A 256x256 image declaring 65536x65536 tiles: one decoded tile would need two 12.9 GB buffers.
    const std::string huge = (dir / "huge_tiles.tif").string();
    {
        TIFF* t = TIFFOpen(huge.c_str(), "w");
        REQUIRE(t != nullptr);
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 256u);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, 256u);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
        TIFFSetField(t, TIFFTAG_TILEWIDTH, 65536u);
        TIFFSetField(t, TIFFTAG_TILELENGTH, 65536u);
        std::vector<std::uint8_t> few(64, 7);
        REQUIRE(TIFFWriteRawTile(t, 0, few.data(), static_cast<tmsize_t>(few.size())) >= 0);
        TIFFClose(t);
    }
    try {
        io::tiff_source s(huge);
        FAIL("a 65536x65536 tile was accepted");
    } catch (const limit_error& e) {
        CHECK(e.id() == "rscovlm.limit.tile_bytes");
    }
    CHECK(io::try_open_image_source(huge).error().id == "rscovlm.limit.tile_bytes");

    // The limit is the policy's: a strip of 300x16 RGB (14400 bytes) passes the default and not a 4 KiB one.
    const std::string striped = (dir / "striped.tif").string();
    tiff_layout L;
    L.tiled = false;
    L.block_h = 16;
    write_tiff(striped, tiff_pattern(300, 40, 3), L);
    CHECK_NOTHROW(io::tiff_source{striped});
    limits::policy p = limits::current();
    p.tile_bytes = 4096;
    limits::scoped small(p);
    CHECK_THROWS_AS(io::tiff_source{striped}, limit_error);
    fs::remove_all(dir);
}

#else

TEST_CASE("zoom: TIFF reading (skipped: built without libtiff)") {
    MESSAGE("skipped: rscovlm was configured without libtiff, so this file's TIFF tests compiled to nothing");
}

#endif // RSCOVLM_HAS_TIFF
