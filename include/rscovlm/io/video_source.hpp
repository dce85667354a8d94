#pragma once
/// \file video_source.hpp
/// \brief Video frame sources: a directory of frame images or a list file of frame paths, with the
/// source fps, feeding the video path of `<rscovlm/resolution/video.hpp>`.
///
/// Video files (mp4, mkv, webm, ...) are **not supported**: decoding them needs libavcodec/libavformat,
/// which rscovlm does not link. Opening one raises `io_error` "video_file_unsupported"; extract the frames
/// first (e.g. `ffmpeg -i in.mp4 frames/%06d.png`) and pass the directory with its fps.
///
/// Frame sources:
///  - a **directory**: every PNG/JPEG/BMP/TGA file in it (by extension, case-insensitive), ordered by
///    file name (byte order; zero-pad frame numbers); other entries are counted in `skipped`;
///  - a **list file** (`.txt`, `.list`, `.lst`): one frame path per line, relative to the list file's
///    folder unless absolute; blank lines and lines starting with `#` are ignored, except a line
///    `# fps = F` (or `#fps=F`), which declares the source fps.
/// A source is used either as a frame list (qwen-vl-utils `ele["video"] = [frames...]`) or as a decoded
/// video (`ele["video"] = "file"`) whose frames are these images at `fps` (see `load_video`).

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/resolution/video.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::io {

/// \brief An ordered set of frame files with the source fps when known.
struct frame_source {
    /// Where the frames came from (the directory or list file).
    std::string origin;
    /// Frame files in order.
    std::vector<std::string> files;
    /// Source fps declared by the list file (or set by the caller).
    std::optional<double> fps;
    /// Directory entries that are not frame images (ignored).
    std::size_t skipped = 0;
    /// `total_frames` of the "decoded video" these frames form.
    long long total_frames() const noexcept { return static_cast<long long>(files.size()); }
};

namespace video_source_detail {

inline std::string lower_ext(const std::filesystem::path& p) {
    return ::rscovlm::detail::py::lower_ascii(p.extension().string());
}

inline bool is_frame_ext(const std::string& e) {
    return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tga";
}

inline bool is_list_ext(const std::string& e) {
    return e == ".txt" || e == ".list" || e == ".lst";
}

/// Strips ASCII whitespace (`bytes.strip()`; the frame-list format is ASCII).
inline std::string trim(std::string_view s) {
    return std::string(::rscovlm::detail::py::strip_ascii(s));
}

// "# fps = 29.97" / "#fps=30" -> 29.97; nullopt for other comments; throws on a malformed fps value.
inline std::optional<double> parse_fps_comment(const std::string& line, const std::string& where) {
    std::string body = trim(std::string_view(line).substr(1));
    if (body.size() < 3) return std::nullopt;
    const std::string key = ::rscovlm::detail::py::lower_ascii(std::string_view(body).substr(0, 3));
    if (key != "fps") return std::nullopt;
    std::string rest = trim(std::string_view(body).substr(3));
    if (rest.empty() || (rest[0] != '=' && rest[0] != ':')) return std::nullopt;
    rest = trim(std::string_view(rest).substr(1));
    char* end = nullptr;
    const double v = rest.empty() ? 0.0 : std::strtod(rest.c_str(), &end);
    const bool ok = !rest.empty() && end == rest.c_str() + rest.size();
    if (!ok || !(v > 0) || !std::isfinite(v))
        RSCOVLM_THROW(io_error, "bad_frame_list", where + ": the fps must be a positive number, got '" + rest + "'");
    return v;
}

} // namespace video_source_detail

/// \brief Opens a frame directory or frame list file (see the file comment).
///
/// Errors (`io_error`): "not_found" (no such path), "video_file_unsupported" (any other regular file:
/// a video container needs libav*, not linked), "empty_video" (no frames), "bad_frame_list" (unreadable
/// list file, malformed `# fps` line).
inline frame_source open_frame_source(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) RSCOVLM_THROW(io_error, "not_found", "video source '" + path + "' does not exist");
    frame_source src;
    src.origin = path;
    if (fs::is_directory(st)) {
        std::vector<std::string> names;
        for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
            const fs::path& e = it->path();
            std::error_code ec2;
            if (fs::is_regular_file(it->status(ec2)) &&
                video_source_detail::is_frame_ext(video_source_detail::lower_ext(e)))
                names.push_back(e.filename().string());
            else
                ++src.skipped;
        }
        if (ec)
            RSCOVLM_THROW(io_error, "not_found", "cannot list video frame directory '" + path + "': " + ec.message());
        std::sort(names.begin(), names.end());
        for (const auto& n : names)
            src.files.push_back((p / n).string());
        if (src.files.empty())
            RSCOVLM_THROW(io_error, "empty_video",
                          "video frame directory '" + path + "' holds no PNG/JPEG/BMP/TGA frames (" +
                              std::to_string(src.skipped) + " other entries)");
        return src;
    }
    const std::string ext = video_source_detail::lower_ext(p);
    if (!video_source_detail::is_list_ext(ext))
        RSCOVLM_THROW(
            io_error, "video_file_unsupported",
            "'" + path +
                "' is not a frame directory or frame list (.txt/.list/.lst); decoding video files (mp4, mkv, " +
                "webm, ...) needs libavcodec, which rscovlm does not link: extract the frames first (ffmpeg -i " +
                "VIDEO DIR/%06d.png) and pass the directory with its fps");
    std::ifstream in(p);
    if (!in) RSCOVLM_THROW(io_error, "bad_frame_list", "cannot read frame list '" + path + "'");
    const fs::path base = p.parent_path();
    std::string line;
    long long lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        const std::string t = video_source_detail::trim(line);
        if (t.empty()) continue;
        if (t[0] == '#') {
            if (auto f = video_source_detail::parse_fps_comment(t, path + ":" + std::to_string(lineno))) src.fps = f;
            continue;
        }
        const fs::path fp(t);
        src.files.push_back(fp.is_absolute() || base.empty() ? fp.string() : (base / fp).string());
    }
    if (src.files.empty()) RSCOVLM_THROW(io_error, "empty_video", "frame list '" + path + "' names no frames");
    return src;
}

