// One concept: box codecs, the text forms a VLM reads and writes boxes in. The same three objects
// are encoded by four codecs (checked against the answers the reference rules produce), each answer
// is decoded back, then a messy model answer is decoded with its drop report.
#include <rscovlm/box_codec/builtin.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bc = rscovlm::box_codec;

static int failed(const std::string& what) {
    std::printf("FAILED: %s\n", what.c_str());
    return 1;
}

int main() {
    // Three quadrilaterals of a 1333x777 image (original frame = model frame here).
    const std::vector<bc::annotation> anns{
        {std::nullopt, {581, 93, 575, 104, 488, 55, 495, 43}, "plane"},
        {std::nullopt, {124, 347, 141, 304, 172, 316, 155, 359}, "soccer-ball-field"},
        {std::nullopt, {862, 683, 862, 718, 790, 718, 790, 683}, "small-vehicle"}};
    const std::vector<std::string> classes{"plane", "soccer-ball-field", "small-vehicle", "ship"};
    bc::encode_options eo;
    eo.classes = classes;
    eo.frame = rscovlm::geometry::frame{1333, 777, 1333, 777};
    bc::decode_options dopt;
    dopt.classes = classes;
    dopt.frame = eo.frame;

    // The reference answers (RSCoVLM dense_det_dataset.py; LMMRotate's Florence-2 converter).
    struct expected {
        std::unique_ptr<bc::codec> codec;
        std::string answer;
    };
    expected cases[4];
    cases[0] = {std::make_unique<bc::plain_hbb>(),
                "488,43,581,104 plane\n790,683,862,718 small vehicle\n124,304,172,359 soccer ball field\n"};
    cases[1] = {std::make_unique<bc::plain_obb>(),
                "534,73,99,13,29 plane\n826,700,72,35,0 small vehicle\n148,331,46,33,-68 soccer ball field\n"};
    cases[2] = {std::make_unique<bc::plain_quad>(), "495,43,581,93,575,104,488,55 plane\n"
                                                    "790,683,862,683,862,718,790,718 small vehicle\n"
                                                    "141,304,172,316,155,359,124,347 soccer ball field\n"};
    cases[3] = {std::make_unique<bc::florence2_codec>(),
                "plane<loc_371><loc_55><loc_366><loc_70><loc_431><loc_133><loc_435><loc_119>"
                "small vehicle<loc_592><loc_879><loc_592><loc_924><loc_646><loc_924><loc_646><loc_879>"
                "soccer ball field<loc_105><loc_391><loc_93><loc_446><loc_116><loc_462><loc_129><loc_406>"};
    for (const auto& c : cases) {
        const std::string text = c.codec->encode(anns, eo);
        const auto r = c.codec->decode(text, dopt);
        std::printf("%-22s %s\n", std::string(c.codec->name()).c_str(), text.substr(0, text.find('\n')).c_str());
        if (text != c.answer) return failed(std::string(c.codec->name()) + " answer differs from the reference");
        if (r.objects.size() != anns.size() || r.dropped.total() != 0)
            return failed(std::string(c.codec->name()) + " does not decode its own answer");
        // Objects come back in answer order (category rank), labels as class ids.
        const int ids[3] = {0, 2, 1};
        for (std::size_t i = 0; i < 3; ++i)
            if (r.objects[i].label_id != ids[i] || r.objects[i].coords.size() != bc::arity(c.codec->kind()))
                return failed(std::string(c.codec->name()) + " decoded the wrong label or arity");
    }
    // The plain quad answer decodes to the annotated vertices (integers, same vertex set).
    const auto quads = cases[2].codec->decode(cases[2].answer, dopt);
    for (std::size_t i = 0; i < 3; ++i) {
        const std::size_t src = i == 0 ? 0 : i == 1 ? 2 : 1;
        for (std::size_t k = 0; k < 8; k += 2) {
            bool found = false;
            for (std::size_t m = 0; m < 8; m += 2)
                found = found || (quads.objects[i].coords[k] == anns[src].polygon[m] &&
                                  quads.objects[i].coords[k + 1] == anns[src].polygon[m + 1]);
            if (!found) return failed("decoded quad vertex not in the annotation");
        }
    }

    // A messy answer: chatter, a misspelt label, a short line, a label outside the classes.
    const std::string messy = "Sure! Here are the objects:\n"
                              "495,43,581,93,575,104,488,55 plane\n"
                              "790,683,862,683,862,718,790,718 smal vehicle\n"
                              "12,34,56 plane\n"
                              "141,304,172,316,155,359,124,347 soccer ball field\n"
                              "100,100,120,100,120,120,100,120 ship\n";
    const auto r = cases[2].codec->decode(messy, dopt);
    std::printf("messy answer: %zu objects, %zu fuzzy-matched, %zu dropped", r.objects.size(), r.fuzzy_matched,
                r.dropped.total());
    for (const auto& kv : r.dropped.counts)
        std::printf(" %s=%zu", kv.first.c_str(), kv.second);
    std::printf("\n");
    for (const auto& d : r.dropped.examples)
        std::printf("  dropped item %zu (%s): %s\n", d.index, d.reason.c_str(), d.excerpt.c_str());
    // "smal vehicle" is matched to small-vehicle; the chatter and the short line are dropped.
    if (r.objects.size() != 4 || r.fuzzy_matched != 1 || r.dropped.total() != 2 ||
        r.dropped.counts.count("too_few_numbers") != 1 || r.objects[1].label_id != 2 || r.objects[3].label_id != 3)
        return failed("messy answer: unexpected objects or drop report");
    std::printf("ok\n");
    return 0;
}
