// The OpenAI-compatible server over test backends, driven by rscovlm's own OpenAI client and by raw
// HTTP on 127.0.0.1.
#include <doctest/doctest.h>

#include <rscovlm/io/openai_server.hpp>

#if RSCOVLM_HAS_HTTPLIB

#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/box_codec/scores.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/openai_backend.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace rscovlm;

namespace {

/// A gate a backend waits at before its first token (a prefill nothing interrupts), until the test
/// opens it (or 20 s pass).
struct srv_gate {
    std::mutex mu;
    std::condition_variable cv, arrived;
    bool open = false;
    int waiting = 0;
    void wait() {
        std::unique_lock<std::mutex> lock(mu);
        ++waiting;
        arrived.notify_all();
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return open; });
        --waiting;
    }
    /// Waiters once `n` are there or 5 s have passed (a generation thread may reach the gate late on a
    /// loaded machine; one that had already passed it never comes back).
    int waiters_reaching(int n) {
        std::unique_lock<std::mutex> lock(mu);
        arrived.wait_for(lock, std::chrono::seconds(5), [&] { return waiting >= n; });
        return waiting;
    }
    void release() {
        {
            std::lock_guard<std::mutex> lock(mu);
            open = true;
        }
        cv.notify_all();
    }
};

/// A backend answering `reply` one character per token, each with log-probability -0.1 * (position
/// + 1), streaming through on_text and sleeping `delay_ms` per token; it records what it was given.
struct srv_echo_backend : zoom::backend {
    std::string reply;
    int delay_ms = 0;
    std::shared_ptr<srv_gate> prefill; ///< when set, waited at before the first token
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<nlohmann::json> last_messages = std::make_shared<nlohmann::json>();
    std::shared_ptr<std::vector<image>> last_images = std::make_shared<std::vector<image>>();
    bool takes_video = true;
    std::shared_ptr<std::vector<zoom::video_frames>> last_videos = std::make_shared<std::vector<zoom::video_frames>>();
    zoom::usage u;
    std::vector<zoom::token_logprob> lps;

    std::string generate(const nlohmann::json& messages, const std::vector<image>& images,
                         const zoom::generation_options& o) override {
        ++*calls;
        *last_messages = messages;
        *last_images = images;
        lps.clear();
        u = {};
        std::string out;
        const std::size_t limit = std::min<std::size_t>(reply.size(), static_cast<std::size_t>(o.max_new_tokens));
        u.finish_reason = limit < reply.size() ? "length" : "stop";
        if (prefill) prefill->wait();
        for (std::size_t i = 0; i < limit; ++i) {
            if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
            zoom::token_logprob t;
            t.text = reply.substr(i, 1);
            t.logprob = -0.1 * static_cast<double>(i + 1);
            if (o.logprobs > 0) t.top = {{t.text, t.logprob}, {"?", -5.0}};
            out += t.text;
            std::size_t cut = std::string::npos;
            for (const auto& s : o.stop)
                cut = std::min(cut, out.find(s));
            if (cut != std::string::npos) {
                out.erase(cut);
                u.finish_reason = "stop";
                break;
            }
            lps.push_back(t);
            if (o.on_text && !o.on_text(t.text, o.logprobs >= 0 ? std::vector<zoom::token_logprob>{t}
                                                                : std::vector<zoom::token_logprob>{})) {
                u.finish_reason = "cancelled";
                break;
            }
        }
        u.prompt_tokens = 7;
        u.completion_tokens = static_cast<long>(lps.size());
        if (o.logprobs < 0) lps.clear();
        return out;
    }
    std::string generate_with_video(const nlohmann::json& messages, const std::vector<image>& images,
                                    const std::vector<zoom::video_frames>& videos,
                                    const zoom::generation_options& o) override {
        if (!takes_video) return zoom::backend::generate_with_video(messages, images, videos, o);
        *last_videos = videos;
        return generate(messages, images, o);
    }
    zoom::usage last_usage() const override { return u; }
    std::vector<zoom::token_logprob> last_logprobs() const override { return lps; }
};

/// A server over srv_echo_backend on a free port of 127.0.0.1.
struct srv_fixture {
    srv_echo_backend proto;
    io::server_options opt;
    std::unique_ptr<io::openai_server> server;
    std::string base;

