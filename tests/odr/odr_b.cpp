// ODR check, translation unit B: the same headers again; linking A and B together fails on any
// non-inline definition in a header.
#include "odr_all.hpp"

int odr_b() {
    return static_cast<int>(rscovlm::pipeline::kind_names().size());
}
