// One concept: the Zoom-in Chain. The model sees a downsized full view of a large image, asks for a
// region with an `image_zoom_in_tool` call (a box in the full view's frame), receives that region
// cropped from the original at full detail, and may zoom again before it answers. A scripted
// backend plays the model here; the trace records every step, crop and image budget.
#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/protocol.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>
#include <rscovlm/zoom/source.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace rscovlm;

static int failed(const char* what) {
    std::printf("FAILED: %s\n", what);
    return 1;
}

int main() {
    data::scene_options so = data::scene_options::uhr(1);
    so.width = 4800;
    so.height = 3600;
    const data::scene sc = data::make_scene(so);
    zoom::memory_source src = zoom::memory_source::borrow(sc.image);
    const int W = src.width(), H = src.height();

    // The question is about the first object; the scripted model zooms on the quarter of the image
    // around it, then on a 600x600 window centred on it, then answers with its label.
    const data::dota_object& target = sc.objects.front();
    double cx = 0, cy = 0;
    for (const auto& p : target.poly)
        cx += p.x / 4, cy += p.y / 4;
    zoom::controller_options opt; // RSCoVLM defaults: at most 2 zooms, crops of the original
    const auto full = resolution::smart_resize(H, W, opt.factor, opt.min_pixels, opt.max_pixels);
    const double sx = static_cast<double>(full.width) / W, sy = static_cast<double>(full.height) / H;
    auto clampd = [](double v, double hi) { return std::min(std::max(v, 0.0), hi); };
    const double boxes[2][4] = {
        {clampd(cx - W / 4.0, W), clampd(cy - H / 4.0, H), clampd(cx + W / 4.0, W), clampd(cy + H / 4.0, H)},
        {clampd(cx - 300, W), clampd(cy - 300, H), clampd(cx + 300, W), clampd(cy + 300, H)}};
    std::vector<std::string> replies;
    for (const auto& b : boxes) // the model speaks in the full view's frame
        replies.push_back("<think>Too small to tell, I should zoom in.</think>\n" +
                          zoom::format_tool_call(std::round(b[0] * sx), std::round(b[1] * sy), std::round(b[2] * sx),
                                                 std::round(b[3] * sy)));
    replies.push_back("<think>Now it is clear.</think>It is a " + target.label + ".");
    zoom::scripted_backend model(replies);
    const std::string question = "What is the object near (" + std::to_string(static_cast<int>(cx)) + ", " +
                                 std::to_string(static_cast<int>(cy)) + ")?";
    const zoom::chain_result r = zoom::controller(opt).run(src, question, model);

    std::printf("%dx%d scene, full view %dx%d\nQ: %s\n", W, H, r.trace.resized_width, r.trace.resized_height,
                question.c_str());
    for (const auto& s : r.trace.steps) {
        std::printf("step %d: %s, %d image(s) in the prompt (%ld visual tokens)\n", s.index, s.kind.c_str(),
                    s.prompt_images, s.prompt_visual_tokens);
        for (const auto& z : s.zooms)
            std::printf("  box [%g, %g, %g, %g] -> crop [%d, %d, %d, %d] of the original -> %dx%d (%ld tokens)\n",
                        z.bbox_model[0], z.bbox_model[1], z.bbox_model[2], z.bbox_model[3], z.crop.x0, z.crop.y0,
                        z.crop.x1, z.crop.y1, z.input_width, z.input_height, z.visual_tokens);
    }
    std::printf("A: %s (%s)\n", r.answer.c_str(), r.trace.stop_reason.c_str());

    if (r.trace.resized_width != full.width || r.trace.resized_height != full.height) return failed("full view size");
    if (!r.answered || r.trace.stop_reason != "answered" || r.answer != "It is a " + target.label + ".")
        return failed("the chain did not end with the scripted answer");
    if (r.trace.steps.size() != 3 || r.images.size() != 3) return failed("expected two zooms and an answer");
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& z = r.trace.steps[i].zooms.at(0);
        // The crop is the box mapped back to the original frame (to the pixel), it holds the
        // target, and the zoomed image is sized within the budget on the 28 px grid.
        const double mapped[4] = {z.bbox_model[0] / sx, z.bbox_model[1] / sy, z.bbox_model[2] / sx,
                                  z.bbox_model[3] / sy};
        const int crop[4] = {z.crop.x0, z.crop.y0, z.crop.x1, z.crop.y1};
        for (int k = 0; k < 4; ++k)
            if (std::fabs(crop[k] - mapped[k]) > 1.0 + 1e-9) return failed("crop is not the mapped box");
        if (!(cx > z.crop.x0 && cx < z.crop.x1 && cy > z.crop.y0 && cy < z.crop.y1))
            return failed("target not in crop");
        const auto want =
            resolution::smart_resize(z.crop.height(), z.crop.width(), opt.factor, opt.min_pixels, opt.max_pixels);
        if (z.input_width != want.width || z.input_height != want.height ||
            z.visual_tokens != (want.width / 28) * (want.height / 28) || z.crop_frame != "original")
            return failed("zoomed image size");
        if (r.images[i + 1].width != z.input_width || r.images[i + 1].height != z.input_height)
            return failed("zoomed image not sent as traced");
    }
    // The second crop is smaller than the first, so it is shown at a higher detail.
    const auto& z1 = r.trace.steps[0].zooms[0];
    const auto& z2 = r.trace.steps[1].zooms[0];
    if (!(static_cast<double>(z2.input_width) / z2.crop.width() >
          static_cast<double>(z1.input_width) / z1.crop.width()))
        return failed("the second zoom is not more detailed");
    // The model saw one more image on each turn (the history keeps every view).
    for (std::size_t i = 0; i < model.requests().size(); ++i)
        if (model.requests()[i].image_sizes.size() != i + 1) return failed("request history");
    std::printf("ok\n");
    return 0;
}
