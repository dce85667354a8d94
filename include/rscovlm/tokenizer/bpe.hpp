#pragma once
/// \file bpe.hpp
/// Byte-level BPE tokenizer (Qwen2 / Qwen2.5-VL), loaded from a Hugging Face `tokenizer.json`
/// or from `vocab.json` + `merges.txt` (+ `tokenizer_config.json`).
///
/// The encode pipeline mirrors `tokenizers::TokenizerImpl::encode_single_sequence` (Rust crate
/// `tokenizers` 0.2x, the engine behind transformers' `Qwen2TokenizerFast`):
///  1. added tokens with `normalized: false` are split out of the raw text
///     (`AddedVocabulary::find_matches`: leftmost-longest, `single_word`, `lstrip`, `rstrip`);
///  2. each remaining piece is NFC-normalized, then added tokens with `normalized: true` are
///     split out of the normalized piece;
///  3. the Qwen2 split regex (pretokenizer.hpp) cuts the rest into words;
///  4. each word's bytes are mapped to byte-level symbols and merged by rank (`BPE::merge_word`).
/// Decoding mirrors the ByteLevel decoder followed by `String::from_utf8_lossy`.
///
/// Invalid UTF-8 input (which the Rust and Python APIs cannot even represent) has a defined
/// behaviour here: each maximal ill-formed subsequence is replaced by U+FFFD before encoding,
/// exactly as `bytes.decode("utf-8", errors="replace")` would do, and then encoded normally.

#include <rscovlm/detail/unicode.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/tokenizer/detail/tables.hpp>
#include <rscovlm/tokenizer/pretokenizer.hpp>
#include <rscovlm/tokenizer/tokenizer_json.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rscovlm::tokenizer {

/// Interface of the `tokenizer` registry kind: text <-> token ids.
class text_tokenizer {
public:
    virtual ~text_tokenizer() = default;
    /// Token ids of `text` (no special tokens are added).
    virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
    /// Text of `ids`; unknown ids are skipped; `skip_special` drops special tokens.
    virtual std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = false) const = 0;
    /// Id of a token string (vocabulary entry or added token).
    virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
    /// Token string of an id (byte-level form for vocabulary entries).
    virtual std::optional<std::string> id_to_token(std::int32_t id) const = 0;
    /// Number of distinct ids (vocabulary plus added tokens).
    virtual std::size_t vocab_size() const = 0;
};

/// Options of `bpe_tokenizer::encode_batch`.
struct batch_options {
    unsigned threads = 0; ///< worker threads; 0 = std::thread::hardware_concurrency()
};

/// Byte-level BPE tokenizer, byte-exact with the Hugging Face `tokenizers` engine for the Qwen2
/// family. Cheap to copy (the loaded tables are shared, immutable); safe to use from several
/// threads at once.
class bpe_tokenizer : public text_tokenizer {
public:
    static constexpr std::string_view key = "bpe.qwen2";
    static constexpr std::string_view summary =
        "byte-level BPE of the Qwen2 family (NFC, Qwen2 split regex, added tokens), from tokenizer.json";

    /// Loads a `tokenizer.json`, or a model directory holding `tokenizer.json` (or `vocab.json` +
    /// `merges.txt`). A sibling `tokenizer_config.json` supplies the eos/pad/bos/unk names.
    static bpe_tokenizer from_file(const std::string& path) { return bpe_tokenizer(detail::load_model(path)); }
    /// `from_file` returning a result instead of throwing.
    static result<bpe_tokenizer> try_from_file(const std::string& path) {
        return try_call([&] { return from_file(path); });
    }

    /// Parses the text of a tokenizer.json; `name` is used in error messages.
    static bpe_tokenizer from_json_string(std::string_view text, const std::string& name = "tokenizer.json") {
        return bpe_tokenizer(detail::parse_tokenizer_json(text, name));
    }

