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

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/unicode.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/tokenizer/detail/json_scan.hpp>
#include <rscovlm/tokenizer/detail/tables.hpp>
#include <rscovlm/tokenizer/pretokenizer.hpp>

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

/// An added (possibly special) token, as in the `added_tokens` array of tokenizer.json.
struct added_token {
    std::int32_t id = 0;
    std::string content;
    bool single_word = false; ///< only match when not surrounded by word characters
    bool lstrip = false;      ///< swallow white space on the left
    bool rstrip = false;      ///< swallow white space on the right
    bool normalized = true;   ///< matched against the normalized text (else the raw text)
    bool special = false;     ///< dropped by decode(ids, skip_special = true)
};

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

namespace detail {

/// GPT-2 `bytes_to_unicode`: byte -> code point of its byte-level character.
struct byte_level_map {
    char32_t byte_to_cp[256];
    std::int16_t cp_to_byte[0x144]; // -1 when the code point is not a byte-level character
    constexpr byte_level_map() : byte_to_cp{}, cp_to_byte{} {
        for (auto& v : cp_to_byte) v = -1;
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
            byte_to_cp[b] = cp;
            cp_to_byte[cp] = static_cast<std::int16_t>(b);
        }
    }
};
inline constexpr byte_level_map byte_level{};

/// Leftmost-longest literal matcher over a small set of added tokens.
class added_matcher {
public:
    void add(std::string pattern, std::size_t token_index) {
        if (pattern.empty()) return;
        m_patterns.push_back({std::move(pattern), token_index});
    }
    void build() {
        for (auto& v : m_by_first) v.clear();
        for (std::size_t i = 0; i < m_patterns.size(); ++i)
            m_by_first[static_cast<unsigned char>(m_patterns[i].text[0])].push_back(i);
        for (auto& v : m_by_first)
            std::stable_sort(v.begin(), v.end(), [&](std::size_t a, std::size_t b) {
                return m_patterns[a].text.size() > m_patterns[b].text.size();
            });
    }
    bool empty() const noexcept { return m_patterns.empty(); }
    /// Finds the leftmost (then longest) match at or after `from`.
    bool find(std::string_view s, std::size_t from, std::size_t& start, std::size_t& len, std::size_t& token) const {
        for (std::size_t p = from; p < s.size(); ++p) {
            const auto& cands = m_by_first[static_cast<unsigned char>(s[p])];
            if (cands.empty()) continue;
            for (std::size_t c : cands) {
                const std::string& t = m_patterns[c].text;
                if (t.size() <= s.size() - p && std::char_traits<char>::compare(s.data() + p, t.data(), t.size()) == 0) {
                    start = p;
                    len = t.size();
                    token = m_patterns[c].token_index;
                    return true;
                }
            }
        }
        return false;
    }

private:
    struct pattern {
        std::string text;
        std::size_t token_index;
    };
    std::vector<pattern> m_patterns;
    std::vector<std::size_t> m_by_first[256];
};

/// Everything a loaded tokenizer needs; immutable after loading and shared between copies.
struct bpe_model {
    string_table vocab;                   // token string -> entry index
    std::vector<std::int32_t> entry_id;   // entry index -> id
    std::vector<std::int32_t> id_entry;   // id -> entry index, -1 if none
    merge_table merges;
    std::int32_t byte_ids[256];           // id of each byte's byte-level symbol, -1 if absent
    std::int32_t unk_id = -1;
    bool fuse_unk = false;
    bool ignore_merges = false;
    bool nfc = true;
    std::vector<added_token> added;
    std::vector<std::int32_t> id_added;   // id -> index in `added`, -1 if none
    added_matcher raw_matcher, normalized_matcher;
    std::unordered_set<std::string> special_contents;
    std::unordered_map<std::string, std::int32_t> named_special; // "eos" -> id, ...
    std::size_t distinct_ids = 0;
    std::string source;
};

