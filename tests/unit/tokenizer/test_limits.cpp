// Vision grids are bounded before any pad is expanded (limits.hpp: grid_patches, tokens).
#include <doctest/doctest.h>

#include <rscovlm/limits.hpp>
#include <rscovlm/tokenizer/chat_template.hpp>
#include <rscovlm/tokenizer/encoding.hpp>

#include <nlohmann/json.hpp>

#include <string>

using namespace rscovlm;
using namespace rscovlm::tokenizer;

namespace {
template <class F> std::string error_id(F&& f) {
    try {
        f();
    } catch (const rscovlm::error& e) {
        return e.id();
    }
    return "no error";
}
nlohmann::json one_image_messages() {
    return nlohmann::json::parse(
        R"([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}])");
}
} // namespace

TEST_CASE("tokenizer limits: a grid whose t*h*w exceeds grid_patches is refused before expansion") {
    // Each side is within [1, 2^20]; the product (1e10) is not.
    CHECK(error_id([] { vision_pad_count({1, 100000, 100000}, 2); }) == "rscovlm.limit.grid_patches");
    CHECK(vision_pad_count({1, 32, 32}, 2) == 256);

    render_options opt;
    opt.image_grid_thw = {{1, 100000, 100000}};
    qwen2_5_vl_template tmpl;
    CHECK(error_id([&] { tmpl.render(one_image_messages(), opt); }) == "rscovlm.limit.grid_patches");

    conversation_options co;
    co.image_grid_thw = {{1, 100000, 100000}};
    CHECK(error_id([&] { conversation_spans(one_image_messages(), co); }) == "rscovlm.limit.grid_patches");

    // The limit is a policy: raised, the same grid passes the check (and 0 means no limit).
    limits::policy p = limits::current();
    p.grid_patches = 0;
    limits::scoped raised(p);
    CHECK(vision_pad_count({1, 100000, 100000}, 2) == 2500000000LL);
}

TEST_CASE("tokenizer limits: the pads all grids expand to are bounded by the tokens limit") {
    limits::policy p = limits::current();
    p.tokens = 100;
    limits::scoped small(p);
    CHECK(expand_vision_pads("<|image_pad|>", "<|image_pad|>", {{1, 20, 20}}, 2).size() == 100 * 13);
    CHECK(error_id([] {
              expand_vision_pads("<|image_pad|>", "<|image_pad|>", {{1, 40, 40}}, 2);
          }) == "rscovlm.limit.tokens");
    CHECK(error_id([] {
              expand_vision_pads("a<|image_pad|>b<|image_pad|>", "<|image_pad|>", {{1, 16, 16}, {1, 16, 16}}, 2);
          }) == "rscovlm.limit.tokens");
    conversation_options co;
    co.image_grid_thw = {{1, 40, 40}};
    CHECK(error_id([&] { conversation_spans(one_image_messages(), co); }) == "rscovlm.limit.tokens");
}

TEST_CASE("tokenizer limits: the pad count is checked against the grids before expanding") {
    limits::policy p = limits::current();
    p.tokens = 10;
    limits::scoped small(p);
    // Two pads, one (over-limit) grid: the mismatch is found first, nothing is expanded.
    CHECK(error_id([] {
              expand_vision_pads("<|image_pad|><|image_pad|>", "<|image_pad|>", {{1, 40, 40}}, 2);
          }) == "rscovlm.tokenizer.vision_count_mismatch");
    CHECK(error_id([] {
              expand_vision_pads("no pads", "<|image_pad|>", {{1, 40, 40}}, 2);
          }) == "rscovlm.tokenizer.vision_count_mismatch");
}
