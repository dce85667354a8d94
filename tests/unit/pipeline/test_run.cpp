// Unit tests: runnable pipelines (`pipeline::run`) on the shipped presets with a scripted backend.
#include <doctest/doctest.h>

#include <rscovlm/pipeline/run.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace {

const std::string presets_dir = std::string(RSCOVLM_TEST_DATA_DIR) + "/../../registry/presets/";

rscovlm::image gradient(int w, int h) {
    rscovlm::image img(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                img.at(x, y, c) = static_cast<std::uint8_t>((x * (c + 1) + y * (3 - c)) & 255);
    return img;
}

std::string error_id_of(const std::function<void()>& f) {
    auto r = rscovlm::try_call([&] {
        f();
        return 0;
    });
    return r.ok() ? std::string() : r.error().id;
}

} // namespace

TEST_CASE("pipeline: the dota-quad-detection preset runs end to end (plan, prompts, decode to the original frame)") {
    using namespace rscovlm;
    const auto p = pipeline::pipeline::from_file(presets_dir + "dota-quad-detection.json");
    CHECK(pipeline::task_of(p) == pipeline::task::detection);
    const image img = gradient(300, 200);
    // The det budget (256..1296 * 28^2) upsizes a 300x200 image.
    const resolution::plan plan = p.get<resolution::kind>().plan_size(200, 300);
    CHECK(plan.resized_width * plan.resized_height >= 256 * 28 * 28);
    // The model answers in its (resized) frame: two planes and a garbage line.
    const double sx = static_cast<double>(plan.resized_width) / 300.0,
                 sy = static_cast<double>(plan.resized_height) / 200.0;
    auto q = [&](double x0, double y0, double x1, double y1) {
        return std::to_string(static_cast<int>(x0 * sx)) + "," + std::to_string(static_cast<int>(y0 * sy)) + "," +
               std::to_string(static_cast<int>(x1 * sx)) + "," + std::to_string(static_cast<int>(y0 * sy)) + "," +
               std::to_string(static_cast<int>(x1 * sx)) + "," + std::to_string(static_cast<int>(y1 * sy)) + "," +
               std::to_string(static_cast<int>(x0 * sx)) + "," + std::to_string(static_cast<int>(y1 * sy));
    };
    const std::string answer = q(10, 20, 60, 50) + " plane\n" + q(100, 100, 150, 180) + " plane\n@@ not a box\n";
    zoom::scripted_backend model({answer});
    pipeline::run_request req;
    req.classes = {"plane", "ship"};
    const nlohmann::json j = pipeline::run(p, img, model, req);
    CAPTURE(j.dump());
    CHECK(j.at("task") == "detection");
    CHECK(j.at("plan").at("resized_size").at("width") == plan.resized_width);
    CHECK(j.at("text") == answer);
    // The backend saw the codec's prompts and the model view at the plan's size.
    REQUIRE(model.requests().size() == 1);
    const auto& rq = model.requests().front();
    REQUIRE(rq.image_sizes.size() == 1);
    CHECK(rq.image_sizes[0] == std::make_pair(plan.resized_width, plan.resized_height));
    const auto& codec = p.get<box_codec::kind>();
    CHECK(rq.messages.at(0).at("content") == codec.system_prompt());
    CHECK(rq.messages.back().at("content").at(1).at("text") == codec.user_prompt(req.classes));
    // Boxes back in the original frame, garbage reported, never thrown.
    const auto& objs = j.at("objects");
    REQUIRE(objs.size() == 2);
    CHECK(objs[0].at("label") == "plane");
    // int(v * resized / orig) in the answer, `v * orig / resized` back (dense_det.py).
    CHECK(objs[0].at("coords").at(0).get<double>() == static_cast<int>(10 * sx) * 300.0 / plan.resized_width);
    CHECK(objs[1].at("coords").at(5).get<double>() == static_cast<int>(180 * sy) * 200.0 / plan.resized_height);
    CHECK(j.at("dropped").at("total").get<int>() >= 1);
}