    explicit srv_fixture(std::string reply, io::server_options o = {}) : opt(std::move(o)) {
        proto.reply = std::move(reply);
        opt.host = "127.0.0.1";
        opt.port = 0;
        if (opt.model_name == "rscovlm") opt.model_name = "test-model";
    }
    void start() {
        server = std::make_unique<io::openai_server>(
            [this]() -> std::unique_ptr<zoom::backend> { return std::make_unique<srv_echo_backend>(proto); }, opt);
        server->start();
        base = "http://127.0.0.1:" + std::to_string(server->port()) + "/v1";
    }
    io::openai_backend client(double timeout_s = 30) {
        io::openai_options co;
        co.endpoint = base;
        co.max_retries = 0;
        co.timeout_s = timeout_s;
        return io::openai_backend(co);
    }
    /// Posts `body` from another thread and stops the server while it is answered: whether the request
    /// was active when `stop` began, and the response (status 0 when none came).
    struct stopped_request {
        bool was_active = false;
        int status = 0;
        std::string body;
    };
    stopped_request stop_during(const std::string& body) {
        stopped_request out;
        std::thread t([&] {
            auto r = post(body);
            if (r) {
                out.status = r->status;
                out.body = r->body;
            }
        });
        for (int i = 0; i < 400 && server->active() == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        out.was_active = server->active() == 1;
        server->stop();
        t.join();
        return out;
    }
    httplib::Result post(const std::string& body, const std::string& path = "/v1/chat/completions",
                         const std::string& key = "") {
        httplib::Client c("127.0.0.1", server->port());
        c.set_read_timeout(30, 0);
        httplib::Headers h;
        if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
        return c.Post(path.c_str(), h, body, "application/json");
    }
};

nlohmann::json srv_user(const std::string& text) {
    return nlohmann::json::array({{{"role", "user"}, {"content", text}}});
}

std::string srv_error_code(const httplib::Result& r) {
    if (!r) return "no response";
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "no error body: " + r->body;
    return j["error"]["code"].get<std::string>();
}

} // namespace

TEST_CASE("serve: base64 decoding (RFC 4648 vectors, malformed input refused)") {
    auto d = [](const std::string& s) {
        auto v = io::base64_decode(s);
        return v ? std::string(v->begin(), v->end()) : std::string("<bad>");
    };
    CHECK(d("") == "");
    CHECK(d("Zg==") == "f");
    CHECK(d("Zm8=") == "fo");
    CHECK(d("Zm9v") == "foo");
    CHECK(d("Zm9vYmFy") == "foobar");
    CHECK(d("Zm9v\nYmE=") == "fooba");
    CHECK(d("Zm9vYg") == "foob"); // padding optional
    CHECK(d("Zm9v!") == "<bad>");
    CHECK(d("Z") == "<bad>");
    CHECK(d("Zg==Zg==") == "<bad>");
    const std::string bin("\xff\xfe\x00\x01", 4);
    const std::string enc = io::base64_encode(reinterpret_cast<const std::uint8_t*>(bin.data()), bin.size());
    CHECK(d(enc) == bin);
}