inline std::string read_whole_file(const std::string& path) {
    std::string data;
    switch (::rscovlm::detail::py::read_file(path, data)) {
    case ::rscovlm::detail::py::read_status::ok: break;
    case ::rscovlm::detail::py::read_status::open_failed:
        RSCOVLM_THROW(tokenizer_error, "file_not_found", "cannot open '" + path + "'");
    case ::rscovlm::detail::py::read_status::read_failed:
        RSCOVLM_THROW(tokenizer_error, "io", "error while reading '" + path + "'");
    }
    return data;
}

inline const nlohmann::json* json_field(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

inline bool json_bool(const nlohmann::json& obj, const char* key, bool fallback, const std::string& where) {
    const nlohmann::json* v = json_field(obj, key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_boolean())
        RSCOVLM_THROW(tokenizer_error, "bad_field", where + ": field '" + key + "' must be a boolean, got " + v->dump());
    return v->get<bool>();
}

inline nlohmann::json parse_small_json(std::string_view raw, const std::string& where) {
    nlohmann::json j = nlohmann::json::parse(raw.begin(), raw.end(), nullptr, false);
    if (j.is_discarded()) RSCOVLM_THROW(tokenizer_error, "bad_json", where + ": invalid JSON");
    return j;
}

/// Streams `{"token": id, ...}` into the model's vocabulary.
inline void parse_vocab(json_scanner& js, bpe_model& m) {
    js.expect('{');
    m.vocab.reserve(160000);
    m.vocab.reserve_arena(std::size_t(3) << 20);
    m.entry_id.reserve(160000);
    std::string key;
    if (js.consume('}')) return;
    do {
        js.parse_string(key);
        js.expect(':');
        long long id = js.parse_integer();
        if (id < 0 || id >= (1LL << 24))
            js.fail("vocabulary id " + std::to_string(id) + " of token '" + key + "' is out of range [0, 2^24)");
        std::int64_t e = m.vocab.insert(key);
        if (e < 0) {
            // duplicate key: the later value wins, as when serde fills a HashMap
            m.entry_id[static_cast<std::size_t>(-e - 1)] = static_cast<std::int32_t>(id);
        } else {
            m.entry_id.push_back(static_cast<std::int32_t>(id));
        }
    } while (js.consume(','));
    js.expect('}');
}

/// Streams `["a b", ...]` or `[["a", "b"], ...]`, calling `sink(a, b)` for each merge in order.
template <class Sink> void parse_merges(json_scanner& js, Sink&& sink) {
    js.expect('[');
    std::string a, b;
    std::size_t count = 0;
    if (js.consume(']')) return;
    do {
        char c = js.peek();
        ++count;
        if (c == '"') {
            js.parse_string(a);
            std::size_t sp = a.find(' ');
            if (sp == std::string::npos || a.find(' ', sp + 1) != std::string::npos)
                RSCOVLM_THROW(tokenizer_error, "bad_merges",
                              js.name() + ": merge #" + std::to_string(count) + " '" + a +
                                  "' is not two tokens separated by one space (" + js.where() + ")");
            sink(std::string_view(a).substr(0, sp), std::string_view(a).substr(sp + 1));
        } else if (c == '[') {
            js.expect('[');
            js.parse_string(a);
            js.expect(',');
            js.parse_string(b);
            js.expect(']');
            sink(std::string_view(a), std::string_view(b));
        } else {
            js.fail("a merge must be a string \"a b\" or a pair [\"a\", \"b\"]");
        }
    } while (js.consume(','));
    js.expect(']');
}

/// Resolves merges to ids (`BPE::build`): both parts and their concatenation must be in the
/// vocabulary; the rank is the position in the list. Merges are resolved in batches so that the
/// hash-table lookups of a batch overlap their memory accesses (prefetching).
class merge_resolver {
public:
    merge_resolver(bpe_model& m, std::string name) : m_model(m), m_name(std::move(name)) {
        m_model.merges.reserve(160000);
        m_text.reserve(batch * 64);
    }
    merge_resolver(const merge_resolver&) = delete;
    merge_resolver& operator=(const merge_resolver&) = delete;
    ~merge_resolver() = default;

    void operator()(std::string_view a, std::string_view b) {
        pending p;
        p.off = static_cast<std::uint32_t>(m_text.size());
        p.len_a = static_cast<std::uint32_t>(a.size());
        p.len_b = static_cast<std::uint32_t>(b.size());
        m_text.append(a.data(), a.size());
        m_text.append(b.data(), b.size());
        m_pending[m_count++] = p;
        if (m_count == batch) flush();
    }
    /// Resolves the merges still buffered; must be called after the last merge.
    void finish() { flush(); }

private:
    static constexpr std::size_t batch = 32;
    struct pending {
        std::uint32_t off, len_a, len_b;
        std::uint64_t ha, hb, hab;
        std::int32_t ia, ib, iab;
    };
    void flush() {
        const string_table& v = m_model.vocab;
        for (std::size_t i = 0; i < m_count; ++i) {
            pending& p = m_pending[i];
            const char* t = m_text.data() + p.off;
            p.ha = hash_bytes(t, p.len_a);
            p.hb = hash_bytes(t + p.len_a, p.len_b);
            p.hab = hash_bytes(t, p.len_a + p.len_b);
            v.prefetch(p.ha);
            v.prefetch(p.hb);
            v.prefetch(p.hab);
        }
        for (std::size_t i = 0; i < m_count; ++i) {
            v.prefetch_text(m_pending[i].ha);
            v.prefetch_text(m_pending[i].hb);
            v.prefetch_text(m_pending[i].hab);
        }
        for (std::size_t i = 0; i < m_count; ++i) {
            const pending& p = m_pending[i];
            std::string_view t(m_text.data() + p.off, p.len_a + p.len_b);
            // (ids are written back into m_pending below, then inserted in a second pass)
            std::string_view a = t.substr(0, p.len_a), b = t.substr(p.len_a);
            std::size_t r = m_rank++;
            std::int32_t ea = v.find(a, p.ha), eb = v.find(b, p.hb);
            if (ea < 0 || eb < 0)
                RSCOVLM_THROW(tokenizer_error, "bad_merges",
                              m_name + ": merge #" + std::to_string(r + 1) + " uses token '" +
                                  std::string(ea < 0 ? a : b) + "' which is not in the vocabulary");
            std::int32_t ej = v.find(t, p.hab);
            if (ej < 0)
                RSCOVLM_THROW(tokenizer_error, "bad_merges",
                              m_name + ": merge #" + std::to_string(r + 1) + " produces '" + std::string(t) +
                                  "' which is not in the vocabulary");
            m_pending[i].ia = m_model.entry_id[static_cast<std::size_t>(ea)];
            m_pending[i].ib = m_model.entry_id[static_cast<std::size_t>(eb)];
            m_pending[i].iab = m_model.entry_id[static_cast<std::size_t>(ej)];
            m_model.merges.prefetch(m_pending[i].ia, m_pending[i].ib);
        }
        for (std::size_t i = 0; i < m_count; ++i) {
            const pending& p = m_pending[i];
            m_model.merges.insert(p.ia, p.ib,
                                  merge_table::value{static_cast<std::uint32_t>(m_rank - m_count + i), p.iab});
        }
        m_count = 0;
        m_text.clear();
    }

    bpe_model& m_model;
    std::string m_name;
    std::string m_text;
    pending m_pending[batch];
    std::size_t m_count = 0;
    std::size_t m_rank = 0;
};

/// Reads the `added_tokens` array.
inline void parse_added_tokens(const nlohmann::json& arr, bpe_model& m, const std::string& name) {
    if (arr.is_null()) return;
    if (!arr.is_array()) RSCOVLM_THROW(tokenizer_error, "bad_added_token", name + ": 'added_tokens' must be an array");
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const nlohmann::json& t = arr[i];
        std::string where = name + ": added_tokens[" + std::to_string(i) + "]";
        if (!t.is_object()) RSCOVLM_THROW(tokenizer_error, "bad_added_token", where + " must be an object");
        const nlohmann::json* id = json_field(t, "id");
        const nlohmann::json* content = json_field(t, "content");
        if (!id || !id->is_number_integer() || id->get<long long>() < 0 || id->get<long long>() >= (1LL << 24))
            RSCOVLM_THROW(tokenizer_error, "bad_added_token", where + ": 'id' must be an integer in [0, 2^24)");
        if (!content || !content->is_string())
            RSCOVLM_THROW(tokenizer_error, "bad_added_token", where + ": 'content' must be a string");
        added_token a;
        a.id = id->get<std::int32_t>();
        a.content = content->get<std::string>();
        a.single_word = json_bool(t, "single_word", false, where);
        a.lstrip = json_bool(t, "lstrip", false, where);
        a.rstrip = json_bool(t, "rstrip", false, where);
        a.normalized = json_bool(t, "normalized", true, where);
        a.special = json_bool(t, "special", false, where);
        m.added.push_back(std::move(a));
    }
}

