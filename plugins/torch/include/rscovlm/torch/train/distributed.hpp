#pragma once
/// \file
/// Data-parallel training through PyTorch's own distributed engine (c10d): rendezvous from the
/// variables torchrun and Slurm set, a `TCPStore`, and `ProcessGroupGloo` (CPU) or
/// `ProcessGroupNCCL` (CUDA builds with NCCL's headers; untested here, no GPU). On top of it: a configuration check
/// across ranks, and the gradient synchronisation of one optimizer step — bucketed all-reduce launched from the
/// gradient accumulators' hooks as each bucket's gradients become final, so communication overlaps the rest of backward
/// (it works with activation checkpointing, whose recomputed backward runs the same hooks).
///
/// Every c10d failure (a peer that died, a timeout, a refused connection) is rethrown as
/// `train_error` "distributed" naming the rank and the operation, never a hang: operations wait at
/// most the configured timeout.

#include <rscovlm/torch/train/batch.hpp>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#if RSCOVLM_HAS_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if RSCOVLM_HAS_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rscovlm::torch::train {

/// Where this process sits in the job (torchrun / Slurm variables).
struct dist_env {
    int rank = 0, world_size = 1, local_rank = 0;
    std::string master_addr = "127.0.0.1";
    int master_port = 29500;
    bool distributed() const noexcept { return world_size > 1; }

    /// Reads `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT` (torchrun), falling back to
    /// `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`. Absent: a single process. train_error "bad_env"
    /// for values that are not numbers or out of range.
    static dist_env from_environment() {
        auto get = [](const char* a, const char* b) -> const char* {
            const char* v = std::getenv(a);
            if ((v == nullptr || *v == '\0') && b != nullptr) v = std::getenv(b);
            return v != nullptr && *v != '\0' ? v : nullptr;
        };
        auto num = [](const char* name, const char* v) {
            char* end = nullptr;
            long x = std::strtol(v, &end, 10);
            if (end == v || *end != '\0' || x < 0 || x > 1000000)
                RSCOVLM_THROW(train_error, "bad_env", std::string(name) + "='" + v + "' is not a valid number");
            return static_cast<int>(x);
        };
        dist_env e;
        if (const char* v = get("WORLD_SIZE", "SLURM_NTASKS")) e.world_size = num("WORLD_SIZE", v);
        if (const char* v = get("RANK", "SLURM_PROCID")) e.rank = num("RANK", v);
        if (const char* v = get("LOCAL_RANK", "SLURM_LOCALID")) e.local_rank = num("LOCAL_RANK", v);
        if (const char* v = get("MASTER_ADDR", nullptr)) e.master_addr = v;
        if (const char* v = get("MASTER_PORT", nullptr)) e.master_port = num("MASTER_PORT", v);
        if (e.world_size < 1 || e.rank >= e.world_size)
            RSCOVLM_THROW(train_error, "bad_env",
                          "RANK " + std::to_string(e.rank) + " is outside WORLD_SIZE " + std::to_string(e.world_size));
        if (e.master_port <= 0 || e.master_port > 65535)
            RSCOVLM_THROW(train_error, "bad_env", "MASTER_PORT " + std::to_string(e.master_port) + " is not a port");
        return e;
    }
};

/// A c10d process group with typed errors. A single-process group does nothing.
class process_group {
public:
    process_group() = default;

