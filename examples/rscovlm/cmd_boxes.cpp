// Subcommands of the geometry and box_codec modules:
//   rscovlm geom min-area-rect   {"points": [[x, y], ...], "dtype": "float32"|"int32"}
//   rscovlm geom convert         {"from": "quad"|"hbb"|"rbox", "to": ..., "box": [...], "convention": "le90",
//   "degrees": false} rscovlm boxes encode --codec KEY   {"objects": [{"bbox"|"poly", "label"}], "orig_size",
//   "resized_size", "classes"} rscovlm boxes decode --codec KEY   {"text", "orig_size", "resized_size", "classes",
//   "fuzzy"}
#include "cli.hpp"

#include <rscovlm/box_codec/all.hpp>
#include <rscovlm/geometry/all.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/resolution/smart_resize.hpp>

#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace rscovlm::cli {

namespace {

using nlohmann::json;
namespace geo = rscovlm::geometry;
namespace bc = rscovlm::box_codec;

std::vector<double> numbers(const json& j, const char* what) {
    if (!j.is_array()) RSCOVLM_THROW(usage_error, "bad_field", std::string(what) + " must be an array of numbers");
    std::vector<double> v;
    for (const auto& x : j) {
        if (!x.is_number()) RSCOVLM_THROW(usage_error, "bad_field", std::string(what) + " must hold numbers only");
        v.push_back(x.get<double>());
    }
    return v;
}

json min_area_rect_line(const json& in) {
    const std::string dtype = in.value("dtype", std::string("float32"));
    if (!in.contains("points") || !in["points"].is_array())
        RSCOVLM_THROW(usage_error, "bad_field", "\"points\" must be an array of [x, y] pairs");
    std::vector<double> flat;
    for (const auto& p : in["points"]) {
        const auto v = numbers(p, "each point");
        if (v.size() != 2) RSCOVLM_THROW(usage_error, "bad_field", "each point must be [x, y]");
        flat.push_back(v[0]);
        flat.push_back(v[1]);
    }
    result<geo::rotated_rect> r = geo::rotated_rect{};
    if (dtype == "float32") {
        std::vector<geo::point_f32> pts;
        for (std::size_t i = 0; i < flat.size(); i += 2)
            pts.push_back(geo::point_f32{static_cast<float>(flat[i]), static_cast<float>(flat[i + 1])});
        r = geo::try_min_area_rect(pts);
    } else if (dtype == "int32") {
        // integers are wrapped to int32 (the binding's cast); floats are truncated first (astype(int))
        std::vector<geo::point_i32> pts;
        for (const auto& p : in["points"]) {
            auto as_i32 = [](const json& x) {
                if (x.is_number_integer()) {
                    if (x.is_number_unsigned())
                        return geo::wrap_int32(static_cast<std::int64_t>(x.get<std::uint64_t>()));
                    return geo::wrap_int32(x.get<std::int64_t>());
                }
                return geo::wrap_int32(::rscovlm::detail::py::int_trunc(x.get<double>()));
            };
            pts.push_back(geo::point_i32{as_i32(p[0]), as_i32(p[1])});
        }
        r = geo::try_min_area_rect(pts);
    } else {
        RSCOVLM_THROW(usage_error, "bad_field", "\"dtype\" must be \"float32\" or \"int32\", got \"" + dtype + "\"");
    }
    if (!r) return json{{"error", r.error().what()}};
    const auto& rr = r.value();
    const geo::obb_deg o = geo::rscovlm_obb(rr);
    const auto t = geo::truncate(o);
    return json{{"center", {static_cast<double>(rr.cx), static_cast<double>(rr.cy)}},
                {"size", {static_cast<double>(rr.w), static_cast<double>(rr.h)}},
                {"angle", static_cast<double>(rr.angle)},
                {"obb", {o.cx, o.cy, o.w, o.h, o.a}},
                {"obb_int", {t[0], t[1], t[2], t[3], t[4]}}};
}

json convert_line(const json& in) {
    const std::string from = in.at("from").get<std::string>(), to = in.at("to").get<std::string>();
    const auto conv = geo::parse_angle_convention(in.value("convention", std::string("le90")));
    const bool deg = in.value("degrees", false);
    const auto v = numbers(in.at("box"), "\"box\"");
    auto need = [&](std::size_t n) {
        if (v.size() != n)
            RSCOVLM_THROW(usage_error, "bad_field",
                          "\"box\" of kind " + from + " needs " + std::to_string(n) + " values, got " +
                              std::to_string(v.size()));
    };
    geo::quad q{};
    geo::rbox rb{};
    geo::hbox hb{};
    if (from == "quad") {
        need(8);
        q = geo::quad_from_flat(v.data());
    } else if (from == "hbb") {
        need(4);
        hb = geo::hbox{v[0], v[1], v[2], v[3]};
    } else if (from == "rbox") {
        need(5);
        rb = geo::rbox{v[0], v[1], v[2], v[3], deg ? geo::deg2rad(v[4]) : v[4]};
    } else {
        RSCOVLM_THROW(usage_error, "bad_field", "\"from\" must be quad, hbb or rbox, got \"" + from + "\"");
    }
    json out;
    if (to == "quad") {
        const geo::quad o = from == "quad" ? q : from == "hbb" ? geo::hbox_to_quad(hb) : geo::rbox_to_quad(rb);
        out = geo::flat(o);
    } else if (to == "hbb") {
        const geo::hbox o = from == "quad" ? geo::quad_to_hbox(q) : from == "hbb" ? hb : geo::rbox_to_hbox(rb);
        out = {o.x1, o.y1, o.x2, o.y2};
    } else if (to == "rbox") {
        geo::rbox o = from == "quad"  ? geo::quad_to_rbox(q, conv)
                      : from == "hbb" ? geo::regularize(geo::hbox_to_rbox(hb), conv)
                                      : geo::regularize(rb, conv);
        if (deg) o = geo::rbox_rad_to_deg(o);
        out = {o.cx, o.cy, o.w, o.h, o.theta};
    } else {
        RSCOVLM_THROW(usage_error, "bad_field", "\"to\" must be quad, hbb or rbox, got \"" + to + "\"");
    }
    return json{{"box", out}};
}

geo::frame read_frame(const json& in) {
    geo::frame f;
    if (in.contains("orig_size")) {
        const auto v = numbers(in["orig_size"], "\"orig_size\"");
        if (v.size() != 2) RSCOVLM_THROW(usage_error, "bad_field", "\"orig_size\" must be [width, height]");
        f.orig_width = static_cast<int>(v[0]);
        f.orig_height = static_cast<int>(v[1]);
    }
    if (in.contains("resized_size")) {
        const auto v = numbers(in["resized_size"], "\"resized_size\"");
        if (v.size() != 2) RSCOVLM_THROW(usage_error, "bad_field", "\"resized_size\" must be [width, height]");
        f.resized_width = static_cast<int>(v[0]);
        f.resized_height = static_cast<int>(v[1]);
    }
    return f;
}

std::vector<std::string> read_classes(const json& in) {
    std::vector<std::string> c;
    if (in.contains("classes"))
        for (const auto& x : in.at("classes"))
            c.push_back(x.get<std::string>());
    return c;
}

json encode_line(const bc::codec& c, const json& in) {
    bc::encode_options o;
    o.frame = read_frame(in);
    o.classes = read_classes(in);
    std::vector<bc::annotation> anns;
    for (const auto& obj : in.at("objects")) {
        bc::annotation a;
        a.label = obj.at("label").get<std::string>();
        if (obj.contains("bbox")) {
            const auto v = numbers(obj["bbox"], "\"bbox\"");
            if (v.size() != 4) RSCOVLM_THROW(usage_error, "bad_field", "\"bbox\" must be [x1, y1, x2, y2]");
            a.bbox = geo::hbox{v[0], v[1], v[2], v[3]};
        }
        if (obj.contains("poly")) a.polygon = numbers(obj["poly"], "\"poly\"");
        anns.push_back(std::move(a));
    }
    return json{{"text", c.encode(anns, o)}, {"system", c.system_prompt()}, {"prompt", c.user_prompt(o.classes)}};
}

json decode_line(const bc::codec& c, const json& in) {
    bc::decode_options o;
    o.frame = read_frame(in);
    o.classes = read_classes(in);
    o.fuzzy = in.value("fuzzy", true);
    o.fuzzy_cutoff = in.value("fuzzy_cutoff", 0.0);
    const auto r = c.decode(in.at("text").get<std::string>(), o);
    json boxes = json::array(), labels = json::array(), ids = json::array();
    for (const auto& ob : r.objects) {
        boxes.push_back(ob.coords);
        labels.push_back(ob.label);
        ids.push_back(ob.label_id);
    }
    json dropped = json::object();
    for (const auto& kv : r.dropped.counts)
        dropped[kv.first] = kv.second;
    return json{{"boxes", boxes},
                {"labels", labels},
                {"label_ids", ids},
                {"dropped", dropped},
                {"fuzzy_matched", r.fuzzy_matched}};
}

std::unique_ptr<bc::codec> make_codec(const std::string& key) {
    return registry::make<bc::kind>(key, json::object());
}

} // namespace

