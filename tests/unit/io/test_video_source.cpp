// Video input against tests/data/video (torch 1.13.1 / torchvision 0.14.1 / Pillow 9.4 reference, see the
// README there): smart_nframes, torch.linspace frame sampling, torchvision antialiased bicubic resize,
// the whole video pipeline (bit-identical pixel_values_videos), frame sources and their errors.
#include <doctest/doctest.h>

#include <rscovlm/imaging/antialias_resize.hpp>
#include <rscovlm/io/npy.hpp>
#include <rscovlm/io/video_source.hpp>
#include <rscovlm/resolution/rope_index.hpp>
#include <rscovlm/resolution/video.hpp>

#include "support/test_support.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

using namespace rscovlm;

namespace {
std::string vid_dir() {
    return rscovlm_test::data_dir() + "/video/";
}

image vid_image_from_npy(const std::string& path) {
    const io::npy_array a = io::load_npy(path);
    REQUIRE(a.shape.size() == 3);
    image img(static_cast<int>(a.shape[1]), static_cast<int>(a.shape[0]), static_cast<int>(a.shape[2]));
    img.data = a.as<std::uint8_t>();
    return img;
}

std::string vid_id(const std::function<void()>& f) {
    auto r = try_call([&] {
        f();
        return 0;
    });
    return r.ok() ? std::string() : r.error().id;
}

resolution::nframes_request vid_req(std::optional<double> fps, std::optional<double> nframes = std::nullopt) {
    resolution::nframes_request r;
    r.fps = fps;
    r.nframes = nframes;
    return r;
}
} // namespace

TEST_CASE("resolution: smart_nframes follows qwen-vl-utils") {
    using resolution::smart_nframes;
    // fps path: total / video_fps * fps, clamped to [ceil2(4), floor2(min(768, total))], floored to even.
    CHECK(smart_nframes(vid_req(std::nullopt), 300, 30.0) == 20); // 10 s at 2 fps
    CHECK(smart_nframes(vid_req(1.0), 300, 30.0) == 10);
    CHECK(smart_nframes(vid_req(2.0), 15, 6.0) == 4);       // 5 frames -> floor to 4
    CHECK(smart_nframes(vid_req(2.0), 10, 30.0) == 4);      // 0.67 frames -> min_frames 4
    CHECK(smart_nframes(vid_req(30.0), 3001, 30.0) == 768); // FPS_MAX_FRAMES
    CHECK(smart_nframes(vid_req(60.0), 101, 30.0) == 100);  // more than the video: total, floored to even
    resolution::nframes_request r = vid_req(0.1);
    r.min_frames = 3; // ceil to 4
    CHECK(smart_nframes(r, 100, 10.0) == 4);
    r.min_frames = 1;
    r.max_frames = 7; // floor to 6
    CHECK(smart_nframes(vid_req(5.0), 100, 10.0) == 50);
    r.fps = 5.0;
    CHECK(smart_nframes(r, 100, 10.0) == 6);
    // nframes path: Python round(n / 2) * 2, half to even.
    CHECK(smart_nframes(vid_req(std::nullopt, 3.0), 10, 1.0) == 4);
    CHECK(smart_nframes(vid_req(std::nullopt, 5.0), 10, 1.0) == 4);
    CHECK(smart_nframes(vid_req(std::nullopt, 7.0), 10, 1.0) == 8);
    CHECK(smart_nframes(vid_req(std::nullopt, 6.4), 10, 1.0) == 6);
    // Errors.
    CHECK(vid_id([] { (void)smart_nframes(vid_req(2.0, 4.0), 10, 1.0); }) == "rscovlm.resolution.fps_and_nframes");
    CHECK(vid_id([] { (void)smart_nframes(vid_req(std::nullopt, 12.0), 10, 1.0); }) ==
          "rscovlm.resolution.bad_nframes");
    CHECK(vid_id([] { (void)smart_nframes(vid_req(std::nullopt, 1.0), 10, 1.0); }) == "rscovlm.resolution.bad_nframes");
    CHECK(vid_id([] { (void)smart_nframes(vid_req(2.0), 1, 30.0); }) == "rscovlm.resolution.bad_nframes");
    CHECK(vid_id([] { (void)smart_nframes(vid_req(2.0), 100, 0.0); }) == "rscovlm.resolution.zero_fps");
    CHECK_FALSE(resolution::try_smart_nframes(vid_req(std::nullopt, 0.0), 10, 1.0).ok());
}

