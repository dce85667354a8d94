// The OpenAI-compatible backend against a small chat-completions server on 127.0.0.1.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rscovlm/io/openai_backend.hpp>

TEST_CASE("zoom: base64 encoder (RFC 4648 vectors)") {
    auto b = [](const std::string& s) {
        return rscovlm::io::base64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    };
    CHECK(b("") == "");
    CHECK(b("f") == "Zg==");
    CHECK(b("fo") == "Zm8=");
    CHECK(b("foo") == "Zm9v");
    CHECK(b("foob") == "Zm9vYg==");
    CHECK(b("fooba") == "Zm9vYmE=");
    CHECK(b("foobar") == "Zm9vYmFy");
    CHECK(b(std::string("\xff\xfe\x00", 3)) == "//4A");
}

#if RSCOVLM_HAS_HTTPLIB

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <rscovlm/io/image_io.hpp>
#include <rscovlm/zoom/controller.hpp>

using namespace rscovlm;

namespace {

std::vector<std::uint8_t> b64_bytes(const std::string& s) {
    auto v = io::base64_decode(s);
    return v ? *v : std::vector<std::uint8_t>{}; // empty: the decode below fails and the test says so
}

// A scripted OpenAI-compatible server: records request bodies, decodes their images, replies in order.
struct fake_server {
    httplib::Server srv;
    std::thread th;
    int port = 0;
    std::mutex mu;
    std::vector<nlohmann::json> bodies;
    std::vector<std::vector<std::pair<int, int>>> image_sizes;
    std::vector<std::string> auth;
    std::vector<std::string> replies;
    int fail_first = 0; // answer 503 to this many POSTs first
    int posts = 0;

    explicit fake_server(std::vector<std::string> r) : replies(std::move(r)) {
        srv.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"({"object":"list","data":[{"id":"rscovlm-7b","object":"model"}]})", "application/json");
        });
        srv.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(mu);
            ++posts;
            if (fail_first > 0) {
                --fail_first;
                res.status = 503;
                res.set_content("busy", "text/plain");
                return;
            }
            auto body = nlohmann::json::parse(req.body, nullptr, false);
            if (body.is_discarded()) {
                res.status = 400;
                return;
            }
            std::vector<std::pair<int, int>> sizes;
            for (const auto& m : body["messages"])
                if (m["content"].is_array())
                    for (const auto& it : m["content"])
                        if (it["type"] == "image_url") {
                            const std::string url = it["image_url"]["url"];
                            const std::string prefix = "data:image/png;base64,";
                            REQUIRE(url.compare(0, prefix.size(), prefix) == 0);
                            auto png = b64_bytes(url.substr(prefix.size()));
                            auto img = io::decode_image(png);
                            sizes.emplace_back(img.width, img.height);
                        }
            auth.push_back(req.get_header_value("Authorization"));
            bodies.push_back(body);
            image_sizes.push_back(sizes);
            const std::size_t i = bodies.size() - 1;
            nlohmann::json out{
                {"id", "chatcmpl-" + std::to_string(i)},
                {"object", "chat.completion"},
                {"choices",
                 {{{"index", 0},
                   {"message", {{"role", "assistant"}, {"content", i < replies.size() ? replies[i] : ""}}},
                   {"finish_reason", "stop"}}}},
                {"usage", {{"prompt_tokens", 100 + i}, {"completion_tokens", 7}}}};
            res.set_content(out.dump(), "application/json");
        });
        srv.Post("/v1/slow/chat/completions", [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(std::chrono::milliseconds(700));
            res.set_content("{}", "application/json");
        });
        srv.Post("/v1/bad/chat/completions", [](const httplib::Request&, httplib::Response& res) {
            res.status = 400;
            res.set_content(R"({"error":"bad request"})", "application/json");
        });
        port = srv.bind_to_any_port("127.0.0.1");
        REQUIRE(port > 0);
        th = std::thread([this] { srv.listen_after_bind(); });
        // The socket already listens after bind; wait (bounded) for the accept loop anyway.
        for (int i = 0; i < 500 && !srv.is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ~fake_server() {
        srv.stop();
        if (th.joinable()) th.join();
    }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

image http_pattern(int w, int h) {
    image im(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            im.at(x, y, 0) = static_cast<std::uint8_t>(x * 5 + y);
            im.at(x, y, 1) = static_cast<std::uint8_t>(x ^ y);
            im.at(x, y, 2) = static_cast<std::uint8_t>(y * 3);
        }
    return im;
}

} // namespace

