// Must not compile: two components of one catalog share the key "shape.triangle".
#include "common.hpp"

using shapes = rscovlm::registry::type_list<cf::triangle, cf::square, cf::other_triangle>;

int main() {
#if defined(RSCOVLM_CF_FIND)
    constexpr std::size_t i = rscovlm::registry::find<shapes>("shape.square");
    return static_cast<int>(i);
#elif defined(RSCOVLM_CF_TRY_MAKE)
    return rscovlm::registry::try_make<cf::shape_kind, shapes>("shape.square").ok() ? 0 : 1;
#else
    return rscovlm::registry::make<cf::shape_kind, shapes>("shape.square") ? 0 : 1;
#endif
}
