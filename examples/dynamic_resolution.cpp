// One concept: dynamic resolution. How many visual tokens an image gets under each resolution
// strategy (smart_resize within a pixel budget, a fixed square, RSCoVLM's seeded random resize),
// how one image becomes Qwen2.5-VL pixel_values, and the M-RoPE positions the processor assigns to
// its tokens.
#include <rscovlm/image/image.hpp>
#include <rscovlm/processor/processor.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/tokenizer/bpe.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

static int failed(const char* what) {
    std::printf("FAILED: %s\n", what);
    return 1;
}

int main() {
    using namespace rscovlm;
    namespace res = rscovlm::resolution;
    // Known values of the reference smart_resize (transformers' default budget, then RSCoVLM's).
    if (res::smart_resize(1080, 1920) != res::size{728, 1316}) return failed("smart_resize default budget");
    if (res::smart_resize(1080, 1920, 28, 50176, 1016064) != res::size{756, 1344}) return failed("smart_resize");

    // A synthetic 1280x720 aerial-like gradient.
    image img(1280, 720, 3);
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) {
            img.at(x, y, 0) = static_cast<std::uint8_t>(x * 255 / img.width);
            img.at(x, y, 1) = static_cast<std::uint8_t>(y * 255 / img.height);
            img.at(x, y, 2) = static_cast<std::uint8_t>((x ^ y) & 0xff);
        }
    res::fixed_budget multitask(res::budget_multitask.min_pixels, res::budget_multitask.max_pixels);
    res::fixed_budget det(res::budget_det.min_pixels, res::budget_det.max_pixels);
    res::fixed_square square(448);
    res::random_resize random(res::budget_multitask.min_pixels, res::budget_multitask.max_pixels, 1.0, 2024);
    const std::pair<const char*, res::strategy*> strategies[] = {
        {"smart multitask", &multitask}, {"smart det", &det}, {"square 448", &square}, {"random seed=2024", &random}};
    const std::pair<int, int> sizes[] = {{300, 400}, {img.height, img.width}, {9000, 12000}}; // (h, w)
    for (const auto& [h, w] : sizes)
        for (const auto& [label, s] : strategies) {
            const res::plan p = s->plan_size(h, w);
            const long long px = static_cast<long long>(p.resized_height) * p.resized_width;
            std::printf("%-17s %5dx%-5d -> %4dx%-4d grid [1, %d, %d], %lld tokens\n", label, w, h, p.resized_width,
                        p.resized_height, p.grid_thw[1], p.grid_thw[2], p.tokens);
            // Sides are multiples of 28 (14 px patches, 2x2 merge), one token per merged 28x28 block,
            // the area within [min_pixels, max_pixels]; the square's single-size budget is met to
            // within one 28 px strip per side (its sides are rounded up or down to 28 px).
            const bool in_budget = s == &square
                                       ? std::llabs(px - 448LL * 448) < 28LL * (p.resized_height + p.resized_width)
                                       : px >= p.min_pixels && px <= p.max_pixels;
            if (p.resized_height % 28 || p.resized_width % 28 || !in_budget || p.tokens != px / (28 * 28))
                return failed("plan outside its budget");
        }
    res::random_resize again(res::budget_multitask.min_pixels, res::budget_multitask.max_pixels, 1.0, 2024);
    random.reseed(2024);
    if (random.plan_size(720, 1280).tokens != again.plan_size(720, 1280).tokens) return failed("seeded random");

    // Preprocessing: resize (bicubic), normalize with the CLIP mean/std, cut into 14x14 patches.
    res::preprocess_options po;
    po.min_pixels = res::budget_multitask.min_pixels;
    po.max_pixels = res::budget_multitask.max_pixels;
    po.keep_resized_image = true;
    const res::preprocess_result r = res::preprocess(img, po);
    std::printf("pixel_values [%zu, %zu], grid_thw [%d, %d, %d], %lld <|image_pad|> tokens\n", r.rows, r.cols,
                r.grid_thw[0], r.grid_thw[1], r.grid_thw[2], r.tokens);
    if (r.cols != 3 * 2 * 14 * 14 || r.rows != static_cast<std::size_t>(r.grid_thw[1]) * r.grid_thw[2] ||
        r.tokens != multitask.plan_size(img.height, img.width).tokens)
        return failed("pixel_values shape");
    // Row 0 is the top-left patch; columns are [channel][temporal copy][py][px].
    for (int c = 0; c < 3; ++c) {
        const float want =
            (static_cast<float>(r.resized_image.at(0, 0, c)) / 255.0f - res::clip_mean[c]) / res::clip_std[c];
        if (std::fabs(r.pixel_values[c * 392] - want) > 1e-5f ||
            r.pixel_values[c * 392 + 196] != r.pixel_values[c * 392])
            return failed("normalized pixel layout");
    }

    // M-RoPE through the processor: text positions advance by one, image tokens get (t, h, w) grid
    // positions, and the text after the image resumes after the larger of the two merged sides.
    const auto tok =
        tokenizer::bpe_tokenizer::from_file(std::string(RSCOVLM_EXAMPLE_DATA_DIR) + "/tokenizer/qwen/tokenizer.json");
    processor::options opt;
    opt.mode = processor::mode::generation;
    const processor::qwen2_5_vl_processor proc(tok, opt);
    const nlohmann::json msgs = nlohmann::json::parse(
        R"([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many planes?"}]}])");
    const processor::encoding e = proc.encode(msgs, {img}, false);
    const auto& pos = e.position_ids;
    const auto vs = std::find(e.input_ids.begin(), e.input_ids.end(), 151652) - e.input_ids.begin();
    const int gh = e.image_grid_thw[0][1] / 2, gw = e.image_grid_thw[0][2] / 2;
    const std::size_t after = static_cast<std::size_t>(vs) + 1 + static_cast<std::size_t>(gh) * gw;
    std::printf("processor: %zu tokens, image block at %td, merged grid %dx%d, rope_delta %lld\n", e.input_ids.size(),
                vs, gh, gw, static_cast<long long>(e.rope_delta));
    std::printf("positions (t, h, w): last image token (%lld, %lld, %lld), next text token (%lld, %lld, %lld)\n",
                static_cast<long long>(pos[0][after - 1]), static_cast<long long>(pos[1][after - 1]),
                static_cast<long long>(pos[2][after - 1]), static_cast<long long>(pos[0][after]),
                static_cast<long long>(pos[1][after]), static_cast<long long>(pos[2][after]));
    const std::int64_t first = vs + 1;
    const std::int64_t resume = first + std::max(gh, gw);
    const std::int64_t last = static_cast<std::int64_t>(e.input_ids.size()) - 1;
    if (pos[0][after - 1] != first || pos[1][after - 1] != first + gh - 1 || pos[2][after - 1] != first + gw - 1 ||
        pos[0][after] != resume || pos[1][after] != resume || pos[2][after] != resume ||
        e.rope_delta != pos[0][last] + 1 - static_cast<std::int64_t>(e.input_ids.size()))
        return failed("M-RoPE positions");
    std::printf("ok\n");
    return 0;
}