void register_box_codec(CLI::App& app, context& ctx) {
    CLI::App& geom = subcommand(app, "geom", "Geometry: IoU, min-area rectangles, conversions");
    CLI::App* mar = geom.add_subcommand(
        "min-area-rect", "cv2.minAreaRect (OpenCV 4.6) + RSCoVLM's OBB rule; JSON Lines {points, dtype}");
    mar->callback([&ctx] { run_jsonl(ctx, min_area_rect_line); });
    CLI::App* conv = geom.add_subcommand(
        "convert", "Convert boxes between hbb / rbox / quad; JSON Lines {from, to, box, convention, degrees}");
    conv->callback([&ctx] { run_jsonl(ctx, convert_line); });

    CLI::App& boxes = subcommand(app, "boxes", "Encode boxes as answer text and decode model answers");
    auto codec_key = std::make_shared<std::string>("codec.quad.plain");
    std::string keys;
    for (auto k : registry::keys<bc::builtin>())
        keys += (keys.empty() ? "" : ", ") + std::string(k);
    CLI::App* enc =
        boxes.add_subcommand("encode", "Boxes -> answer text; JSON Lines {objects, orig_size, resized_size, classes}");
    enc->add_option("--codec", *codec_key, "codec key (" + keys + ")");
    enc->callback([&ctx, codec_key] {
        std::unique_ptr<bc::codec> c;
        try {
            c = make_codec(*codec_key);
        } catch (const rscovlm::error& e) {
            fail(e);
            ctx.exit_code = 2;
            return;
        }
        run_jsonl(ctx, [&](const json& in) { return encode_line(*c, in); });
    });
    CLI::App* dec =
        boxes.add_subcommand("decode", "Answer text -> boxes; JSON Lines {text, orig_size, resized_size, classes}");
    dec->add_option("--codec", *codec_key, "codec key (" + keys + ")");
    dec->callback([&ctx, codec_key] {
        std::unique_ptr<bc::codec> c;
        try {
            c = make_codec(*codec_key);
        } catch (const rscovlm::error& e) {
            fail(e);
            ctx.exit_code = 2;
            return;
        }
        run_jsonl(ctx, [&](const json& in) { return decode_line(*c, in); });
    });
}

