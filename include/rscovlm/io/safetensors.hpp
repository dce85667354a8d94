#pragma once
/// \file
/// Torch-free reader and writer for the safetensors format (Hugging Face).
///
/// Layout (mirrors the Rust `safetensors` crate, `SafeTensors::deserialize` / `serialize`):
///   [u64 little-endian N][N bytes JSON header, space padded][data]
/// The header maps tensor names to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative
/// to the start of the data section) plus an optional `"__metadata__"` object of string -> string.
/// The reader memory-maps the file (POSIX) and validates everything before any tensor is handed out:
/// every malformation raises `rscovlm::io_error` with a code starting with `safetensors_`.

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/py/float16.hpp>
#include <rscovlm/errors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define RSCOVLM_SAFETENSORS_MMAP 1
#else
#define RSCOVLM_SAFETENSORS_MMAP 0
#endif

namespace rscovlm::io::safetensors {

/// Element types of the safetensors format (names as written in the header).
enum class dtype { boolean, u8, i8, f8_e5m2, f8_e4m3, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64 };

namespace detail {
struct dtype_entry {
    dtype type;
    std::string_view name;
    std::size_t size;
};
inline constexpr dtype_entry dtype_table[] = {
    {dtype::boolean, "BOOL", 1},    {dtype::u8, "U8", 1},   {dtype::i8, "I8", 1},   {dtype::f8_e5m2, "F8_E5M2", 1},
    {dtype::f8_e4m3, "F8_E4M3", 1}, {dtype::i16, "I16", 2}, {dtype::u16, "U16", 2}, {dtype::f16, "F16", 2},
    {dtype::bf16, "BF16", 2},       {dtype::i32, "I32", 4}, {dtype::u32, "U32", 4}, {dtype::f32, "F32", 4},
    {dtype::f64, "F64", 8},         {dtype::i64, "I64", 8}, {dtype::u64, "U64", 8},
};
/// Largest header the reference accepts (Rust crate: `MAX_HEADER_SIZE = 100_000_000`).
inline constexpr std::uint64_t max_header_size = 100000000ULL;
} // namespace detail

/// Header name of a dtype ("F32", "BF16", ...).
inline std::string_view dtype_name(dtype t) noexcept {
    for (const auto& e : detail::dtype_table)
        if (e.type == t) return e.name;
    return "?";
}

/// Size in bytes of one element.
inline std::size_t dtype_size(dtype t) noexcept {
    for (const auto& e : detail::dtype_table)
        if (e.type == t) return e.size;
    return 0;
}

/// Parses a header dtype name; std::nullopt when unknown.
inline std::optional<dtype> parse_dtype(std::string_view name) noexcept {
    for (const auto& e : detail::dtype_table)
        if (e.name == name) return e.type;
    return std::nullopt;
}

/// A non-owning view of one tensor: used both for reading (points into the mapped file) and writing.
struct tensor_view {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::int64_t> shape;
    const void* data = nullptr;
    std::size_t size_bytes = 0;

    /// Number of elements (product of the shape; 1 for a scalar).
    std::int64_t numel() const noexcept {
        std::int64_t n = 1;
        for (auto d : shape)
            n *= d;
        return n;
    }
    /// Typed pointer to the bytes (no alignment guarantee beyond what the file gives).
    const std::uint8_t* bytes() const noexcept { return static_cast<const std::uint8_t*>(data); }
};

/// Header entry of one tensor.
struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0; ///< offset in the data section
    std::uint64_t end = 0;
};

// Half precision conversions (IEEE binary16 and bfloat16) live in detail/py/float16.hpp.
using ::rscovlm::detail::py::bf16_to_f32;
using ::rscovlm::detail::py::f16_to_f32;
using ::rscovlm::detail::py::f32_to_bf16;
using ::rscovlm::detail::py::f32_to_f16;

