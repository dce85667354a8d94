#pragma once
/// \file data/refgeo_mask.hpp
/// The segmentation target of refGeo grounding samples (rscovlm/training/data/refgeo_dataset.py
/// `get_seg_messages` + `encode_mask`): the mask file is read as Pillow mode "L", binarised with
/// `cv2.threshold(m, 1, 255, THRESH_BINARY)` (values > 1 are foreground), closed with a 50x50
/// rectangle (`cv2.morphologyEx(MORPH_CLOSE)`), every outer contour of `cv2.findContours(RETR_CCOMP)`
/// is filled with 1 (so holes are filled), the 0/1 mask is resized to the resized frame with
/// Pillow NEAREST, max-pooled over `patch x patch` blocks (`skimage.measure.block_reduce`, zero
/// padded at the end), and written as row-wise run lengths `value*count,...;` per row.

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace rscovlm::data {

/// Pillow `Image.convert("L")` of a decoded 8-bit image: grey stays, grey+alpha keeps grey, RGB(A)
/// uses ITU-R 601-2 luma in Pillow's fixed point `(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`.
inline image to_pillow_l(const image& src) {
    if (src.empty() || src.channels < 1 || src.channels > 4)
        RSCOVLM_THROW(data_error, "bad_mask", "mask image must have 1..4 channels and a non-zero size");
    image out(src.width, src.height, 1);
    const std::size_t n = static_cast<std::size_t>(src.width) * static_cast<std::size_t>(src.height);
    const std::size_t nc = static_cast<std::size_t>(src.channels);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = src.data.data() + i * nc;
        if (nc <= 2) {
            out.data[i] = p[0];
        } else {
            const std::uint32_t l = static_cast<std::uint32_t>(p[0]) * 19595u +
                                    static_cast<std::uint32_t>(p[1]) * 38470u +
                                    static_cast<std::uint32_t>(p[2]) * 7471u + 0x8000u;
            out.data[i] = static_cast<std::uint8_t>(l >> 16);
        }
    }
    return out;
}

namespace detail {

// One pass of a 1-D running max (or min) over [i - before, i + after], samples outside [0, n)
// ignored: OpenCV's default border for dilate (-inf) and erode (+inf) never wins.
inline void running_extreme(const std::uint8_t* in, std::ptrdiff_t stride, int n, std::uint8_t* out, int before,
                            int after, bool is_max) {
    std::deque<int> q; // indices with monotonic values
    auto better = [&](std::uint8_t a, std::uint8_t b) { return is_max ? a >= b : a <= b; };
    int next = 0;
    for (int i = 0; i < n; ++i) {
        const int hi = std::min(n - 1, i + after);
        for (; next <= hi; ++next) {
            const std::uint8_t v = in[next * stride];
            while (!q.empty() && better(v, in[q.back() * stride]))
                q.pop_back();
            q.push_back(next);
        }
        while (q.front() < i - before)
            q.pop_front();
        out[i * stride] = in[q.front() * stride];
    }
}

// cv2.dilate / cv2.erode with np.ones((k, k)) and the default anchor (k / 2): the window of pixel x
// is [x - k/2, x - k/2 + k - 1] on both axes. A rectangle is separable.
inline std::vector<std::uint8_t> morph_rect(const std::vector<std::uint8_t>& src, int w, int h, int k, bool is_max) {
    const int before = k / 2, after = k - 1 - k / 2;
    std::vector<std::uint8_t> tmp(src.size()), out(src.size());
    for (int y = 0; y < h; ++y)
        running_extreme(src.data() + static_cast<std::size_t>(y) * w, 1, w,
                        tmp.data() + static_cast<std::size_t>(y) * w, before, after, is_max);
    for (int x = 0; x < w; ++x)
        running_extreme(tmp.data() + x, w, h, out.data() + x, before, after, is_max);
    return out;
}

// Filling every outer contour of cv2.findContours(RETR_CCOMP) (8-connected foreground, the image
// framed by background) gives the foreground plus every background region not 4-connected to
// the frame: flood the background from the border, everything else becomes 1.
inline std::vector<std::uint8_t> fill_outer_contours(const std::vector<std::uint8_t>& bin, int w, int h) {
    std::vector<std::uint8_t> outside(bin.size(), 0);
    std::vector<std::size_t> stack;
    auto push = [&](int x, int y) {
        const std::size_t i = static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
        if (bin[i] == 0 && !outside[i]) {
            outside[i] = 1;
            stack.push_back(i);
        }
    };
    for (int x = 0; x < w; ++x) {
        push(x, 0);
        push(x, h - 1);
    }
    for (int y = 0; y < h; ++y) {
        push(0, y);
        push(w - 1, y);
    }
    while (!stack.empty()) {
        const std::size_t i = stack.back();
        stack.pop_back();
        const int x = static_cast<int>(i % static_cast<std::size_t>(w)),
                  y = static_cast<int>(i / static_cast<std::size_t>(w));
        if (x > 0) push(x - 1, y);
        if (x + 1 < w) push(x + 1, y);
        if (y > 0) push(x, y - 1);
        if (y + 1 < h) push(x, y + 1);
    }
    std::vector<std::uint8_t> filled(bin.size());
    for (std::size_t i = 0; i < bin.size(); ++i)
        filled[i] = outside[i] ? 0 : 1;
    return filled;
}

} // namespace detail