    /// Loads `vocab.json` + `merges.txt` with the Qwen2 pipeline (NFC, Qwen2 split, byte level);
    /// added tokens come from `added_tokens_decoder` of `config_path` (optional).
    static bpe_tokenizer from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                           const std::string& config_path = std::string()) {
        return bpe_tokenizer(detail::parse_vocab_merges(vocab_path, merges_path, config_path));
    }

    /// Registry factory: parameter `path` (tokenizer.json or model directory).
    static bpe_tokenizer from_params(registry::params& p) { return from_file(p.require<std::string>("path")); }

    // ------------------------------------------------------------------ encoding

    /// Token ids of `text` (no special tokens added; Qwen adds none).
    std::vector<std::int32_t> encode(std::string_view text) const override {
        std::vector<std::int32_t> out;
        encode_into(text, out);
        return out;
    }

    /// Appends the ids of `text` to `out`.
    void encode_into(std::string_view text, std::vector<std::int32_t>& out) const {
        encode_with_cache(text, out, *m_cache);
    }

    /// Encodes many texts, in parallel. Result i is `encode(texts[i])`.
    std::vector<std::vector<std::int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                        const batch_options& opt = {}) const {
        std::vector<std::string_view> views(texts.begin(), texts.end());
        return encode_batch(views, opt);
    }
    /// \copydoc encode_batch
    std::vector<std::vector<std::int32_t>> encode_batch(const std::vector<std::string_view>& texts,
                                                        const batch_options& opt = {}) const {
        std::vector<std::vector<std::int32_t>> out(texts.size());
        unsigned threads = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
        if (threads > texts.size()) threads = static_cast<unsigned>(std::max<std::size_t>(1, texts.size()));
        std::atomic<std::size_t> next{0};
        auto work = [&] {
            detail::local_word_cache cache; // per worker: no locking on the hot path
            for (;;) {
                std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
                if (i >= texts.size()) return;
                encode_with_cache(texts[i], out[i], cache);
            }
        };
        std::vector<std::thread> pool;
        for (unsigned t = 1; t < threads; ++t)
            pool.emplace_back(work);
        work();
        for (auto& th : pool)
            th.join();
        return out;
    }

    // ------------------------------------------------------------------ decoding

    /// Text of `ids` (ByteLevel decoder, invalid UTF-8 replaced by U+FFFD per maximal subpart).
    std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = false) const override {
        return decode(ids.data(), ids.size(), skip_special);
    }
    /// \copydoc decode
    std::string decode(const std::int32_t* ids, std::size_t n, bool skip_special = false) const {
        std::string bytes;
        bytes.reserve(n * 4);
        const detail::bpe_model& m = *m_model;
        for (std::size_t k = 0; k < n; ++k) {
            std::int32_t id = ids[k];
            std::string_view tok;
            if (!token_text(id, tok)) continue;
            if (skip_special && !m.special_contents.empty() && m.special_contents.count(std::string(tok))) continue;
            append_byte_level_decoded(tok, bytes);
        }
        return rscovlm::detail::unicode::to_valid_utf8(bytes);
    }
    /// The raw bytes token `id` decodes to (ByteLevel decoder, no UTF-8 repair: a token may hold part
    /// of a character; the bytes of consecutive tokens concatenate to the raw text). Empty for an
    /// unknown id, or a special token when `skip_special`.
    std::string token_bytes(std::int32_t id, bool skip_special = false) const {
        std::string bytes;
        std::string_view tok;
        if (!token_text(id, tok)) return bytes;
        const detail::bpe_model& m = *m_model;
        if (skip_special && !m.special_contents.empty() && m.special_contents.count(std::string(tok))) return bytes;
        append_byte_level_decoded(tok, bytes);
        return bytes;
    }
    /// Decodes each sequence.
    std::vector<std::string> decode_batch(const std::vector<std::vector<std::int32_t>>& seqs,
                                          bool skip_special = false) const {
        std::vector<std::string> out;
        out.reserve(seqs.size());
        for (const auto& s : seqs)
            out.push_back(decode(s, skip_special));
        return out;
    }

    // ------------------------------------------------------------------ vocabulary

    std::optional<std::int32_t> token_to_id(std::string_view token) const override {
        for (const auto& a : m_model->added)
            if (a.content == token) return a.id;
        std::int32_t e = m_model->vocab.find(token);
        if (e < 0) return std::nullopt;
        return m_model->entry_id[static_cast<std::size_t>(e)];
    }
    std::optional<std::string> id_to_token(std::int32_t id) const override {
        std::string_view tok;
        if (!token_text(id, tok)) return std::nullopt;
        return std::string(tok);
    }
    /// Distinct ids of the vocabulary and the added tokens (151,665 for Qwen2.5-VL).
    std::size_t vocab_size() const override { return m_model->distinct_ids; }
    /// Size of the BPE vocabulary without added tokens.
    std::size_t base_vocab_size() const noexcept { return m_model->vocab.size(); }
    /// Number of merges.
    std::size_t merges_size() const noexcept { return m_model->merges.size(); }
    /// The added tokens (after de-duplication by content).
    const std::vector<added_token>& added_tokens() const noexcept { return m_model->added; }
    /// True if `id` is a special added token (skipped by `decode(..., true)`).
    bool is_special(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= m_model->id_added.size()) return false;
        std::int32_t a = m_model->id_added[static_cast<std::size_t>(id)];
        return a >= 0 && m_model->added[static_cast<std::size_t>(a)].special;
    }
    /// Id of a special token given by role ("eos", "pad", "bos", "unk", from tokenizer_config.json)
    /// or by content ("<|im_end|>").
    std::optional<std::int32_t> special_token_id(std::string_view name) const {
        auto it = m_model->named_special.find(std::string(name));
        if (it != m_model->named_special.end()) return it->second;
        for (const auto& a : m_model->added)
            if (a.content == name) return a.id;
        return std::nullopt;
    }
    /// Throwing variant of `special_token_id`.
    std::int32_t require_special_token_id(std::string_view name) const {
        auto id = special_token_id(name);
        if (!id) RSCOVLM_THROW(tokenizer_error, "unknown_token", "no special token named '" + std::string(name) + "'");
        return *id;
    }
    /// The file the tokenizer was loaded from.
    const std::string& source() const noexcept { return m_model->source; }
    /// Empties the per-word cache (it fills again as words are encoded).
    void clear_cache() const { m_cache->clear(); }