    /// Joins the job: a `TCPStore` at `MASTER_ADDR:MASTER_PORT` (rank 0 serves it) and a Gloo process
    /// group (`backend` "gloo", or "nccl" in CUDA builds with NCCL, where rank r uses GPU `LOCAL_RANK`)
    /// whose operations time out after `timeout`.
    static process_group join(const dist_env& env, std::chrono::milliseconds timeout,
                              const std::string& backend = "gloo") {
        process_group g;
        g.m_env = env;
        g.m_timeout = timeout;
        if (!env.distributed()) return g;
        if (backend != "gloo" && backend != "nccl")
            RSCOVLM_THROW(train_error, "bad_config", "distributed backend '" + backend + "' is not gloo or nccl");
#if !RSCOVLM_HAS_NCCL
        if (backend == "nccl")
            RSCOVLM_THROW(
                train_error, "no_distributed",
                "the nccl backend needs a CUDA LibTorch built with NCCL and its headers; this build has none");
#endif
#if !RSCOVLM_HAS_GLOO
        if (backend == "gloo")
            RSCOVLM_THROW(train_error, "no_distributed",
                          "WORLD_SIZE is " + std::to_string(env.world_size) +
                              " but this build has no Gloo headers (install libgloo-dev and rebuild)");
#endif
        guard("rendezvous", env.rank, [&] {
            ::c10d::TCPStoreOptions so;
            so.port = static_cast<std::uint16_t>(env.master_port);
            so.isServer = env.rank == 0;
            so.numWorkers = env.world_size;
            so.waitWorkers = true;
            so.timeout = timeout;
            g.m_store = c10::make_intrusive<::c10d::TCPStore>(env.master_addr, so);
#if RSCOVLM_HAS_NCCL
            if (backend == "nccl") {
                auto opts = ::c10d::ProcessGroupNCCL::Options::create();
                opts->timeout = timeout;
                g.bind(c10::make_intrusive<::c10d::ProcessGroupNCCL>(g.m_store, env.rank, env.world_size, opts));
                g.m_device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
            }
#endif
#if RSCOVLM_HAS_GLOO
            if (backend == "gloo") {
                auto opts = ::c10d::ProcessGroupGloo::Options::create(timeout);
                // As torch.distributed: GLOO_SOCKET_IFNAME names the interface; a loopback master means
                // one machine (bind to it); otherwise the address this host's name resolves to.
                const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
                const bool loopback = env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0;
                opts->devices.push_back(ifname != nullptr && *ifname != '\0'
                                            ? ::c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                        : loopback ? ::c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr)
                                                   : ::c10d::ProcessGroupGloo::createDefaultDevice());
                g.bind(c10::make_intrusive<::c10d::ProcessGroupGloo>(g.m_store, env.rank, env.world_size, opts));
            }
#endif
        });
        return g;
    }

    int rank() const noexcept {
        return m_env.rank;
    }
    int world_size() const noexcept {
        return m_env.world_size;
    }
    bool distributed() const noexcept {
        return m_env.distributed();
    }
    const dist_env& env() const noexcept {
        return m_env;
    }

    /// Sum of `t` over ranks, in place (blocking).
    void all_reduce_sum(at::Tensor& t, const char* what = "all_reduce") const {
        if (!distributed()) return;
        guard(what, rank(), [&] {
            // NCCL reduces device tensors only: a CPU tensor makes the round trip.
            const bool move = m_device.is_cuda() && !t.is_cuda();
            std::vector<at::Tensor> v{move ? t.to(m_device) : t};
            m_ops.allreduce(v)->wait(m_timeout);
            if (move) t.copy_(v[0]);
        });
    }

    /// Starts an all-reduce (sum) of `t`; wait on the returned work with `wait`.
    c10::intrusive_ptr<::c10d::Work> start_all_reduce(at::Tensor& t) const {
        c10::intrusive_ptr<::c10d::Work> w;
        guard("gradient all_reduce", rank(), [&] {
            std::vector<at::Tensor> v{t};
            w = m_ops.allreduce(v);
        });
        return w;
    }
    void wait(const c10::intrusive_ptr<::c10d::Work>& w, const char* what) const {
        guard(what, rank(), [&] { w->wait(m_timeout); });
    }

    /// `t` from rank `root` to every rank, in place.
    void broadcast(at::Tensor& t, int root, const char* what = "broadcast") const {
        if (!distributed()) return;
        guard(what, rank(), [&] {
            const bool move = m_device.is_cuda() && !t.is_cuda();
            std::vector<at::Tensor> v{move ? t.to(m_device) : t};
            ::c10d::BroadcastOptions o;
            o.rootRank = root;
            m_ops.broadcast(v, o)->wait(m_timeout);
            if (move) t.copy_(v[0]);
        });
    }

    void barrier(const char* what = "barrier") const {
        if (!distributed()) return;
        guard(what, rank(), [&] { m_ops.barrier()->wait(m_timeout); });
    }

    /// Every rank's `text` (in rank order), through the store.
    std::vector<std::string> all_gather_text(const std::string& key, const std::string& text) const {
        if (!distributed()) return {text};
        std::vector<std::string> out;
        guard("store exchange", rank(), [&] {
            m_store->set(key + "/" + std::to_string(rank()), std::vector<std::uint8_t>(text.begin(), text.end()));
            for (int r = 0; r < world_size(); ++r) {
                auto v = m_store->get(key + "/" + std::to_string(r));
                out.emplace_back(v.begin(), v.end());
            }
        });
        return out;
    }

    /// Fails on every rank (train_error "config_mismatch", naming the first differing rank) unless every
    /// rank passes the same `text` (the training configuration that must agree).
    void check_same(const std::string& key, const std::string& text, const std::string& what) const {
        auto all = all_gather_text(key + "/" + std::to_string(m_exchanges++), text);
        for (int r = 0; r < static_cast<int>(all.size()); ++r)
            if (all[static_cast<std::size_t>(r)] != all[0])
                RSCOVLM_THROW(train_error, "config_mismatch",
                              what + " differs between rank 0 and rank " + std::to_string(r) +
                                  " (rank 0: " + all[0].substr(0, 200) + "; rank " + std::to_string(r) + ": " +
                                  all[static_cast<std::size_t>(r)].substr(0, 200) + ")");
    }