/// \brief `open_frame_source` returning a `result`.
inline result<frame_source> try_open_frame_source(const std::string& path) {
    return try_call([&] { return open_frame_source(path); });
}

/// \brief Options of `load_video`.
struct video_load_options {
    /// How the frames reach the model (decoded video by default).
    resolution::video_input input = resolution::video_input::decoded;
    /// Source fps of a decoded video; overrides the list file's `# fps` line. Required for decoded input.
    std::optional<double> source_fps;
    /// The video pipeline's options.
    resolution::video_options video;
    /// Per-frame decoding options (pixel limit before decoding; RGBA handling of decoded frames).
    load_options load;
};

namespace video_source_detail {

inline image load_frame(const frame_source& src, std::size_t i, const load_options& lo) {
    auto r = try_load_image(src.files[i], lo);
    if (!r.ok())
        RSCOVLM_THROW(io_error, "unreadable_frame",
                      "video '" + src.origin + "': frame " + std::to_string(i) + " ('" + src.files[i] +
                          "') cannot be read: " + r.error().what());
    return std::move(r.value());
}

inline std::vector<image> load_frames(const frame_source& src, const std::vector<std::size_t>& which,
                                      const load_options& lo, int threads) {
    std::vector<image> out(which.size());
    std::vector<error_info> errs(which.size());
    imaging::parallel_for(which.size(), threads, [&](std::size_t a, std::size_t b) {
        for (std::size_t k = a; k < b; ++k) {
            auto r = try_call([&] { return load_frame(src, which[k], lo); });
            if (r.ok())
                out[k] = std::move(r.value());
            else
                errs[k] = r.error();
        }
    });
    for (const auto& e : errs)
        if (!e.id.empty()) result<int>(e).value(); // the first failing frame, in order, with its id
    return out;
}

} // namespace video_source_detail

