#pragma once
/// \file tables.hpp
/// Hash tables and the word cache used by the BPE tokenizer.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rscovlm::tokenizer::detail {

/// 64-bit hash of a byte string (multiply-xorshift over 8-byte words; not cryptographic).
inline std::uint64_t hash_bytes(const char* p, std::size_t n) noexcept {
    std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ (w * 0x87C37B91114253D5ULL)) * 0x4CF5AD432745937FULL;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = (h ^ (w * 0x87C37B91114253D5ULL)) * 0x4CF5AD432745937FULL;
        h ^= h >> 31;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

/// Power-of-two slot count keeping the load factor at most 2/3.
inline std::size_t table_capacity(std::size_t n) {
    std::size_t cap = 16;
    while (cap < n + n / 2 + 2)
        cap <<= 1;
    return cap;
}

/// String -> entry index over strings stored in one arena (open addressing, linear probing).
/// Each slot keeps the entry's hash tag, offset and length, so a lookup touches one slot and the
/// string's bytes; `prefetch` lets bulk loaders overlap those memory accesses.
class string_table {
public:
    /// Prepares for about `n` entries.
    void reserve(std::size_t n) {
        std::size_t cap = table_capacity(n);
        if (cap <= m_slots.size()) return;
        m_entries.reserve(n);
        m_slots.assign(cap, slot{-1, 0, 0, 0});
        m_mask = cap - 1;
        for (std::size_t e = 0; e < m_entries.size(); ++e)
            place(static_cast<std::int32_t>(e));
    }

    /// Adds `s`; returns the entry index or, if `s` is already present, -(existing index) - 1.
    std::int64_t insert(std::string_view s) { return insert(s, hash_bytes(s.data(), s.size())); }
    /// `insert` with the precomputed `hash_bytes(s)`.
    std::int64_t insert(std::string_view s, std::uint64_t h) {
        if ((m_entries.size() + 1) * 3 >= m_slots.size() * 2) reserve(m_entries.size() * 2 + 16);
        auto tag = static_cast<std::uint32_t>(h >> 32);
        for (std::size_t i = static_cast<std::size_t>(h) & m_mask;; i = (i + 1) & m_mask) {
            slot& sl = m_slots[i];
            if (sl.entry < 0) {
                auto idx = static_cast<std::int32_t>(m_entries.size());
                entry en{static_cast<std::uint32_t>(m_arena.size()), static_cast<std::uint32_t>(s.size())};
                m_entries.push_back(en);
                m_arena.append(s.data(), s.size());
                sl = slot{idx, tag, en.offset, en.length};
                return idx;
            }
            if (sl.tag == tag && slot_view(sl) == s) return -static_cast<std::int64_t>(sl.entry) - 1;
        }
    }

    /// Entry index of `s`, or -1.
    std::int32_t find(std::string_view s) const noexcept { return find(s, hash_bytes(s.data(), s.size())); }
    /// Entry index of `s` whose hash_bytes() is `h`, or -1.
    std::int32_t find(std::string_view s, std::uint64_t h) const noexcept {
        if (m_slots.empty()) return -1;
        auto tag = static_cast<std::uint32_t>(h >> 32);
        for (std::size_t i = static_cast<std::size_t>(h) & m_mask;; i = (i + 1) & m_mask) {
            const slot& sl = m_slots[i];
            if (sl.entry < 0) return -1;
            if (sl.tag == tag && sl.length == s.size() && slot_view(sl) == s) return sl.entry;
        }
    }
    /// Hints the slot of hash `h` into cache.
    void prefetch(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        if (!m_slots.empty()) __builtin_prefetch(&m_slots[static_cast<std::size_t>(h) & m_mask]);
#else
        (void)h;
#endif
    }
    /// Hints the bytes of the first slot of hash `h` whose tag matches into cache.
    void prefetch_text(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        if (m_slots.empty()) return;
        auto tag = static_cast<std::uint32_t>(h >> 32);
        for (std::size_t i = static_cast<std::size_t>(h) & m_mask;; i = (i + 1) & m_mask) {
            const slot& sl = m_slots[i];
            if (sl.entry < 0) return;
            if (sl.tag == tag) {
                __builtin_prefetch(m_arena.data() + sl.offset);
                return;
            }
        }
#else
        (void)h;
#endif
    }

    std::string_view view(std::int32_t e) const noexcept {
        const entry& en = m_entries[static_cast<std::size_t>(e)];
        return std::string_view(m_arena.data() + en.offset, en.length);
    }
    std::size_t size() const noexcept {
        return m_entries.size();
    }
    void reserve_arena(std::size_t bytes) {
        m_arena.reserve(bytes);
    }

private:
    struct slot {
        std::int32_t entry;
        std::uint32_t tag;
        std::uint32_t offset, length;
    };
    struct entry {
        std::uint32_t offset, length;
    };
    std::string_view slot_view(const slot& sl) const noexcept {
        return std::string_view(m_arena.data() + sl.offset, sl.length);
    }
    void place(std::int32_t e) {
        std::string_view s = view(e);
        std::uint64_t h = hash_bytes(s.data(), s.size());
        const entry& en = m_entries[static_cast<std::size_t>(e)];
        for (std::size_t i = static_cast<std::size_t>(h) & m_mask;; i = (i + 1) & m_mask)
            if (m_slots[i].entry < 0) {
                m_slots[i] = slot{e, static_cast<std::uint32_t>(h >> 32), en.offset, en.length};
                return;
            }
    }
    std::string m_arena;
    std::vector<entry> m_entries;
    std::vector<slot> m_slots;
    std::size_t m_mask = 0;
};

