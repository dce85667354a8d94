#pragma once
/// \file pipeline/pipeline.hpp
/// A pipeline: components chosen by key from a JSON preset and built through the registry.
///
/// Preset format (`registry/presets/*.json`):
/// ```json
/// {"name": "dota-quad-detection", "description": "...", "task": "detection" (optional),
///  "components": [{"kind": "resolution", "key": "resize.smart", "params": {...}}, ...]}
/// ```
/// Errors: malformed JSON -> `rscovlm.config.bad_json`; a missing field or wrong JSON type ->
/// `rscovlm.config.bad_preset`; an unknown kind -> `rscovlm.registry.unknown_kind`; a key that is
/// not in its kind's catalog -> `rscovlm.registry.unknown_key` (or `wrong_kind` when the key belongs
/// to another kind); bad parameters -> `rscovlm.registry.bad_param`.

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/pipeline/kinds.hpp>
#include <rscovlm/registry.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::pipeline {

/// One built component of a pipeline.
struct component_instance {
    std::string kind;               ///< kind name, e.g. "box_codec"
    std::string key;                ///< component key, e.g. "codec.quad.plain"
    nlohmann::json params;          ///< the parameters it was built from
    std::shared_ptr<void> instance; ///< the object, as its kind's interface
};

namespace detail {
template <class Kinds> struct kinds_ops;
template <class... Es> struct kinds_ops<registry::type_list<Es...>> {
    static std::vector<std::string_view> names() { return {Es::kind::name...}; }
    /// Builds `key` of kind `kind`; false if no such kind.
    static bool build(std::string_view kind, std::string_view key, const nlohmann::json& params,
                      std::shared_ptr<void>& out) {
        bool found = false;
        (void)kind, (void)key, (void)params, (void)out;
        ((!found && Es::kind::name == kind ? (build_one<Es>(key, params, out), found = true) : false), ...);
        return found;
    }
    template <class E>
    static void build_one(std::string_view key, const nlohmann::json& params, std::shared_ptr<void>& out) {
        if (!registry::contains<typename E::catalog>(key)) {
            std::string_view other = kind_of(key);
            if (!other.empty())
                RSCOVLM_THROW(registry_error, "wrong_kind",
                              "component '" + std::string(key) + "' is a " + std::string(other) + " component, not a " +
                                  std::string(E::kind::name) + " one");
        }
        out = std::shared_ptr<typename E::kind::interface>(
            registry::make<typename E::kind, typename E::catalog>(key, params));
    }
    /// The name of the kind whose catalog holds `key`, or "".
    static std::string_view kind_of(std::string_view key) {
        std::string_view k;
        (void)key;
        ((k.empty() && registry::contains<typename Es::catalog>(key) ? (k = Es::kind::name, true) : false), ...);
        return k;
    }
    /// Every component of every kind, described as JSON.
    static nlohmann::json describe() {
        nlohmann::json arr = nlohmann::json::array();
        (
            [&] {
                for (auto& e : registry::describe<typename Es::kind, typename Es::catalog>())
                    arr.push_back(e);
            }(),
            ...);
        return arr;
    }
};
} // namespace detail

/// Every component of every kind in `Kinds`, as JSON objects {kind, key, type, backend, summary}.
template <class Kinds = core_kinds> nlohmann::json describe_components() {
    return detail::kinds_ops<Kinds>::describe();
}

/// The names of the kinds in `Kinds`.
template <class Kinds = core_kinds> std::vector<std::string_view> kind_names() {
    return detail::kinds_ops<Kinds>::names();
}

