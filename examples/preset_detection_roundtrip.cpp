// One concept: a pipeline assembled from a JSON preset. Loads `dota-quad-detection`, plans the
// resolution of a synthetic aerial scene, writes its ground truth as the exact training answer of
// the preset's box codec, then decodes that answer back to the original frame and checks that every
// object survived the round trip (within the reference's int() truncation).
#include <rscovlm/rscovlm.hpp>

#include <cmath>
#include <cstdio>

int main() {
    using namespace rscovlm;
    auto p = pipeline::pipeline::from_file(std::string(RSCOVLM_PRESETS_DIR) + "/dota-quad-detection.json");

    data::scene_options so = data::scene_options::normal(7);
    data::scene s = data::make_scene(so);
    resolution::plan plan = p.get<resolution::kind>().plan_size(s.image.height, s.image.width);
    std::printf("%s: %dx%d -> %dx%d, %lld visual tokens\n", s.name.c_str(), s.image.width, s.image.height,
                plan.resized_width, plan.resized_height, plan.tokens);

    std::vector<box_codec::annotation> anns;
    std::vector<std::string> classes;
    for (const auto& o : s.objects) {
        box_codec::annotation a;
        for (const auto& pt : o.poly) {
            a.polygon.push_back(pt.x);
            a.polygon.push_back(pt.y);
        }
        a.label = o.label;
        anns.push_back(a);
        if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
    }
    const geometry::frame frame{s.image.width, s.image.height, plan.resized_width, plan.resized_height};
    auto& codec = p.get<box_codec::kind>();
    box_codec::encode_options eo;
    eo.classes = classes;
    eo.frame = frame;
    const std::string answer = codec.encode(anns, eo);
    std::printf("user prompt: %s\n", codec.user_prompt(classes).c_str());
    std::printf("answer: %zu bytes, first line: %s\n", answer.size(), answer.substr(0, answer.find('\n')).c_str());

    box_codec::decode_options dopt;
    dopt.classes = classes;
    dopt.frame = frame;
    const auto decoded = codec.decode(answer, dopt);
    std::printf("decoded %zu objects of %zu, dropped %zu\n", decoded.objects.size(), anns.size(),
                decoded.dropped.total());
    // Every coordinate comes back within one resized pixel scaled to the original frame.
    const double tol_x = static_cast<double>(frame.orig_width) / frame.resized_width + 1e-9;
    const double tol_y = static_cast<double>(frame.orig_height) / frame.resized_height + 1e-9;
    std::size_t near = 0;
    for (const auto& obj : decoded.objects) {
        for (const auto& a : anns) {
            bool all = obj.coords.size() == 8;
            double cx = 0, cy = 0, ax = 0, ay = 0;
            for (std::size_t k = 0; all && k < 4; ++k)
                cx += obj.coords[2 * k], cy += obj.coords[2 * k + 1];
            for (std::size_t k = 0; all && k < 4; ++k)
                ax += a.polygon[2 * k], ay += a.polygon[2 * k + 1];
            if (all && std::fabs(cx - ax) / 4 <= tol_x && std::fabs(cy - ay) / 4 <= tol_y) {
                ++near;
                break;
            }
        }
    }
    std::printf("%zu of %zu decoded quads match a ground-truth object\n", near, decoded.objects.size());
    return (decoded.objects.size() == anns.size() && decoded.dropped.total() == 0 && near == anns.size()) ? 0 : 1;
}
