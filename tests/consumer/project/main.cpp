// A downstream program: builds a pipeline from an inline preset and lists the components.
#include <rscovlm/rscovlm.hpp>

#include <cstdio>

int main() {
#if defined(RSCOVLM_CONSUMER_SINGLE) && !defined(RSCOVLM_SINGLE_HEADER)
    std::puts("expected the single header");
    return 1;
#endif
    auto comps = rscovlm::pipeline::describe_components();
    std::printf("rscovlm %s: %zu components\n", rscovlm::version_string, comps.size());
    auto r = rscovlm::try_call([] { return rscovlm::pipeline::pipeline::from_string("{not json"); });
    if (r.ok() || r.error().id != "rscovlm.config.bad_json") return 1;
    return comps.empty() ? 1 : 0;
}