/// Converts any numeric tensor to a float32 vector (bool/ints/F16/BF16/F32/F64; F8 types raise
/// io_error "safetensors_unsupported_dtype").
inline std::vector<float> to_f32(const tensor_view& t) {
    const std::size_t n = static_cast<std::size_t>(t.numel());
    std::vector<float> out(n);
    const std::uint8_t* p = t.bytes();
    auto load = [&](auto tag, std::size_t i) {
        using T = decltype(tag);
        T v;
        std::memcpy(&v, p + i * sizeof(T), sizeof(T));
        return v;
    };
    for (std::size_t i = 0; i < n; ++i) {
        switch (t.type) {
        case dtype::boolean:
            out[i] = p[i] ? 1.0f : 0.0f;
            break;
        case dtype::u8:
            out[i] = static_cast<float>(p[i]);
            break;
        case dtype::i8:
            out[i] = static_cast<float>(load(std::int8_t{}, i));
            break;
        case dtype::i16:
            out[i] = static_cast<float>(load(std::int16_t{}, i));
            break;
        case dtype::u16:
            out[i] = static_cast<float>(load(std::uint16_t{}, i));
            break;
        case dtype::f16:
            out[i] = f16_to_f32(load(std::uint16_t{}, i));
            break;
        case dtype::bf16:
            out[i] = bf16_to_f32(load(std::uint16_t{}, i));
            break;
        case dtype::i32:
            out[i] = static_cast<float>(load(std::int32_t{}, i));
            break;
        case dtype::u32:
            out[i] = static_cast<float>(load(std::uint32_t{}, i));
            break;
        case dtype::f32:
            out[i] = load(float{}, i);
            break;
        case dtype::f64:
            out[i] = static_cast<float>(load(double{}, i));
            break;
        case dtype::i64:
            out[i] = static_cast<float>(load(std::int64_t{}, i));
            break;
        case dtype::u64:
            out[i] = static_cast<float>(load(std::uint64_t{}, i));
            break;
        default:
            RSCOVLM_THROW(io_error, "safetensors_unsupported_dtype",
                          "tensor '" + t.name + "': cannot convert dtype " + std::string(dtype_name(t.type)) +
                              " to float32");
        }
    }
    return out;
}

namespace detail {

/// Read-only bytes of a file: memory-mapped on POSIX, read into memory elsewhere.
class mapped_file {
public:
    mapped_file() = default;
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() {
#if RSCOVLM_SAFETENSORS_MMAP
        if (m_map != nullptr) ::munmap(m_map, m_size);
#endif
    }

    /// Opens `path`; raises io_error "safetensors_open" when it cannot be read.
    static std::shared_ptr<mapped_file> open(const std::string& path) {
        auto f = std::make_shared<mapped_file>();
#if RSCOVLM_SAFETENSORS_MMAP
        int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0) RSCOVLM_THROW(io_error, "safetensors_open", "cannot open '" + path + "'");
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            RSCOVLM_THROW(io_error, "safetensors_open", "'" + path + "' is not a regular file");
        }
        f->m_size = static_cast<std::size_t>(st.st_size);
        if (f->m_size > 0) {
            void* m = ::mmap(nullptr, f->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) {
                ::close(fd);
                RSCOVLM_THROW(io_error, "safetensors_open", "cannot memory-map '" + path + "'");
            }
            f->m_map = m;
            f->m_data = static_cast<const std::uint8_t*>(m);
        }
        ::close(fd);
#else
        std::ifstream in(path, std::ios::binary);
        if (!in) RSCOVLM_THROW(io_error, "safetensors_open", "cannot open '" + path + "'");
        in.seekg(0, std::ios::end);
        std::streamoff len = in.tellg();
        in.seekg(0, std::ios::beg);
        f->m_buffer.resize(static_cast<std::size_t>(len));
        if (len > 0) in.read(reinterpret_cast<char*>(f->m_buffer.data()), len);
        f->m_data = f->m_buffer.data();
        f->m_size = f->m_buffer.size();
#endif
        return f;
    }

    /// Owns a copy of a memory buffer (used by parsers of in-memory bytes and the fuzz target).
    static std::shared_ptr<mapped_file> from_bytes(std::vector<std::uint8_t> bytes) {
        auto f = std::make_shared<mapped_file>();
        f->m_buffer = std::move(bytes);
        f->m_data = f->m_buffer.data();
        f->m_size = f->m_buffer.size();
        return f;
    }

    const std::uint8_t* data() const noexcept {
        return m_data;
    }
    std::size_t size() const noexcept {
        return m_size;
    }

private:
    void* m_map = nullptr;
    std::vector<std::uint8_t> m_buffer;
    const std::uint8_t* m_data = nullptr;
    std::size_t m_size = 0;
};

