// Registry mechanics on a test-local kind, independent of the built-in catalogs.
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/registry.hpp>

#include <doctest/doctest.h>

namespace {
struct shape {
    virtual ~shape() = default;
    virtual double area() const = 0;
};
struct unit_square : shape {
    static constexpr std::string_view key = "shape.unit_square";
    static constexpr std::string_view summary = "A 1x1 square";
    double area() const override { return 1.0; }
};
struct rectangle : shape {
    static constexpr std::string_view key = "shape.rectangle";
    static constexpr std::string_view summary = "A w x h rectangle";
    static constexpr std::string_view backend = "io";
    double w = 1, h = 1;
    static rectangle from_params(rscovlm::registry::params& p) {
        rectangle r;
        r.w = p.get<double>("w", 1.0);
        r.h = p.require<double>("h");
        p.check(r.w > 0 && r.h > 0, "w/h", "must be positive");
        return r;
    }
    double area() const override { return w * h; }
};
struct circle : shape {
    static constexpr std::string_view key = "shape.circle";
    static constexpr std::string_view summary = "A circle";
    double area() const override { return 3.0; }
};
using shapes = rscovlm::registry::type_list<unit_square, rectangle>;
struct shape_kind {
    static constexpr std::string_view name = "shape";
    using interface = shape;
    using builtin_list = shapes;
};

struct counter {
    virtual ~counter() = default;
};
struct counter_a : counter {
    static constexpr std::string_view key = "counter.a";
    static constexpr std::string_view summary = "A counter";
};
struct counter_kind {
    static constexpr std::string_view name = "counter";
    using interface = counter;
    using builtin_list = rscovlm::registry::type_list<counter_a>;
};
using test_kinds = rscovlm::registry::type_list<rscovlm::pipeline::kind_entry<shape_kind>,
                                                rscovlm::pipeline::kind_entry<counter_kind>>;
using test_pipeline = rscovlm::pipeline::basic_pipeline<test_kinds>;

template <class F> std::string error_id(F&& f) {
    try {
        f();
    } catch (const rscovlm::error& e) {
        return e.id();
    }
    return "";
}
} // namespace

namespace reg = rscovlm::registry;

// Compile-time lookup.
static_assert(reg::find<shapes>("shape.rectangle") == 1);
static_assert(reg::find<shapes>("shape.nothing") == reg::npos);
static_assert(std::is_same_v<RSCOVLM_COMPONENT(shapes, "shape.unit_square"), unit_square>);
static_assert(reg::unique_keys<shapes>());
static_assert(!reg::unique_keys<reg::type_list<unit_square, unit_square>>());
// Extension by composing lists.
using more_shapes = reg::append_t<shapes, circle>;
static_assert(reg::find<more_shapes>("shape.circle") == 2);
static_assert(reg::concat_t<shapes, reg::type_list<circle>>::size == 3);

TEST_CASE("core: registry keys, visit and describe") {
    auto k = reg::keys<shapes>();
    REQUIRE(k.size() == 2);
    CHECK(k[0] == "shape.unit_square");
    std::string seen;
    CHECK(reg::visit<shapes>("shape.rectangle", [&](auto t) { seen = std::string(decltype(t)::type::key); }));
    CHECK(seen == "shape.rectangle");
    CHECK_FALSE(reg::visit<shapes>("nope", [&](auto) { seen = "x"; }));
    auto d = reg::describe<shape_kind>();
    REQUIRE(d.size() == 2);
    CHECK(d[1]["type"] == "{anonymous}::rectangle");
    CHECK(d[1]["backend"] == "io");
    CHECK(d[0]["backend"] == "core");
    CHECK(d[0]["kind"] == "shape");
}

TEST_CASE("core: registry make with parameters") {
    CHECK(reg::make<shape_kind>("shape.unit_square")->area() == 1.0);
    CHECK(reg::make<shape_kind>("shape.rectangle", {{"w", 2}, {"h", 3.5}})->area() == 7.0);
    CHECK(reg::make<shape_kind, more_shapes>("shape.circle")->area() == 3.0);
    CHECK(error_id([] { reg::make<shape_kind>("shape.circle"); }) == "rscovlm.registry.unknown_key");
    CHECK(error_id([] { reg::make<shape_kind>("shape.rectangle", {{"w", 2}}); }) == "rscovlm.registry.bad_param");
    CHECK(error_id([] { reg::make<shape_kind>("shape.rectangle", {{"h", "3"}}); }) == "rscovlm.registry.bad_param");
    CHECK(error_id([] {
              reg::make<shape_kind>("shape.rectangle", {{"h", 3}, {"depth", 1}});
          }) == "rscovlm.registry.bad_param");
    CHECK(error_id([] { reg::make<shape_kind>("shape.rectangle", {{"h", -3}}); }) == "rscovlm.registry.bad_param");
    CHECK(error_id([] { reg::make<shape_kind>("shape.unit_square", {{"x", 1}}); }) == "rscovlm.registry.bad_param");
    CHECK(error_id([] { reg::make<shape_kind>("shape.rectangle", nlohmann::json::array()); }) ==
          "rscovlm.registry.bad_param");
    try {
        reg::make<shape_kind>("shape.hexagon");
        FAIL("expected an error");
    } catch (const rscovlm::registry_error& e) {
        CHECK(std::string(e.what()) ==
              "[rscovlm.registry.unknown_key] unknown shape component 'shape.hexagon' (known: shape.unit_square, "
              "shape.rectangle)");
    }
}

