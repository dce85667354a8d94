#pragma once
/// \file registry.hpp
/// Compile-time component catalogs.
///
/// A *kind* (tokenizer, resolution, box_codec, ...) is a struct with `name`, `interface` (the
/// abstract base its components derive from) and `builtin_list` (its catalog). A *component* is a
/// type with `static constexpr std::string_view key` and `summary`, optionally `backend` ("core"
/// by default, or "io"/"torch"), and either `static T from_params(registry::params&)` or a default
/// constructor. Components derive from `registry::component<Self, Interface>`, which implements the
/// runtime `component_key()` of `keyed` interfaces from `Self::key`. Catalogs are type lists:
/// lookup by key is `constexpr`, duplicate keys and components of another interface are a
/// `static_assert`, and runtime selection by string is a fold over the same list, built on demand
/// (no static-initialisation registrars, so amalgamation and static linking change nothing).
/// `make` raises on an unknown key; `try_make` returns a `result`.
/// Users extend a catalog by composing lists: `registry::append_t<box_codec::builtin, my_codec>`.

#include <rscovlm/errors.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rscovlm::registry {

/// "Not found" index.
inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

/// An ordered list of component types: a catalog.
template <class... Ts> struct type_list { static constexpr std::size_t size = sizeof...(Ts); };

/// Wraps a type so a generic lambda can receive it: `[](auto t) { using T = typename decltype(t)::type; }`.
template <class T> struct tag { using type = T; };

class params;

namespace detail {
template <class L, class... Ts> struct append;
template <class... Ls, class... Ts> struct append<type_list<Ls...>, Ts...> { using type = type_list<Ls..., Ts...>; };
template <class L1, class L2> struct concat;
template <class... As, class... Bs> struct concat<type_list<As...>, type_list<Bs...>> {
    using type = type_list<As..., Bs...>;
};
template <class L> struct keys_of;
template <class... Ts> struct keys_of<type_list<Ts...>> {
    static constexpr std::array<std::string_view, sizeof...(Ts)> value{{Ts::key...}};
};
template <class L, std::size_t I> struct at;
template <class... Ts, std::size_t I> struct at<type_list<Ts...>, I> {
    using type = std::tuple_element_t<I, std::tuple<Ts...>>;
};

template <class L> struct visitor;
template <class... Ts> struct visitor<type_list<Ts...>> {
    template <class F> static bool run(std::string_view key, F& f) {
        bool found = false;
        ((!found && Ts::key == key ? (f(tag<Ts>{}), found = true) : false), ...);
        return found;
    }
    template <class F> static void all(F& f) { (f(tag<Ts>{}), ...); }
};

template <class T, class = void> struct has_from_params : std::false_type {};
template <class T>
struct has_from_params<T, std::void_t<decltype(T::from_params(std::declval<::rscovlm::registry::params&>()))>>
    : std::true_type {};

template <class T, class = void> struct backend_of { static constexpr std::string_view value = "core"; };
template <class T> struct backend_of<T, std::void_t<decltype(T::backend)>> {
    static constexpr std::string_view value = T::backend;
};

/// The spelled name of T, from the compiler's function signature (gcc, clang, msvc).
template <class T> constexpr std::string_view type_name() {
#if defined(__clang__)
    constexpr std::string_view p = __PRETTY_FUNCTION__;
    constexpr std::string_view pre = "T = ";
    constexpr std::string_view post = "]";
#elif defined(__GNUC__)
    constexpr std::string_view p = __PRETTY_FUNCTION__;
    constexpr std::string_view pre = "T = ";
    constexpr std::string_view post = ";";
#else
    constexpr std::string_view p = __FUNCSIG__;
    constexpr std::string_view pre = "type_name<";
    constexpr std::string_view post = ">(void)";
#endif
    std::size_t b = p.find(pre) + pre.size();
    std::size_t e = p.find(post, b);
    if (e == std::string_view::npos) e = p.size() - 1;
    std::string_view s = p.substr(b, e - b);
    if (s.substr(0, 6) == "class ") s.remove_prefix(6);
    if (s.substr(0, 7) == "struct ") s.remove_prefix(7);
    return s;
}
} // namespace detail