TEST_CASE("resolution: video budget and real-valued smart_resize") {
    // max(min(VIDEO_MAX_PIXELS, total / n * 2), int(min * 1.05)), capped by max_pixels.
    CHECK(resolution::video_frame_max_pixels(100352, 90316800, 20) == doctest::Approx(602112));
    CHECK(resolution::video_frame_max_pixels(100352, 40000, 14) == 105369); // int(100352 * 1.05)
    CHECK(resolution::video_frame_max_pixels(3136, 40000, 14) == doctest::Approx(40000.0 / 14 * 2));
    CHECK(resolution::video_frame_max_pixels(3136, 90316800, 4, 12544.0) == 12544.0);
    CHECK(resolution::video_frame_max_pixels(3136, 90316800, 4, 1e12) == 602112.0);
    const auto s = resolution::smart_resize_real(90, 120, 28, 3136, 40000.0 / 14 * 2);
    CHECK(s.height == 56);
    CHECK(s.width == 84);
    CHECK(vid_id([] { (void)resolution::smart_resize_real(1, 300, 28, 3136, 12544); }) ==
          "rscovlm.resolution.aspect_ratio");
    CHECK(vid_id([] { (void)resolution::smart_resize_real(0, 300, 28, 3136, 12544); }) ==
          "rscovlm.resolution.zero_size");
    CHECK(resolution::second_per_grid_t(2.0) == 1.0);
    CHECK(resolution::second_per_grid_t(1.6) == 1.25);
    CHECK(vid_id([] { (void)resolution::second_per_grid_t(0.0); }) == "rscovlm.resolution.zero_fps");
    CHECK(resolution::video_sample_fps(4, 15, 6.0) == doctest::Approx(1.6));
}

TEST_CASE("resolution: torch.linspace frame sampling is bit-identical for both torch kernel builds") {
    for (const char* tag : {"avx2", "scalar"}) {
        std::ifstream f(vid_dir() + "linspace_" + tag + ".json");
        REQUIRE(f.good());
        const auto j = nlohmann::json::parse(f);
        const auto kernel = imaging::parse_torch_kernel(tag);
        int n = 0;
        for (const auto& c : j.at("cases")) {
            const auto v = resolution::torch_linspace(c.at("start").get<double>(), c.at("end").get<double>(),
                                                      c.at("n").get<int>(), kernel);
            const auto want = c.at("values").get<std::vector<double>>();
            REQUIRE(v.size() == want.size());
            bool same = true;
            for (std::size_t i = 0; i < v.size(); ++i)
                same = same && static_cast<double>(v[i]) == want[i];
            CHECK_MESSAGE(same,
                          tag << " linspace(" << c.at("start") << ", " << c.at("end") << ", " << c.at("n") << ")");
            const auto idx = resolution::sample_frame_indices(
                c.at("start").get<long long>(), c.at("end").get<long long>(), c.at("n").get<int>(), kernel);
            CHECK(std::vector<long long>(idx.begin(), idx.end()) == c.at("idx").get<std::vector<long long>>());
            ++n;
        }
        CHECK(n >= 150);
    }
    // The kernels really differ (fused multiply-adds in the AVX2 build).
    int differ = 0;
    for (long long t : {97LL, 150LL, 301LL, 999LL, 1000LL, 3001LL, 12345LL})
        for (int n : {18, 34, 66, 100, 256, 768})
            differ += n <= t &&
                      resolution::torch_linspace(0, static_cast<double>(t - 1), n, imaging::torch_kernel::avx2) !=
                          resolution::torch_linspace(0, static_cast<double>(t - 1), n, imaging::torch_kernel::scalar);
    CHECK(differ > 0);
    CHECK(resolution::torch_linspace(3, 3, 1).size() == 1);
    CHECK(resolution::torch_linspace(3, 9, 0).empty());
}