TEST_CASE("serve: request parsing maps OpenAI messages to the model's and checks every parameter") {
    io::server_options o;
    image img(5, 3, 3);
    for (std::size_t i = 0; i < img.data.size(); ++i)
        img.data[i] = static_cast<std::uint8_t>(i * 7);
    const auto png = io::encode_png(img);
    const std::string url = "data:image/png;base64," + io::base64_encode(png);
    nlohmann::json body{
        {"model", "m"},
        {"messages",
         {{{"role", "system"}, {"content", "sys"}},
          {{"role", "user"},
           {"content", {{{"type", "image_url"}, {"image_url", {{"url", url}}}}, {{"type", "text"}, {"text", "hi"}}}}}}},
        {"max_tokens", 12},
        {"temperature", 0.5},
        {"top_p", 0.9},
        {"top_k", -1},
        {"stop", "END"},
        {"n", 2},
        {"logprobs", true},
        {"top_logprobs", 3},
        {"seed", 5}};
    io::chat_request r = io::parse_chat_request(body, o);
    CHECK(r.messages[1]["content"][0] == nlohmann::json{{"type", "image"}});
    CHECK(r.messages[1]["content"][1]["text"] == "hi");
    REQUIRE(r.images.size() == 1);
    CHECK(r.images[0].width == 5);
    CHECK(r.images[0].data == img.data);
    CHECK(r.options.max_new_tokens == 12);
    CHECK(r.options.top_k == 0);
    CHECK(r.options.stop == std::vector<std::string>{"END"});
    CHECK(r.options.logprobs == 3);
    CHECK_FALSE(r.options.images_final);
    CHECK(r.n == 2);

    auto code_of = [&](nlohmann::json b) {
        try {
            io::parse_chat_request(b, o);
            return std::string("accepted");
        } catch (const io::api_error& e) {
            return e.code() + "@" + e.param() + "#" + std::to_string(e.status());
        }
    };
    auto with = [&](const char* k, nlohmann::json v) {
        nlohmann::json b{{"messages", srv_user("x")}};
        b[k] = std::move(v);
        return code_of(b);
    };
    CHECK(code_of(nlohmann::json::array()) == "invalid_value@#400");
    CHECK(code_of({{"messages", nlohmann::json::array()}}) == "invalid_value@messages#400");
    CHECK(code_of({{"messages", {{{"role", "tool"}, {"content", "x"}}}}}) == "invalid_value@messages[0].role#400");
    CHECK(with("max_tokens", 0) == "invalid_value@max_tokens#400");
    CHECK(with("max_tokens", 1 << 20) == "invalid_value@max_tokens#400");
    CHECK(with("max_tokens", "5") == "invalid_value@max_tokens#400");
    CHECK(with("temperature", 3) == "invalid_value@temperature#400");
    CHECK(with("top_p", 0) == "invalid_value@top_p#400");
    CHECK(with("n", 99) == "invalid_value@n#400");
    CHECK(with("top_logprobs", 2) == "invalid_value@top_logprobs#400"); // needs logprobs
    CHECK(with("stop", nlohmann::json::array({1})) == "invalid_value@stop#400");
    CHECK(with("guided_regex", "a+") == "unsupported_parameter@guided_regex#400");
    CHECK(with("frequency_penalty", 0.5) == "accepted"); // unknown fields are ignored, as vLLM does
    auto image_code = [&](const std::string& u) {
        return code_of(
            {{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", u}}}}}}}}}});
    };
    const std::string p = "messages[0].content[0].image_url";
    CHECK(image_code("https://example.com/a.png") == "unsupported_image_url@" + p + "#400");
    CHECK(image_code("/etc/passwd") == "unsupported_image_url@" + p + "#400"); // no image root
    CHECK(image_code("data:image/png;base64,@@@") == "invalid_image_url@" + p + "#400");
    CHECK(image_code("data:image/png;base64," + io::base64_encode(std::vector<std::uint8_t>(
                                                    png.begin(), png.begin() + 40))) == "invalid_image@" + p + "#400");

    // Videos: a list of frame URLs (qwen-vl-utils) or one data URL of frames (vLLM's data:video/jpeg
    // form, here PNG frames), with an optional fps; the frames' images, in order, reach the backend.
    {
        image other(4, 6, 3);
        for (std::size_t i = 0; i < other.data.size(); ++i)
            other.data[i] = static_cast<std::uint8_t>(255 - i);
        const auto png2 = io::encode_png(other);
        const std::string url2 = "data:image/png;base64," + io::base64_encode(png2);
        auto video_body = [&](nlohmann::json part) {
            return nlohmann::json{
                {"messages",
                 {{{"role", "user"}, {"content", {std::move(part), {{"type", "text"}, {"text", "what moves?"}}}}}}}};
        };
        const io::chat_request a =
            io::parse_chat_request(video_body({{"type", "video"}, {"video", {url, url2, url}}, {"fps", 1.5}}), o);
        CHECK(a.messages[0]["content"][0] == nlohmann::json{{"type", "video"}});
        REQUIRE(a.videos.size() == 1);
        REQUIRE(a.videos[0].frames.size() == 3);
        CHECK(a.videos[0].frames[0].data == img.data);
        CHECK(a.videos[0].frames[1].data == other.data);
        CHECK(a.videos[0].fps == 1.5);
        CHECK(a.images.empty());
        const std::string frames_url =
            "data:video/jpeg;base64," + io::base64_encode(png2) + "," + io::base64_encode(png);
        const io::chat_request b =
            io::parse_chat_request(video_body({{"type", "video_url"}, {"video_url", {{"url", frames_url}}}}), o);
        REQUIRE(b.videos.size() == 1);
        REQUIRE(b.videos[0].frames.size() == 2);
        CHECK(b.videos[0].frames[0].data == other.data);
        CHECK(b.videos[0].frames[1].data == img.data);
        CHECK(b.videos[0].fps == 2.0);
        const std::string vp = "messages[0].content[0].video_url";
        auto video_code = [&](const std::string& u) {
            return code_of(video_body({{"type", "video_url"}, {"video_url", {{"url", u}}}}));
        };
        // A video file (here bytes that are no image) is refused with a message that says what to send.
        CHECK(video_code("data:video/mp4;base64," + io::base64_encode(std::vector<std::uint8_t>(64, 7))) ==
              "invalid_video@" + vp + "#400");
        CHECK_THROWS_WITH_AS(
            io::parse_chat_request(video_body({{"type", "video_url"},
                                               {"video_url",
                                                {{"url", "data:video/mp4;base64," +
                                                             io::base64_encode(std::vector<std::uint8_t>(64, 7))}}}}),
                                   o),
            doctest::Contains("send the frames"), io::api_error);
        CHECK(video_code("data:image/png;base64," + io::base64_encode(png)) == "invalid_video@" + vp + "#400");
        CHECK(video_code("https://example.com/v.mp4") == "unsupported_video_url@" + vp + "#400");
        CHECK(video_code("/data/frames") == "unsupported_video_url@" + vp + "#400"); // no image root
        CHECK(code_of(video_body({{"type", "video"}, {"video", nlohmann::json::array()}})) ==
              "invalid_video@messages[0].content[0].video#400");
        CHECK(code_of(video_body({{"type", "video"}, {"video", {url}}, {"fps", 0}})) ==
              "invalid_value@messages[0].content[0].fps#400");
        io::server_options few = o;
        few.max_video_frames = 2;
        auto code_with = [&](const io::server_options& opt, nlohmann::json part) {
            try {
                io::parse_chat_request(video_body(std::move(part)), opt);
                return std::string("accepted");
            } catch (const io::api_error& e) {
                return e.code();
            }
        };
        CHECK(code_with(few, {{"type", "video"}, {"video", {url, url}}}) == "accepted");
        CHECK(code_with(few, {{"type", "video"}, {"video", {url, url, url}}}) == "too_many_frames");
        // Decoded pixels of all frames (img is 5 x 3 = 15 pixels, other 4 x 6 = 24): 39 fit, 38 do not.
        io::server_options small = o;
        small.max_video_pixels = 39;
        CHECK(code_with(small, {{"type", "video_url"}, {"video_url", {{"url", frames_url}}}}) == "accepted");
        small.max_video_pixels = 38;
        CHECK(code_with(small, {{"type", "video_url"}, {"video_url", {{"url", frames_url}}}}) == "video_too_large");
        CHECK(code_with(small, {{"type", "video"}, {"video", {url, url2}}}) == "video_too_large");
        small.max_video_pixels = 15;
        CHECK(code_with(small, {{"type", "video"}, {"video", {url, url}}}) == "video_too_large");
        try {
            io::parse_chat_request(video_body({{"type", "video_url"},
                                               {"video_url", {{"url", frames_url + "," + io::base64_encode(png)}}}}),
                                   few);
            CHECK(false);
        } catch (const io::api_error& e) {
            CHECK(e.code() == "too_many_frames");
        }
        few.max_videos = 0;
        CHECK_THROWS_WITH_AS(io::parse_chat_request(video_body({{"type", "video"}, {"video", {url}}}), few),
                             doctest::Contains("videos in one request"), io::api_error);
    }

    // A box codec's grammar as `rscovlm_grammar` (what rscovlm's client sends with that guided field).
    const box_codec::answer_grammar grammar(box_codec::box_kind::hbb, {"plane", "small-vehicle"}, 560, 448);
    nlohmann::json gb{{"messages", srv_user("x")}, {"rscovlm_grammar", grammar.describe()}};
    const io::chat_request gr = io::parse_chat_request(gb, o);
    REQUIRE(gr.options.constraint);
    CHECK(gr.options.constraint->regex() == grammar.regex());
    auto accepts = [](const zoom::answer_constraint& c, const std::string& t) {
        auto st = c.start();
        for (char ch : t)
            if (!c.step(st, static_cast<unsigned char>(ch))) return false;
        return c.can_end(st);
    };
    CHECK(accepts(*gr.options.constraint, "1,2,3,4 small vehicle"));
    CHECK_FALSE(accepts(*gr.options.constraint, "1,2,3,4 ship"));
    CHECK(with("rscovlm_grammar", nlohmann::json{{"kind", "hbb"}, {"classes", {"a"}}, {"width", 0}, {"height", 4}}) ==
          "invalid_value@rscovlm_grammar#400");
    CHECK(with("rscovlm_grammar", "1,2") == "invalid_value@rscovlm_grammar#400");
    io::openai_options co;
    co.model = "m";
    co.guided_field = "guided_regex";
    zoom::generation_options cg;
    cg.constraint = std::make_shared<box_codec::answer_grammar>(grammar);
    CHECK(io::openai_backend(co).make_request(srv_user("x"), {}, cg)["guided_regex"] == grammar.regex());
    co.guided_field = "rscovlm_grammar";
    CHECK(io::openai_backend(co).make_request(srv_user("x"), {}, cg)["rscovlm_grammar"] == grammar.describe());
    co.guided_field.clear();
    CHECK_FALSE(io::openai_backend(co).make_request(srv_user("x"), {}, cg).contains("rscovlm_grammar"));

    // File paths under the image root only.
    namespace fs = std::filesystem;
    const fs::path root = fs::temp_directory_path() / "rscovlm_serve_root";
    fs::create_directories(root / "sub");
    {
        std::ofstream f(root / "sub" / "a.png", std::ios::binary);
        f.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    }
    o.image_root = root.string();
    CHECK(image_code("sub/a.png") == "accepted");
    CHECK(image_code("file://" + (root / "sub" / "a.png").string()) == "accepted");
    CHECK(image_code("sub/../../etc/passwd") == "path_outside_root@" + p + "#403");
    CHECK(image_code("sub/missing.png") == "image_not_found@" + p + "#400");
    o.max_image_pixels = 10;
    CHECK(image_code("sub/a.png") == "invalid_image@" + p + "#400"); // 15 pixels > 10
}

TEST_CASE("serve: rscovlm's OpenAI client against the server (answers, usage, logprobs, box scores)") {
    srv_fixture f("100,200,300,400 plane\n10,20,30,40 ship");
    f.start();
    auto c = f.client();
    zoom::generation_options g;
    g.logprobs = 2;
    image img(28, 28, 3);
    const nlohmann::json msgs = nlohmann::json::array(
        {{{"role", "user"}, {"content", {{{"type", "image"}}, {{"type", "text"}, {"text", "detect"}}}}}});
    const std::string answer = c.generate(msgs, {img}, g);
    CHECK(answer == f.proto.reply);
    CHECK(c.model_name() == "test-model");
    CHECK(c.last_usage().prompt_tokens == 7);
    CHECK(c.last_usage().completion_tokens == static_cast<long>(answer.size()));
    CHECK(c.last_usage().finish_reason == "stop");
    const auto lps = c.last_logprobs();
    REQUIRE(lps.size() == answer.size());
    CHECK(lps[3].logprob == doctest::Approx(-0.4));
    REQUIRE(lps[3].top.size() == 2);
    CHECK(lps[3].top[1].first == "?");
    // The backend saw the image, to be resized by it (images_final false), and the text.
    CHECK(f.proto.last_images->size() == 1);
    CHECK((*f.proto.last_messages)[0]["content"][1]["text"] == "detect");
    // A video beside the image: its frames and fps arrive as sent (PNG frames in vLLM's data:video form).
    {
        std::vector<image> frames(3, image(8, 6, 3));
        for (std::size_t k = 0; k < frames.size(); ++k)
            for (std::size_t i = 0; i < frames[k].data.size(); ++i)
                frames[k].data[i] = static_cast<std::uint8_t>(i * (k + 2));
        const nlohmann::json vmsgs = nlohmann::json::array(
            {{{"role", "user"},
              {"content", {{{"type", "image"}}, {{"type", "video"}}, {{"type", "text"}, {"text", "what moves?"}}}}}});
        CHECK(c.generate_with_video(vmsgs, {img}, {{frames, 0.5}}, zoom::generation_options{}) == f.proto.reply);
        REQUIRE(f.proto.last_videos->size() == 1);
        REQUIRE((*f.proto.last_videos)[0].frames.size() == 3);
        for (std::size_t k = 0; k < 3; ++k)
            CHECK((*f.proto.last_videos)[0].frames[k].data == frames[k].data);
        CHECK((*f.proto.last_videos)[0].fps == 0.5);
        CHECK((*f.proto.last_messages)[0]["content"][1] == nlohmann::json{{"type", "video"}});
        const auto body = c.make_request(vmsgs, {img}, zoom::generation_options{}, {{frames, 0.5}});
        CHECK(body["messages"][0]["content"][1]["type"] == "video_url");
        CHECK(body["messages"][0]["content"][1]["video_url"]["url"].get<std::string>().rfind("data:video/jpeg;base64,",
                                                                                             0) == 0);
        CHECK_THROWS_WITH_AS(c.generate_with_video(vmsgs, {img}, {}, zoom::generation_options{}),
                             doctest::Contains("video_count_mismatch"), rscovlm::zoom_error);
    }

    // Box scores from those log-probabilities: the first line's tokens are more likely than the second's.
    box_codec::rscovlm_plain<box_codec::box_kind::hbb> codec;
    box_codec::decode_options dopt;
    auto res = codec.decode(answer, dopt);
    REQUIRE(res.objects.size() == 2);
    REQUIRE(res.objects[0].span);
    CHECK(answer.substr(res.objects[1].span->first, res.objects[1].span->second - res.objects[1].span->first) ==
          "10,20,30,40 ship");
    const auto rep = box_codec::score_boxes(res.objects, answer, lps, box_codec::score_rule::mean);
    CHECK(rep.aligned);
    CHECK(rep.from_span == 2);
    double sum = 0;
    int n = 0;
    for (std::size_t i = 0; i < 21; ++i) // "100,200,300,400 plane": letters and digits only
        if (std::isalnum(static_cast<unsigned char>(answer[i]))) {
            sum += -0.1 * static_cast<double>(i + 1);
            ++n;
        }
    CHECK(*res.objects[0].score == doctest::Approx(std::exp(sum / n)));
    CHECK(*res.objects[0].score > *res.objects[1].score);
    auto prod = res.objects;
    box_codec::score_boxes(prod, answer, lps, box_codec::score_rule::product);
    CHECK(*prod[0].score == doctest::Approx(std::exp(sum)));

    // Token limit and stop strings.
    g = {};
    g.max_new_tokens = 5;
    CHECK(c.generate(srv_user("x"), {}, g) == "100,2");
    CHECK(c.last_usage().finish_reason == "length");
    CHECK(c.last_logprobs().empty()); // not asked for
    g.max_new_tokens = 100;
    g.stop = {" plane"};
    CHECK(c.generate(srv_user("x"), {}, g) == "100,200,300,400");

    // /v1/models and a wrong model name.
    httplib::Client raw("127.0.0.1", f.server->port());
    auto models = raw.Get("/v1/models");
    REQUIRE(models);
    CHECK(nlohmann::json::parse(models->body)["data"][0]["id"] == "test-model");
    auto wrong = f.post(nlohmann::json{{"model", "other"}, {"messages", srv_user("x")}}.dump());
    REQUIRE(wrong);
    CHECK(wrong->status == 404);
    CHECK(srv_error_code(wrong) == "model_not_found");
    io::openai_options wo;
    wo.endpoint = f.base;
    wo.model = "other";
    wo.max_retries = 0;
    io::openai_backend wc(wo);
    CHECK_THROWS_AS(wc.generate(srv_user("x"), {}, {}), zoom_error);

    // n choices, and malformed bodies.
    auto multi = f.post(nlohmann::json{{"messages", srv_user("x")}, {"n", 3}, {"max_tokens", 3}}.dump());
    REQUIRE(multi);
    const auto mj = nlohmann::json::parse(multi->body);
    REQUIRE(mj["choices"].size() == 3);
    CHECK(mj["choices"][2]["index"] == 2);
    CHECK(mj["choices"][2]["message"]["content"] == "100");
    CHECK(mj["usage"]["completion_tokens"] == 9);
    auto garbage = f.post("{not json");
    REQUIRE(garbage);
    CHECK(garbage->status == 400);
    CHECK(srv_error_code(garbage) == "invalid_json");
    auto nowhere = f.post("{}", "/v1/nothing");
    REQUIRE(nowhere);
    CHECK(nowhere->status == 404);
    CHECK(srv_error_code(nowhere) == "not_found");
}

TEST_CASE("serve: streaming (server-sent events) with logprobs and usage") {
    srv_fixture f("abc def");
    f.start();
    httplib::Client raw("127.0.0.1", f.server->port());
    std::string events;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = nlohmann::json{{"messages", srv_user("x")},
                              {"stream", true},
                              {"logprobs", true},
                              {"stream_options", {{"include_usage", true}}}}
                   .dump();
    req.headers.emplace("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, std::size_t n, std::uint64_t, std::uint64_t) {
        events.append(d, n);
        return true;
    };
    auto res = raw.send(req);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type").find("text/event-stream") == 0);
    std::string text, finish;
    std::size_t tokens = 0, pieces = 0;
    bool done = false, usage = false;
    std::size_t pos = 0;
    while (pos < events.size()) {
        const std::size_t end = events.find("\n\n", pos);
        REQUIRE(end != std::string::npos);
        const std::string line = events.substr(pos, end - pos);
        pos = end + 2;
        REQUIRE(line.compare(0, 6, "data: ") == 0);
        const std::string data = line.substr(6);
        if (data == "[DONE]") {
            done = true;
            continue;
        }
        CHECK_FALSE(done);
        const auto j = nlohmann::json::parse(data);
        CHECK(j["object"] == "chat.completion.chunk");
        if (j.contains("usage")) {
            usage = true;
            CHECK(j["usage"]["completion_tokens"] == 7);
            continue;
        }
        const auto& ch = j["choices"][0];
        if (ch["delta"].contains("content") && !ch["delta"]["content"].get<std::string>().empty()) {
            text += ch["delta"]["content"].get<std::string>();
            ++pieces;
            tokens += ch["logprobs"]["content"].size();
        }
        if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"].get<std::string>();
    }
    CHECK(text == "abc def");
    CHECK(pieces == 7); // one event per generated piece
    CHECK(tokens == 7);
    CHECK(finish == "stop");
    CHECK(usage);
    CHECK(done);
}

TEST_CASE("serve: limits, API key, timeouts and graceful shutdown") {
    io::server_options o;
    o.api_key = "sekrit";
    o.max_request_bytes = 4096;
    o.request_timeout_s = 0.3;
    srv_fixture f(std::string(40, 'z'), o);
    f.proto.delay_ms = 20; // 40 tokens: 0.8 s, over the 0.3 s limit
    f.start();
    const std::string body = nlohmann::json{{"messages", srv_user("x")}}.dump();
    auto nokey = f.post(body);
    REQUIRE(nokey);
    CHECK(nokey->status == 401);
    CHECK(srv_error_code(nokey) == "invalid_api_key");
    auto big = f.post(nlohmann::json{{"messages", srv_user(std::string(10000, 'a'))}}.dump(), "/v1/chat/completions",
                      "sekrit");
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(srv_error_code(big) == "request_too_large");
    auto slow = f.post(body, "/v1/chat/completions", "sekrit");
    REQUIRE(slow);
    CHECK(slow->status == 504);
    CHECK(srv_error_code(slow) == "request_timeout");
    auto quick =
        f.post(nlohmann::json{{"messages", srv_user("x")}, {"max_tokens", 2}}.dump(), "/v1/chat/completions", "sekrit");
    REQUIRE(quick);
    CHECK(quick->status == 200);

    // Graceful stop: a request in flight finishes; the server then refuses connections.
    srv_fixture g(std::string(10, 'y'));
    g.proto.delay_ms = 30;
    g.start();
    const auto inflight = g.stop_during(nlohmann::json{{"messages", srv_user("x")}}.dump());
    CHECK(inflight.was_active);
    CHECK(inflight.status == 200);
    CHECK(nlohmann::json::parse(inflight.body, nullptr, false)["choices"][0]["message"]["content"] ==
          std::string(10, 'y'));
    CHECK_FALSE(g.post(body));

    // A stop that comes before the server listens (a signal during start-up): run returns at once.
    srv_fixture h("x");
    h.server = std::make_unique<io::openai_server>(
        [&h]() -> std::unique_ptr<zoom::backend> { return std::make_unique<srv_echo_backend>(h.proto); }, h.opt);
    h.server->stop();
    h.server->run(); // would block for good if the stop were lost
    CHECK(h.server->served() == 0);
}

TEST_CASE("serve: a video reaches a backend that takes videos; one that does not refuses it with 400") {
    image frame(6, 4, 3);
    for (std::size_t i = 0; i < frame.data.size(); ++i)
        frame.data[i] = static_cast<std::uint8_t>(i * 3);
    const std::string b64 = io::base64_encode(io::encode_png(frame));
    const std::string body =
        nlohmann::json{
            {"messages",
             {{{"role", "user"},
               {"content",
                {{{"type", "video_url"}, {"video_url", {{"url", "data:video/jpeg;base64," + b64 + "," + b64}}}},
                 {{"type", "text"}, {"text", "what moves?"}}}}}}}}
            .dump();
    srv_fixture f("ok");
    f.start();
    const auto r = f.post(body);
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(f.proto.last_videos->size() == 1);
    CHECK((*f.proto.last_videos)[0].frames.size() == 2);
    CHECK((*f.proto.last_videos)[0].frames[1].data == frame.data);
    CHECK((*f.proto.last_messages)[0]["content"][0] == nlohmann::json{{"type", "video"}});
    srv_fixture g("ok");
    g.proto.takes_video = false;
    g.start();
    const auto refused = g.post(body);
    REQUIRE(refused);
    CHECK(refused->status == 400);
    CHECK(refused->body.find("does not take videos") != std::string::npos);
}

TEST_CASE("serve: the deadline answers a request still in its prefill; a shutdown past its drain time stops "
          "generations") {
    io::server_options o;
    o.request_timeout_s = 0.3;
    srv_fixture f("abc", o);
    f.proto.prefill = std::make_shared<srv_gate>();
    f.start();
    const auto plain = f.post(nlohmann::json{{"messages", srv_user("x")}}.dump());
    REQUIRE(plain);
    CHECK(plain->status == 504);
    CHECK(srv_error_code(plain) == "request_timeout");
    CHECK(f.proto.prefill->waiters_reaching(1) == 1); // answered while the generation had not begun to decode
    const auto streamed = f.post(nlohmann::json{{"messages", srv_user("x")}, {"stream", true}}.dump());
    REQUIRE(streamed);
    CHECK(streamed->status == 200);
    CHECK(streamed->body.find("\"request_timeout\"") != std::string::npos);
    CHECK(streamed->body.size() >= 14);
    CHECK(streamed->body.compare(streamed->body.size() - 14, 14, "data: [DONE]\n\n") == 0);
    CHECK(f.proto.prefill->waiters_reaching(2) == 2);
    f.proto.prefill->release();
    f.server->stop(); // the two generations end at their first token
    CHECK(f.server->active() == 0);

    // A generation that outlives its answer still counts: with room for one, the next request is refused
    // while it runs.
    io::server_options one = o;
    one.max_generations = 1;
    srv_fixture h("abc", one);
    h.proto.prefill = std::make_shared<srv_gate>();
    h.start();
    const std::string body = nlohmann::json{{"messages", srv_user("x")}}.dump();
    const auto first = h.post(body);
    REQUIRE(first);
    CHECK(first->status == 504);
    const auto second = h.post(body);
    REQUIRE(second);
    CHECK(second->status == 503);
    CHECK(srv_error_code(second) == "overloaded");
    const auto second_stream = h.post(nlohmann::json{{"messages", srv_user("x")}, {"stream", true}}.dump());
    REQUIRE(second_stream);
    CHECK(second_stream->body.find("\"overloaded\"") != std::string::npos);
    CHECK(second_stream->body.find("data: [DONE]") != std::string::npos);
    h.proto.prefill->release();
    h.server->stop(); // waits for that generation, which ends at its first token

    // Past the drain time, a generation in flight (2000 tokens of 20 ms: 40 s) stops at its next token
    // and its request is answered 503.
    io::server_options d;
    d.drain_timeout_s = 0.2;
    srv_fixture g(std::string(2000, 'y'), d);
    g.proto.delay_ms = 20;
    g.start();
    const auto aborted = g.stop_during(nlohmann::json{{"messages", srv_user("x")}}.dump());
    REQUIRE(aborted.was_active);
    CHECK(aborted.status == 503);
    CHECK(nlohmann::json::parse(aborted.body, nullptr, false)["error"]["code"] == "shutting_down");
}

#else

TEST_CASE("serve: OpenAI-compatible server (skipped: built without cpp-httplib)") {
    MESSAGE("skipped: rscovlm was configured without cpp-httplib, so the server tests compiled to nothing");
}

#endif