inline void check_normalizer(const nlohmann::json& n, bpe_model& m, const std::string& name) {
    if (n.is_null()) {
        m.nfc = false;
        return;
    }
    const nlohmann::json* type = json_field(n, "type");
    if (!type || !type->is_string()) RSCOVLM_THROW(tokenizer_error, "bad_field", name + ": normalizer without 'type'");
    std::string t = type->get<std::string>();
    if (t == "NFC") {
        m.nfc = true;
        return;
    }
    if (t == "Sequence") {
        const nlohmann::json* list = json_field(n, "normalizers");
        if (list && list->is_array() && list->empty()) {
            m.nfc = false;
            return;
        }
        if (list && list->is_array() && list->size() == 1) {
            check_normalizer((*list)[0], m, name);
            return;
        }
    }
    RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": normalizer " + n.dump() + " is not supported (NFC or none)");
}

inline bool is_byte_level(const nlohmann::json& j, bool require_no_regex) {
    const nlohmann::json* type = json_field(j, "type");
    if (!type || *type != "ByteLevel") return false;
    const nlohmann::json* aps = json_field(j, "add_prefix_space");
    if (aps && aps->is_boolean() && aps->get<bool>()) return false;
    if (require_no_regex) {
        const nlohmann::json* ur = json_field(j, "use_regex");
        if (!ur || !ur->is_boolean() || ur->get<bool>()) return false;
    }
    return true;
}