TEST_CASE("zoom: HTTP chain against a local OpenAI-compatible server") {
    fake_server server({"<think>tiny</think>\n" + zoom::format_tool_call(56, 28, 280, 168), "white"});
    io::openai_options o;
    o.endpoint = server.base();
    o.api_key = "test-key";
    o.connect_timeout_s = 2;
    o.read_timeout_s = 5;
    io::openai_backend model(o);

    zoom::controller_options opt;
    opt.min_pixels = 28 * 28 * 4;
    opt.max_pixels = 28 * 28 * 256;
    opt.generation.max_new_tokens = 128;
    opt.generation.top_k = 5;
    opt.generation.seed = 3;
    zoom::memory_source src(http_pattern(1600, 1000));
    auto r = zoom::controller(opt).run(src, "What color is the roof?", model);
    CHECK(r.answered);
    CHECK(r.answer == "white");

    REQUIRE(server.bodies.size() == 2);
    const auto& b0 = server.bodies[0];
    CHECK(b0["model"] == "rscovlm-7b"); // taken from GET /v1/models
    CHECK(b0["max_tokens"] == 128);
    CHECK(b0["top_k"] == 5);
    CHECK(b0["seed"] == 3);
    CHECK(b0["temperature"] == 0.0);
    CHECK_FALSE(b0.contains("stop"));
    CHECK(b0["messages"][0]["role"] == "system");
    CHECK(b0["messages"][0]["content"] == std::string(zoom::system_prompt));
    CHECK(b0["messages"][1]["content"][0]["type"] == "image_url");
    CHECK(b0["messages"][1]["content"][1]["text"] ==
          "What color is the roof?\nZoom in to the region of interest and answer the question.");
    CHECK(server.auth[0] == "Bearer test-key");
    // Images arrive at exactly the sizes the controller chose (multiples of 28).
    CHECK(server.image_sizes[0] == std::vector<std::pair<int, int>>{{560, 336}});
    const auto& z = r.trace.steps[0].zooms.at(0);
    CHECK(server.image_sizes[1] == std::vector<std::pair<int, int>>{{560, 336}, {z.input_width, z.input_height}});
    CHECK(z.input_width % 28 == 0);
    const auto& b1 = server.bodies[1];
    REQUIRE(b1["messages"].size() == 4);
    CHECK(b1["messages"][2]["content"] == zoom::format_tool_call(56, 28, 280, 168));
    CHECK(b1["messages"][3]["content"][1]["text"] == "Here's the zoomed-in image. You can complete your task now.");
    // Usage is recorded in the trace.
    CHECK(r.trace.steps[0].prompt_tokens == 100);
    CHECK(r.trace.steps[1].prompt_tokens == 101);
    CHECK(r.trace.steps[1].completion_tokens == 7);
}