TEST_CASE("image: torchvision antialiased bicubic resize against torch 1.13") {
    const std::string d = vid_dir() + "torch_resize/";
    std::ifstream f(d + "cases.json");
    REQUIRE(f.good());
    const auto j = nlohmann::json::parse(f);
    std::size_t values = 0, avx2_diff = 0;
    int max_diff = 0;
    for (const auto& c : j.at("cases")) {
        char name[64];
        std::snprintf(name, sizeof name, "case_%02d_", c.at("index").get<int>());
        const image in = vid_image_from_npy(d + name + "in.npy");
        for (const char* tag : {"scalar", "avx2"}) {
            const image want = vid_image_from_npy(d + name + tag + ".npy");
            imaging::torch_resize_options o;
            o.kernel = imaging::parse_torch_kernel(tag);
            o.threads = 2;
            const image got = imaging::resize_torch_bicubic_aa(in, want.width, want.height, o);
            REQUIRE(got.data.size() == want.data.size());
            if (std::string(tag) == "scalar") {
                CHECK_MESSAGE(got.data == want.data, "scalar case " << name);
                continue;
            }
            values += want.data.size();
            for (std::size_t i = 0; i < want.data.size(); ++i) {
                const int dlt = std::abs(int(got.data[i]) - int(want.data[i]));
                avx2_diff += dlt != 0;
                max_diff = std::max(max_diff, dlt);
            }
        }
    }
    // The documented bound of the AVX2 model (imaging/antialias_resize.hpp).
    CHECK(max_diff <= 1);
    CHECK(static_cast<double>(avx2_diff) <= 1e-4 * static_cast<double>(values));
    // Bad sizes are typed errors.
    image tiny(3, 2, 3);
    CHECK(vid_id([&] { (void)imaging::resize_torch_bicubic_aa(tiny, 0, 4); }) == "rscovlm.image.bad_size");
    CHECK(vid_id([&] { (void)imaging::resize_torch_bicubic_aa(image(), 4, 4); }) == "rscovlm.image.bad_size");
    CHECK(vid_id([] { (void)imaging::parse_torch_kernel("neon"); }) == "rscovlm.image.bad_option");
    // Same size is the identity (torch's weights are [0, 1, 0, 0]).
    image g(5, 4, 3);
    for (std::size_t i = 0; i < g.data.size(); ++i)
        g.data[i] = static_cast<std::uint8_t>(i * 37);
    CHECK(imaging::resize_torch_bicubic_aa(g, 5, 4).data == g.data);
}