inline void check_pre_tokenizer(const nlohmann::json& p, const std::string& name) {
    const nlohmann::json* type = json_field(p, "type");
    bool ok = false;
    if (type && *type == "Sequence") {
        const nlohmann::json* list = json_field(p, "pretokenizers");
        if (list && list->is_array() && list->size() == 2) {
            const nlohmann::json& split = (*list)[0];
            const nlohmann::json* st = json_field(split, "type");
            const nlohmann::json* pat = json_field(split, "pattern");
            const nlohmann::json* re = pat ? json_field(*pat, "Regex") : nullptr;
            const nlohmann::json* beh = json_field(split, "behavior");
            const nlohmann::json* inv = json_field(split, "invert");
            ok = st && *st == "Split" && re && re->is_string() && re->get<std::string>() == qwen2_split_pattern &&
                 beh && *beh == "Isolated" && (!inv || *inv == false) && is_byte_level((*list)[1], true);
        }
    }
    if (!ok)
        RSCOVLM_THROW(tokenizer_error, "unsupported",
                      name + ": pre_tokenizer is not the Qwen2 one (Sequence of Split with the Qwen2 regex, "
                             "behavior Isolated, and ByteLevel without regex)");
}

inline void check_model_fields(const nlohmann::json& fields, bpe_model& m, const std::string& name) {
    if (const auto* t = json_field(fields, "type"); t && *t != "BPE")
        RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": model type " + t->dump() + " is not BPE");
    if (const auto* d = json_field(fields, "dropout"); d && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0))
        RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": BPE dropout is not supported");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (const auto* v = json_field(fields, k); v && !v->is_null() && !(v->is_string() && v->get<std::string>().empty()))
            RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": BPE " + k + " is not supported");
    if (json_bool(fields, "byte_fallback", false, name + ": model"))
        RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": BPE byte_fallback is not supported");
    m.fuse_unk = json_bool(fields, "fuse_unk", false, name + ": model");
    m.ignore_merges = json_bool(fields, "ignore_merges", false, name + ": model");
    if (const auto* u = json_field(fields, "unk_token"); u && !u->is_null()) {
        if (!u->is_string()) RSCOVLM_THROW(tokenizer_error, "bad_field", name + ": model.unk_token must be a string");
        std::int32_t e = m.vocab.find(u->get<std::string>());
        if (e < 0)
            RSCOVLM_THROW(tokenizer_error, "bad_field",
                          name + ": model.unk_token '" + u->get<std::string>() + "' is not in the vocabulary");
        m.unk_id = m.entry_id[static_cast<std::size_t>(e)];
    }
}