private:
    template <class F> static void guard(const char* what, int rank, F&& f) {
#if RSCOVLM_HAS_EXCEPTIONS
        try {
            f();
        } catch (const ::rscovlm::error&) {
            throw;
        } catch (const std::exception& e) {
            std::string msg = e.what();
            const auto nl = msg.find('\n');
            if (nl != std::string::npos) msg.erase(nl);
            RSCOVLM_THROW(train_error, "distributed",
                          "rank " + std::to_string(rank) + ": " + what +
                              " failed (a peer exited or timed out?): " + msg);
        }
#else
        (void)what;
        (void)rank;
        f();
#endif
    }

    /// The collectives of the concrete process group (its base class differs between LibTorch 1.13,
    /// `ProcessGroup`, and 2.x, `Backend`), bound once.
    struct collective_ops {
        std::function<c10::intrusive_ptr<::c10d::Work>(std::vector<at::Tensor>&)> allreduce;
        std::function<c10::intrusive_ptr<::c10d::Work>(std::vector<at::Tensor>&, const ::c10d::BroadcastOptions&)>
            broadcast;
        std::function<c10::intrusive_ptr<::c10d::Work>()> barrier;
    };
    template <class PG> void bind(c10::intrusive_ptr<PG> pg) {
        m_ops.allreduce = [pg](std::vector<at::Tensor>& v) { return pg->allreduce(v); };
        m_ops.broadcast = [pg](std::vector<at::Tensor>& v, const ::c10d::BroadcastOptions& o) {
            return pg->broadcast(v, o);
        };
        m_ops.barrier = [pg]() { return pg->barrier(); };
    }

    dist_env m_env;
    mutable std::uint64_t m_exchanges = 0; ///< store keys are unique per exchange
    std::chrono::milliseconds m_timeout{1800000};
    c10::intrusive_ptr<::c10d::Store> m_store;
    collective_ops m_ops;
    c10::Device m_device{c10::kCPU}; ///< where collectives run (CUDA for NCCL)
};

/// Bucketed gradient averaging for data parallelism. Parameters (given in module order) are split, in
/// reverse order (the order backward produces their gradients), into buckets of about `bucket_bytes`.
/// While `armed`, a hook after each parameter's gradient accumulation marks it final; complete buckets
/// are flattened and their all-reduces started strictly in bucket order (as DDP's reducer does), so
/// every rank issues the same collectives in the same order. `finish()` starts what is left (a
/// parameter without a gradient contributes zeros), waits, divides by the world size and writes the
/// averages back; a parameter that got no gradient on any rank keeps none.
class gradient_sync {
public:
    gradient_sync(const process_group& pg, std::vector<at::Tensor> params, std::size_t bucket_bytes = 25u << 20)
        : m_pg(&pg), m_state(std::make_shared<state>()) {
        if (!pg.distributed()) return;
        auto& s = *m_state;
        s.params = std::move(params);
        std::vector<std::size_t> cur;
        std::size_t bytes = 0;
        for (std::size_t k = s.params.size(); k-- > 0;) {
            cur.push_back(k);
            bytes += static_cast<std::size_t>(s.params[k].numel()) * s.params[k].element_size();
            if (bytes >= bucket_bytes) {
                s.buckets.push_back({cur, 0, {}, {}});
                cur.clear();
                bytes = 0;
            }
        }
        if (!cur.empty()) s.buckets.push_back({cur, 0, {}, {}});
        s.bucket_of.assign(s.params.size(), 0);
        for (std::size_t b = 0; b < s.buckets.size(); ++b)
            for (auto k : s.buckets[b].members)
                s.bucket_of[k] = b;
        s.ready.assign(s.params.size(), false);
        for (std::size_t k = 0; k < s.params.size(); ++k) {
            auto acc = ::torch::autograd::impl::grad_accumulator(s.params[k]);
            if (!acc)
                RSCOVLM_THROW(train_error, "distributed",
                              "parameter " + std::to_string(k) + " has no gradient accumulator");
            acc->add_post_hook(std::make_unique<hook>(std::weak_ptr<state>(m_state), k, m_pg));
            m_accumulators.push_back(std::move(acc)); // keep the nodes (and their hooks) alive
        }
    }

