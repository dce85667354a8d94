// The io side of the core tests' fixtures (see fixtures.hpp).
#include "support/fixtures.hpp"

#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/npy.hpp>
#include <rscovlm/io/text.hpp>
#include <rscovlm/io/xml_annotations.hpp>

namespace rscovlm_test {

rscovlm::image load_image(const std::string& path, bool keep_mode) {
    rscovlm::io::load_options o;
    o.to_rgb = !keep_mode;
    return rscovlm::io::load_image(path, o);
}

void save_png(const std::string& path, const rscovlm::image& img) {
    rscovlm::io::save_png(path, img);
}

int draw_text(rscovlm::image& img, int x, int y, const std::string& text, const rscovlm::imaging::rgb& color,
              int scale) {
    return rscovlm::io::draw_text(img, x, y, text, color, scale);
}

nlohmann::json read_xml_tree(const std::string& path) {
    return rscovlm::io::read_xml_tree(path);
}

float_array load_npy_f32(const std::string& path) {
    const auto a = rscovlm::io::load_npy(path);
    return float_array{a.shape, a.as<float>()};
}

} // namespace rscovlm_test