TEST_CASE("resolution: video patchify layout (t, merge blocks; columns c, t', py, px) and temporal padding") {
    // 3 frames of 28x56: frame f pixel (x, y) channel c = (f * 50 + y + x + c * 3) % 256.
    std::vector<image> frames;
    for (int f = 0; f < 3; ++f) {
        image im(56, 28, 3);
        for (int y = 0; y < 28; ++y)
            for (int x = 0; x < 56; ++x)
                for (int c = 0; c < 3; ++c)
                    im.at(x, y, c) = static_cast<std::uint8_t>((f * 50 + y + x + c * 3) % 256);
        frames.push_back(im);
    }
    resolution::video_options o;
    o.threads = 3;
    std::vector<float> pv;
    const auto g = resolution::normalize_patchify_video(frames, pv, o);
    CHECK(g == std::array<int, 3>{2, 2, 4}); // 3 frames padded to 4
    REQUIRE(pv.size() == 2u * 2 * 4 * 1176);
    const auto lut = resolution::detail::normalize_lut(o.mean, o.std);
    // Independent index math of reshape (gt, 2, 3, gh/2, 2, 14, gw/2, 2, 14) -> (0, 3, 6, 4, 7, 2, 1, 5, 8).
    int mismatches = 0;
    for (int t = 0; t < 2; ++t)
        for (int bh = 0; bh < 1; ++bh)
            for (int bw = 0; bw < 2; ++bw)
                for (int mh = 0; mh < 2; ++mh)
                    for (int mw = 0; mw < 2; ++mw)
                        for (int c = 0; c < 3; ++c)
                            for (int tt = 0; tt < 2; ++tt)
                                for (int py = 0; py < 14; ++py)
                                    for (int px = 0; px < 14; ++px) {
                                        const int row = ((t * 1 + bh) * 2 + bw) * 4 + mh * 2 + mw;
                                        const int col = ((c * 2 + tt) * 14 + py) * 14 + px;
                                        const int f = std::min(t * 2 + tt, 2);
                                        const int y = (bh * 2 + mh) * 14 + py, x = (bw * 2 + mw) * 14 + px;
                                        const float want = lut[static_cast<std::size_t>(c)]
                                                              [frames[static_cast<std::size_t>(f)].at(x, y, c)];
                                        mismatches +=
                                            pv[static_cast<std::size_t>(row) * 1176 + static_cast<std::size_t>(col)] !=
                                            want;
                                    }
    CHECK(mismatches == 0);
    // Bad inputs.
    std::vector<float> out;
    CHECK(vid_id([&] { (void)resolution::normalize_patchify_video({}, out); }) == "rscovlm.resolution.no_frames");
    std::vector<image> odd{image(30, 28, 3)};
    CHECK(vid_id([&] { (void)resolution::normalize_patchify_video(odd, out); }) == "rscovlm.resolution.bad_size");
    std::vector<image> mixed{image(28, 28, 3), image(56, 28, 3)};
    CHECK(vid_id([&] { (void)resolution::normalize_patchify_video(mixed, out); }) == "rscovlm.resolution.bad_size");
    std::vector<image> grey{image(28, 28, 1)};
    CHECK(vid_id([&] { (void)resolution::normalize_patchify_video(grey, out); }) == "rscovlm.resolution.bad_channels");
    std::vector<image> two{image(28, 28, 3), image(28, 56, 3)};
    CHECK(vid_id([&] { (void)resolution::preprocess_decoded_video(two, 2.0); }) == "rscovlm.resolution.bad_size");
    CHECK(vid_id([&] { (void)resolution::preprocess_frame_list({}); }) == "rscovlm.resolution.no_frames");
}

