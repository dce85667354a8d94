// The `backend` registry kind: the scripted backend built by key, as a preset or the CLI does.
#include <doctest/doctest.h>

#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/zoom/all.hpp>

#include <string>
#include <vector>

TEST_CASE("zoom: backend kind catalog and the scripted backend by key") {
    namespace reg = rscovlm::registry;
    namespace zm = rscovlm::zoom;
    static_assert(reg::find<zm::builtin_backends>("backend.scripted") == 0);
    CHECK(std::string(zm::backend_kind::name) == "backend");
    auto b = reg::make<zm::backend_kind>("backend.scripted", {{"replies", {"a", "b"}}, {"repeat_last", true}});
    const nlohmann::json msgs = nlohmann::json::array({{{"role", "user"}, {"content", "q"}}});
    CHECK(b->generate(msgs, {}, {}) == "a");
    CHECK(b->generate(msgs, {}, {}) == "b");
    CHECK(b->generate(msgs, {}, {}) == "b");
    auto once = reg::make<zm::backend_kind>("backend.scripted", {{"replies", {"only"}}});
    CHECK(once->generate(msgs, {}, {}) == "only");
    CHECK_THROWS_AS(once->generate(msgs, {}, {}), rscovlm::zoom_error);

    auto none = reg::try_make<zm::backend_kind>("backend.scripted", {{"replies", nlohmann::json::array()}});
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().id == "rscovlm.registry.bad_param");
    auto missing = reg::try_make<zm::backend_kind>("backend.scripted");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().id == "rscovlm.registry.bad_param");
    auto unknown = reg::try_make<zm::backend_kind>("backend.nothing");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().id == "rscovlm.registry.unknown_key");

    // A preset may hold the backend entry.
    auto p = rscovlm::pipeline::pipeline::from_string(R"({"name": "b", "components": [
        {"kind": "backend", "key": "backend.scripted", "params": {"replies": ["x"]}}]})");
    CHECK(p.get<zm::backend_kind>().generate(msgs, {}, {}) == "x");
}