namespace {
// A kind whose interface is `keyed`: registry::component supplies component_key() from `key`.
struct tool : reg::keyed {
    virtual int uses() const = 0;
};
struct hammer : reg::component<hammer, tool> {
    static constexpr std::string_view key = "tool.hammer";
    static constexpr std::string_view summary = "A hammer";
    int n = 1;
    static hammer from_params(reg::params& p) {
        hammer h;
        h.n = p.get<int>("uses", 1);
        p.check(h.n > 0, "uses", "must be positive");
        return h;
    }
    int uses() const override { return n; }
};
template <int N> struct saw : reg::component<saw<N>, tool> {
    static constexpr std::string_view key = N == 1 ? "tool.saw.one" : "tool.saw.two";
    static constexpr std::string_view summary = "A saw";
    int uses() const override { return N; }
};
struct tool_kind {
    static constexpr std::string_view name = "tool";
    using interface = tool;
    using builtin_list = reg::type_list<hammer, saw<1>, saw<2>>;
};
struct plain_shape : reg::component<plain_shape, shape> {
    static constexpr std::string_view key = "shape.plain";
    double area() const override { return 2.0; }
};
static_assert(std::is_base_of_v<tool, hammer>);
static_assert(std::is_same_v<hammer::interface_type, tool>);
} // namespace

TEST_CASE("core: registry::component supplies the runtime key") {
    auto h = reg::make<tool_kind>("tool.hammer", {{"uses", 4}});
    CHECK(h->component_key() == "tool.hammer");
    CHECK(h->uses() == 4);
    CHECK(reg::make<tool_kind>("tool.saw.two")->component_key() == "tool.saw.two");
    CHECK(reg::make<tool_kind>("tool.saw.one")->uses() == 1);
    // A component of a non-keyed interface derives from it unchanged.
    plain_shape p;
    const shape& s = p;
    CHECK(s.area() == 2.0);
}

TEST_CASE("core: registry try_make reports errors in a result") {
    auto ok = reg::try_make<tool_kind>("tool.hammer", {{"uses", 2}});
    REQUIRE(ok.ok());
    CHECK(ok.value()->uses() == 2);
    auto unknown = reg::try_make<tool_kind>("tool.drill");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().id == "rscovlm.registry.unknown_key");
    CHECK(unknown.error().what() ==
          "[rscovlm.registry.unknown_key] unknown tool component 'tool.drill' (known: tool.hammer, tool.saw.one, "
          "tool.saw.two)");
    // The same text as make's exception.
    try {
        reg::make<tool_kind>("tool.drill");
        FAIL("expected an error");
    } catch (const rscovlm::registry_error& e) {
        CHECK(std::string(e.what()) == unknown.error().what());
    }
    auto bad = reg::try_make<tool_kind>("tool.hammer", {{"uses", 0}});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.registry.bad_param");
    auto extra = reg::try_make<shape_kind, more_shapes>("shape.circle", {{"r", 1}});
    REQUIRE_FALSE(extra.ok());
    CHECK(extra.error().id == "rscovlm.registry.bad_param");
    CHECK(reg::try_make<shape_kind, more_shapes>("shape.circle").value()->area() == 3.0);
}

TEST_CASE("core: pipeline from presets") {
    auto p = test_pipeline::from_string(R"({"name": "t", "components": [
        {"kind": "shape", "key": "shape.rectangle", "params": {"w": 2, "h": 2}},
        {"kind": "counter", "key": "counter.a"}]})");
    CHECK(p.name() == "t");
    CHECK(p.get<shape_kind>().area() == 4.0);
    CHECK(p.has<counter_kind>());
    auto again = test_pipeline::from_json(p.to_json());
    CHECK(again.get<shape_kind>().area() == 4.0);

    CHECK(error_id([] { test_pipeline::from_string("{\"name\": \"t\", \"components\": [}"); }) ==
          "rscovlm.config.bad_json");
    CHECK(error_id([] { test_pipeline::from_string("[]"); }) == "rscovlm.config.bad_preset");
    CHECK(error_id([] { test_pipeline::from_string(R"({"name": "t"})"); }) == "rscovlm.config.bad_preset");
    CHECK(error_id([] { test_pipeline::from_string(R"({"name": "t", "components": [{"kind": "shape"}]})"); }) ==
          "rscovlm.config.bad_preset");
    CHECK(error_id([] {
              test_pipeline::from_string(R"({"name": "t", "components": [{"kind": "planet", "key": "x"}]})");
          }) == "rscovlm.registry.unknown_kind");
    CHECK(error_id([] {
              test_pipeline::from_string(R"({"name": "t", "components": [{"kind": "shape", "key": "shape.x"}]})");
          }) == "rscovlm.registry.unknown_key");
    CHECK(error_id([] {
              test_pipeline::from_string(R"({"name": "t", "components": [{"kind": "shape", "key": "counter.a"}]})");
          }) == "rscovlm.registry.wrong_kind");
    CHECK(error_id([] {
              test_pipeline::from_string(
                  R"({"name": "t", "components": [{"kind": "shape", "key": "shape.rectangle", "params": {"w": 1}}]})");
          }) == "rscovlm.registry.bad_param");
    CHECK(error_id([] { test_pipeline::from_string(R"({"name": "t", "components": []})").get<shape_kind>(); }) ==
          "rscovlm.registry.missing_component");
    CHECK(error_id([] { test_pipeline::from_file("/nonexistent/preset.json"); }) == "rscovlm.io.open_failed");
}
