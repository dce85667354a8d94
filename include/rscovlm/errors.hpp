#pragma once
/// \file errors.hpp
/// The rscovlm error hierarchy, `result<T>` and the `try_` helpers.
///
/// Every error carries a stable id `rscovlm.<area>.<code>`; `what()` is
/// `"[rscovlm.<area>.<code>] message"`, so one stderr line names both the kind of failure and the
/// offending input. Ids are part of the API: scripts may match on them.

#include <rscovlm/config.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rscovlm {

/// Base of every rscovlm exception.
class error : public std::runtime_error {
public:
    error(std::string_view area, std::string_view code, const std::string& message)
        : std::runtime_error(format(area, code, message)), m_id(make_id(area, code)), m_message(message) {}

    /// Stable identifier, e.g. "rscovlm.tokenizer.bad_json".
    const std::string& id() const noexcept { return m_id; }
    /// The message without the id prefix.
    const std::string& message() const noexcept { return m_message; }

private:
    static std::string make_id(std::string_view area, std::string_view code) {
        std::string s = "rscovlm.";
        s.append(area.data(), area.size());
        s.push_back('.');
        s.append(code.data(), code.size());
        return s;
    }
    static std::string format(std::string_view area, std::string_view code, const std::string& message) {
        return "[" + make_id(area, code) + "] " + message;
    }
    std::string m_id;
    std::string m_message;
};

#define RSCOVLM_DEFINE_ERROR(name, area)                                                                               \
    class name : public ::rscovlm::error {                                                                             \
    public:                                                                                                            \
        static constexpr std::string_view area_name = area;                                                            \
        name(std::string_view code, const std::string& message) : ::rscovlm::error(area, code, message) {}             \
    };

/// Invalid configuration or preset contents.
RSCOVLM_DEFINE_ERROR(config_error, "config")
/// Unknown component key, wrong kind, bad component parameter.
RSCOVLM_DEFINE_ERROR(registry_error, "registry")
/// File system and file-format errors.
RSCOVLM_DEFINE_ERROR(io_error, "io")
/// Image decoding, limits and image operations.
RSCOVLM_DEFINE_ERROR(image_error, "image")
/// Tokenizer loading and encoding.
RSCOVLM_DEFINE_ERROR(tokenizer_error, "tokenizer")
/// Resolution strategies, smart_resize, preprocessing.
RSCOVLM_DEFINE_ERROR(resolution_error, "resolution")
/// Geometry (conversions, min-area rectangles).
RSCOVLM_DEFINE_ERROR(geometry_error, "geometry")
/// Box codecs (encoding side; decoding never throws).
RSCOVLM_DEFINE_ERROR(codec_error, "box_codec")
/// Evaluation inputs and protocols.
RSCOVLM_DEFINE_ERROR(eval_error, "eval")
/// Dataset readers, splitting, recipes, shards.
RSCOVLM_DEFINE_ERROR(data_error, "data")
/// Zoom-in Chain controller and backends.
RSCOVLM_DEFINE_ERROR(zoom_error, "zoom")
/// LibTorch model plugin.
RSCOVLM_DEFINE_ERROR(model_error, "torch")
/// A configured safety limit (pixels, bytes, lengths) was exceeded.
RSCOVLM_DEFINE_ERROR(limit_error, "limit")
/// Command-line usage errors.
RSCOVLM_DEFINE_ERROR(usage_error, "usage")

#undef RSCOVLM_DEFINE_ERROR

/// Plain description of an error, as stored by `result<T>`.
struct error_info {
    std::string id;      ///< "rscovlm.<area>.<code>"
    std::string message; ///< message without the id prefix
    /// "[id] message", the same text as the exception's what().
    std::string what() const { return "[" + id + "] " + message; }
};

/// Handler called in no-exceptions mode before aborting.
using error_handler = void (*)(const error&);

namespace detail {
inline error_handler& error_handler_slot() {
    static error_handler h = nullptr;
    return h;
}
[[noreturn]] inline void fail(const error& e) {
    if (error_handler h = error_handler_slot()) h(e);
    std::fputs(e.what(), stderr);
    std::fputc('\n', stderr);
    std::abort();
}
template <class E> [[noreturn]] inline void raise(E&& e) {
#if RSCOVLM_HAS_EXCEPTIONS
    throw std::forward<E>(e);
#else
    fail(e);
#endif
}
} // namespace detail

namespace detail {
/// An error rebuilt from its stored id "rscovlm.<area>.<code>" and message (same id, same what()).
inline ::rscovlm::error rethrown(const error_info& e) {
    std::string_view id = e.id;
    std::string_view rest = id.substr(id.find('.') == std::string_view::npos ? 0 : id.find('.') + 1);
    auto dot = rest.rfind('.');
    std::string_view area = dot == std::string_view::npos ? std::string_view("unknown") : rest.substr(0, dot);
    std::string_view code = dot == std::string_view::npos ? rest : rest.substr(dot + 1);
    return ::rscovlm::error(area, code, e.message);
}
} // namespace detail

/// Installs the handler used in no-exceptions mode; returns the previous one.
inline error_handler set_error_handler(error_handler h) {
    error_handler old = detail::error_handler_slot();
    detail::error_handler_slot() = h;
    return old;
}

/// Throws `ExType(code, msg)` (or, without exceptions, reports it and aborts).
#define RSCOVLM_THROW(ExType, code, msg) ::rscovlm::detail::raise(ExType((code), (msg)))

/// Either a value or an `error_info`. Returned by every `try_` entry point.
template <class T> class result {
public:
    result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
    result(error_info e) : m_v(std::in_place_index<1>, std::move(e)) {}

    bool ok() const noexcept { return m_v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    /// The value; throws `rscovlm::error` carrying the stored id if this holds an error.
    T& value() & {
        check();
        return std::get<0>(m_v);
    }
    const T& value() const& {
        check();
        return std::get<0>(m_v);
    }
    T&& value() && {
        check();
        return std::get<0>(std::move(m_v));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    template <class U> T value_or(U&& fallback) const& {
        return ok() ? std::get<0>(m_v) : static_cast<T>(std::forward<U>(fallback));
    }
    /// The error; only valid when !ok().
    const error_info& error() const { return std::get<1>(m_v); }

private:
    void check() const {
        if (!ok()) detail::raise(detail::rethrown(std::get<1>(m_v)));
    }
    std::variant<T, error_info> m_v;
};

/// `result<void>`: success or an error.
template <> class result<void> {
public:
    result() = default;
    result(error_info e) : m_e(std::move(e)) {}
    bool ok() const noexcept { return !m_e.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    void value() const {
        if (m_e) detail::raise(detail::rethrown(*m_e));
    }
    const error_info& error() const { return *m_e; }

private:
    std::optional<error_info> m_e;
};

/// Calls `f()`, converting a thrown `rscovlm::error` into a `result` holding its id and message.
/// Other exceptions propagate. Without exceptions this simply returns `f()`'s value.
template <class F> auto try_call(F&& f) -> result<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
#if RSCOVLM_HAS_EXCEPTIONS
    try {
        if constexpr (std::is_void_v<R>) {
            std::forward<F>(f)();
            return result<void>();
        } else {
            return result<R>(std::forward<F>(f)());
        }
    } catch (const ::rscovlm::error& e) {
        return result<R>(error_info{e.id(), e.message()});
    }
#else
    if constexpr (std::is_void_v<R>) {
        std::forward<F>(f)();
        return result<void>();
    } else {
        return result<R>(std::forward<F>(f)());
    }
#endif
}

} // namespace rscovlm
