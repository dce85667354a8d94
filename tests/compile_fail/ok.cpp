// Positive control: the same kinds and components used correctly compile, so the compile-fail
// tests beside it fail for the reason they name, not for a broken include path or setup.
#include "common.hpp"

using shapes = rscovlm::registry::type_list<cf::triangle, cf::square>;
static_assert(rscovlm::registry::find<shapes>("shape.square") == 1);

int main() {
    auto s = rscovlm::registry::make<cf::shape_kind, shapes>("shape.triangle");
    auto t = rscovlm::registry::try_make<cf::shape_kind, shapes>("shape.circle");
    auto c = rscovlm::registry::make<cf::colour_kind, rscovlm::registry::type_list<cf::red>>("colour.red");
    return (s->component_key() == "shape.triangle" && !t.ok() && c) ? 0 : 1;
}
