#pragma once
/// \file
/// `Qwen2_5_VLForConditionalGeneration` loaded from a Hugging Face checkpoint directory.

#include <rscovlm/errors.hpp>
#include <rscovlm/io/safetensors.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/text.hpp>
#include <rscovlm/torch/vision.hpp>
#include <rscovlm/torch/weight_names.hpp>

#include <torch/types.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rscovlm::torch {

/// Options of `qwen2_5_vl::load`.
struct load_options {
    /// "cpu", "cuda", "cuda:1", ... (any string `c10::Device` accepts).
    std::string device = "cpu";
    /// "float32", "bfloat16", "float16", or "auto" (float32 on CPU, bfloat16 on CUDA).
    std::string dtype = "auto";
    /// Refuse to load when the estimated weights + KV cache exceed this many bytes (0 = no limit).
    std::uint64_t memory_limit_bytes = 0;
    /// Context length and batch used for the estimate.
    std::uint64_t estimate_context_tokens = 4096;
    std::uint64_t estimate_batch = 1;
    /// Called with the estimate before any weight is read (e.g. to print it).
    std::function<void(const memory_estimate&)> on_estimate;
    /// Make every weight a leaf that requires grad (training); inference leaves them plain.
    bool requires_grad = false;
    /// false (default): on the CPU every weight is read into one owned, 64-byte-aligned arena
    /// (`detail::weight_arena`) on several threads, a weight stored in the compute dtype straight from
    /// the file with no intermediate copy. This is the fastest to run: measured on the 505M benchmark
    /// shape, the mapped weights' first prefill took twice as long (it faults in every page).
    /// true: a weight stored in the compute dtype is a view of a private copy-on-write mapping of the
    /// checkpoint file instead (zero copies and a near-instant load: its pages are the page cache's, read
    /// ahead in the background and shared with every process that maps the file, which suits several
    /// processes serving one checkpoint; a write copies a page for this process only, never the file).
    /// The file must then not be rewritten in place while the model lives (a truncated file faults, a
    /// rewritten one shows its new bytes): tools that save checkpoints write a new file and rename it,
    /// which is safe.
    bool map_weights = false;
};

/// Parses a dtype name ("float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16"/"half"); model_error
/// "bad_dtype" otherwise.
inline at::ScalarType parse_scalar_type(const std::string& name) {
    if (name == "float32" || name == "fp32" || name == "float") return at::kFloat;
    if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
    if (name == "float16" || name == "fp16" || name == "half") return at::kHalf;
    RSCOVLM_THROW(model_error, "bad_dtype", "unknown dtype '" + name + "' (float32, bfloat16, float16)");
}

/// Resolves "auto" and checks the device string; model_error "bad_device" when it cannot be used.
inline std::pair<c10::Device, at::ScalarType> resolve_device(const std::string& device, const std::string& dtype) {
    c10::Device dev(c10::kCPU);
#if RSCOVLM_HAS_EXCEPTIONS
    try {
        dev = c10::Device(device);
    } catch (const std::exception&) {
        RSCOVLM_THROW(model_error, "bad_device", "unknown device '" + device + "'");
    }
#else
    dev = c10::Device(device);
#endif
    if (dev.is_cuda() && !at::hasCUDA())
        RSCOVLM_THROW(model_error, "bad_device",
                      "device '" + device + "' requested but this LibTorch has no CUDA device");
    at::ScalarType st = dtype == "auto" ? (dev.is_cuda() ? at::kBFloat16 : at::kFloat) : parse_scalar_type(dtype);
    return {dev, st};
}