/// A chain of components assembled by name. `Kinds` lists the kinds it may hold (the core ones by
/// default; plugins pass a longer list).
template <class Kinds = core_kinds> class basic_pipeline {
public:
    /// Builds a pipeline from a parsed preset.
    static basic_pipeline from_json(const nlohmann::json& preset, const std::string& origin = "preset") {
        if (!preset.is_object()) RSCOVLM_THROW(config_error, "bad_preset", origin + ": a preset must be a JSON object");
        basic_pipeline p;
        p.m_name = string_field(preset, "name", origin, true);
        p.m_description = string_field(preset, "description", origin, false);
        p.m_task = string_field(preset, "task", origin, false);
        auto it = preset.find("components");
        if (it == preset.end() || !it->is_array())
            RSCOVLM_THROW(config_error, "bad_preset", origin + ": 'components' must be an array");
        std::size_t i = 0;
        for (const auto& c : *it) {
            std::string where = origin + ": components[" + std::to_string(i++) + "]";
            if (!c.is_object()) RSCOVLM_THROW(config_error, "bad_preset", where + " must be an object");
            std::string kind = string_field(c, "kind", where, true);
            std::string key = string_field(c, "key", where, true);
            nlohmann::json params = c.contains("params") ? c.at("params") : nlohmann::json::object();
            p.add(kind, key, params);
        }
        return p;
    }

    /// Parses preset text; malformed JSON raises `rscovlm.config.bad_json` with the parser's position.
    static basic_pipeline from_string(std::string_view text, const std::string& origin = "preset") {
        nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
        if (j.is_discarded()) {
            // Parse again with exceptions only to obtain the position message.
            std::string why = "not valid JSON";
#if RSCOVLM_HAS_EXCEPTIONS
            try {
                nlohmann::json unused = nlohmann::json::parse(text.begin(), text.end());
                (void)unused;
            } catch (const nlohmann::json::parse_error& e) {
                why = e.what();
            }
#endif
            RSCOVLM_THROW(config_error, "bad_json", origin + ": " + why);
        }
        return from_json(j, origin);
    }

    /// Reads and parses a preset file.
    static basic_pipeline from_file(const std::string& path) {
        return from_string(
            ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open preset file '" + path + "'"),
            path);
    }

    /// Adds a component built from `kind`, `key` and `params`.
    basic_pipeline& add(const std::string& kind, const std::string& key, const nlohmann::json& params = {}) {
        std::shared_ptr<void> obj;
        auto ops = detail::kinds_ops<Kinds>{};
        if (!ops.build(kind, key, params, obj)) {
            std::string known;
            for (auto n : ops.names())
                known += (known.empty() ? "" : ", ") + std::string(n);
            RSCOVLM_THROW(registry_error, "unknown_kind",
                          "unknown component kind '" + kind + "' (known: " + known + ")");
        }
        m_components.push_back({kind, key, params, std::move(obj)});
        return *this;
    }

    const std::string& name() const noexcept {
        return m_name;
    }
    const std::string& description() const noexcept {
        return m_description;
    }
    /// What running the pipeline does ("detection", "grounding", "vqa"; "" = inferred, see
    /// `pipeline/run.hpp`).
    const std::string& task() const noexcept {
        return m_task;
    }
    const std::vector<component_instance>& components() const noexcept {
        return m_components;
    }

    /// True if a component of `Kind` is present.
    template <class Kind> bool has() const {
        return find(Kind::name) != nullptr;
    }

    /// The first component of `Kind`; raises `rscovlm.registry.missing_component` if absent.
    template <class Kind> typename Kind::interface& get() const {
        const component_instance* c = find(Kind::name);
        if (!c)
            RSCOVLM_THROW(registry_error, "missing_component",
                          "pipeline '" + m_name + "' has no " + std::string(Kind::name) + " component");
        return *static_cast<typename Kind::interface*>(c->instance.get());
    }

    /// The preset as JSON (round-trips through from_json).
    nlohmann::json to_json() const {
        nlohmann::json comps = nlohmann::json::array();
        for (const auto& c : m_components)
            comps.push_back({{"kind", c.kind}, {"key", c.key}, {"params", c.params}});
        nlohmann::json j = {{"name", m_name}, {"description", m_description}, {"components", comps}};
        if (!m_task.empty()) j["task"] = m_task;
        return j;
    }

private:
    const component_instance* find(std::string_view kind) const {
        for (const auto& c : m_components)
            if (c.kind == kind) return &c;
        return nullptr;
    }
    static std::string string_field(const nlohmann::json& j, const char* name, const std::string& where,
                                    bool required) {
        auto it = j.find(name);
        if (it == j.end()) {
            if (required) RSCOVLM_THROW(config_error, "bad_preset", where + ": missing '" + name + "'");
            return {};
        }
        if (!it->is_string()) RSCOVLM_THROW(config_error, "bad_preset", where + ": '" + name + "' must be a string");
        return it->template get<std::string>();
    }

    std::string m_name;
    std::string m_description;
    std::string m_task;
    std::vector<component_instance> m_components;
};

/// The pipeline over the core kinds.
using pipeline = basic_pipeline<core_kinds>;

} // namespace rscovlm::pipeline