/// Reads eos/pad/bos/unk names from a tokenizer_config.json object.
inline void read_special_names(const nlohmann::json& cfg, bpe_model& m) {
    for (const char* k : {"eos_token", "pad_token", "bos_token", "unk_token"}) {
        const nlohmann::json* v = json_field(cfg, k);
        if (!v) continue;
        std::string content;
        if (v->is_string()) content = v->get<std::string>();
        else if (v->is_object() && json_field(*v, "content") && (*v)["content"].is_string())
            content = (*v)["content"].get<std::string>();
        else continue;
        std::string role(k, std::strlen(k) - 6); // strip "_token"
        for (const auto& a : m.added)
            if (a.content == content) m.named_special[role] = a.id;
        if (!m.named_special.count(role)) {
            std::int32_t e = m.vocab.find(content);
            if (e >= 0) m.named_special[role] = m.entry_id[static_cast<std::size_t>(e)];
        }
    }
}

/// Assigns added-token ids like `AddedVocabulary::add_tokens` (the ids written in the file are
/// only checked by the reference, which warns on a mismatch): in order, a token whose content is
/// already known keeps that id; otherwise it gets max(previous added ids) + 1, or the vocabulary
/// size while no added id reaches it. A later entry with the same content replaces the flags.
inline void assign_added_ids(bpe_model& m) {
    const auto vocab_len = static_cast<std::int32_t>(m.vocab.size());
    std::vector<added_token> unique;
    std::unordered_map<std::string, std::size_t> by_content;
    std::int32_t max_added = -1;
    for (auto& a : m.added) {
        if (a.content.empty()) continue;
        auto it = by_content.find(a.content);
        if (it != by_content.end()) {
            std::int32_t id = unique[it->second].id;
            unique[it->second] = a;
            unique[it->second].id = id;
            continue;
        }
        std::int32_t e = m.vocab.find(a.content);
        std::int32_t id;
        if (e >= 0) id = m.entry_id[static_cast<std::size_t>(e)];
        else if (max_added < 0) id = vocab_len;
        else id = max_added >= vocab_len ? max_added + 1 : vocab_len;
        max_added = std::max(max_added, id);
        a.id = id;
        by_content.emplace(a.content, unique.size());
        unique.push_back(a);
    }
    m.added = std::move(unique);
}

