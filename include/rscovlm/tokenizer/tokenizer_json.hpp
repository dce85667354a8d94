#pragma once
/// \file tokenizer_json.hpp
/// Loading of a byte-level BPE model (the tables `bpe_tokenizer` runs on) from a Hugging Face
/// `tokenizer.json`, or from `vocab.json` + `merges.txt` (+ `tokenizer_config.json`).
///
/// Mirrors the parts of the Rust crate `tokenizers` that read those files: the vocabulary and the
/// merges (`BPE::build`), the `added_tokens` array (`AddedVocabulary::add_tokens`), and the checks
/// that the normalizer, pre-tokenizer and decoder are the Qwen2 ones (NFC, Qwen2 split, ByteLevel).
/// The tokenizer itself is in bpe.hpp, which includes this header.

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/unicode.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/tokenizer/detail/json_scan.hpp>
#include <rscovlm/tokenizer/detail/tables.hpp>
#include <rscovlm/tokenizer/pretokenizer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
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

namespace detail {

/// GPT-2 `bytes_to_unicode`: byte -> code point of its byte-level character.
struct byte_level_map {
    char32_t byte_to_cp[256];
    std::int16_t cp_to_byte[0x144]; // -1 when the code point is not a byte-level character
    constexpr byte_level_map() : byte_to_cp{}, cp_to_byte{} {
        for (auto& v : cp_to_byte)
            v = -1;
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
        for (auto& v : m_by_first)
            v.clear();
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
                if (t.size() <= s.size() - p &&
                    std::char_traits<char>::compare(s.data() + p, t.data(), t.size()) == 0) {
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
    string_table vocab;                 // token string -> entry index
    std::vector<std::int32_t> entry_id; // entry index -> id
    std::vector<std::int32_t> id_entry; // id -> entry index, -1 if none
    merge_table merges;
    std::int32_t byte_ids[256]; // id of each byte's byte-level symbol, -1 if absent
    std::int32_t unk_id = -1;
    bool fuse_unk = false;
    bool ignore_merges = false;
    bool nfc = true;
    std::vector<added_token> added;
    std::vector<std::int32_t> id_added; // id -> index in `added`, -1 if none
    added_matcher raw_matcher, normalized_matcher;
    std::unordered_set<std::string> special_contents;
    std::unordered_map<std::string, std::int32_t> named_special; // "eos" -> id, ...
    std::size_t distinct_ids = 0;
    std::string source;
};

inline std::string read_whole_file(const std::string& path) {
    std::string data;
    switch (::rscovlm::detail::py::read_file(path, data)) {
    case ::rscovlm::detail::py::read_status::ok:
        break;
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
        RSCOVLM_THROW(tokenizer_error, "bad_field",
                      where + ": field '" + key + "' must be a boolean, got " + v->dump());
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
    RSCOVLM_THROW(tokenizer_error, "unsupported",
                  name + ": normalizer " + n.dump() + " is not supported (NFC or none)");
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
    if (const auto* d = json_field(fields, "dropout");
        d && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0))
        RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": BPE dropout is not supported");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (const auto* v = json_field(fields, k);
            v && !v->is_null() && !(v->is_string() && v->get<std::string>().empty()))
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
        if (v->is_string())
            content = v->get<std::string>();
        else if (v->is_object() && json_field(*v, "content") && (*v)["content"].is_string())
            content = (*v)["content"].get<std::string>();
        else
            continue;
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
        if (e >= 0)
            id = m.entry_id[static_cast<std::size_t>(e)];
        else if (max_added < 0)
            id = vocab_len;
        else
            id = max_added >= vocab_len ? max_added + 1 : vocab_len;
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
    for (std::int32_t id : m.entry_id)
        max_id = std::max(max_id, id);
    for (const auto& a : m.added)
        max_id = std::max(max_id, a.id);
    m.id_entry.assign(static_cast<std::size_t>(max_id + 1), -1);
    for (std::size_t e = 0; e < m.entry_id.size(); ++e)
        m.id_entry[static_cast<std::size_t>(m.entry_id[e])] = static_cast<std::int32_t>(e);
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

/// Parses the text of a tokenizer.json (`bpe_tokenizer::from_json_string`); `name` is used in
/// error messages.
inline std::shared_ptr<bpe_model> parse_tokenizer_json(std::string_view text, const std::string& name) {
    auto m = std::make_shared<bpe_model>();
    m->source = name;
    json_scanner js(text, name);
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
                            parse_vocab(js, *m);
                            have_vocab = true;
                        } else if (mk == "merges") {
                            if (have_vocab) {
                                merge_resolver resolve(*m, name);
                                parse_merges(js, [&](std::string_view a, std::string_view b) { resolve(a, b); });
                                resolve.finish();
                            } else {
                                parse_merges(js, [&](std::string_view a, std::string_view b) {
                                    early_merges.emplace_back(std::string(a), std::string(b));
                                });
                            }
                            have_merges = true;
                        } else {
                            model_fields[mk] = parse_small_json(js.skip_value(), name + ": model." + mk);
                        }
                    } while (js.consume(','));
                    js.expect('}');
                }
            } else if (key == "added_tokens") {
                added = parse_small_json(js.skip_value(), name + ": added_tokens");
            } else if (key == "normalizer") {
                normalizer = parse_small_json(js.skip_value(), name + ": normalizer");
            } else if (key == "pre_tokenizer") {
                pre_tokenizer = parse_small_json(js.skip_value(), name + ": pre_tokenizer");
                have_pre = true;
            } else if (key == "decoder") {
                decoder = parse_small_json(js.skip_value(), name + ": decoder");
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
    if (!have_decoder || !is_byte_level(decoder, false))
        RSCOVLM_THROW(tokenizer_error, "unsupported", name + ": decoder must be ByteLevel");
    check_normalizer(normalizer, *m, name);
    check_pre_tokenizer(pre_tokenizer, name);
    if (!early_merges.empty()) {
        merge_resolver resolve(*m, name);
        for (const auto& mg : early_merges)
            resolve(mg.first, mg.second);
        resolve.finish();
    }
    check_model_fields(model_fields, *m, name);
    parse_added_tokens(added, *m, name);
    finalize(*m);
    return m;
}