private:
    explicit bpe_tokenizer(std::shared_ptr<const detail::bpe_model> m)
        : m_model(std::move(m)), m_cache(std::make_shared<detail::word_cache>()) {}

    bool token_text(std::int32_t id, std::string_view& tok) const {
        const detail::bpe_model& m = *m_model;
        if (id < 0 || static_cast<std::size_t>(id) >= m.id_entry.size()) return false;
        std::int32_t a = m.id_added[static_cast<std::size_t>(id)];
        if (a >= 0) {
            tok = m.added[static_cast<std::size_t>(a)].content;
            return true;
        }
        std::int32_t e = m.id_entry[static_cast<std::size_t>(id)];
        if (e < 0) return false;
        tok = m.vocab.view(e);
        return true;
    }

    // ByteLevel::decode_chain: a token whose characters are all byte-level symbols becomes those
    // bytes; any other token is kept as its UTF-8 text.
    static void append_byte_level_decoded(std::string_view tok, std::string& out) {
        const auto* s = reinterpret_cast<const unsigned char*>(tok.data());
        std::size_t n = tok.size(), i = 0, mark = out.size();
        while (i < n) {
            char32_t cp;
            std::size_t len = rscovlm::detail::unicode::decode_unchecked(s, i, cp);
            if (cp >= 0x144 || detail::byte_level.cp_to_byte[cp] < 0) {
                out.resize(mark);
                out.append(tok.data(), tok.size());
                return;
            }
            out.push_back(static_cast<char>(detail::byte_level.cp_to_byte[cp]));
            i += len;
        }
    }

    template <class F> void split_added(std::string_view s, const detail::added_matcher& matcher, F&& on_text,
                                        std::vector<std::int32_t>& out) const {
        // AddedVocabulary::find_matches
        if (matcher.empty()) {
            if (!s.empty()) on_text(s);
            return;
        }
        const detail::bpe_model& m = *m_model;
        std::size_t start_offset = 0, pos = 0, ms, ml, ti;
        while (pos < s.size() && matcher.find(s, pos, ms, ml, ti)) {
            pos = ms + ml;
            const added_token& tok = m.added[ti];
            std::size_t start = ms, stop = ms + ml;
            if (tok.single_word) {
                bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
                bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
                if (!start_space || !stop_space) continue;
            }
            if (tok.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
            if (tok.rstrip) stop += leading_space_length(s.substr(stop));
            if (start_offset < start) on_text(s.substr(start_offset, start - start_offset));
            out.push_back(tok.id);
            start_offset = stop;
        }
        if (start_offset < s.size()) on_text(s.substr(start_offset));
    }

    static char32_t last_char(std::string_view s) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        std::size_t i = s.size();
        do {
            --i;
        } while (i > 0 && (p[i] & 0xC0) == 0x80);
        char32_t cp;
        rscovlm::detail::unicode::decode_unchecked(p, i, cp);
        return cp;
    }
    static bool ends_with_word(std::string_view s) {
        return !s.empty() && rscovlm::detail::unicode::is_word(last_char(s));
    }
    static bool starts_with_word(std::string_view s) {
        if (s.empty()) return false;
        char32_t cp;
        rscovlm::detail::unicode::decode_unchecked(reinterpret_cast<const unsigned char*>(s.data()), 0, cp);
        return rscovlm::detail::unicode::is_word(cp);
    }
    static std::size_t trailing_space_start(std::string_view s) { // regex \s*$ (leftmost)
        std::size_t i = s.size();
        while (i > 0) {
            std::size_t j = i - 1;
            while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80)
                --j;
            char32_t cp;
            rscovlm::detail::unicode::decode_unchecked(reinterpret_cast<const unsigned char*>(s.data()), j, cp);
            if (!rscovlm::detail::unicode::is_white_space(cp)) break;
            i = j;
        }
        return i;
    }
    static std::size_t leading_space_length(std::string_view s) { // regex ^\s*
        std::size_t i = 0;
        while (i < s.size()) {
            char32_t cp;
            std::size_t len =
                rscovlm::detail::unicode::decode_unchecked(reinterpret_cast<const unsigned char*>(s.data()), i, cp);
            if (!rscovlm::detail::unicode::is_white_space(cp)) break;
            i += len;
        }
        return i;
    }

    template <class Cache>
    void encode_with_cache(std::string_view text, std::vector<std::int32_t>& out, Cache& cache) const {
        if (!rscovlm::detail::unicode::is_valid_utf8(text)) {
            std::string fixed = rscovlm::detail::unicode::to_valid_utf8(text);
            encode_valid(fixed, out, cache);
        } else {
            encode_valid(text, out, cache);
        }
    }

    template <class Cache>
    void encode_valid(std::string_view text, std::vector<std::int32_t>& out, Cache& cache) const {
        const detail::bpe_model& m = *m_model;
        std::string normalized;
        split_added(
            text, m.raw_matcher,
            [&](std::string_view seg) {
                std::string_view norm = seg;
                if (m.nfc && !rscovlm::detail::unicode::nfc_quick_yes(seg)) {
                    normalized.clear();
                    rscovlm::detail::unicode::nfc_append(seg, normalized);
                    norm = normalized;
                }
                split_added(
                    norm, m.normalized_matcher,
                    [&](std::string_view piece) {
                        qwen2_pretokenize(piece, [&](std::string_view w) { encode_word(w, out, cache); });
                    },
                    out);
            },
            out);
    }

    static constexpr std::size_t cache_max_word = 256;

    template <class Cache> void encode_word(std::string_view w, std::vector<std::int32_t>& out, Cache& cache) const {
        const detail::bpe_model& m = *m_model;
        if (w.size() == 1) {
            std::int32_t id = m.byte_ids[static_cast<unsigned char>(w[0])];
            if (id >= 0)
                out.push_back(id);
            else if (m.unk_id >= 0)
                out.push_back(m.unk_id);
            return;
        }
        if (m.ignore_merges) {
            std::string bl;
            for (unsigned char b : w)
                rscovlm::detail::unicode::append_utf8(bl, detail::byte_level.byte_to_cp[b]);
            std::int32_t e = m.vocab.find(bl);
            if (e >= 0) {
                out.push_back(m.entry_id[static_cast<std::size_t>(e)]);
                return;
            }
        }
        std::uint64_t h = 0;
        bool cacheable = w.size() <= cache_max_word;
        if (cacheable) {
            h = detail::hash_bytes(w.data(), w.size());
            if (cache.get(w, h, out)) return;
        }
        std::size_t before = out.size();
        merge_word(w, out);
        if (cacheable) cache.put(w, h, out.data() + before, out.size() - before);
    }

    // BPE::merge_word + Word::merge_all: repeatedly apply the lowest-rank merge, leftmost first.
    void merge_word(std::string_view w, std::vector<std::int32_t>& out) const {
        const detail::bpe_model& m = *m_model;
        std::vector<std::int32_t> syms;
        syms.reserve(w.size());
        bool last_unk = false;
        for (unsigned char b : w) {
            std::int32_t id = m.byte_ids[b];
            if (id >= 0) {
                syms.push_back(id);
                last_unk = false;
            } else if (m.unk_id >= 0) {
                if (!(m.fuse_unk && last_unk)) syms.push_back(m.unk_id);
                last_unk = true;
            }
        }
        if (syms.size() <= 64)
            merge_small(syms);
        else
            merge_large(syms);
        out.insert(out.end(), syms.begin(), syms.end());
    }

    void merge_small(std::vector<std::int32_t>& syms) const {
        const detail::merge_table& mt = m_model->merges;
        constexpr std::uint32_t none = 0xFFFFFFFFu;
        std::uint32_t ranks[64];
        std::int32_t newid[64];
        std::size_t n = syms.size();
        auto fill = [&](std::size_t i) {
            const auto* v = mt.find(syms[i], syms[i + 1]);
            ranks[i] = v ? v->rank : none;
            newid[i] = v ? v->id : -1;
        };
        for (std::size_t i = 0; i + 1 < n; ++i)
            fill(i);
        while (n > 1) {
            std::size_t best = 0;
            std::uint32_t br = none;
            for (std::size_t i = 0; i + 1 < n; ++i)
                if (ranks[i] < br) {
                    br = ranks[i];
                    best = i;
                }
            if (br == none) break;
            syms[best] = newid[best];
            for (std::size_t i = best + 1; i + 1 < n; ++i) {
                syms[i] = syms[i + 1];
                ranks[i] = ranks[i + 1];
                newid[i] = newid[i + 1];
            }
            --n;
            syms.resize(n);
            if (best > 0) fill(best - 1);
            if (best + 1 < n) fill(best);
        }
    }

    // Heap variant for long words: O(n log n). Heap entries are (rank << 32 | position); an entry
    // is stale when its symbol died or the pair at its position no longer has that rank (a pair
    // determines its merge, so rank equality is the same test as Rust's new-id equality).
    void merge_large(std::vector<std::int32_t>& syms) const {
        const detail::merge_table& mt = m_model->merges;
        std::size_t n = syms.size();
        std::vector<std::int32_t> prev(n), next(n);
        for (std::size_t i = 0; i < n; ++i) {
            prev[i] = static_cast<std::int32_t>(i) - 1;
            next[i] = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
        }
        std::vector<std::uint64_t> heap;
        heap.reserve(n * 2);
        auto push = [&](std::size_t pos, std::uint32_t rank) {
            heap.push_back((static_cast<std::uint64_t>(rank) << 32) | pos);
            std::push_heap(heap.begin(), heap.end(), std::greater<std::uint64_t>());
        };
        for (std::size_t i = 0; i + 1 < n; ++i)
            if (const auto* v = mt.find(syms[i], syms[i + 1]))
                heap.push_back((static_cast<std::uint64_t>(v->rank) << 32) | i);
        std::make_heap(heap.begin(), heap.end(), std::greater<std::uint64_t>());
        constexpr std::int32_t dead = -2;
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), std::greater<std::uint64_t>());
            std::uint64_t top = heap.back();
            heap.pop_back();
            auto p = static_cast<std::size_t>(top & 0xFFFFFFFFu);
            auto rank = static_cast<std::uint32_t>(top >> 32);
            if (prev[p] == dead || next[p] < 0) continue;
            auto q = static_cast<std::size_t>(next[p]);
            const auto* v = mt.find(syms[p], syms[q]);
            if (!v || v->rank != rank) continue;
            syms[p] = v->id;
            prev[q] = dead;
            next[p] = next[q];
            if (next[q] >= 0) prev[static_cast<std::size_t>(next[q])] = static_cast<std::int32_t>(p);
            if (prev[p] >= 0) {
                auto l = static_cast<std::size_t>(prev[p]);
                if (const auto* v2 = mt.find(syms[l], syms[p])) push(l, v2->rank);
            }
            if (next[p] >= 0) {
                auto r = static_cast<std::size_t>(next[p]);
                if (const auto* v2 = mt.find(syms[p], syms[r])) push(p, v2->rank);
            }
        }
        std::size_t k = 0;
        for (std::size_t i = 0; i < n; ++i)
            if (prev[i] != dead) syms[k++] = syms[i];
        syms.resize(k);
    }

    std::shared_ptr<const detail::bpe_model> m_model;
    std::shared_ptr<detail::word_cache> m_cache;
};