void demo_box_codec(demo_context& d) {
    // A sample scene from the data module when present, else a small drawn one.
    rscovlm::image img(512, 384, 3);
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
            for (int ch = 0; ch < 3; ++ch)
                img.at(x, y, ch) = static_cast<std::uint8_t>(ch == 1 ? 110 + (x + y) % 20 : 90 + (x * y) % 13);
    std::vector<bc::annotation> anns;
    std::vector<std::string> classes = {"plane", "ship", "small-vehicle", "storage-tank"};
#ifdef RSCOVLM_CLI_HAS_SCENES
    if (!d.scenes.empty()) {
        img = d.scenes.front().image;
        classes.clear();
        for (const auto& o : d.scenes.front().objects) {
            bc::annotation a;
            a.label = o.label;
            a.polygon = geo::flat(o.poly);
            anns.push_back(a);
            bool seen = false;
            for (const auto& c : classes)
                seen = seen || c == o.label;
            if (!seen) classes.push_back(o.label);
        }
    }
#endif
    if (anns.empty()) {
        anns = {{std::nullopt, {60, 40, 180, 70, 160, 140, 40, 110}, "plane"},
                {std::nullopt, {300, 200, 420, 200, 420, 250, 300, 250}, "ship"},
                {std::nullopt, {250, 60, 290, 80, 280, 100, 240, 80}, "small-vehicle"}};
    }
    // the frame Qwen2.5-VL sees (smart_resize with the default budget)
    const auto s = resolution::smart_resize(img.height, img.width);
    bc::encode_options eo;
    eo.classes = classes;
    eo.frame = geo::frame{img.width, img.height, s.width, s.height};
    bc::plain_quad codec;
    std::string answer;
    try {
        answer = codec.encode(anns, eo);
    } catch (const rscovlm::error& e) {
        d.out << "boxes: could not encode the sample scene: " << e.what() << "\n";
        return;
    }
    // A model answer: the encoded text with one line damaged and a misspelt label.
    answer += "12,34,56 plane\nthis is not a box\n";
    bc::decode_options dopt;
    dopt.classes = classes;
    dopt.frame = eo.frame;
    const auto r = codec.decode(answer, dopt);
    d.out << "boxes: decoded " << r.objects.size() << " quadrilaterals with " << codec.name() << " from a "
          << answer.size() << "-byte answer (" << r.dropped.total() << " lines dropped";
    for (const auto& kv : r.dropped.counts)
        d.out << ", " << kv.first << "=" << kv.second;
    d.out << ")\n";
    const rscovlm::imaging::rgb colors[4] = {{255, 64, 64}, {64, 255, 64}, {64, 160, 255}, {255, 220, 0}};
    for (const auto& ob : r.objects) {
        const geo::quad q = geo::quad_from_flat(ob.coords.data());
        draw_polygon(img, q, colors[static_cast<std::size_t>(ob.label_id < 0 ? 0 : ob.label_id) % 4], 2);
    }
    if (!d.out_dir.empty()) {
        const std::string path = d.out_dir + "/box_codec_decoded.png";
        try {
            io::save_png(path, img);
            d.out << "boxes: wrote " << path << "\n";
        } catch (const rscovlm::error& e) {
            d.out << "boxes: could not write the PNG: " << e.what() << "\n";
        }
    }
}

} // namespace rscovlm::cli