namespace detail {

class read_file;

#if RSCOVLM_SAFETENSORS_MMAP
/// Reads `bytes` bytes at offset `at` of `fd` into `dst` (`pread`, resumed after short reads and
/// signals); false on an error or the end of the file.
inline bool read_exact(int fd, void* dst, std::size_t bytes, std::uint64_t at) {
    auto* p = static_cast<std::uint8_t*>(dst);
    while (bytes > 0) {
        const std::size_t chunk = std::min<std::size_t>(bytes, std::size_t{1} << 30);
        const ssize_t n = ::pread(fd, p, chunk, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        at += static_cast<std::uint64_t>(n);
        bytes -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Opens the file `f` was parsed from again by its path: a descriptor (close-on-exec) and the offset of
/// its data section in `data_start`, or -1 unless it is still that file (same data size, same bytes at
/// the start of its first tensor); the caller then copies from `f`'s own mapping.
inline int reopen_parsed(const io::safetensors::file& f, std::uint64_t& data_start) {
    if (f.infos().empty()) return -1;
    const int fd = ::open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    std::uint8_t len[8];
    struct stat st {};
    bool same = read_exact(fd, len, 8, 0) && ::fstat(fd, &st) == 0;
    if (same) {
        std::uint64_t header = 0;
        for (int i = 7; i >= 0; --i)
            header = (header << 8) | len[i];
        data_start = 8 + header;
        const auto size = static_cast<std::uint64_t>(st.st_size);
        same = data_start >= 8 && size >= data_start && size - data_start == f.data_size();
    }
    if (same) {
        const auto& first = f.infos().front();
        const auto v = f.tensor(first.name);
        std::vector<std::uint8_t> head(std::min<std::size_t>(v.size_bytes, 65536));
        same = read_exact(fd, head.data(), head.size(), data_start + first.begin) &&
               (head.empty() || std::memcmp(head.data(), v.data, head.size()) == 0);
    }
    if (!same) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// The file a safetensors `file` was parsed from, mapped whole, private and writable (`MAP_PRIVATE`,
/// copy on write); null when it is no longer that file or cannot be mapped (the caller then copies).
class cow_file {
public:
    cow_file() = default;
    cow_file(const cow_file&) = delete;
    cow_file& operator=(const cow_file&) = delete;
    ~cow_file() {
        if (m_base != nullptr) ::munmap(m_base, m_size);
    }

    static std::shared_ptr<cow_file> open(const io::safetensors::file& parsed) {
        std::uint64_t start = 0;
        const int fd = reopen_parsed(parsed, start);
        if (fd < 0) return nullptr;
        const auto size = static_cast<std::size_t>(start + parsed.data_size());
        void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        ::close(fd);
        if (m == MAP_FAILED) return nullptr;
        auto f = std::make_shared<cow_file>();
        f->m_base = m;
        f->m_size = size;
        f->m_data_start = start;
        // Start reading the file in the background: the first forward pass then finds most pages ready.
        ::madvise(m, size, MADV_WILLNEED);
        return f;
    }

    /// Pointer to `bytes` bytes at `begin` of the data section, or null when out of the file.
    void* data(std::uint64_t begin, std::uint64_t bytes) const {
        if (m_data_start + begin + bytes > m_size || m_data_start + begin < m_data_start) return nullptr;
        return static_cast<std::uint8_t*>(m_base) + m_data_start + begin;
    }

private:
    void* m_base = nullptr;
    std::size_t m_size = 0;
    std::uint64_t m_data_start = 0;
};

/// The file a safetensors `file` was parsed from, opened for `pread`: a weight stored in the compute
/// dtype is read straight into its place in the weight arena, without faulting in the file's mapping
/// (which would count every page in the process's resident set a second time).
class read_file {
public:
    read_file() = default;
    read_file(const read_file&) = delete;
    read_file& operator=(const read_file&) = delete;
    ~read_file() {
        if (m_fd >= 0) ::close(m_fd);
    }

    /// Null when it is no longer that file (see `reopen_parsed`).
    static std::unique_ptr<read_file> open(const io::safetensors::file& parsed) {
        auto r = std::make_unique<read_file>();
        r->m_fd = reopen_parsed(parsed, r->m_data_start);
        return r->m_fd < 0 ? nullptr : std::move(r);
    }

    /// Reads `bytes` bytes at `begin` of the data section into `dst`; false on a short read or an error.
    bool read_data(void* dst, std::size_t bytes, std::uint64_t begin) const {
        return read_exact(m_fd, dst, bytes, m_data_start + begin);
    }

private:
    int m_fd = -1;
    std::uint64_t m_data_start = 0;
};
#endif

/// One block of owned memory for a model's CPU weights, each placed at a 64-byte boundary (an anonymous
/// mapping on POSIX systems). Not advised for transparent huge pages: measured on the 505M benchmark
/// shape, 2 MiB pages gained nothing beyond the run-to-run noise, and where the kernel's THP defrag
/// policy is "madvise" (the default) the advice made the load stall for memory compaction (0.3 s became
/// 2.4-2.8 s whenever memory was fragmented).
class weight_arena {
public:
    static constexpr std::size_t alignment = 64;

    explicit weight_arena(std::size_t bytes) : m_size(std::max<std::size_t>(bytes, alignment)) {
#if RSCOVLM_SAFETENSORS_MMAP
        void* m = ::mmap(nullptr, m_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            m_base = m;
            m_mapped = true;
            return;
        }
#endif
        m_base = ::operator new(m_size, std::align_val_t(alignment));
    }
    weight_arena(const weight_arena&) = delete;
    weight_arena& operator=(const weight_arena&) = delete;
    ~weight_arena() {
#if RSCOVLM_SAFETENSORS_MMAP
        if (m_mapped) {
            ::munmap(m_base, m_size);
            return;
        }
#endif
        ::operator delete(m_base, std::align_val_t(alignment));
    }

    /// Rounds `bytes` up to the placement boundary.
    static std::size_t padded(std::size_t bytes) noexcept {
        return (bytes + alignment - 1) / alignment * alignment;
    }

    void* at(std::size_t offset) const noexcept {
        return static_cast<std::uint8_t*>(m_base) + offset;
    }

private:
    void* m_base = nullptr;
    std::size_t m_size = 0;
    bool m_mapped = false;
};

} // namespace detail

/// Reads every weight of `cfg` from `ck` (either name layout) and converts it to `dtype` on `device`.
/// With `map` (CPU), a weight whose stored dtype is `dtype` and whose bytes are aligned to its element
/// size is a view of a copy-on-write mapping of its file instead of a copy (`load_options::map_weights`).
/// Raises model_error "missing_weight", "unexpected_weight", "duplicate_weight", "weight_shape" or
/// "weight_dtype", each naming the tensor. Returned names are canonical (`flat` layout).
inline std::unordered_map<std::string, at::Tensor> load_weights(const io::safetensors::checkpoint& ck,
                                                                const model_config& cfg, at::ScalarType dtype,
                                                                c10::Device device, bool map = false) {
    namespace st = io::safetensors;
#if RSCOVLM_SAFETENSORS_MMAP
    // name -> (copy-on-write mapping of its file, offset in the data section)
    std::unordered_map<std::string, std::pair<std::shared_ptr<detail::cow_file>, std::uint64_t>> mapped;
    if (map && device.is_cpu())
        for (const auto& f : ck.files()) {
            // Mapped only if the file at its path is still the one `ck` parsed; otherwise copied from `ck`.
            auto cow = detail::cow_file::open(f);
            if (!cow) continue;
            for (const auto& i : f.infos())
                mapped.emplace(i.name, std::make_pair(cow, i.begin));
        }
    // name -> (file opened for reading, offset in its data section): the weights that are copied
    std::vector<std::unique_ptr<detail::read_file>> readers;
    std::unordered_map<std::string, std::pair<const detail::read_file*, std::uint64_t>> readable;
    if (device.is_cpu())
        for (const auto& f : ck.files()) {
            if (!f.infos().empty() && mapped.count(f.infos().front().name) != 0) continue;
            auto r = detail::read_file::open(f);
            if (!r) continue;
            for (const auto& i : f.infos())
                readable.emplace(i.name, std::make_pair(r.get(), i.begin));
            readers.push_back(std::move(r));
        }
#else
    (void)map;
#endif
    std::unordered_map<std::string, const weight_spec*> expected;
    const auto specs = expected_weights(cfg);
    for (const auto& s : specs)
        expected[s.name] = &s;
    std::unordered_map<std::string, at::Tensor> out;
    std::unordered_map<std::string, std::string> stored_as;
    struct pending_copy {
        std::string name;
        const void* data;
        std::size_t bytes;
        std::vector<std::int64_t> shape;
        at::ScalarType src;
        const detail::read_file* file = nullptr; ///< the file to read it from, if any
        std::uint64_t begin = 0;                 ///< its offset in that file's data section
        at::Tensor tensor;                       ///< the converted weight
        std::exception_ptr error;                ///< what copying or converting raised
    };
    auto element_size = [](at::ScalarType t) { return t == at::kFloat ? std::size_t{4} : std::size_t{2}; };
    std::vector<pending_copy> copies;
    for (const auto& stored : ck.names()) {
        const std::string canon = canonical_name(stored);
        auto it = expected.find(canon);
        if (it == expected.end())
            RSCOVLM_THROW(model_error, "unexpected_weight",
                          "checkpoint tensor '" + stored + "' is not part of the model");
        if (!stored_as.emplace(canon, stored).second)
            RSCOVLM_THROW(model_error, "duplicate_weight",
                          "tensors '" + stored_as[canon] + "' and '" + stored +
                              "' are the same weight in two name layouts");
        const st::tensor_view v = ck.tensor(stored);
        if (v.shape != it->second->shape) {
            auto fmt = [](const std::vector<std::int64_t>& s) {
                std::string r = "[";
                for (std::size_t i = 0; i < s.size(); ++i)
                    r += (i ? ", " : "") + std::to_string(s[i]);
                return r + "]";
            };
            RSCOVLM_THROW(model_error, "weight_shape",
                          "tensor '" + stored + "' has shape " + fmt(v.shape) + ", expected " + fmt(it->second->shape));
        }
        at::ScalarType src;
        switch (v.type) {
        case st::dtype::f32:
            src = at::kFloat;
            break;
        case st::dtype::f16:
            src = at::kHalf;
            break;
        case st::dtype::bf16:
            src = at::kBFloat16;
            break;
        default:
            RSCOVLM_THROW(model_error, "weight_dtype",
                          "tensor '" + stored + "' has dtype " + std::string(st::dtype_name(v.type)) +
                              " (F32, F16, BF16 supported)");
        }
#if RSCOVLM_SAFETENSORS_MMAP
        if (src == dtype && v.size_bytes > 0) {
            auto m = mapped.find(stored);
            void* p = m == mapped.end() ? nullptr : m->second.first->data(m->second.second, v.size_bytes);
            if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % element_size(src) == 0) {
                std::shared_ptr<detail::cow_file> keep = m->second.first;
                out[canon] = at::from_blob(
                    p, v.shape, [keep](void*) {}, at::TensorOptions().dtype(src));
                continue;
            }
        }
#endif
        // Copied below into an owned, aligned CPU tensor (the mapped bytes need not be aligned).
        copies.push_back({canon, v.data, v.size_bytes, v.shape, src, nullptr, 0, at::Tensor(), nullptr});
#if RSCOVLM_SAFETENSORS_MMAP
        if (auto r = readable.find(stored); r != readable.end()) {
            copies.back().file = r->second.first;
            copies.back().begin = r->second.second;
        }
#endif
    }
    // Each weight is copied out of the checkpoint's mapping and converted on one of several threads (the
    // page faults that read the file happen there, so the reads overlap), the largest first. On the CPU
    // every copy lands in one 64-byte-aligned arena (`detail::weight_arena`): a weight
    // stored in the compute dtype is read there once, straight from the file (`detail::read_file`); another
    // dtype is converted into it from one temporary copy per thread.
    std::sort(copies.begin(), copies.end(), [](const pending_copy& a, const pending_copy& b) {
        return a.bytes > b.bytes || (a.bytes == b.bytes && a.name < b.name);
    });
    std::vector<std::size_t> offsets(copies.size());
    std::shared_ptr<detail::weight_arena> arena;
    if (device.is_cpu() && !copies.empty()) {
        std::size_t total = 0;
        for (std::size_t i = 0; i < copies.size(); ++i) {
            offsets[i] = total;
            std::size_t numel = 1;
            for (auto d : copies[i].shape)
                numel *= static_cast<std::size_t>(d);
            total += detail::weight_arena::padded(numel * element_size(dtype));
        }
        arena = std::make_shared<detail::weight_arena>(total);
    }
    // An owned, aligned copy of a weight's stored bytes.
    auto staged = [](const pending_copy& c) {
        at::Tensor t = at::empty(c.shape, at::TensorOptions().dtype(c.src));
        if (c.bytes > 0) std::memcpy(t.data_ptr(), c.data, c.bytes);
        return t;
    };
    std::atomic<std::size_t> next{0};
    auto copy_some = [&] {
        for (std::size_t i = next++; i < copies.size(); i = next++) {
            pending_copy& c = copies[i];
            try {
                if (arena) {
                    std::shared_ptr<detail::weight_arena> keep = arena;
                    at::Tensor dst = at::from_blob(
                        arena->at(offsets[i]), c.shape, [keep](void*) {}, at::TensorOptions().dtype(dtype));
                    if (c.src == dtype) {
                        bool read = false;
#if RSCOVLM_SAFETENSORS_MMAP
                        read = c.file != nullptr && c.file->read_data(dst.data_ptr(), c.bytes, c.begin);
#endif
                        if (!read && c.bytes > 0) std::memcpy(dst.data_ptr(), c.data, c.bytes);
                    } else {
                        dst.copy_(staged(c));
                    }
                    c.tensor = dst;
                } else {
                    c.tensor = staged(c).to(device, dtype);
                }
            } catch (...) {
                c.error = std::current_exception();
            }
        }
    };
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    const std::size_t threads =
        std::min<std::size_t>(copies.size(), static_cast<std::size_t>(std::max(1, std::min(8, cores))));
    std::vector<std::thread> pool;
    try {
        for (std::size_t k = 1; k < threads; ++k)
            pool.emplace_back(copy_some);
    } catch (...) {
        // No more threads: the calling thread copies the rest.
    }
    copy_some();
    for (auto& t : pool)
        t.join();
    for (auto& c : copies) {
        if (c.error) std::rethrow_exception(c.error);
        out[c.name] = std::move(c.tensor);
    }
    for (const auto& s : specs)
        if (!s.optional && out.find(s.name) == out.end())
            RSCOVLM_THROW(model_error, "missing_weight",
                          "checkpoint lacks tensor '" + layout_name(s.name, detect_layout(ck.names())) + "'");
    return out;
}

/// Qwen2.5-VL: vision tower + language model.
class qwen2_5_vl {
public:
    qwen2_5_vl() = default;

    /// Builds the model from canonical weights (see `load_weights`).
    static qwen2_5_vl from_weights(const model_config& cfg, std::unordered_map<std::string, at::Tensor> w) {
        auto take = [&](const std::string& name) {
            auto it = w.find(name);
            if (it == w.end()) RSCOVLM_THROW(model_error, "missing_weight", "weights lack tensor '" + name + "'");
            return it->second;
        };
        qwen2_5_vl m;
        m.m_cfg = cfg;
        // Parameters in module order (transformers' `named_parameters()`), a tied head once.
        for (const auto& spec : expected_weights(cfg)) {
            auto it = w.find(spec.name);
            if (it != w.end()) m.m_params.emplace_back(spec.name, it->second);
        }
        std::vector<vision_block_weights> vb;
        for (int i = 0; i < cfg.vision.depth; ++i) {
            const std::string p = "visual.blocks." + std::to_string(i) + ".";
            vb.push_back({take(p + "norm1.weight"), take(p + "norm2.weight"), take(p + "attn.qkv.weight"),
                          take(p + "attn.qkv.bias"), take(p + "attn.proj.weight"), take(p + "attn.proj.bias"),
                          take(p + "mlp.gate_proj.weight"), take(p + "mlp.gate_proj.bias"),
                          take(p + "mlp.up_proj.weight"), take(p + "mlp.up_proj.bias"),
                          take(p + "mlp.down_proj.weight"), take(p + "mlp.down_proj.bias")});
        }
        m.m_vision = vision_tower(cfg.vision, take("visual.patch_embed.proj.weight"), std::move(vb),
                                  take("visual.merger.ln_q.weight"), take("visual.merger.mlp.0.weight"),
                                  take("visual.merger.mlp.0.bias"), take("visual.merger.mlp.2.weight"),
                                  take("visual.merger.mlp.2.bias"));
        std::vector<decoder_layer_weights> layers;
        for (int i = 0; i < cfg.text.num_hidden_layers; ++i) {
            const std::string p = "model.layers." + std::to_string(i) + ".";
            layers.push_back({take(p + "self_attn.q_proj.weight"), take(p + "self_attn.q_proj.bias"),
                              take(p + "self_attn.k_proj.weight"), take(p + "self_attn.k_proj.bias"),
                              take(p + "self_attn.v_proj.weight"), take(p + "self_attn.v_proj.bias"),
                              take(p + "self_attn.o_proj.weight"), take(p + "mlp.gate_proj.weight"),
                              take(p + "mlp.up_proj.weight"), take(p + "mlp.down_proj.weight"),
                              take(p + "input_layernorm.weight"), take(p + "post_attention_layernorm.weight")});
        }
        at::Tensor embed = take("model.embed_tokens.weight");
        // tie_word_embeddings: lm_head is the embedding matrix (a stored lm_head.weight is then ignored,
        // as transformers' tie_weights() replaces it); an untied checkpoint without it also falls back.
        const bool tie = cfg.text.tie_word_embeddings || !w.count("lm_head.weight");
        at::Tensor head = tie ? embed : w.at("lm_head.weight");
        if (tie)
            for (auto it = m.m_params.begin(); it != m.m_params.end(); ++it)
                if (it->first == "lm_head.weight") {
                    m.m_params.erase(it);
                    break;
                }
        m.m_text = text_model(cfg.text, embed, std::move(layers), take("model.norm.weight"), head);
        return m;
    }

    /// Loads `dir` (config.json + safetensors, single or sharded).
    static qwen2_5_vl load(const std::string& dir, const load_options& o = {}) {
        model_config cfg = model_config::load(dir);
        auto dd = resolve_device(o.device, o.dtype);
        const std::size_t es = dd.second == at::kFloat ? 4 : 2;
        memory_estimate est = estimate_memory(cfg, es, o.estimate_context_tokens, o.estimate_batch);
        if (o.on_estimate) o.on_estimate(est);
        if (o.memory_limit_bytes > 0 && est.total_bytes > o.memory_limit_bytes)
            RSCOVLM_THROW(limit_error, "model_memory",
                          "model needs about " + std::to_string(est.total_bytes >> 20) + " MiB, above the limit of " +
                              std::to_string(o.memory_limit_bytes >> 20) + " MiB");
        auto ck = io::safetensors::checkpoint::open(dir);
        auto weights = load_weights(ck, cfg, dd.second, dd.first, o.map_weights);
        if (o.requires_grad)
            for (auto& kv : weights)
                kv.second.requires_grad_(true);
        qwen2_5_vl m = from_weights(cfg, std::move(weights));
        m.m_estimate = est;
        m.m_layout = detect_layout(ck.names());
        return m;
    }

    const model_config& config() const noexcept { return m_cfg; }
    const vision_tower& vision() const noexcept { return m_vision; }
    const text_model& text() const noexcept { return m_text; }
    vision_tower& vision() noexcept { return m_vision; }
    text_model& text() noexcept { return m_text; }
    /// Every weight with its canonical (`flat`) name, in module order; a tied `lm_head` is the
    /// embedding and appears once, as `model.embed_tokens.weight` (transformers' `named_parameters()`).
    const std::vector<std::pair<std::string, at::Tensor>>& named_parameters() const noexcept { return m_params; }
    /// True when `lm_head` is the embedding matrix (`tie_word_embeddings`, or a checkpoint without it).
    bool tied() const noexcept { return m_text.lm_head().is_same(m_text.embed_tokens()); }
    /// Name layout of the checkpoint it was loaded from (`flat` for `from_weights`).
    name_layout layout() const noexcept { return m_layout; }
    const memory_estimate& estimate() const noexcept { return m_estimate; }
    c10::Device device() const { return m_text.embed_tokens().device(); }
    at::ScalarType dtype() const { return m_text.embed_tokens().scalar_type(); }

    /// Image features `[tokens, hidden]` for `pixel_values` `[patches, patch_dim]` and `grid_thw`.
    at::Tensor encode_images(const at::Tensor& pixel_values,
                             const std::vector<std::array<std::int64_t, 3>>& grid_thw) const {
        return m_vision.forward(pixel_values, grid_thw);
    }

    /// Embeds `input_ids` `[B, L]` and scatters `image_embeds` (rows in order) into the image token
    /// positions and `video_embeds` into the video token positions, as `Qwen2_5_VLForConditionalGeneration.forward`
    /// does with `masked_scatter`. model_error "image_token_mismatch" / "video_token_mismatch" when the
    /// counts differ. Without embeddings the ids are embedded as they are, as transformers does without
    /// `pixel_values` (a decode step whose sampled id is `<|image_pad|>` is no error, and needs no device
    /// synchronisation).
    at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& image_embeds = {},
                     const at::Tensor& video_embeds = {}) const {
        at::Tensor e = m_text.embed(input_ids);
        e = scatter(input_ids, e, image_embeds, m_cfg.image_token_id, "image");
        return scatter(input_ids, e, video_embeds, m_cfg.video_token_id, "video");
    }

    /// Logits for `inputs_embeds` (see `text_model::forward`).
    at::Tensor forward(const at::Tensor& inputs_embeds, const at::Tensor& position_ids, const at::Tensor& mask,
                       kv_cache* cache, bool last_only = false) const {
        return m_text.forward(inputs_embeds, position_ids, mask, cache, last_only);
    }

private:
    static at::Tensor scatter(const at::Tensor& input_ids, const at::Tensor& e, const at::Tensor& features,
                              std::int64_t token, const char* what) {
        if (!features.defined()) return e;
        at::Tensor is_token = input_ids.to(e.device()).eq(token);
        const std::int64_t n = is_token.sum().item<std::int64_t>();
        const std::int64_t have = features.size(0);
        if (n != have)
            RSCOVLM_THROW(model_error, std::string(what) + "_token_mismatch",
                          std::string(what) + " features and " + what + " tokens do not match: tokens: " +
                              std::to_string(n) + ", features " + std::to_string(have));
        if (n == 0) return e;
        return e.masked_scatter(is_token.unsqueeze(-1).expand_as(e), features.to(e.device(), e.scalar_type()));
    }

    model_config m_cfg;
    vision_tower m_vision;
    text_model m_text;
    memory_estimate m_estimate;
    std::vector<std::pair<std::string, at::Tensor>> m_params;
    name_layout m_layout = name_layout::flat;
};

} // namespace rscovlm::torch