/// `L` with `Ts...` appended.
template <class L, class... Ts> using append_t = typename detail::append<L, Ts...>::type;
/// Two catalogs joined.
template <class L1, class L2> using concat_t = typename detail::concat<L1, L2>::type;
/// The I-th type of `L`.
template <class L, std::size_t I> using at_t = typename detail::at<L, I>::type;

/// True when every key of `L` is distinct (checked at compile time by every lookup).
template <class L> constexpr bool unique_keys() {
    constexpr auto& k = detail::keys_of<L>::value;
    for (std::size_t i = 0; i < k.size(); ++i)
        for (std::size_t j = i + 1; j < k.size(); ++j)
            if (k[i] == k[j]) return false;
    return true;
}

/// Index of `key` in `L`, or `npos`. Usable in constant expressions.
template <class L> constexpr std::size_t find(std::string_view key) {
    static_assert(unique_keys<L>(), "rscovlm registry: two components of this catalog share the same key");
    constexpr auto& k = detail::keys_of<L>::value;
    for (std::size_t i = 0; i < k.size(); ++i)
        if (k[i] == key) return i;
    return npos;
}

/// True if `L` has a component with `key`.
template <class L> constexpr bool contains(std::string_view key) {
    return find<L>(key) != npos;
}

/// The keys of `L`, in catalog order.
template <class L> std::vector<std::string_view> keys() {
    static_assert(unique_keys<L>(), "rscovlm registry: two components of this catalog share the same key");
    constexpr auto& k = detail::keys_of<L>::value;
    return std::vector<std::string_view>(k.begin(), k.end());
}

/// Calls `f(tag<T>{})` for the component of `L` whose key is `key`; returns false if none.
template <class L, class F> bool visit(std::string_view key, F&& f) {
    static_assert(unique_keys<L>(), "rscovlm registry: two components of this catalog share the same key");
    return detail::visitor<L>::run(key, f);
}

/// Calls `f(tag<T>{})` for every component of `L`, in order.
template <class L, class F> void for_each(F&& f) {
    detail::visitor<L>::all(f);
}

/// Base of the kind interfaces whose components report their key at run time
/// (`component_key()`); `registry::component` implements it from `Self::key`.
class keyed {
public:
    virtual ~keyed() = default;
    /// The component's registry key (`Self::key`).
    virtual std::string_view component_key() const noexcept = 0;
};

namespace detail {
template <class Self, class Interface, bool Keyed = std::is_base_of_v<keyed, Interface>> class component_base
    : public Interface {
public:
    using Interface::Interface;
};
template <class Self, class Interface> class component_base<Self, Interface, true> : public Interface {
public:
    using Interface::Interface;
    std::string_view component_key() const noexcept override { return Self::key; }
};
} // namespace detail

/// CRTP base of a component: `class my_codec : public registry::component<my_codec, box_codec::codec>`.
/// Derives from `Interface` and, when the interface is `keyed`, implements `component_key()` from
/// `Self::key`, so the static key is the only place the key is written.
template <class Self, class Interface> class component : public detail::component_base<Self, Interface> {
public:
    using detail::component_base<Self, Interface>::component_base;
    /// The kind interface this component implements.
    using interface_type = Interface;
};

namespace detail {
template <class I, class L> struct all_derive;
template <class I, class... Ts> struct all_derive<I, type_list<Ts...>> {
    static constexpr bool value = (std::is_base_of_v<I, Ts> && ...);
};
/// The compile-time checks shared by `make` and `try_make`.
template <class Kind, class L> constexpr bool check_catalog() {
    static_assert(unique_keys<L>(), "rscovlm registry: two components of this catalog share the same key");
    static_assert(all_derive<typename Kind::interface, L>::value,
                  "rscovlm registry: a component must derive from its kind's interface");
    return true;
}
} // namespace detail