TEST_CASE("resolution: video pipeline matches every golden case bit for bit") {
    for (const char* tag : {"scalar", "avx2"}) {
        const auto cases = rscovlm_test::read_jsonl(vid_dir() + "cases_" + tag + ".jsonl");
        REQUIRE(cases.size() >= 8);
        for (const auto& c : cases) {
            const auto& a = c.at("args");
            const auto& e = c.at("expected");
            io::video_load_options o;
            o.input =
                a.contains("frames_as_list") ? resolution::video_input::frame_list : resolution::video_input::decoded;
            if (a.contains("fps")) o.video.frames.fps = a.at("fps").get<double>();
            if (a.contains("nframes")) o.video.frames.nframes = a.at("nframes").get<double>();
            if (a.contains("min_frames")) o.video.frames.min_frames = a.at("min_frames").get<double>();
            if (a.contains("max_frames")) o.video.frames.max_frames = a.at("max_frames").get<double>();
            if (a.contains("min_pixels")) o.video.min_pixels = a.at("min_pixels").get<double>();
            if (a.contains("max_pixels")) o.video.max_pixels = a.at("max_pixels").get<double>();
            if (a.contains("total_pixels")) o.video.total_pixels = a.at("total_pixels").get<double>();
            if (a.contains("source_fps")) o.source_fps = a.at("source_fps").get<double>();
            o.video.torch_kernel = imaging::parse_torch_kernel(tag);
            o.video.bf16 = true;
            const auto r = io::load_video(vid_dir() + c.at("video").get<std::string>(), o);
            INFO(tag << " " << c.dump());
            CHECK(std::vector<std::array<int, 3>>{r.grid_thw} ==
                  e.at("video_grid_thw").get<std::vector<std::array<int, 3>>>());
            CHECK(r.resized_height == e.at("resized_height").get<int>());
            CHECK(r.resized_width == e.at("resized_width").get<int>());
            CHECK(r.nframes == e.at("nframes").get<int>());
            CHECK(std::vector<long long>(r.frame_indices.begin(), r.frame_indices.end()) ==
                  e.at("frame_indices").get<std::vector<long long>>());
            CHECK(r.sample_fps == e.at("sample_fps").get<double>());
            CHECK(static_cast<double>(r.second_per_grid_t_f32) == e.at("second_per_grid_ts")[0].get<double>());
            CHECK(r.tokens == e.at("tokens").get<long long>());
            CHECK(r.rows == e.at("pixel_values_shape")[0].get<std::size_t>());
            CHECK(r.pixel_values_bf16.size() == r.pixel_values.size());
            const bool same = rscovlm_test::sha256_hex(r.pixel_values.data(), r.pixel_values.size() * sizeof(float)) ==
                              e.at("sha256").get<std::string>();
            if (std::string(tag) == "scalar" || a.contains("frames_as_list")) {
                CHECK(same);
            } else if (!same) {
                // AVX2 model bound: a resized pixel off by 1 moves one normalised value by 1/(255*std).
                double sum = 0;
                for (float v : r.pixel_values)
                    sum += v;
                CHECK(std::fabs(sum - e.at("sum").get<double>()) <=
                      1e-4 * static_cast<double>(r.pixel_values.size()) / (255 * 0.2613));
            }
        }
    }
}

TEST_CASE("io: frame sources and their typed errors") {
    namespace fs = std::filesystem;
    const auto src = io::open_frame_source(vid_dir() + "frames_a");
    CHECK(src.total_frames() == 15);
    CHECK_FALSE(src.fps.has_value());
    CHECK(fs::path(src.files.front()).filename() == "0000.png");
    CHECK(fs::path(src.files.back()).filename() == "0014.png");
    const auto lst = io::open_frame_source(vid_dir() + "clip_a.txt");
    CHECK(lst.total_frames() == 8);
    REQUIRE(lst.fps.has_value());
    CHECK(*lst.fps == 6.0);
    CHECK(fs::path(lst.files[1]).filename() == "0002.png");

    const fs::path tmp = fs::temp_directory_path() / "rscovlm_video_sources";
    fs::remove_all(tmp);
    fs::create_directories(tmp / "empty");
    std::ofstream(tmp / "empty" / "notes.md") << "no frames";
    std::ofstream(tmp / "clip.mp4", std::ios::binary) << std::string("\0\0\0\x18"
                                                                     "ftypmp42",
                                                                     12);
    std::ofstream(tmp / "bad.txt") << "# fps = -3\n0000.png\n";
    std::ofstream(tmp / "none.txt") << "# only comments\n\n";
    fs::create_directories(tmp / "corrupt");
    for (int k = 0; k < 4; ++k) {
        char n[16];
        std::snprintf(n, sizeof n, "%04d.png", k);
        if (k == 2)
            std::ofstream(tmp / "corrupt" / n, std::ios::binary) << "\x89PNG\r\n\x1a\n truncated";
        else
            fs::copy_file(vid_dir() + "frames_a/" + n, tmp / "corrupt" / n);
    }
    const auto p = [&](const char* name) { return (tmp / name).string(); };
    CHECK(vid_id([&] { (void)io::open_frame_source(p("missing")); }) == "rscovlm.io.not_found");
    CHECK(vid_id([&] { (void)io::open_frame_source(p("empty")); }) == "rscovlm.io.empty_video");
    CHECK(vid_id([&] { (void)io::open_frame_source(p("clip.mp4")); }) == "rscovlm.io.video_file_unsupported");
    CHECK(vid_id([&] { (void)io::open_frame_source(p("bad.txt")); }) == "rscovlm.io.bad_frame_list");
    CHECK(vid_id([&] { (void)io::open_frame_source(p("none.txt")); }) == "rscovlm.io.empty_video");
    io::video_load_options o;
    o.source_fps = 30.0;
    o.video.frames.nframes = 4;
    CHECK(vid_id([&] { (void)io::load_video(p("corrupt"), o); }) == "rscovlm.io.unreadable_frame");
    io::video_load_options ol;
    ol.input = resolution::video_input::frame_list;
    CHECK(vid_id([&] { (void)io::load_video(p("corrupt"), ol); }) == "rscovlm.io.unreadable_frame");
    io::video_load_options nofps;
    CHECK(vid_id([&] { (void)io::load_video(vid_dir() + "frames_a", nofps); }) == "rscovlm.io.bad_fps");
    // A decoded video has one frame size; a frame list may mix sizes (each frame is fetched on its own).
    CHECK(vid_id([&] { (void)io::load_video(vid_dir() + "frames_b", o); }) == "rscovlm.io.mixed_frame_sizes");
    ol.video.min_pixels = 3136;
    ol.video.max_pixels = 12544;
    CHECK(io::load_video(vid_dir() + "frames_b", ol).nframes == 6);
    CHECK_FALSE(io::try_load_video(p("clip.mp4")).ok());
    fs::remove_all(tmp);
}

