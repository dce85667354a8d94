// ODR check, translation unit A: everything the library offers, core and io.
#include "odr_all.hpp"

int odr_a() {
    return static_cast<int>(rscovlm::pipeline::describe_components().size());
}