/// Builds the id tables, byte ids and added-token matchers once everything is parsed.
inline void finalize(bpe_model& m) {
    assign_added_ids(m);
    std::int32_t max_id = -1;
    for (std::int32_t id : m.entry_id) max_id = std::max(max_id, id);
    for (const auto& a : m.added) max_id = std::max(max_id, a.id);
    m.id_entry.assign(static_cast<std::size_t>(max_id + 1), -1);
    for (std::size_t e = 0; e < m.entry_id.size(); ++e) m.id_entry[static_cast<std::size_t>(m.entry_id[e])] = static_cast<std::int32_t>(e);
    m.id_added.assign(m.id_entry.size(), -1);
    for (std::size_t i = 0; i < m.added.size(); ++i) {
        const added_token& a = m.added[i];
        m.id_added[static_cast<std::size_t>(a.id)] = static_cast<std::int32_t>(i);
        if (a.special) m.special_contents.insert(a.content);
        if (a.normalized) {
            m.normalized_matcher.add(m.nfc ? rscovlm::detail::unicode::nfc(a.content) : a.content, i);
        } else {
            m.raw_matcher.add(a.content, i);
        }
    }
    m.raw_matcher.build();
    m.normalized_matcher.build();
    std::size_t distinct = 0;
    for (std::size_t id = 0; id < m.id_entry.size(); ++id)
        if (m.id_entry[id] >= 0 || m.id_added[id] >= 0) ++distinct;
    m.distinct_ids = distinct;
    for (int b = 0; b < 256; ++b) {
        std::string s;
        rscovlm::detail::unicode::append_utf8(s, byte_level.byte_to_cp[b]);
        std::int32_t e = m.vocab.find(s);
        m.byte_ids[b] = e < 0 ? -1 : m.entry_id[static_cast<std::size_t>(e)];
    }
}

} // namespace detail

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
    static bpe_tokenizer from_file(const std::string& path) {
        namespace fs = std::filesystem;
        std::error_code ec;
        fs::path p(path);
        if (fs::is_directory(p, ec)) {
            if (fs::exists(p / "tokenizer.json", ec)) return from_file((p / "tokenizer.json").string());
            if (fs::exists(p / "vocab.json", ec) && fs::exists(p / "merges.txt", ec)) {
                fs::path cfg = p / "tokenizer_config.json";
                return from_vocab_merges((p / "vocab.json").string(), (p / "merges.txt").string(),
                                         fs::exists(cfg, ec) ? cfg.string() : std::string());
            }
            RSCOVLM_THROW(tokenizer_error, "file_not_found",
                          "directory '" + path + "' holds neither tokenizer.json nor vocab.json + merges.txt");
        }
        std::string text = detail::read_whole_file(path);
        std::shared_ptr<detail::bpe_model> m = parse_json_model(text, path);
        fs::path cfg = p.parent_path() / "tokenizer_config.json";
        if (fs::exists(cfg, ec)) {
            std::string ctext = detail::read_whole_file(cfg.string());
            detail::read_special_names(detail::parse_small_json(ctext, cfg.string()), *m);
        }
        return bpe_tokenizer(std::move(m));
    }
    /// `from_file` returning a result instead of throwing.
    static result<bpe_tokenizer> try_from_file(const std::string& path) {
        return try_call([&] { return from_file(path); });
    }

    /// Parses the text of a tokenizer.json; `name` is used in error messages.
    static bpe_tokenizer from_json_string(std::string_view text, const std::string& name = "tokenizer.json") {
        return bpe_tokenizer(parse_json_model(text, name));
    }

