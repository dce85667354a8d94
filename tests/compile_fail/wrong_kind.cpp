// Must not compile: a colour component made through the shape kind (its interface is not the kind's).
#include "common.hpp"

using mixed = rscovlm::registry::type_list<cf::triangle, cf::red>;

int main() {
#if defined(RSCOVLM_CF_TRY_MAKE)
    return rscovlm::registry::try_make<cf::shape_kind, mixed>("shape.triangle").ok() ? 0 : 1;
#else
    return rscovlm::registry::make<cf::shape_kind, mixed>("shape.triangle") ? 0 : 1;
#endif
}
