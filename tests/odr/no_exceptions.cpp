// Compiled with -fno-exceptions: the error machinery, the registry and the pipeline must build in
// no-exceptions mode (throwing entry points report and abort; try_ entry points still return).
#include <rscovlm/errors.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/registry.hpp>

int rscovlm_no_exceptions_probe() {
    auto r = rscovlm::try_call([] { return 42; });
    return r.ok() ? r.value() : 0;
}
