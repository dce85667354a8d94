// Shared by the compile-fail tests: a tiny kind with two components, over registry.hpp alone.
#pragma once
#include <rscovlm/registry.hpp>

#include <string_view>

namespace cf {

struct shape : rscovlm::registry::keyed {
    virtual int sides() const = 0;
};
struct shape_kind {
    static constexpr std::string_view name = "shape";
    using interface = shape;
    using builtin_list = rscovlm::registry::type_list<>;
};

struct colour {
    virtual ~colour() = default;
};
struct colour_kind {
    static constexpr std::string_view name = "colour";
    using interface = colour;
    using builtin_list = rscovlm::registry::type_list<>;
};

struct triangle : rscovlm::registry::component<triangle, shape> {
    static constexpr std::string_view key = "shape.triangle";
    static constexpr std::string_view summary = "three sides";
    int sides() const override { return 3; }
};
struct square : rscovlm::registry::component<square, shape> {
    static constexpr std::string_view key = "shape.square";
    static constexpr std::string_view summary = "four sides";
    int sides() const override { return 4; }
};
/// Same key as `triangle`.
struct other_triangle : rscovlm::registry::component<other_triangle, shape> {
    static constexpr std::string_view key = "shape.triangle";
    static constexpr std::string_view summary = "three sides, again";
    int sides() const override { return 3; }
};
/// A colour component.
struct red : rscovlm::registry::component<red, colour> {
    static constexpr std::string_view key = "colour.red";
    static constexpr std::string_view summary = "red";
};

} // namespace cf
