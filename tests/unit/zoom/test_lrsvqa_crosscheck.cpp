// zoom::lrsvqa::build_zoom_conversation forwards to data::build_lrsvqa_zoom: both entry points must
// reproduce the reference's visual_cot_dataset.get_messages (golden vectors of
// tests/data/builders/lrsvqa_zoom.jsonl, made by tests/data/builders/make_goldens.py).
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <rscovlm/data/lrsvqa.hpp>
#include <rscovlm/zoom/protocol.hpp>

using namespace rscovlm;

TEST_CASE("zoom: LRS-VQA-Zoom record adapter equals the reference's get_messages (golden)") {
    std::ifstream in(std::string(RSCOVLM_TEST_DATA_DIR) + "/builders/lrsvqa_zoom.jsonl");
    REQUIRE(in.good());
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        const nlohmann::json row = nlohmann::json::parse(line);
        nlohmann::json want = row["messages"];
        for (auto& m : want)
            if (m["content"] == "<SYSTEM_PROMPT>") m["content"] = std::string(zoom::system_prompt);
        const int rh = row["resized"].is_null() ? 0 : row["resized"][0].get<int>();
        const int rw = row["resized"].is_null() ? 0 : row["resized"][1].get<int>();
        const auto c =
            zoom::lrsvqa::build_zoom_conversation(row["record"], rw, rh, row["disable_visual_cot"].get<bool>());
        CHECK(c.messages == want);
        CHECK(c.zoom == (want.size() == 5));
        if (c.zoom) {
            const auto& crop = want[3]["content"][0]["crop"];
            CHECK(crop == nlohmann::json{c.crop_window.x0, c.crop_window.y0, c.crop_window.x1, c.crop_window.y1});
            const std::string call = want[2]["content"].get<std::string>();
            CHECK(call.find("[" + std::to_string(c.bbox_call[0]) + ", " + std::to_string(c.bbox_call[1]) + ", " +
                            std::to_string(c.bbox_call[2]) + ", " + std::to_string(c.bbox_call[3]) + "]") !=
                  std::string::npos);
        }
        ++n;
    }
    CHECK(n == 16);
}
