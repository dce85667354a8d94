// Input-sized allocations of the resolution module are checked against limits.hpp before allocating.
#include <doctest/doctest.h>

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/antialias_resize.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/rope_index.hpp>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

using namespace rscovlm;

namespace {
template <class F> std::string error_id(F&& f) {
    try {
        f();
    } catch (const rscovlm::error& e) {
        return e.id();
    }
    return "no error";
}
template <class F> std::string error_message(F&& f) {
    try {
        f();
    } catch (const rscovlm::error& e) {
        return e.message();
    }
    return "";
}
// <|vision_start|> <|image_pad|> x pads <|vision_end|>
std::vector<std::int64_t> image_ids(int pads) {
    const resolution::rope_options o;
    std::vector<std::int64_t> ids{1, o.vision_start_token_id};
    for (int i = 0; i < pads; ++i)
        ids.push_back(o.image_token_id);
    ids.push_back(151653);
    return ids;
}
} // namespace

TEST_CASE("mrope limits: an image grid over grid_patches is refused before positions are built") {
    CHECK(error_id([] {
              resolution::get_rope_index(image_ids(1), {{{1, 100000, 100000}}});
          }) == "rscovlm.limit.grid_patches");
    CHECK(error_id([] {
              resolution::get_rope_index(image_ids(1), {{{1, 4, 4}}}, {{{4, 100000, 100000}}});
          }) == "rscovlm.resolution.bad_input_ids"); // the image grid does not fit its 1 pad; the video grid is unused
    // A valid grid still works.
    const auto r = resolution::get_rope_index(image_ids(4), {{{1, 4, 4}}});
    CHECK(r.position_ids[0].size() == 7);
}

TEST_CASE("mrope limits: a grid larger than the pads left in the sequence is a pad-count error up front") {
    limits::policy p = limits::current();
    p.grid_patches = 0; // no limit: the pad count alone must stop it
    limits::scoped unlimited(p);
    const std::string msg = error_message([] { resolution::get_rope_index(image_ids(1), {{{1, 2000, 2000}}}); });
    CHECK(msg.find("only 2 tokens are left") != std::string::npos);
    CHECK(error_id([] {
              resolution::get_rope_index(image_ids(1), {{{1, INT_MAX, INT_MAX}}});
          }) == "rscovlm.resolution.bad_input_ids");
}

TEST_CASE("imaging limits: resize and crop outputs over output_pixels are refused before allocating") {
    const image src(8, 8, 3);
    CHECK(error_id([&] { imaging::resize(src, 100000, 100000); }) == "rscovlm.limit.output_pixels");
    CHECK(error_id([&] { imaging::resize(src, 100000, 100000, image::filter::nearest); }) ==
          "rscovlm.limit.output_pixels");
    CHECK(error_id([&] { imaging::resize_torch_bicubic_aa(src, 100000, 100000); }) == "rscovlm.limit.output_pixels");
    CHECK(error_id([&] { imaging::crop(src, 0, 0, 100000, 100000); }) == "rscovlm.limit.output_pixels");
    CHECK(error_id([&] { imaging::crop(src, INT_MIN, INT_MIN, INT_MAX, INT_MAX); }) == "rscovlm.limit.output_pixels");
    CHECK(imaging::resize(src, 16, 4).width == 16);
    CHECK(imaging::crop(src, -2, -2, 10, 10).width == 12);

    limits::policy p = limits::current();
    p.output_pixels = 0;
    limits::scoped unlimited(p);
    // A side that does not fit an int (x1 - x0 overflows) is a typed error, not undefined behaviour.
    CHECK(error_id([&] { imaging::crop(src, INT_MIN, 0, INT_MAX, 0); }) == "rscovlm.image.bad_box");
}

TEST_CASE("preprocess limits: budgets and explicit sizes that imply huge outputs are refused") {
    const image src(56, 56, 3);
    resolution::preprocess_options o;
    o.min_pixels = 10000000000LL; // --min-pixels 1e10: the ceil branch asks for 100002x100002
    CHECK(error_id([&] { resolution::preprocess(src, o); }) == "rscovlm.limit.output_pixels");

    resolution::preprocess_options e;
    e.resized = resolution::size{100016, 100016};
    CHECK(error_id([&] { resolution::preprocess(src, e); }) == "rscovlm.limit.output_pixels");

    // Under output_pixels but over grid_patches: 16016x16016 px is 1144x1144 = 1.3M patches.
    limits::policy p = limits::current();
    p.output_pixels = 0;
    limits::scoped unlimited(p);
    resolution::preprocess_options g;
    g.resized = resolution::size{16016, 16016};
    CHECK(error_id([&] { resolution::preprocess(src, g); }) == "rscovlm.limit.grid_patches");

    CHECK(resolution::preprocess(src, {}).grid_thw[1] == 4);
}
