#pragma once
/// \file engine/loader.hpp
/// A bounded, ordered, multi-threaded prefetching loader.

#include <rscovlm/config.hpp>
#include <rscovlm/errors.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rscovlm::engine {

// ------------------------------------------------------------------------------------------ loader

/// Bounded, ordered, multi-threaded prefetching: `produce(i)` runs on `threads` worker threads for
/// the positions 0..count-1, at most `capacity` positions ahead of the consumer (results waiting or
/// in production); `next()` returns the results in position order whatever the thread timing.
/// Errors: an `rscovlm::error` thrown by `produce(i)` is rethrown by the `next()` that reaches
/// position i, with its type and id; any other exception becomes a `data_error`
/// `rscovlm.data.loader_worker_failed` naming the position. Once an error is reached, the workers
/// stop and every later `next()` rethrows it. `stop()` (also run by the destructor) ends the
/// workers early: it waits only for the `produce` calls already running, and `next()` then returns
/// nullopt instead of waiting.
template <class T> class prefetch_loader {
public:
    prefetch_loader(std::size_t count, std::function<T(std::size_t)> produce, std::size_t capacity = 8, int threads = 2)
        : m_count(count), m_produce(std::move(produce)), m_capacity(std::max<std::size_t>(1, capacity)) {
        const int n = std::max(1, threads);
        for (int t = 0; t < n; ++t)
            m_workers.emplace_back([this] { work(); });
    }
    ~prefetch_loader() { stop(); }
    prefetch_loader(const prefetch_loader&) = delete;
    prefetch_loader& operator=(const prefetch_loader&) = delete;

    /// The next result in order, or nullopt at the end (or after `stop()`).
    std::optional<T> next() {
        std::unique_lock<std::mutex> lock(m_mu);
        if (m_consumed >= m_count) return std::nullopt;
        m_cv.wait(lock, [&] { return m_stop || m_ready.count(m_consumed) != 0 || m_errors.count(m_consumed) != 0; });
#if RSCOVLM_HAS_EXCEPTIONS
        auto err = m_errors.find(m_consumed);
        if (err != m_errors.end()) {
            std::exception_ptr e = err->second;
            m_stop = true;
            m_cv.notify_all();
            std::rethrow_exception(e);
        }
#endif
        if (m_stop) return std::nullopt; // stopped: prefetched results are dropped
        auto it = m_ready.find(m_consumed);
        T v = std::move(it->second);
        m_ready.erase(it);
        ++m_consumed;
        m_cv.notify_all();
        return v;
    }
    /// Stops the workers (idempotent): no new position is started; running ones finish and are dropped.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_stop = true;
        }
        m_cv.notify_all();
        for (auto& w : m_workers)
            if (w.joinable()) w.join();
    }
    /// Results handed out so far.
    std::size_t position() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_consumed;
    }
    /// `produce` calls started so far (at most position() + capacity).
    std::size_t started() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_next;
    }

private:
    void work() {
        for (;;) {
            std::size_t i = 0;
            {
                std::unique_lock<std::mutex> lock(m_mu);
                m_cv.wait(lock, [&] { return m_stop || m_next >= m_count || m_next < m_consumed + m_capacity; });
                if (m_stop || m_next >= m_count) return;
                i = m_next++;
            }
#if RSCOVLM_HAS_EXCEPTIONS
            std::exception_ptr failure;
            std::optional<T> value;
            try {
                value.emplace(m_produce(i));
            } catch (const rscovlm::error&) {
                failure = std::current_exception();
            } catch (const std::exception& e) {
                failure = std::make_exception_ptr(
                    data_error("loader_worker_failed", "loading sample " + std::to_string(i) + " failed: " + e.what()));
            } catch (...) {
                failure = std::make_exception_ptr(
                    data_error("loader_worker_failed",
                               "loading sample " + std::to_string(i) + " failed with a non-standard exception"));
            }
            {
                std::lock_guard<std::mutex> lock(m_mu);
                if (failure)
                    m_errors.emplace(i, failure);
                else
                    m_ready.emplace(i, std::move(*value));
            }
#else
            T v = m_produce(i);
            {
                std::lock_guard<std::mutex> lock(m_mu);
                m_ready.emplace(i, std::move(v));
            }
#endif
            m_cv.notify_all();
        }
    }
    std::size_t m_count;
    std::function<T(std::size_t)> m_produce;
    std::size_t m_capacity;
    std::size_t m_next = 0, m_consumed = 0;
    bool m_stop = false;
    mutable std::mutex m_mu;
    std::condition_variable m_cv;
    std::map<std::size_t, T> m_ready;
    std::map<std::size_t, std::exception_ptr> m_errors;
    std::vector<std::thread> m_workers;
};

} // namespace rscovlm::engine