private:
    static std::shared_ptr<detail::bpe_model> parse_json_model(std::string_view text, const std::string& name) {
        auto m = std::make_shared<detail::bpe_model>();
        m->source = name;
        detail::json_scanner js(text, name);
        std::vector<std::pair<std::string, std::string>> early_merges; // merges seen before the vocab
        bool have_vocab = false, have_merges = false;
        nlohmann::json model_fields = nlohmann::json::object();
        nlohmann::json added, normalizer, pre_tokenizer, decoder;
        bool have_pre = false, have_decoder = false;
        std::string key;
        js.expect('{');
        if (!js.consume('}')) {
            do {
                js.parse_string(key);
                js.expect(':');
                if (key == "model") {
                    js.expect('{');
                    if (!js.consume('}')) {
                        std::string mk;
                        do {
                            js.parse_string(mk);
                            js.expect(':');
                            if (mk == "vocab") {
                                detail::parse_vocab(js, *m);
                                have_vocab = true;
                            } else if (mk == "merges") {
                                if (have_vocab) {
                                    detail::merge_resolver resolve(*m, name);
                                    detail::parse_merges(js, [&](std::string_view a, std::string_view b) { resolve(a, b); });
                                    resolve.finish();
                                } else {
                                    detail::parse_merges(js, [&](std::string_view a, std::string_view b) {
                                        early_merges.emplace_back(std::string(a), std::string(b));
                                    });
                                }
                                have_merges = true;
                            } else {
                                model_fields[mk] = detail::parse_small_json(js.skip_value(), name + ": model." + mk);
                            }
                        } while (js.consume(','));
                        js.expect('}');
                    }
                } else if (key == "added_tokens") {
                    added = detail::parse_small_json(js.skip_value(), name + ": added_tokens");
                } else if (key == "normalizer") {
                    normalizer = detail::parse_small_json(js.skip_value(), name + ": normalizer");
                } else if (key == "pre_tokenizer") {
                    pre_tokenizer = detail::parse_small_json(js.skip_value(), name + ": pre_tokenizer");
                    have_pre = true;
                } else if (key == "decoder") {
                    decoder = detail::parse_small_json(js.skip_value(), name + ": decoder");
                    have_decoder = true;
                } else {
                    js.skip_value();
                }
            } while (js.consume(','));
            js.expect('}');
        }
        if (!js.at_end()) js.fail("unexpected data after the top-level object");
        if (!have_vocab) RSCOVLM_THROW(tokenizer_error, "missing_field", name + ": no 'model.vocab' object");
        if (!have_merges) RSCOVLM_THROW(tokenizer_error, "missing_field", name + ": no 'model.merges' array");
        if (!have_pre) RSCOVLM_THROW(tokenizer_error, "missing_field", name + ": no 'pre_tokenizer'");
        if (!have_decoder || !detail::is_byte_level(decoder, false))
            RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": decoder must be ByteLevel");
        detail::check_normalizer(normalizer, *m, name);
        detail::check_pre_tokenizer(pre_tokenizer, name);
        if (!early_merges.empty()) {
            detail::merge_resolver resolve(*m, name);
            for (const auto& mg : early_merges) resolve(mg.first, mg.second);
            resolve.finish();
        }
        detail::check_model_fields(model_fields, *m, name);
        detail::parse_added_tokens(added, *m, name);
        detail::finalize(*m);
        return m;
    }