/// Decodes a token stream as it grows: push each token's raw bytes (`bpe_tokenizer::token_bytes`, with
/// the same `skip_special` as the decode it stands for). `text()` is the part of the decode that no
/// later token can change (it holds back only the start of a character that may still complete), and
/// `full()` equals `decode` of every token pushed so far, invalid bytes replaced the same way. A push
/// costs time in its own bytes, not in the length of the text, so streaming an answer of n tokens is
/// O(n), not the O(n^2) of decoding the whole answer after each token.
class decode_stream {
public:
    /// Appends `bytes`; returns how many bytes `text()` grew by.
    std::size_t push(std::string_view bytes) {
        m_pending.append(bytes.data(), bytes.size());
        const std::size_t cut = rscovlm::detail::unicode::complete_prefix(m_pending);
        if (cut == 0) return 0;
        const std::size_t before = m_text.size();
        m_text += rscovlm::detail::unicode::to_valid_utf8(std::string_view(m_pending).substr(0, cut));
        m_pending.erase(0, cut);
        return m_text.size() - before;
    }
    /// The final part of the text.
    const std::string& text() const noexcept { return m_text; }
    /// Raw bytes held back (a character's first bytes, at most 3).
    const std::string& pending() const noexcept { return m_pending; }
    /// The whole decode so far: `text()` and the held-back bytes, an incomplete character as U+FFFD.
    std::string full() const { return m_text + rscovlm::detail::unicode::to_valid_utf8(m_pending); }

private:
    std::string m_text, m_pending;
};

} // namespace rscovlm::tokenizer