    /// Arms the hooks for the next backward (the last micro-batch of an optimizer step).
    void arm() {
        if (!m_pg->distributed()) return;
        auto& s = *m_state;
        s.armed = true;
        s.next_launch = 0;
        std::fill(s.ready.begin(), s.ready.end(), false);
        for (auto& b : s.buckets) {
            b.pending = 0;
            b.work.reset();
            b.flat = at::Tensor();
        }
    }

    /// Completes the synchronisation after backward: every parameter's gradient is the average over ranks.
    void finish() {
        if (!m_pg->distributed()) return;
        auto& s = *m_state;
        // The rest, in bucket order (every rank issues the same collectives in the same order).
        while (s.next_launch < s.buckets.size())
            launch(s, s.next_launch++, *m_pg);
        s.armed = false;
        at::NoGradGuard ng;
        // Which parameters got a gradient on some rank: the others keep none (as in one process, where
        // AdamW skips a parameter without a gradient).
        at::Tensor had = at::zeros({static_cast<std::int64_t>(s.params.size())}, at::TensorOptions().dtype(at::kFloat));
        for (std::size_t k = 0; k < s.params.size(); ++k)
            if (s.params[k].grad().defined()) had[static_cast<std::int64_t>(k)] = 1.0f;
        m_pg->all_reduce_sum(had, "gradient presence all_reduce");
        auto* hp = had.data_ptr<float>();
        for (auto& b : s.buckets) {
            m_pg->wait(b.work, "gradient all_reduce");
            b.flat.div_(static_cast<double>(m_pg->world_size()));
            std::int64_t off = 0;
            for (auto k : b.members) {
                auto& p = s.params[k];
                const std::int64_t n = p.numel();
                at::Tensor avg = b.flat.narrow(0, off, n).view(p.sizes());
                if (hp[k] == 0.0f) {
                    off += n;
                    continue;
                }
                if (p.grad().defined())
                    p.mutable_grad().copy_(avg);
                else
                    p.mutable_grad() = avg.clone();
                off += n;
            }
            b.flat = at::Tensor();
            b.work.reset();
        }
    }

    /// Number of buckets (for logs and tests).
    std::size_t buckets() const { return m_state->buckets.size(); }

private:
    struct bucket {
        std::vector<std::size_t> members;
        std::size_t pending = 0;
        at::Tensor flat;
        c10::intrusive_ptr<::c10d::Work> work;
    };
    struct state {
        std::vector<at::Tensor> params;
        std::vector<bucket> buckets;
        std::vector<std::size_t> bucket_of;
        std::vector<bool> ready;
        std::size_t next_launch = 0; ///< buckets start strictly in index order
        bool armed = false;
    };

    static void launch(state& s, std::size_t b, const process_group& pg) {
        at::NoGradGuard ng;
        auto& bk = s.buckets[b];
        std::vector<at::Tensor> parts;
        for (auto k : bk.members) {
            const auto& p = s.params[k];
            parts.push_back(p.grad().defined() ? p.grad().detach().reshape({-1}) : at::zeros({p.numel()}, p.options()));
        }
        bk.flat = at::cat(parts, 0);
        bk.work = pg.start_all_reduce(bk.flat);
    }

    struct hook : ::torch::autograd::FunctionPostHook {
        hook(std::weak_ptr<state> s, std::size_t k, const process_group* pg) : m_s(std::move(s)), m_k(k), m_pg(pg) {}
        ::torch::autograd::variable_list operator()(const ::torch::autograd::variable_list& outputs,
                                                    const ::torch::autograd::variable_list& /*inputs*/) override {
            const auto locked = m_s.lock(); // the gradient_sync is gone: nothing to do
            if (!locked || !locked->armed) return outputs;
            auto& s = *locked;
            if (s.ready[m_k])
                RSCOVLM_THROW(train_error, "distributed",
                              "a parameter received its gradient twice in one backward; gradient synchronisation "
                              "cannot overlap it");
            s.ready[m_k] = true;
            const std::size_t b = s.bucket_of[m_k];
            ++s.buckets[b].pending;
            // Start every complete bucket from the next one in order (never out of order: ranks must
            // issue their collectives identically, whatever order their backward produces).
            while (s.next_launch < s.buckets.size() &&
                   s.buckets[s.next_launch].pending == s.buckets[s.next_launch].members.size())
                launch(s, s.next_launch++, *m_pg);
            return outputs;
        }
        std::weak_ptr<state> m_s;
        std::size_t m_k;
        const process_group* m_pg;
    };

    const process_group* m_pg;
    std::shared_ptr<state> m_state;
    std::vector<std::shared_ptr<::torch::autograd::Node>> m_accumulators;
};

} // namespace rscovlm::torch::train