TEST_CASE("pipeline: the refgeo-grounding preset grounds one expression (RSCoVLM prompt, resize_bbox mapping)") {
    using namespace rscovlm;
    const auto p = pipeline::pipeline::from_file(presets_dir + "refgeo-grounding.json");
    CHECK(pipeline::task_of(p) == pipeline::task::grounding);
    const image img = gradient(640, 480);
    const resolution::plan plan = p.get<resolution::kind>().plan_size(480, 640);
    zoom::scripted_backend model({"56,28,112,84 the red car\n"});
    pipeline::run_request req;
    req.query = "the red car";
    const nlohmann::json j = pipeline::run(p, img, model, req);
    CAPTURE(j.dump());
    CHECK(j.at("prompt") == "find the the red car");
    REQUIRE(j.at("box").is_array());
    const auto f = plan.frames();
    CHECK(j.at("box").at(0).get<double>() == f.to_original_x_div_first(56));
    CHECK(j.at("box").at(3).get<double>() == f.to_original_y_div_first(84));
    // Garbage: no box, a drop report, no throw.
    zoom::scripted_backend garbage({"I cannot see it."});
    const nlohmann::json g = pipeline::run(p, img, garbage, req);
    CHECK(g.at("box").is_null());
    // A grounding run needs a query.
    req.query.clear();
    CHECK(error_id_of([&] { pipeline::run(p, img, model, req); }) == "rscovlm.usage.no_query");
}

TEST_CASE("pipeline: the lrsvqa-zoom preset runs the Zoom-in Chain; task errors are typed") {
    using namespace rscovlm;
    const auto p = pipeline::pipeline::from_file(presets_dir + "lrsvqa-zoom.json");
    CHECK(pipeline::task_of(p) == pipeline::task::vqa);
    const image img = gradient(512, 384);
    zoom::scripted_backend model(
        {"<tool_call>{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [10, 10, 200, 200]}}</tool_call>",
         "The answer is two."});
    pipeline::run_request req;
    req.question = "How many ships?";
    const nlohmann::json j = pipeline::run(p, img, model, req);
    CAPTURE(j.dump());
    CHECK(j.at("task") == "vqa");
    CHECK(j.at("answer") == "The answer is two.");
    CHECK(j.at("answered") == true);
    CHECK(model.requests().size() == 2);
    req.question.clear();
    CHECK(error_id_of([&] { pipeline::run(p, img, model, req); }) == "rscovlm.usage.no_question");
    // A preset with nothing to run, and an unknown task.
    const auto none = pipeline::pipeline::from_string(
        R"({"name": "t", "components": [{"kind": "metric", "key": "metric.vqa.exact"}]})");
    CHECK(error_id_of([&] { pipeline::task_of(none); }) == "rscovlm.config.not_runnable");
    const auto bad = pipeline::pipeline::from_string(R"({"name": "t", "task": "dance", "components": []})");
    CHECK(error_id_of([&] { pipeline::task_of(bad); }) == "rscovlm.config.bad_task");
    CHECK(pipeline::pipeline::from_json(p.to_json()).task() == "vqa");
}

TEST_CASE("pipeline: JSON conversions live next to their types (ADL)") {
    using namespace rscovlm;
    box_codec::decode_result r;
    box_codec::object ship;
    ship.coords = {1, 2, 3, 4};
    ship.label = "ship";
    ship.label_id = 1;
    r.objects.push_back(ship);
    r.dropped.add("bad_number", 3, "x,y oops");
    const nlohmann::json j = r;
    CHECK(j.at("objects").at(0).at("label") == "ship");
    CHECK(j.at("objects").at(0).get<box_codec::object>().coords == std::vector<double>{1, 2, 3, 4});
    CHECK(j.at("dropped").at("counts").at("bad_number") == 1);
    CHECK(j.at("dropped").at("examples").at(0).at("index") == 3);
    zoom::trace t;
    t.stop_reason = "answered";
    CHECK(nlohmann::json(t) == zoom::to_json(t));
    eval::sweep_result s;
    CHECK(nlohmann::json(s) == eval::to_json(s));
    const resolution::plan p = resolution::make_plan(100, 200, resolution::size{112, 224}, 3136, 1003520);
    const nlohmann::json pj = p;
    CHECK(pj.at("resized_size").at("width") == 224);
    CHECK(pj.at("grid_thw") == nlohmann::json::array({1, 8, 16}));
    CHECK(pj.at("tokens") == 32);
}
