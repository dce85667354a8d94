// LRS-VQA metrics and LRS-VQA-Zoom conversations.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/data/lrsvqa.hpp>
#include <rscovlm/eval/lrsvqa.hpp>
#include <rscovlm/zoom/lrsvqa.hpp>
#include <rscovlm/zoom/protocol.hpp>

using namespace rscovlm;
namespace lv = rscovlm::zoom::lrsvqa;

TEST_CASE("zoom: LRS-VQA answer matching mirrors metric.py") {
    CHECK(lv::normalize_answer("  Yes.. ") == "yes");
    CHECK(lv::normalize_answer(".Dark Gray.") == "dark gray");
    CHECK(lv::is_correct("Yes.", "yes"));
    CHECK_FALSE(lv::is_correct("yes, it is", "yes"));
    CHECK(lv::is_correct("yes, it is", "yes", lv::match_mode::contain));
    // compute_startswith_acc tests gt.startswith(pred).
    CHECK(lv::is_correct("dark", "dark gray", lv::match_mode::startswith));
    CHECK_FALSE(lv::is_correct("dark gray", "dark", lv::match_mode::startswith));
    CHECK_THROWS_AS(lv::parse_match_mode("fuzzy"), eval_error);
}

TEST_CASE("zoom: LRS-VQA scores per source and task") {
    std::vector<lv::item> items{
        {"FAIR_1", "count", "3", "3"},
        {"FAIR_2", "count", "4", "5"},
        {"FAIR_3", "object color", "white", "White."},
        {"STAR_1", "reasoning", "yes", "no"},
        {"GLH_1", "rural or urban", "urban", "urban"},
    };
    auto s = lv::scores(items);
    CHECK(s["overall acc"].get<double>() == doctest::Approx(3.0 / 5));
    CHECK(s["Overall Acc (Source FAIR)"].get<double>() == doctest::Approx(2.0 / 3));
    CHECK(s["Overall Acc (Source STAR)"].get<double>() == doctest::Approx(0.0));
    CHECK(s["Overall Acc (Task count)"].get<double>() == doctest::Approx(0.5));
    CHECK(s["Overall Acc (Task object shape)"].is_null());
    // FAIR: count 0.5, object color 1.0 -> 0.75; all: count .5, color 1, reasoning 0, rural 1 -> 0.625.
    CHECK(s["Average Acc (Source FAIR)"].get<double>() == doctest::Approx(0.75));
    CHECK(s["Average Acc"].get<double>() == doctest::Approx(0.625));
    CHECK(s["count"] == 5);
    CHECK(s["per_category"]["count"]["n"] == 2);
    CHECK(lv::scores({})["overall acc"].is_null());
    CHECK(lv::uses_zoom("object color"));
    CHECK_FALSE(lv::uses_zoom("count"));
}

TEST_CASE("zoom: LRS-VQA-Zoom record to a one-step zoom conversation") {
    auto meta = nlohmann::json::parse(R"({
        "image": "a.tif", "image_ori_width": 4000, "image_ori_height": 3000,
        "question": "What color is the car?", "answer": "white",
        "bbox_info": {"crop_hbox": [[1000.5, 600, 1401, 902.5]]}})");
    auto c = lv::build_zoom_conversation(meta, 1204, 896);
    REQUIRE(c.zoom);
    REQUIRE(c.messages.size() == 5);
    CHECK(c.messages[0]["content"] == std::string(zoom::system_prompt));
    CHECK(c.messages[1]["content"][0]["resized_width"] == 1204);
    CHECK(c.messages[1]["content"][1]["text"] ==
          "What color is the car?\nZoom in to the region of interest and answer the question.");
    // int(1000.5*1204/4000)=301, int(600*896/3000)=179, int(1401*1204/4000)=421, int(902.5*896/3000)=269
    CHECK(c.messages[2]["content"] ==
          "<tool_call>\n{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [301, 179, 421, 269]}}\n</tool_call>");
    CHECK(c.messages[3]["content"][1]["text"] == "Here's the zoomed-in image. You can complete your task now.");
    CHECK(c.messages[4]["content"] == "white");
    // Pillow rounds the crop box half to even: 1000.5 -> 1000, 902.5 -> 902.
    CHECK(c.crop_window.x0 == 1000);
    CHECK(c.crop_window.y1 == 902);

    auto unresized = lv::build_zoom_conversation(meta);
    CHECK(unresized.bbox_call == std::array<long long, 4>{1000, 600, 1401, 902});
}

TEST_CASE("zoom: LRS-VQA-Zoom multiple choice and multi-box records") {
    auto mcq = nlohmann::json::parse(R"({
        "Text": "Which is larger?\n Answer the question using a single word or phrase.",
        "Ground truth": "B", "Answer choices": ["(A) ship", "(B) plane"],
        "image_ori_width": 100, "image_ori_height": 100,
        "bbox_info": {"crop_hbox": [[0, 0, 50, 50], [50, 50, 100, 100]]}})");
    auto c = lv::build_zoom_conversation(mcq, 112, 112);
    CHECK_FALSE(c.zoom);
    REQUIRE(c.messages.size() == 2);
    CHECK(c.messages[0]["content"][1]["text"] ==
          "Which is larger? The choices are listed below: \n(A) ship\n(B) plane\nSelect the best answer to the above "
          "multiple-choice question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct "
          "option.\nThe best answer is:");
    CHECK(c.messages[1]["content"] == "B");
    // rstrip() with a character set eats question words made of those letters (reference quirk).
    CHECK(lv::py_rstrip_chars("Where is the plane\n Answer the question using a single word or phrase.",
                              "\n Answer the question using a single word or phrase.") == "W"); // Python gives 'W'
    auto disabled = lv::build_zoom_conversation(nlohmann::json::parse(R"({"question": "q", "answer": "a",
        "bbox_info": {"crop_hbox": [[0, 0, 5, 5]]}})"),
                                                0, 0, true);
    CHECK_FALSE(disabled.zoom);
    CHECK_THROWS_AS(lv::build_zoom_conversation(nlohmann::json::parse(R"({"question": "q"})")), data_error);
    CHECK_THROWS_AS(lv::build_zoom_conversation(nlohmann::json::parse(R"({"question": "q", "answer": "a",
        "bbox_info": {"crop_hbox": [[0, 0, 5]]}})")),
                    data_error);
}
