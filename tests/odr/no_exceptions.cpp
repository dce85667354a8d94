// Compiled with -fno-exceptions: the error machinery, the registry and the pipeline must build in
// no-exceptions mode (throwing entry points report and abort; try_ entry points still return).
#include <rscovlm/errors.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/registry.hpp>

int rscovlm_no_exceptions_probe() {
    auto r = rscovlm::try_call([] { return 42; });
    return r.ok() ? r.value() : 0;
}

// try_make reports an unknown key in its result without exceptions.
int rscovlm_no_exceptions_try_make() {
    auto r = rscovlm::registry::try_make<rscovlm::box_codec::kind>("codec.none");
    return r.ok() ? 1 : 0;
}