inline bool to_u64(const nlohmann::json& j, std::uint64_t& out) {
    if (j.is_number_unsigned()) {
        out = j.get<std::uint64_t>();
        return true;
    }
    if (j.is_number_integer()) {
        auto v = j.get<std::int64_t>();
        if (v < 0) return false;
        out = static_cast<std::uint64_t>(v);
        return true;
    }
    return false;
}

} // namespace detail

/// One `.safetensors` file, validated on open; tensor views stay valid while the file object lives.
class file {
public:
    /// Memory-maps and validates `path`.
    static file open(const std::string& path) { return file(detail::mapped_file::open(path), path); }
    /// Non-throwing `open`.
    static result<file> try_open(const std::string& path) {
        return try_call([&] { return open(path); });
    }

    /// Parses an in-memory safetensors image (the bytes are copied).
    static file from_bytes(std::vector<std::uint8_t> bytes, const std::string& label = "<memory>") {
        return file(detail::mapped_file::from_bytes(std::move(bytes)), label);
    }

    /// Path (or label) this file was opened from.
    const std::string& path() const noexcept { return m_path; }
    /// `__metadata__` entries (empty when absent).
    const std::map<std::string, std::string>& metadata() const noexcept { return m_metadata; }
    /// Tensor names in data order.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(m_infos.size());
        for (const auto& i : m_infos)
            out.push_back(i.name);
        return out;
    }
    /// Header entries in data order.
    const std::vector<tensor_info>& infos() const noexcept { return m_infos; }
    /// Number of tensors.
    std::size_t size() const noexcept { return m_infos.size(); }
    /// True when the file holds `name`.
    bool contains(std::string_view name) const { return m_index.count(std::string(name)) != 0; }
    /// Header entry of `name`; io_error "safetensors_missing_tensor" when absent.
    const tensor_info& info(std::string_view name) const {
        auto it = m_index.find(std::string(name));
        if (it == m_index.end())
            RSCOVLM_THROW(io_error, "safetensors_missing_tensor",
                          "'" + m_path + "' has no tensor '" + std::string(name) + "'");
        return m_infos[it->second];
    }
    /// View of `name` pointing into the mapped file.
    tensor_view tensor(std::string_view name) const { return view_of(info(name)); }
    /// Views of all tensors in data order.
    std::vector<tensor_view> tensors() const {
        std::vector<tensor_view> out;
        out.reserve(m_infos.size());
        for (const auto& i : m_infos)
            out.push_back(view_of(i));
        return out;
    }
    /// Bytes of the data section.
    std::uint64_t data_size() const noexcept { return m_data_size; }