/// \brief Loads and preprocesses a video from a frame source.
///
/// Decoded input (qwen-vl-utils with a video file): every frame header is probed first and frames of
/// different sizes are refused with `io_error` "mixed_frame_sizes" (a decoded video tensor has one
/// size; torch.stack would fail); `smart_nframes` picks the count, only the sampled frames are decoded.
/// Frame-list input: every frame is decoded and goes through `fetch_image` on its own, so mixed sizes are
/// allowed, as in the reference. Errors: `open_frame_source`'s, "unreadable_frame" (naming the file),
/// "bad_fps" (decoded input without a positive source fps), and the video pipeline's.
inline resolution::video_result load_video(const frame_source& src, const video_load_options& o = {}) {
    if (src.files.empty()) RSCOVLM_THROW(io_error, "empty_video", "video '" + src.origin + "' has no frames");
    const int threads = o.video.threads;
    if (o.input == resolution::video_input::frame_list) {
        std::vector<std::size_t> all(src.files.size());
        for (std::size_t i = 0; i < all.size(); ++i)
            all[i] = i;
        load_options lo = o.load;
        lo.to_rgb = false; // fetch_image's to_rgb runs in preprocess_frame_list
        const std::vector<image> frames = video_source_detail::load_frames(src, all, lo, threads);
        return resolution::preprocess_frame_list(frames, o.video);
    }
    const std::optional<double> fps = o.source_fps ? o.source_fps : src.fps;
    if (!fps || !(*fps > 0) || !std::isfinite(*fps))
        RSCOVLM_THROW(io_error, "bad_fps",
                      "video '" + src.origin + "': a decoded video needs a positive source fps (none was given)");
    // Probe every frame header: a decoded video has one frame size.
    image_info first{};
    for (std::size_t i = 0; i < src.files.size(); ++i) {
        auto r = try_probe_image(src.files[i]);
        if (!r.ok())
            RSCOVLM_THROW(io_error, "unreadable_frame",
                          "video '" + src.origin + "': frame " + std::to_string(i) + " ('" + src.files[i] +
                              "') cannot be read: " + r.error().what());
        if (i == 0)
            first = r.value();
        else if (r.value().width != first.width || r.value().height != first.height)
            RSCOVLM_THROW(io_error, "mixed_frame_sizes",
                          "video '" + src.origin + "': frame " + std::to_string(i) + " ('" + src.files[i] + "') is " +
                              std::to_string(r.value().width) + "x" + std::to_string(r.value().height) +
                              " but frame 0 is " + std::to_string(first.width) + "x" + std::to_string(first.height));
    }
    const resolution::video_sampling s = resolution::plan_video_sampling(src.total_frames(), *fps, o.video);
    std::vector<std::size_t> which(s.frame_indices.size());
    for (std::size_t i = 0; i < which.size(); ++i)
        which[i] = static_cast<std::size_t>(s.frame_indices[i]);
    load_options lo = o.load;
    lo.to_rgb = true;
    const std::vector<image> frames = video_source_detail::load_frames(src, which, lo, threads);
    return resolution::preprocess_decoded_video(frames, s.sample_fps, o.video, s.frame_indices);
}

/// \brief Opens `path` (directory or list file) and runs `load_video`.
inline resolution::video_result load_video(const std::string& path, const video_load_options& o = {}) {
    return load_video(open_frame_source(path), o);
}

/// \brief `load_video` returning a `result`.
inline result<resolution::video_result> try_load_video(const std::string& path, const video_load_options& o = {}) {
    return try_call([&] { return load_video(path, o); });
}

} // namespace rscovlm::io