/// Reader over a component's JSON parameters. Tracks which names were read so that `finish()`
/// can reject unknown ones; a missing required or mistyped parameter raises
/// `rscovlm.registry.bad_param` naming the component and the parameter.
class params {
public:
    params(const nlohmann::json& j, std::string_view component) : m_component(component) {
        if (j.is_null()) {
            m_json = nlohmann::json::object();
        } else if (j.is_object()) {
            m_json = j;
        } else {
            RSCOVLM_THROW(registry_error, "bad_param",
                          "parameters of component '" + m_component + "' must be a JSON object, got " +
                              std::string(j.type_name()));
        }
    }

    /// The component key these parameters belong to.
    const std::string& component() const noexcept { return m_component; }
    /// The raw JSON object.
    const nlohmann::json& json() const noexcept { return m_json; }
    /// True if the parameter is present (marks it as known).
    bool has(const std::string& name) {
        m_known.insert(name);
        return m_json.contains(name);
    }

    /// The parameter converted to T, or `fallback` if absent.
    template <class T> T get(const std::string& name, T fallback) {
        m_known.insert(name);
        auto it = m_json.find(name);
        if (it == m_json.end()) return fallback;
        return convert<T>(name, *it);
    }
    /// The parameter converted to T; raises bad_param if absent.
    template <class T> T require(const std::string& name) {
        m_known.insert(name);
        auto it = m_json.find(name);
        if (it == m_json.end())
            RSCOVLM_THROW(registry_error, "bad_param",
                          "component '" + m_component + "' requires parameter '" + name + "'");
        return convert<T>(name, *it);
    }
    /// Raises bad_param if `value` does not satisfy `ok` (for range checks in from_params).
    void check(bool ok, const std::string& name, const std::string& why) const {
        if (!ok)
            RSCOVLM_THROW(registry_error, "bad_param",
                          "component '" + m_component + "' parameter '" + name + "': " + why);
    }
    /// Raises bad_param naming every parameter that no `get`/`require`/`has` asked for.
    void finish() const {
        std::string unknown;
        for (auto it = m_json.begin(); it != m_json.end(); ++it)
            if (!m_known.count(it.key())) unknown += (unknown.empty() ? "'" : ", '") + it.key() + "'";
        if (!unknown.empty()) {
            std::string known;
            for (const auto& k : m_known)
                known += (known.empty() ? "" : ", ") + k;
            RSCOVLM_THROW(registry_error, "bad_param",
                          "unknown parameter " + unknown + " for component '" + m_component +
                              "' (known: " + (known.empty() ? std::string("none") : known) + ")");
        }
    }

private:
    template <class T> T convert(const std::string& name, const nlohmann::json& v) const {
        bool ok = true;
        if constexpr (std::is_same_v<T, bool>) {
            ok = v.is_boolean();
        } else if constexpr (std::is_integral_v<T>) {
            ok = v.is_number_integer() ||
                 (v.is_number_float() &&
                  v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())));
            if (ok && std::is_unsigned_v<T> && v.is_number_integer() && v.get<long long>() < 0) ok = false;
        } else if constexpr (std::is_floating_point_v<T>) {
            ok = v.is_number();
        } else if constexpr (std::is_same_v<T, std::string>) {
            ok = v.is_string();
        } else if constexpr (std::is_same_v<T, nlohmann::json>) {
            return v;
        }
        if (!ok) type_error(name, v);
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            if (v.is_number_float()) return static_cast<T>(v.get<double>());
        }
#if RSCOVLM_HAS_EXCEPTIONS
        try {
            return v.get<T>();
        } catch (const nlohmann::json::exception&) {
            type_error(name, v);
        }
#else
        return v.get<T>();
#endif
    }
    [[noreturn]] void type_error(const std::string& name, const nlohmann::json& v) const {
        RSCOVLM_THROW(registry_error, "bad_param",
                      "component '" + m_component + "' parameter '" + name + "' has the wrong type (" +
                          std::string(v.type_name()) + ": " + v.dump() + ")");
    }

    nlohmann::json m_json;
    std::string m_component;
    std::set<std::string> m_known;
};

