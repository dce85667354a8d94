// The zoom module's LRS-VQA-Zoom builder and the data engine's must produce the same conversation text.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/data/builders.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/zoom/lrsvqa.hpp>

using namespace rscovlm;

namespace {
// Role + text of every message (image items reduced to "<image>").
std::vector<std::string> texts(const nlohmann::json& msgs) {
    std::vector<std::string> out;
    for (const auto& m : msgs) {
        std::string s = m["role"].get<std::string>() + ": ";
        if (m["content"].is_string()) {
            s += m["content"].get<std::string>();
        } else {
            for (const auto& it : m["content"]) s += it["type"] == "image" ? std::string("<image>") : it["text"].get<std::string>();
        }
        out.push_back(s);
    }
    return out;
}
} // namespace

TEST_CASE("zoom: LRS-VQA-Zoom conversations agree with the data engine's builder") {
    const nlohmann::json records = nlohmann::json::parse(R"([
      {"image": "a.tif", "image_ori_width": 4000, "image_ori_height": 3000, "question": "What color is the car?",
       "answer": "white", "bbox_info": {"crop_hbox": [[1000.5, 600, 1401, 902.5]]}},
      {"image": "b.tif", "image_ori_width": 10000, "image_ori_height": 2600, "Text": "Which is larger?\n Answer the question using a single word or phrase.",
       "Ground truth": "B", "Answer choices": ["(A) ship", "(B) plane"], "bbox_info": {"crop_hbox": [[7, 9, 3100.7, 2599]]}},
      {"image": "c.tif", "image_ori_width": 900, "image_ori_height": 900, "question": "How many?", "answer": "2",
       "bbox_info": {"crop_hbox": [[0, 0, 5, 5], [10, 10, 50, 50]]}}
    ])");
    for (const auto& r : records) {
        data::vqa_record v;
        v.image = r["image"];
        v.width = r["image_ori_width"];
        v.height = r["image_ori_height"];
        v.multiple_choice = r.contains("Text");
        v.question = v.multiple_choice ? r["Text"] : r["question"];
        v.answer = v.multiple_choice ? r["Ground truth"] : r["answer"];
        if (v.multiple_choice)
            for (const auto& c : r["Answer choices"]) v.choices.push_back(c);
        for (const auto& b : r["bbox_info"]["crop_hbox"]) v.crop_hbox.push_back({b[0], b[1], b[2], b[3]});
        data::build_options opt;
        data::python_random rng(0);
        const data::conversation theirs = data::build_lrsvqa_zoom(v, opt, rng);
        const auto rs = resolution::smart_resize(v.height, v.width, opt.resize.factor, opt.resize.min_pixels,
                                                 opt.resize.max_pixels);
        const auto mine = zoom::lrsvqa::build_zoom_conversation(r, rs.width, rs.height);
        CHECK(texts(nlohmann::json::parse(theirs.messages.dump())) == texts(mine.messages));
        if (mine.zoom) {
            REQUIRE(theirs.images.size() == 2);
            REQUIRE(theirs.images[1].crop.has_value());
            const auto& c = *theirs.images[1].crop;
            CHECK(c[0] == mine.crop_window.x0);
            CHECK(c[1] == mine.crop_window.y0);
            CHECK(c[2] == mine.crop_window.x1);
            CHECK(c[3] == mine.crop_window.y1);
        }
    }
}