public:

    /// Loads `vocab.json` + `merges.txt` with the Qwen2 pipeline (NFC, Qwen2 split, byte level);
    /// added tokens come from `added_tokens_decoder` of `config_path` (optional).
    static bpe_tokenizer from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                           const std::string& config_path = std::string()) {
        auto m = std::make_shared<detail::bpe_model>();
        m->source = vocab_path;
        std::string vtext = detail::read_whole_file(vocab_path);
        detail::json_scanner js(vtext, vocab_path);
        detail::parse_vocab(js, *m);
        if (!js.at_end()) js.fail("unexpected data after the vocabulary object");
        std::string mtext = detail::read_whole_file(merges_path);
        detail::merge_resolver resolve(*m, merges_path);
        std::size_t pos = 0, line_no = 0;
        while (pos < mtext.size()) {
            std::size_t nl = mtext.find('\n', pos);
            if (nl == std::string::npos) nl = mtext.size();
            std::string_view line(mtext.data() + pos, nl - pos);
            pos = nl + 1;
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty() || (line_no == 1 && line.substr(0, 8) == "#version")) continue;
            std::size_t sp = line.find(' ');
            if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos)
                RSCOVLM_THROW(tokenizer_error, "bad_merges",
                              merges_path + ": line " + std::to_string(line_no) + " is not two tokens separated by one space");
            resolve(line.substr(0, sp), line.substr(sp + 1));
        }
        resolve.finish();
        nlohmann::json cfg;
        if (!config_path.empty()) {
            std::string ctext = detail::read_whole_file(config_path);
            cfg = detail::parse_small_json(ctext, config_path);
            if (const auto* dec = detail::json_field(cfg, "added_tokens_decoder"); dec && dec->is_object()) {
                std::vector<std::pair<long long, nlohmann::json>> entries;
                for (auto it = dec->begin(); it != dec->end(); ++it) {
                    nlohmann::json t = it.value();
                    char* endp = nullptr;
                    long long id = std::strtoll(it.key().c_str(), &endp, 10);
                    if (!t.is_object() || endp == it.key().c_str() || *endp != '\0')
                        RSCOVLM_THROW(tokenizer_error, "bad_added_token",
                                      config_path + ": added_tokens_decoder entry '" + it.key() + "' is malformed");
                    t["id"] = id;
                    entries.emplace_back(id, std::move(t));
                }
                // added in id order (the JSON object's keys are strings)
                std::stable_sort(entries.begin(), entries.end(),
                                 [](const auto& x, const auto& y) { return x.first < y.first; });
                nlohmann::json arr = nlohmann::json::array();
                for (auto& e : entries) arr.push_back(std::move(e.second));
                detail::parse_added_tokens(arr, *m, config_path);
            }
        }
        m->nfc = true;
        detail::finalize(*m);
        if (!cfg.is_null()) detail::read_special_names(cfg, *m);
        return bpe_tokenizer(std::move(m));
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
        for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
        work();
        for (auto& th : pool) th.join();
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
    /// Decodes each sequence.
    std::vector<std::string> decode_batch(const std::vector<std::vector<std::int32_t>>& seqs, bool skip_special = false) const {
        std::vector<std::string> out;
        out.reserve(seqs.size());
        for (const auto& s : seqs) out.push_back(decode(s, skip_special));
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
    static bool ends_with_word(std::string_view s) { return !s.empty() && rscovlm::detail::unicode::is_word(last_char(s)); }
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
            while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
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

    template <class Cache> void encode_with_cache(std::string_view text, std::vector<std::int32_t>& out, Cache& cache) const {
        if (!rscovlm::detail::unicode::is_valid_utf8(text)) {
            std::string fixed = rscovlm::detail::unicode::to_valid_utf8(text);
            encode_valid(fixed, out, cache);
        } else {
            encode_valid(text, out, cache);
        }
    }

    template <class Cache> void encode_valid(std::string_view text, std::vector<std::int32_t>& out, Cache& cache) const {
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
                    [&](std::string_view piece) { qwen2_pretokenize(piece, [&](std::string_view w) { encode_word(w, out, cache); }); },
                    out);
            },
            out);
    }

    static constexpr std::size_t cache_max_word = 256;

    template <class Cache> void encode_word(std::string_view w, std::vector<std::int32_t>& out, Cache& cache) const {
        const detail::bpe_model& m = *m_model;
        if (w.size() == 1) {
            std::int32_t id = m.byte_ids[static_cast<unsigned char>(w[0])];
            if (id >= 0) out.push_back(id);
            else if (m.unk_id >= 0) out.push_back(m.unk_id);
            return;
        }
        if (m.ignore_merges) {
            std::string bl;
            for (unsigned char b : w) rscovlm::detail::unicode::append_utf8(bl, detail::byte_level.byte_to_cp[b]);
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
        if (syms.size() <= 64) merge_small(syms);
        else merge_large(syms);
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
        for (std::size_t i = 0; i + 1 < n; ++i) fill(i);
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
            if (const auto* v = mt.find(syms[i], syms[i + 1])) heap.push_back((static_cast<std::uint64_t>(v->rank) << 32) | i);
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

} // namespace rscovlm::tokenizer