/// Intermediate masks of `refgeo_mask_rle` (original frame, row-major), for inspection and tests.
struct refgeo_mask_stages {
    std::vector<std::uint8_t> closed; ///< 0/255 after thresholding and closing
    std::vector<std::uint8_t> filled; ///< 0/1 after filling the outer contours
};

/// `encode_mask`: each row as `value*count` runs joined by ",", rows joined by ";" plus a final ";".
inline std::string encode_mask_rle(const std::vector<std::uint8_t>& m, int w, int h) {
    if (w <= 0 || h < 0 || m.size() != static_cast<std::size_t>(w) * static_cast<std::size_t>(h))
        RSCOVLM_THROW(data_error, "bad_mask",
                      "encode_mask_rle: " + std::to_string(m.size()) + " values do not form " + std::to_string(w) +
                          "x" + std::to_string(h) + " rows");
    std::string s;
    for (int y = 0; y < h; ++y) {
        const std::uint8_t* r = m.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(w);
        int count = 1;
        for (int x = 1; x < w; ++x) {
            if (r[x] == r[x - 1]) {
                ++count;
            } else {
                s += std::to_string(r[x - 1]) + "*" + std::to_string(count) + ",";
                count = 1;
            }
        }
        s += std::to_string(r[w - 1]) + "*" + std::to_string(count);
        s += ";";
    }
    return s;
}

/// The run-length segmentation target of a refGeo mask (the text between `<seg>` and `</seg>`).
/// `mask` is the decoded mask file (any channel count, converted like Pillow `convert("L")`);
/// its size must be the record's `image_width x image_height` (the reference asserts it: here
/// data_error "mask_size_mismatch"). `patch` is the pooling block (the reference passes
/// patch_size * merge_size = 28).
inline std::string refgeo_mask_rle(const image& mask, int image_width, int image_height, int resized_width,
                                   int resized_height, int patch = 28, refgeo_mask_stages* stages = nullptr) {
    const image l = to_pillow_l(mask);
    if (l.width != image_width || l.height != image_height)
        RSCOVLM_THROW(data_error, "mask_size_mismatch",
                      "Mask size " + std::to_string(l.width) + "x" + std::to_string(l.height) +
                          " does not match image size " + std::to_string(image_width) + "x" +
                          std::to_string(image_height));
    if (resized_width <= 0 || resized_height <= 0 || patch <= 0)
        RSCOVLM_THROW(data_error, "bad_image_size", "mask target needs a positive resized size and patch");
    const int w = l.width, h = l.height;
    std::vector<std::uint8_t> bin(l.data.size());
    for (std::size_t i = 0; i < bin.size(); ++i)
        bin[i] = l.data[i] > 1 ? 255 : 0;
    std::vector<std::uint8_t> closed = detail::morph_rect(detail::morph_rect(bin, w, h, 50, true), w, h, 50, false);
    std::vector<std::uint8_t> filled = detail::fill_outer_contours(closed, w, h);
    image f(w, h, 1);
    f.data = filled;
    const image r = imaging::resize(f, resized_width, resized_height, image::filter::nearest);
    const int ph = (resized_height + patch - 1) / patch, pw = (resized_width + patch - 1) / patch;
    std::vector<std::uint8_t> pooled(static_cast<std::size_t>(ph) * static_cast<std::size_t>(pw), 0);
    for (int y = 0; y < resized_height; ++y)
        for (int x = 0; x < resized_width; ++x) {
            std::uint8_t& p = pooled[static_cast<std::size_t>(y / patch) * static_cast<std::size_t>(pw) +
                                     static_cast<std::size_t>(x / patch)];
            p = std::max(p, r.at(x, y));
        }
    if (stages) {
        stages->closed = std::move(closed);
        stages->filled = std::move(filled);
    }
    return encode_mask_rle(pooled, pw, ph);
}

} // namespace rscovlm::data