private:
    file(std::shared_ptr<detail::mapped_file> bytes, std::string path)
        : m_bytes(std::move(bytes)), m_path(std::move(path)) {
        parse();
    }

    tensor_view view_of(const tensor_info& i) const {
        tensor_view v;
        v.name = i.name;
        v.type = i.type;
        v.shape = i.shape;
        v.data = m_bytes->data() + m_data_start + i.begin;
        v.size_bytes = static_cast<std::size_t>(i.end - i.begin);
        return v;
    }

    [[noreturn]] void fail(std::string_view code, const std::string& msg) const {
        RSCOVLM_THROW(io_error, code, "'" + m_path + "': " + msg);
    }

    // Mirrors the validation of the Rust crate (`SafeTensors::read_metadata` + `Metadata::validate`):
    // header length within the file and <= 100 MB, JSON object, known dtypes, offsets contiguous from 0
    // covering the whole data section, byte sizes equal to numel * dtype size.
    void parse() {
        const std::size_t total = m_bytes->size();
        const std::uint8_t* p = m_bytes->data();
        if (total < 8)
            fail("safetensors_truncated",
                 "file has " + std::to_string(total) + " bytes, fewer than the 8-byte header length");
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | p[i];
        if (n > detail::max_header_size)
            fail("safetensors_header_size", "header length " + std::to_string(n) + " exceeds the 100000000-byte limit");
        if (n > total - 8)
            fail("safetensors_truncated", "header length " + std::to_string(n) + " exceeds the " +
                                              std::to_string(total - 8) + " bytes after it");
        if (n == 0 || p[8] != '{') fail("safetensors_bad_header", "header does not start with '{'");
        const char* hb = reinterpret_cast<const char*>(p + 8);
        // The format allows only spaces (0x20) as trailing padding (nlohmann, like serde_json, would
        // also take tabs and newlines): the last non-space byte must close the header object.
        std::size_t hn = static_cast<std::size_t>(n);
        while (hn > 0 && hb[hn - 1] == ' ')
            --hn;
        if (hn == 0 || hb[hn - 1] != '}')
            fail("safetensors_bad_header", "header is not a JSON object followed only by space (0x20) padding");
        // Duplicate keys are not allowed by the format (a JSON parser would silently keep one).
        std::vector<std::set<std::string>> keys;
        std::string duplicate;
        nlohmann::json::parser_callback_t on_event = [&](int, nlohmann::json::parse_event_t ev,
                                                         nlohmann::json& parsed) {
            if (ev == nlohmann::json::parse_event_t::object_start)
                keys.emplace_back();
            else if (ev == nlohmann::json::parse_event_t::object_end && !keys.empty())
                keys.pop_back();
            else if (ev == nlohmann::json::parse_event_t::key && !keys.empty() && parsed.is_string() &&
                     !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
                duplicate = parsed.get<std::string>();
            return true;
        };
        nlohmann::json header = nlohmann::json::parse(hb, hb + n, on_event, false);
        if (header.is_discarded()) fail("safetensors_bad_json", "header is not valid JSON");
        if (!header.is_object()) fail("safetensors_bad_header", "header is not a JSON object");
        if (!duplicate.empty()) fail("safetensors_duplicate_key", "header holds the key '" + duplicate + "' twice");
        m_data_start = 8 + static_cast<std::size_t>(n);
        m_data_size = total - m_data_start;

        for (auto it = header.begin(); it != header.end(); ++it) {
            const std::string& name = it.key();
            const nlohmann::json& e = it.value();
            if (name == "__metadata__") {
                if (!e.is_object()) fail("safetensors_bad_metadata", "__metadata__ is not an object");
                for (auto m = e.begin(); m != e.end(); ++m) {
                    if (!m.value().is_string())
                        fail("safetensors_bad_metadata", "__metadata__ value of '" + m.key() + "' is not a string");
                    m_metadata[m.key()] = m.value().get<std::string>();
                }
                continue;
            }
            if (!e.is_object()) fail("safetensors_bad_entry", "entry of tensor '" + name + "' is not an object");
            auto dt = e.find("dtype");
            auto sh = e.find("shape");
            auto off = e.find("data_offsets");
            if (dt == e.end() || sh == e.end() || off == e.end())
                fail("safetensors_bad_entry", "tensor '" + name + "' lacks dtype, shape or data_offsets");
            if (e.size() != 3)
                fail("safetensors_bad_entry",
                     "tensor '" + name + "' has keys other than dtype, shape and data_offsets");
            if (name.empty()) fail("safetensors_bad_entry", "a tensor has an empty name");
            if (!dt->is_string()) fail("safetensors_bad_entry", "tensor '" + name + "': dtype is not a string");
            auto type = parse_dtype(dt->get<std::string>());
            if (!type)
                fail("safetensors_bad_dtype", "tensor '" + name + "': unknown dtype '" + dt->get<std::string>() + "'");
            tensor_info info;
            info.name = name;
            info.type = *type;
            if (!sh->is_array()) fail("safetensors_bad_entry", "tensor '" + name + "': shape is not an array");
            std::uint64_t numel = 1;
            for (const auto& d : *sh) {
                std::uint64_t v = 0;
                if (!detail::to_u64(d, v) || v > (1ULL << 48))
                    fail("safetensors_bad_entry",
                         "tensor '" + name + "': shape holds a non-integer or out-of-range dimension");
                if (v != 0 && numel > (~0ULL) / v)
                    fail("safetensors_bad_entry", "tensor '" + name + "': element count overflows");
                numel *= v;
                info.shape.push_back(static_cast<std::int64_t>(v));
            }
            if (!off->is_array() || off->size() != 2 || !detail::to_u64((*off)[0], info.begin) ||
                !detail::to_u64((*off)[1], info.end))
                fail("safetensors_bad_entry", "tensor '" + name + "': data_offsets is not [begin, end]");
            if (info.end < info.begin || info.end > m_data_size)
                fail("safetensors_bad_offsets", "tensor '" + name + "': data_offsets [" + std::to_string(info.begin) +
                                                    ", " + std::to_string(info.end) + "] outside the " +
                                                    std::to_string(m_data_size) + "-byte data section");
            const std::uint64_t es = dtype_size(info.type);
            if (numel > (~0ULL) / es || numel * es != info.end - info.begin)
                fail("safetensors_size_mismatch", "tensor '" + name + "': " + std::to_string(info.end - info.begin) +
                                                      " bytes for shape of " + std::to_string(numel) + " elements of " +
                                                      std::string(dtype_name(info.type)));
            m_infos.push_back(std::move(info));
        }
        std::sort(m_infos.begin(), m_infos.end(), [](const tensor_info& a, const tensor_info& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        std::uint64_t cursor = 0;
        for (std::size_t i = 0; i < m_infos.size(); ++i) {
            if (m_infos[i].begin != cursor)
                fail("safetensors_bad_offsets", "tensor '" + m_infos[i].name + "' starts at " +
                                                    std::to_string(m_infos[i].begin) + ", expected " +
                                                    std::to_string(cursor) + " (overlap or hole)");
            cursor = m_infos[i].end;
            m_index[m_infos[i].name] = i;
        }
        if (cursor != m_data_size)
            fail("safetensors_bad_offsets", "tensors cover " + std::to_string(cursor) +
                                                " bytes but the data section has " + std::to_string(m_data_size));
    }

    std::shared_ptr<detail::mapped_file> m_bytes;
    std::string m_path;
    std::map<std::string, std::string> m_metadata;
    std::vector<tensor_info> m_infos;
    std::unordered_map<std::string, std::size_t> m_index;
    std::size_t m_data_start = 0;
    std::uint64_t m_data_size = 0;
};

/// A checkpoint: a single `.safetensors` file or a set of shards listed by `model.safetensors.index.json`.
class checkpoint {
public:
    /// Opens a directory (index json when present, else `model.safetensors`, else the single
    /// `*.safetensors` file it holds), an index json, or one `.safetensors` file.
    static checkpoint open(const std::string& path) {
        namespace fs = std::filesystem;
        checkpoint c;
        std::error_code ec;
        fs::path p(path);
        if (fs::is_directory(p, ec)) {
            if (fs::exists(p / "model.safetensors.index.json", ec)) {
                c.load_index((p / "model.safetensors.index.json").string());
            } else if (fs::exists(p / "model.safetensors", ec)) {
                c.add_file((p / "model.safetensors").string(), nullptr);
            } else {
                std::vector<std::string> found;
                for (const auto& e : fs::directory_iterator(p, ec))
                    if (e.path().extension() == ".safetensors") found.push_back(e.path().string());
                if (found.size() != 1)
                    RSCOVLM_THROW(io_error, "safetensors_no_checkpoint",
                                  "'" + path + "' holds no model.safetensors.index.json, no model.safetensors and " +
                                      std::to_string(found.size()) + " .safetensors files (need exactly one)");
                c.add_file(found.front(), nullptr);
            }
        } else if (p.extension() == ".json") {
            c.load_index(path);
        } else {
            c.add_file(path, nullptr);
        }
        return c;
    }
    /// Non-throwing `open`.
    static result<checkpoint> try_open(const std::string& path) {
        return try_call([&] { return open(path); });
    }

    /// All tensor names (sorted).
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(m_where.size());
        for (const auto& kv : m_where)
            out.push_back(kv.first);
        return out;
    }
    /// True when some shard holds `name`.
    bool contains(std::string_view name) const { return m_where.count(std::string(name)) != 0; }
    /// Header entry of `name`; io_error "safetensors_missing_tensor" when absent.
    const tensor_info& info(std::string_view name) const { return m_files[shard_of(name)].info(name); }
    /// View of `name` (valid while this checkpoint lives).
    tensor_view tensor(std::string_view name) const { return m_files[shard_of(name)].tensor(name); }
    /// The shard files.
    const std::vector<file>& files() const noexcept { return m_files; }
    /// Sum of the data sections of all shards, in bytes.
    std::uint64_t total_bytes() const noexcept {
        std::uint64_t s = 0;
        for (const auto& f : m_files)
            s += f.data_size();
        return s;
    }

private:
    std::size_t shard_of(std::string_view name) const {
        auto it = m_where.find(std::string(name));
        if (it == m_where.end())
            RSCOVLM_THROW(io_error, "safetensors_missing_tensor",
                          "checkpoint has no tensor '" + std::string(name) + "'");
        return it->second;
    }

    void add_file(const std::string& path, const std::set<std::string>* only) {
        m_files.push_back(file::open(path));
        const std::size_t idx = m_files.size() - 1;
        for (const auto& i : m_files.back().infos()) {
            if (only != nullptr && only->count(i.name) == 0) continue;
            if (!m_where.emplace(i.name, idx).second)
                RSCOVLM_THROW(io_error, "safetensors_duplicate_tensor",
                              "tensor '" + i.name + "' appears in more than one file ('" + path + "')");
        }
    }

    // Hugging Face `model.safetensors.index.json`: {"metadata": {...}, "weight_map": {tensor: shard file}}.
    void load_index(const std::string& index_path) {
        namespace fs = std::filesystem;
        const std::string text = ::rscovlm::detail::py::read_file_or_throw(index_path, "safetensors_open",
                                                                           "cannot open index '" + index_path + "'");
        nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            RSCOVLM_THROW(io_error, "safetensors_bad_index", "'" + index_path + "' is not a JSON object");
        auto wm = j.find("weight_map");
        if (wm == j.end() || !wm->is_object())
            RSCOVLM_THROW(io_error, "safetensors_bad_index", "'" + index_path + "' has no weight_map object");
        std::map<std::string, std::set<std::string>> by_file;
        for (auto it = wm->begin(); it != wm->end(); ++it) {
            if (!it.value().is_string())
                RSCOVLM_THROW(io_error, "safetensors_bad_index",
                              "'" + index_path + "': weight_map entry of '" + it.key() + "' is not a string");
            std::string shard = it.value().get<std::string>();
            if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
                shard == "." || shard == "..")
                RSCOVLM_THROW(io_error, "safetensors_bad_index",
                              "'" + index_path + "': shard name '" + shard + "' of tensor '" + it.key() +
                                  "' is not a plain file name");
            by_file[shard].insert(it.key());
        }
        const fs::path dir = fs::path(index_path).parent_path();
        for (const auto& kv : by_file) {
            add_file((dir / kv.first).string(), &kv.second);
            for (const auto& name : kv.second)
                if (!m_files.back().contains(name))
                    RSCOVLM_THROW(io_error, "safetensors_index_mismatch",
                                  "index maps tensor '" + name + "' to '" + kv.first + "', which does not hold it");
        }
    }

    std::vector<file> m_files;
    std::map<std::string, std::size_t> m_where;
};