namespace detail {
/// Builds the component `key` of `L` into `out`; false if `L` has no such key.
template <class Kind, class L>
bool make_into(std::string_view key, const nlohmann::json& j, std::unique_ptr<typename Kind::interface>& out) {
    using I = typename Kind::interface;
    static_assert(check_catalog<Kind, L>());
    return visit<L>(key, [&](auto t) {
        using T = typename decltype(t)::type;
        static_assert(std::is_base_of_v<I, T>, "rscovlm registry: a component must derive from its kind's interface");
        params p(j, T::key);
        if constexpr (has_from_params<T>::value) {
            out = std::make_unique<T>(T::from_params(p));
        } else {
            static_assert(
                std::is_default_constructible_v<T>,
                "rscovlm registry: a component needs from_params(registry::params&) or a default constructor");
            out = std::make_unique<T>();
        }
        p.finish();
    });
}
/// The `unknown_key` error of `make` and `try_make`.
template <class Kind, class L> error_info unknown_key(std::string_view key) {
    std::string known;
    for (auto k : keys<L>())
        known += (known.empty() ? "" : ", ") + std::string(k);
    return error_info{"rscovlm.registry.unknown_key",
                      "unknown " + std::string(Kind::name) + " component '" + std::string(key) +
                          "' (known: " + (known.empty() ? std::string("none") : known) + ")"};
}
} // namespace detail

/// Builds the component `key` of catalog `L` (a kind's `builtin_list` by default) from JSON
/// parameters. Raises `rscovlm.registry.unknown_key` (naming the known keys) or `bad_param`.
template <class Kind, class L = typename Kind::builtin_list>
std::unique_ptr<typename Kind::interface> make(std::string_view key, const nlohmann::json& j = nlohmann::json()) {
    std::unique_ptr<typename Kind::interface> out;
    if (!detail::make_into<Kind, L>(key, j, out)) {
        const error_info e = detail::unknown_key<Kind, L>(key);
        RSCOVLM_THROW(registry_error, "unknown_key", e.message);
    }
    return out;
}

/// Like `make`, but reports failure in the result instead of raising: an unknown key gives
/// `rscovlm.registry.unknown_key` (in every build, exceptions or not); errors raised while building
/// (`bad_param`, a component's own errors) are caught as by `try_call` when exceptions are enabled.
template <class Kind, class L = typename Kind::builtin_list> result<std::unique_ptr<typename Kind::interface>>
try_make(std::string_view key, const nlohmann::json& j = nlohmann::json()) {
    using P = std::unique_ptr<typename Kind::interface>;
    static_assert(detail::check_catalog<Kind, L>());
    if (!contains<L>(key)) return result<P>(detail::unknown_key<Kind, L>(key));
    return try_call([&]() -> P {
        P out;
        detail::make_into<Kind, L>(key, j, out);
        return out;
    });
}

/// One catalog entry described as JSON: {"kind", "key", "type", "backend", "summary"}.
template <class Kind, class L = typename Kind::builtin_list> nlohmann::json describe() {
    nlohmann::json arr = nlohmann::json::array();
    for_each<L>([&](auto t) {
        using T = typename decltype(t)::type;
        arr.push_back({{"kind", std::string(Kind::name)},
                       {"key", std::string(T::key)},
                       {"type", std::string(detail::type_name<T>())},
                       {"backend", std::string(detail::backend_of<T>::value)},
                       {"summary", std::string(T::summary)}});
    });
    return arr;
}

} // namespace rscovlm::registry

/// The component of catalog `L` with key `KEY`, resolved at compile time:
/// `using codec = RSCOVLM_COMPONENT(rscovlm::box_codec::builtin, "codec.quad.plain");`
#define RSCOVLM_COMPONENT(L, KEY) ::rscovlm::registry::at_t<L, ::rscovlm::registry::detail::checked_index<L>(KEY)>

namespace rscovlm::registry::detail {
inline void no_component_with_this_key_in_the_catalog() {}
template <class L> constexpr std::size_t checked_index(std::string_view key) {
    std::size_t i = find<L>(key);
    // Reaching the non-constexpr call below in a constant expression is the compile error that
    // reports an unknown key.
    if (i == npos) no_component_with_this_key_in_the_catalog();
    return i;
}
} // namespace rscovlm::registry::detail