/// Loads `vocab.json` + `merges.txt` with the Qwen2 pipeline (`bpe_tokenizer::from_vocab_merges`).
inline std::shared_ptr<bpe_model> parse_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                                     const std::string& config_path) {
    auto m = std::make_shared<bpe_model>();
    m->source = vocab_path;
    std::string vtext = read_whole_file(vocab_path);
    json_scanner js(vtext, vocab_path);
    parse_vocab(js, *m);
    if (!js.at_end()) js.fail("unexpected data after the vocabulary object");
    std::string mtext = read_whole_file(merges_path);
    merge_resolver resolve(*m, merges_path);
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
                          merges_path + ": line " + std::to_string(line_no) +
                              " is not two tokens separated by one space");
        resolve(line.substr(0, sp), line.substr(sp + 1));
    }
    resolve.finish();
    nlohmann::json cfg;
    if (!config_path.empty()) {
        std::string ctext = read_whole_file(config_path);
        cfg = parse_small_json(ctext, config_path);
        if (const auto* dec = json_field(cfg, "added_tokens_decoder"); dec && dec->is_object()) {
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
            for (auto& e : entries)
                arr.push_back(std::move(e.second));
            parse_added_tokens(arr, *m, config_path);
        }
    }
    m->nfc = true;
    finalize(*m);
    if (!cfg.is_null()) read_special_names(cfg, *m);
    return m;
}

/// Loads a `tokenizer.json` or a model directory (`bpe_tokenizer::from_file`).
inline std::shared_ptr<bpe_model> load_model(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path p(path);
    if (fs::is_directory(p, ec)) {
        if (fs::exists(p / "tokenizer.json", ec)) return load_model((p / "tokenizer.json").string());
        if (fs::exists(p / "vocab.json", ec) && fs::exists(p / "merges.txt", ec)) {
            fs::path cfg = p / "tokenizer_config.json";
            return parse_vocab_merges((p / "vocab.json").string(), (p / "merges.txt").string(),
                                      fs::exists(cfg, ec) ? cfg.string() : std::string());
        }
        RSCOVLM_THROW(tokenizer_error, "file_not_found",
                      "directory '" + path + "' holds neither tokenizer.json nor vocab.json + merges.txt");
    }
    std::string text = read_whole_file(path);
    std::shared_ptr<bpe_model> m = parse_tokenizer_json(text, path);
    fs::path cfg = p.parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg, ec)) {
        std::string ctext = read_whole_file(cfg.string());
        read_special_names(parse_small_json(ctext, cfg.string()), *m);
    }
    return m;
}

} // namespace detail

} // namespace rscovlm::tokenizer