// ---------------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------------

/// Serialises tensors into safetensors bytes. Mirrors the Rust crate's `serialize`: tensors ordered by
/// dtype (the crate's `Dtype` order, descending: alignment first) then name, data laid out contiguously, the JSON
/// header padded with spaces so the data section starts at a multiple of 8. Raises io_error "safetensors_bad_tensor"
/// for a duplicate/empty name or a byte size that does not match the shape.
inline std::vector<std::uint8_t> serialize(const std::vector<tensor_view>& tensors,
                                           const std::map<std::string, std::string>& metadata = {}) {
    std::vector<const tensor_view*> order;
    order.reserve(tensors.size());
    std::set<std::string> seen;
    for (const auto& t : tensors) {
        if (t.name.empty() || t.name == "__metadata__")
            RSCOVLM_THROW(io_error, "safetensors_bad_tensor", "invalid tensor name '" + t.name + "'");
        if (!seen.insert(t.name).second)
            RSCOVLM_THROW(io_error, "safetensors_bad_tensor", "duplicate tensor name '" + t.name + "'");
        std::uint64_t numel = 1;
        for (auto d : t.shape) {
            if (d < 0)
                RSCOVLM_THROW(io_error, "safetensors_bad_tensor", "tensor '" + t.name + "' has a negative dimension");
            numel *= static_cast<std::uint64_t>(d);
        }
        if (numel * dtype_size(t.type) != t.size_bytes)
            RSCOVLM_THROW(io_error, "safetensors_bad_tensor",
                          "tensor '" + t.name + "': " + std::to_string(t.size_bytes) + " bytes for " +
                              std::to_string(numel) + " elements of " + std::string(dtype_name(t.type)));
        if (t.size_bytes > 0 && t.data == nullptr)
            RSCOVLM_THROW(io_error, "safetensors_bad_tensor", "tensor '" + t.name + "' has no data");
        order.push_back(&t);
    }
    // The crate sorts by `Dtype` descending (its declaration order, which `dtype` follows: U64, I64,
    // F64, F32, ... BOOL), then by name; sorting by byte size alone would interleave U64/I64/F64.
    std::stable_sort(order.begin(), order.end(), [](const tensor_view* a, const tensor_view* b) {
        const int ra = static_cast<int>(a->type), rb = static_cast<int>(b->type);
        return ra != rb ? ra > rb : a->name < b->name;
    });
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto& kv : metadata)
            m[kv.first] = kv.second;
        header["__metadata__"] = std::move(m);
    }
    std::uint64_t offset = 0;
    for (const auto* t : order) {
        nlohmann::ordered_json e = nlohmann::ordered_json::object();
        e["dtype"] = std::string(dtype_name(t->type));
        e["shape"] = t->shape;
        e["data_offsets"] = {offset, offset + t->size_bytes};
        header[t->name] = std::move(e);
        offset += t->size_bytes;
    }
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0)
        h.push_back(' ');
    std::vector<std::uint8_t> out(8 + h.size() + offset);
    std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((n >> (8 * i)) & 0xffu);
    std::memcpy(out.data() + 8, h.data(), h.size());
    std::size_t pos = 8 + h.size();
    for (const auto* t : order) {
        if (t->size_bytes > 0) std::memcpy(out.data() + pos, t->data, t->size_bytes);
        pos += t->size_bytes;
    }
    return out;
}

