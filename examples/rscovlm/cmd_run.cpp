// `rscovlm run --preset NAME|FILE`: the pipeline a preset names, run end to end on images with a
// generation backend (`pipeline::run`: detection, grounding or Zoom-in VQA).
//
//   rscovlm run --preset dota-quad-detection --image scene.png --classes plane,ship --backend openai
//   rscovlm run --preset refgeo-grounding --image a.png --query "the white car" --backend scripted --reply "..."
//   rscovlm run --preset lrsvqa-zoom < questions.jsonl    {"image", "question"} per line, one result per line
//
// The backend is the preset's `backend` component when it has one and no backend flag is given,
// otherwise the flags' (`--backend`, as in `rscovlm zoom run`). `--backend torch` runs in rscovlm-torch.
#include "cli.hpp"

#include <rscovlm/io/image_io.hpp>
#include <rscovlm/pipeline/run.hpp>
#include <rscovlm/zoom/builtin.hpp>

#include <filesystem>
#include <memory>

namespace rscovlm::cli {

namespace {

struct pipeline_run_args {
    std::string preset, image, classes, query, question, png;
    backend_args backend;
};

/// One run: `in` holds "image" and the task's inputs ("classes" list or comma string, "query", "question").
nlohmann::json run_one(const pipeline::pipeline& p, zoom::backend& model, const nlohmann::json& in,
                       const zoom::generation_options& generation, const std::string& png,
                       std::optional<box_codec::score_rule> box_scores, bool constrain) {
    const std::string path = in.at("image").get<std::string>();
    const image img = io::load_image(path);
    pipeline::run_request req;
    req.generation = generation;
    req.box_scores = box_scores;
    req.constrain = constrain;
    if (in.contains("classes")) {
        const auto& c = in.at("classes");
        req.classes = c.is_string() ? split_list(c.get<std::string>()) : c.get<std::vector<std::string>>();
    }
    if (in.contains("query")) req.query = in.at("query").get<std::string>();
    if (in.contains("question")) req.question = in.at("question").get<std::string>();
    nlohmann::json j = pipeline::run(p, img, model, req);
    j["image"] = path;
    j["preset"] = p.name();
    if (!png.empty() && j.at("task") != "vqa") {
        // Boxes drawn on the original image: the detections, or the grounding box.
        image canvas = imaging::to_rgb(img);
        const auto kind = p.get<box_codec::kind>().kind();
        std::vector<box_codec::object> objects;
        if (j.at("task") == "detection") {
            objects = j.at("objects").get<std::vector<box_codec::object>>();
        } else if (j.at("box").is_array()) {
            box_codec::object o;
            o.coords = j.at("box").get<std::vector<double>>();
            o.label = req.query;
            o.label_id = 0;
            objects.push_back(std::move(o));
        }
        pipeline::draw_objects(canvas, objects, j.at("task") == "detection" ? kind : box_codec::box_kind::hbb);
        io::save_png(png, canvas);
        j["png"] = png;
    }
    return j;
}

} // namespace

/// A preset file, or a name in the bundled `registry/presets` folder (".json" optional).
std::string preset_path(const std::string& name) {
    namespace fs = std::filesystem;
    if (fs::is_regular_file(name)) return name;
#ifdef RSCOVLM_PRESETS_DIR
    const std::string file = name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0 ? name : name + ".json";
    const fs::path bundled = fs::path(RSCOVLM_PRESETS_DIR) / file;
    if (fs::is_regular_file(bundled)) return bundled.string();
#endif
    RSCOVLM_THROW(usage_error, "no_preset", "no preset file or bundled preset named '" + name + "'");
}

void register_pipeline(CLI::App& app, context& ctx) {
    auto a = std::make_shared<pipeline_run_args>();
    CLI::App* cmd = app.add_subcommand(
        "run", "Run a preset's pipeline (detection, grounding, Zoom-in VQA) on an image, or on JSON Lines "
               "{\"image\", \"classes\"|\"query\"|\"question\"} from stdin (one result line each)");
    cmd->add_option("--preset", a->preset, "Preset file, or the name of a bundled preset (registry/presets)")
        ->required();
    cmd->add_option("--image", a->image, "Image to run on (without it: JSON Lines on stdin)");
    cmd->add_option("--classes", a->classes, "Detection: class names, comma-separated (empty: labels as written)");
    cmd->add_option("--query", a->query, "Grounding: the referring expression");
    cmd->add_option("--question", a->question, "VQA: the question");
    cmd->add_option("--png", a->png, "With --image: write the image with the boxes drawn here");
    add_backend_options(cmd, a->backend);
    cmd->callback([a, cmd, &ctx] {
        const auto p = pipeline::pipeline::from_file(preset_path(a->preset));
        pipeline::task_of(p); // a preset with nothing to run fails before any work
        std::unique_ptr<zoom::backend> flagged;
        zoom::backend* model = nullptr;
        if (p.has<zoom::backend_kind>() && !a->backend.given(*cmd)) {
            model = &p.get<zoom::backend_kind>();
        } else {
            flagged = make_backend(a->backend);
            model = flagged.get();
        }
        const zoom::generation_options g = a->backend.generation();
        if (!a->image.empty()) {
            nlohmann::json in = {{"image", a->image}};
            if (!a->classes.empty()) in["classes"] = a->classes;
            if (!a->query.empty()) in["query"] = a->query;
            if (!a->question.empty()) in["question"] = a->question;
            (*ctx.out) << run_one(p, *model, in, g, a->png, a->backend.box_score_rule(), a->backend.constrain)
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                       << "\n";
            return;
        }
        if (!a->png.empty()) RSCOVLM_THROW(usage_error, "png_needs_image", "--png needs --image");
        run_jsonl(ctx, [&](const nlohmann::json& in) {
            nlohmann::json line = in;
            if (!line.is_object()) RSCOVLM_THROW(usage_error, "bad_field", "each line must be an object");
            if (!line.contains("classes") && !a->classes.empty()) line["classes"] = a->classes;
            if (!line.contains("query") && !a->query.empty()) line["query"] = a->query;
            if (!line.contains("question") && !a->question.empty()) line["question"] = a->question;
            return run_one(p, *model, line, g, "", a->backend.box_score_rule(), a->backend.constrain);
        });
    });
}

} // namespace rscovlm::cli