TEST_CASE("resolution: M-RoPE of a video block uses second_per_grid_ts") {
    // <|vision_start|> + 2*2*2/4... one video of grid (2, 2, 4): 4 pads, then text.
    const std::int64_t vs = 151652, vp = 151656;
    const std::vector<std::int64_t> ids{1, vs, vp, vp, vp, vp, 151653, 2};
    resolution::rope_options o;
    o.second_per_grid_ts = {1.25f}; // fps 1.6
    const auto r = resolution::get_rope_index(ids, {}, {{{2, 2, 4}}}, o);
    // t index = int(t * 1.25 * 2): 0 and 2.
    CHECK(r.position_ids[0] == std::vector<std::int64_t>{0, 1, 2, 2, 4, 4, 5, 6});
    CHECK(r.position_ids[1] == std::vector<std::int64_t>{0, 1, 2, 2, 2, 2, 5, 6});
    CHECK(r.position_ids[2] == std::vector<std::int64_t>{0, 1, 2, 3, 2, 3, 5, 6});
}

TEST_CASE("resolution: M-RoPE second_per_grid_t as int64 (transformers >= 4.50)") {
    const std::int64_t vs = 151652, vp = 151656;
    const std::vector<std::int64_t> ids{vs, vp, vp, vp, vp, vp, vp, 151653};
    resolution::rope_options o;
    o.second_per_grid_ts = {1.25f};
    o.second_per_grid_t_as_int64 = true;
    const auto r = resolution::get_rope_index(ids, {}, {{{3, 2, 4}}}, o);
    // int(1.25) = 1: t index = t * 1 * 2 -> 0, 2, 4.
    CHECK(r.position_ids[0] == std::vector<std::int64_t>{0, 1, 1, 3, 3, 5, 5, 6});
    o.second_per_grid_ts = {0.5f};
    CHECK(resolution::get_rope_index(ids, {}, {{{3, 2, 4}}}, o).position_ids[0] ==
          std::vector<std::int64_t>{0, 1, 1, 1, 1, 1, 1, 3});
    o.second_per_grid_t_as_int64 = false; // float rule: int(t * 0.5 * 2) = t
    CHECK(resolution::get_rope_index(ids, {}, {{{3, 2, 4}}}, o).position_ids[0] ==
          std::vector<std::int64_t>{0, 1, 1, 2, 2, 3, 3, 4});
}