/// Writes tensors (and optional string metadata) to `path` as a safetensors file readable by the Python
/// `safetensors` package. io_error "safetensors_write" when the file cannot be written.
inline void write(const std::string& path, const std::vector<tensor_view>& tensors,
                  const std::map<std::string, std::string>& metadata = {}) {
    std::vector<std::uint8_t> bytes = serialize(tensors, metadata);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) RSCOVLM_THROW(io_error, "safetensors_write", "cannot create '" + path + "'");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) RSCOVLM_THROW(io_error, "safetensors_write", "cannot write '" + path + "'");
}

/// Writes a sharded checkpoint into directory `dir` the way transformers' `save_pretrained` does:
/// `model-0000i-of-0000n.safetensors` files of at most `max_shard_bytes` of data each (a tensor larger
/// than the limit gets its own shard) plus `model.safetensors.index.json` with `metadata.total_size` and
/// `weight_map`. Tensors keep the given order. Returns the shard file names.
inline std::vector<std::string> write_sharded(const std::string& dir, const std::vector<tensor_view>& tensors,
                                              std::uint64_t max_shard_bytes,
                                              const std::map<std::string, std::string>& metadata = {}) {
    namespace fs = std::filesystem;
    std::vector<std::vector<tensor_view>> shards;
    std::uint64_t cur = 0, total = 0;
    for (const auto& t : tensors) {
        if (shards.empty() || (cur + t.size_bytes > max_shard_bytes && !shards.back().empty())) {
            shards.emplace_back();
            cur = 0;
        }
        shards.back().push_back(t);
        cur += t.size_bytes;
        total += t.size_bytes;
    }
    if (shards.empty()) shards.emplace_back();
    auto pad5 = [](std::size_t v) {
        std::string s = std::to_string(v);
        return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
    };
    std::vector<std::string> names;
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total}};
    nlohmann::ordered_json wm = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < shards.size(); ++i) {
        std::string fname = "model-" + pad5(i + 1) + "-of-" + pad5(shards.size()) + ".safetensors";
        write((fs::path(dir) / fname).string(), shards[i], metadata);
        for (const auto& t : shards[i])
            wm[t.name] = fname;
        names.push_back(fname);
    }
    index["weight_map"] = std::move(wm);
    const std::string ipath = (fs::path(dir) / "model.safetensors.index.json").string();
    std::ofstream out(ipath, std::ios::binary | std::ios::trunc);
    if (!out) RSCOVLM_THROW(io_error, "safetensors_write", "cannot create '" + ipath + "'");
    out << index.dump(2) << "\n";
    if (!out) RSCOVLM_THROW(io_error, "safetensors_write", "cannot write '" + ipath + "'");
    return names;
}

/// Builds a writer view over a contiguous typed buffer (for callers holding std::vector data).
template <class T>
tensor_view make_view(std::string name, dtype type, std::vector<std::int64_t> shape, const std::vector<T>& data) {
    tensor_view v;
    v.name = std::move(name);
    v.type = type;
    v.shape = std::move(shape);
    v.data = data.data();
    v.size_bytes = data.size() * sizeof(T);
    return v;
}

} // namespace rscovlm::io::safetensors