TEST_CASE("zoom: the OpenAI backend through the registry (backend.openai)") {
    fake_server server({"hello"});
    ::setenv("RSCOVLM_TEST_OPENAI_KEY", "registry-key", 1);
    auto model = registry::make<zoom::backend_kind, io::all_backends>("backend.openai",
                                                                      {{"endpoint", server.base()},
                                                                       {"model", "m"},
                                                                       {"api_key_env", "RSCOVLM_TEST_OPENAI_KEY"},
                                                                       {"read_timeout_s", 5.0},
                                                                       {"timeout_s", 10.0},
                                                                       {"max_response_bytes", 1 << 20},
                                                                       {"max_retries", 0},
                                                                       {"extra_body", {{"repetition_penalty", 1.05}}}});
    ::unsetenv("RSCOVLM_TEST_OPENAI_KEY");
    image im = http_pattern(56, 56);
    nlohmann::json msgs = nlohmann::json::array(
        {{{"role", "user"}, {"content", {{{"type", "image"}}, {{"type", "text"}, {"text", "hi"}}}}}});
    CHECK(model->generate(msgs, {im}, {}) == "hello");
    REQUIRE(server.bodies.size() == 1);
    CHECK(server.bodies[0]["model"] == "m");
    CHECK(server.bodies[0]["repetition_penalty"] == 1.05);
    CHECK(server.auth[0] == "Bearer registry-key");
    static_assert(registry::find<io::all_backends>("backend.openai") != registry::npos);
    CHECK(registry::describe<zoom::backend_kind, io::all_backends>()[1]["backend"] == "io");

    auto bad = registry::try_make<zoom::backend_kind, io::all_backends>("backend.openai", {{"endpoint", "ftp://x"}});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.zoom.bad_endpoint");
    auto typo = registry::try_make<zoom::backend_kind, io::all_backends>("backend.openai", {{"retries", 1}});
    REQUIRE_FALSE(typo.ok());
    CHECK(typo.error().id == "rscovlm.registry.bad_param");
}

TEST_CASE("zoom: HTTP backend retries 503, fails fast on 400, times out (rscovlm.zoom.timeout)") {
    fake_server server({"ok"});
    server.fail_first = 2;
    io::openai_options o;
    o.endpoint = server.base() + "/chat/completions";
    o.model = "m";
    o.retry_backoff_s = 0.01;
    o.max_retries = 2;
    io::openai_backend model(o);
    image im = http_pattern(56, 56);
    nlohmann::json msgs = nlohmann::json::array(
        {{{"role", "user"}, {"content", {{{"type", "image"}}, {{"type", "text"}, {"text", "hi"}}}}}});
    CHECK(model.generate(msgs, {im}, {}) == "ok");
    CHECK(server.posts == 3);
    CHECK(model.attempts() == 3);

    // Image count must match the image items.
    CHECK_THROWS_AS(model.generate(msgs, {}, {}), zoom_error);

    io::openai_options bad = o;
    bad.endpoint = server.base() + "/bad";
    io::openai_backend bad_model(bad);
    auto r = try_call([&] { return bad_model.generate(msgs, {im}, {}); });
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().id == "rscovlm.zoom.http_error");
    CHECK(bad_model.attempts() == 1);

    io::openai_options slow = o;
    slow.endpoint = server.base() + "/slow";
    slow.read_timeout_s = 0.2;
    slow.max_retries = 1;
    io::openai_backend slow_model(slow);
    auto s = try_call([&] { return slow_model.generate(msgs, {im}, {}); });
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().id == "rscovlm.zoom.timeout");
    CHECK(slow_model.attempts() == 2);

    io::openai_options closed = o;
    closed.endpoint = "http://127.0.0.1:1/v1";
    closed.max_retries = 0;
    io::openai_backend closed_model(closed);
    CHECK_THROWS_AS(closed_model.generate(msgs, {im}, {}), zoom_error);
    io::openai_options ftp;
    ftp.endpoint = "ftp://x";
    CHECK_THROWS_AS(io::openai_backend{ftp}, zoom_error);
}

#else

TEST_CASE("zoom: OpenAI-compatible HTTP backend (skipped: built without cpp-httplib)") {
    MESSAGE("skipped: rscovlm was configured without cpp-httplib, so the HTTP backend tests compiled to nothing");
}

#endif // RSCOVLM_HAS_HTTPLIB
