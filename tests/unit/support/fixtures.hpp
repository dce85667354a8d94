#pragma once
// Decoded test fixtures for the core modules' tests. The decoding (PNG/JPEG through rscovlm::io, .npy
// reading) is compiled once in fixtures.cpp, the only test source of a core module that uses io: the
// core tests themselves include no io header and link only rscovlm::rscovlm (tests/CMakeLists.txt and
// tests/cli/check_test_layout.py keep it so).

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace rscovlm_test {

/// Decodes the image file at `path`: RGB (qwen-vl-utils `to_rgb`, white composite) by default, or in
/// its Pillow mode's channel count (1..4) with `keep_mode`.
rscovlm::image load_image(const std::string& path, bool keep_mode = false);

/// Writes `img` as a PNG file (tests that build datasets on disk).
void save_png(const std::string& path, const rscovlm::image& img);

/// An XML file as `rscovlm::io::read_xml_tree`'s JSON tree (the detection benchmarks' ground truth).
nlohmann::json read_xml_tree(const std::string& path);

/// Draws ASCII text on `img` as `rscovlm::io::draw_text` (the benchmarks' chart text).
int draw_text(rscovlm::image& img, int x, int y, const std::string& text, const rscovlm::imaging::rgb& color,
              int scale);

/// A float32 .npy array: its shape and values (C order).
struct float_array {
    std::vector<std::size_t> shape;
    std::vector<float> values;
};

/// Reads a float32 .npy file.
float_array load_npy_f32(const std::string& path);

} // namespace rscovlm_test