/// (left id, right id) -> (rank, merged id), open addressing.
class merge_table {
public:
    struct value {
        std::uint32_t rank;
        std::int32_t id;
    };
    void reserve(std::size_t n) {
        m_cells.assign(table_capacity(n), cell{empty_key, value{0, 0}});
        m_size = 0;
    }
    /// Inserts or overwrites (a later duplicate wins, as in a Rust HashMap built in order).
    void insert(std::int32_t a, std::int32_t b, value v) {
        if ((m_size + 1) * 3 >= m_cells.size() * 2) grow();
        std::uint64_t k = key(a, b);
        std::size_t mask = m_cells.size() - 1;
        for (std::size_t i = slot(k) & mask;; i = (i + 1) & mask) {
            cell& c = m_cells[i];
            if (c.key == empty_key) {
                c.key = k;
                c.v = v;
                ++m_size;
                return;
            }
            if (c.key == k) {
                c.v = v;
                return;
            }
        }
    }
    /// Hints the first cell of pair (a, b) into cache.
    void prefetch(std::int32_t a, std::int32_t b) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        if (!m_cells.empty()) __builtin_prefetch(&m_cells[slot(key(a, b)) & (m_cells.size() - 1)], 1);
#else
        (void)a;
        (void)b;
#endif
    }
    const value* find(std::int32_t a, std::int32_t b) const noexcept {
        if (m_cells.empty()) return nullptr;
        std::uint64_t k = key(a, b);
        std::size_t mask = m_cells.size() - 1;
        for (std::size_t i = slot(k) & mask;; i = (i + 1) & mask) {
            const cell& c = m_cells[i];
            if (c.key == k) return &c.v;
            if (c.key == empty_key) return nullptr;
        }
    }
    std::size_t size() const noexcept {
        return m_size;
    }

private:
    static constexpr std::uint64_t empty_key = ~0ULL;
    struct cell {
        std::uint64_t key;
        value v;
    };
    static std::uint64_t key(std::int32_t a, std::int32_t b) noexcept {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    }
    static std::size_t slot(std::uint64_t k) noexcept {
        k *= 0x9E3779B97F4A7C15ULL;
        return static_cast<std::size_t>(k ^ (k >> 29));
    }
    void grow() {
        std::vector<cell> old = std::move(m_cells);
        reserve(old.size() + 16);
        for (const cell& c : old)
            if (c.key != empty_key)
                insert(static_cast<std::int32_t>(c.key >> 32), static_cast<std::int32_t>(c.key & 0xFFFFFFFFu), c.v);
    }
    std::vector<cell> m_cells;
    std::size_t m_size = 0;
};

/// Thread-safe cache word bytes -> token ids, sharded by hash; a full shard is cleared.
class word_cache {
public:
    explicit word_cache(std::size_t capacity = 1u << 16) : m_per_shard(capacity / shard_count + 1) {}

    /// Appends the cached ids of `word` to `out`; returns false on a miss.
    bool get(std::string_view word, std::uint64_t h, std::vector<std::int32_t>& out) const {
        const shard& s = m_shards[h % shard_count];
        std::lock_guard<std::mutex> lock(s.mutex);
        auto it = s.map.find(key_type(word));
        if (it == s.map.end()) return false;
        out.insert(out.end(), it->second.begin(), it->second.end());
        return true;
    }
    void put(std::string_view word, std::uint64_t h, const std::int32_t* ids, std::size_t n) {
        shard& s = m_shards[h % shard_count];
        std::lock_guard<std::mutex> lock(s.mutex);
        if (s.map.size() >= m_per_shard) s.map.clear();
        s.map.emplace(key_type(word), std::vector<std::int32_t>(ids, ids + n));
    }
    void clear() {
        for (auto& s : m_shards) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.map.clear();
        }
    }

private:
    using key_type = std::string;
    static constexpr std::size_t shard_count = 32;
    struct shard {
        mutable std::mutex mutex;
        std::unordered_map<key_type, std::vector<std::int32_t>> map;
    };
    std::size_t m_per_shard;
    shard m_shards[shard_count];
};

/// Unsynchronized word cache owned by one thread (used by encode_batch workers).
class local_word_cache {
public:
    explicit local_word_cache(std::size_t capacity = 1u << 16) : m_capacity(capacity) {}
    bool get(std::string_view word, std::uint64_t, std::vector<std::int32_t>& out) const {
        m_key.assign(word.data(), word.size());
        auto it = m_map.find(m_key);
        if (it == m_map.end()) return false;
        out.insert(out.end(), it->second.begin(), it->second.end());
        return true;
    }
    void put(std::string_view word, std::uint64_t, const std::int32_t* ids, std::size_t n) {
        if (m_map.size() >= m_capacity) m_map.clear();
        m_map.emplace(std::string(word), std::vector<std::int32_t>(ids, ids + n));
    }

private:
    std::size_t m_capacity;
    mutable std::string m_key;
    std::unordered_map<std::string, std::vector<std::int32_t>> m_map;
};

} // namespace rscovlm::tokenizer::detail
