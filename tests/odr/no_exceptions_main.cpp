// Built with -fno-exceptions together with no_exceptions.cpp: the try_ entry points return their
// results, and a throwing entry point calls the installed handler, prints the error's report and
// aborts (checked by check_no_exceptions.py: SIGABRT, the handler's line, the report, nothing after).
#include <rscovlm/errors.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/registry.hpp>

#include <cstdio>

int rscovlm_no_exceptions_probe();
int rscovlm_no_exceptions_try_make();

namespace {
void report_to_stdout(const rscovlm::error& e) {
    std::printf("handler: %s\n", e.id().c_str());
    std::fflush(stdout);
}
} // namespace

int main() {
    if (rscovlm_no_exceptions_probe() != 42) return 2;
    if (rscovlm_no_exceptions_try_make() != 0) return 3;
    if (rscovlm::set_error_handler(&report_to_stdout) != nullptr) return 4;
    std::puts("try_ entry points returned");
    std::fflush(stdout);
    auto r = rscovlm::registry::try_make<rscovlm::box_codec::kind>("codec.none");
    (void)r.value(); // an error: the handler runs, the report is printed, then abort()
    std::puts("not reached");
    return 0;
}
