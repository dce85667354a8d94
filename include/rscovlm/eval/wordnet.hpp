#pragma once
/// \file eval/wordnet.hpp
/// WordNet synonym matching of VQA answers, as RSCoVLM scores LRS-VQA.
///
/// Reference: RSCoVLM `rscovlm/eval/metric/large_image_bench.py` compute_wups_acc, run with NLTK's
/// WordNet reader (`nltk.corpus.wordnet`, NLTK 3.8) over WordNet 3.0:
///
///     gt = item["ground_truth"].lower().strip().strip(".")
///     pred = item["output"].lower().strip().strip(".")
///     correct if gt == pred, or some s1 in wn.synsets(gt), s2 in wn.synsets(pred) has
///     s1.path_similarity(s2) > 0.8
///
/// `path_similarity` is `1 / (shortest path + 1)`: above 0.8 only at distance 0, i.e. when s1 and
/// s2 are the same synset (two distinct synsets are at least one edge apart, 0.5). So two answers
/// match when their synset lists share a synset; this is computed directly, with no graph walk.
///
/// `wn.synsets(word)` is restated from NLTK 3.8 (`WordNetCorpusReader.synsets` and `_morphy`):
/// the word is lower-cased (not otherwise changed: spaces are not turned into the index's
/// underscores, so "traffic light" finds nothing while "traffic_light" does), then for each part of
/// speech in the order noun, verb, adjective, adverb: if the word is in that part's exception list
/// (`noun.exc`, ...; a later line for the same word replaces an earlier one) its forms are the word
/// and the list's base forms; otherwise the detachment rules (noun: s, ses, ves, xes, zes, ches, shes,
/// men, ies; verb: s, ies, es, es, ed, ed, ing, ing; adjective: er, est, er, est; adverb: none) are
/// applied once and the word and its rewritings are looked up; when none is a lemma of that part the
/// rules are applied again to the rewritings until one is or none is left. The synsets are those the
/// index files (`index.noun`, ...) list for every form found, in file order.
///
/// The database is the one Debian ships (package `wordnet-base`, `/usr/share/wordnet`); the folder
/// is the parameter, else `$RSCOVLM_WORDNET_DIR`, else `/usr/share/wordnet`, else
/// `$NLTK_DATA/corpora/wordnet`. Only the index and exception files are read. Lower-casing is ASCII
/// (as every VQA metric here): Python's `lower()` also folds non-ASCII capitals, which WordNet's
/// lemmas never contain but exact matches of non-ASCII answers could.
///
/// Golden: `tests/data/wordnet/wups_golden.json`, made by the reference's own compute_wups_acc with
/// Debian's NLTK over Debian's WordNet (`make_golden.py` there).

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rscovlm::eval::wordnet {

/// A part of speech, in NLTK's POS_LIST order (the order `synsets` visits them).
enum class pos : std::uint8_t { noun = 0, verb = 1, adj = 2, adv = 3 };

/// One synset: its data file (part of speech; adjective satellites live in the adjective file) and
/// byte offset there. Equal ids are the same synset.
struct synset_id {
    pos part = pos::noun;
    std::uint32_t offset = 0;
    friend bool operator==(const synset_id& a, const synset_id& b) noexcept {
        return a.part == b.part && a.offset == b.offset;
    }
    friend bool operator!=(const synset_id& a, const synset_id& b) noexcept { return !(a == b); }
};

/// The letter of a part of speech in WordNet's files ('n', 'v', 'a', 'r').
inline char pos_letter(pos p) noexcept {
    static constexpr char letters[] = {'n', 'v', 'a', 'r'};
    return letters[static_cast<int>(p)];
}

namespace detail {
inline constexpr std::array<std::string_view, 4> file_suffix = {"noun", "verb", "adj", "adv"};

/// NLTK 3.8 WordNetCorpusReader.MORPHOLOGICAL_SUBSTITUTIONS, per part of speech.
inline const std::vector<std::pair<std::string_view, std::string_view>>& substitutions(pos p) {
    static const std::array<std::vector<std::pair<std::string_view, std::string_view>>, 4> rules = {{
        {{"s", ""},
         {"ses", "s"},
         {"ves", "f"},
         {"xes", "x"},
         {"zes", "z"},
         {"ches", "ch"},
         {"shes", "sh"},
         {"men", "man"},
         {"ies", "y"}},
        {{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}},
        {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
        {},
    }};
    return rules[static_cast<int>(p)];
}

/// Whitespace tokens of a line (Python `str.split()` over ASCII whitespace).
inline std::vector<std::string_view> split_ws(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
    while (i < line.size()) {
        while (i < line.size() && ws(line[i]))
            ++i;
        std::size_t j = i;
        while (j < line.size() && !ws(line[j]))
            ++j;
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

/// A non-negative decimal integer token; false when it is not one.
inline bool parse_count(std::string_view t, std::uint64_t& v) {
    if (t.empty() || t.size() > 12) return false;
    v = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
}
} // namespace detail

/// The WordNet lemma index and exception lists (read-only after loading; safe to share across
/// threads).
class database {
public:
    /// The folder used when none is given (see the file comment); "" when none of them holds
    /// `index.noun`.
    static std::string default_dir() {
        namespace fs = std::filesystem;
        std::vector<std::string> tries;
        if (const char* e = std::getenv("RSCOVLM_WORDNET_DIR"); e && *e) tries.emplace_back(e);
        tries.emplace_back("/usr/share/wordnet");
        if (const char* e = std::getenv("NLTK_DATA"); e && *e) tries.push_back(std::string(e) + "/corpora/wordnet");
        for (const auto& d : tries) {
            std::error_code ec;
            if (fs::is_regular_file(fs::path(d) / "index.noun", ec)) return d;
        }
        return {};
    }

    /// Reads the database in `dir` ("" = `default_dir()`). A missing folder or file is io_error
    /// "wordnet_missing" (naming the Debian package); a malformed line is data_error "bad_wordnet"
    /// naming the file and line.
    static database load(const std::string& dir = {}) {
        const std::string root = dir.empty() ? default_dir() : dir;
        if (root.empty())
            RSCOVLM_THROW(io_error, "wordnet_missing",
                          "no WordNet database found (looked in $RSCOVLM_WORDNET_DIR, /usr/share/wordnet and "
                          "$NLTK_DATA/corpora/wordnet); install Debian's wordnet-base package or name the folder");
        database db;
        db.m_dir = root;
        for (int p = 0; p < 4; ++p) {
            const std::string suffix(detail::file_suffix[static_cast<std::size_t>(p)]);
            db.read_index(root + "/index." + suffix);
            db.read_exceptions(root + "/" + suffix + ".exc", static_cast<pos>(p));
        }
        return db;
    }

    /// The database of `dir` ("" = the default folder), loaded once per folder and process.
    static std::shared_ptr<const database> shared(const std::string& dir = {}) {
        static std::mutex mu;
        static std::map<std::string, std::shared_ptr<const database>> cache;
        const std::string root = dir.empty() ? default_dir() : dir;
        std::lock_guard<std::mutex> lock(mu);
        auto it = cache.find(root);
        if (it != cache.end()) return it->second;
        auto db = std::make_shared<const database>(load(root));
        cache.emplace(root, db);
        return db;
    }

    /// The folder it was read from.
    const std::string& dir() const noexcept { return m_dir; }
    /// Number of distinct lemmas in the index files.
    std::size_t lemma_count() const noexcept { return m_index.size(); }

    /// NLTK's `_morphy(form, pos)`: the lemmas of part `p` that `form` (already lower-cased) may be an
    /// inflection of, in NLTK's order.
    std::vector<std::string> morphy(std::string_view form, pos p) const {
        const auto& exc = m_exceptions[static_cast<int>(p)];
        auto filter = [&](const std::vector<std::string>& forms) {
            std::vector<std::string> out;
            std::unordered_set<std::string> seen;
            for (const auto& f : forms)
                if (has(f, p) && seen.insert(f).second) out.push_back(f);
            return out;
        };
        auto apply_rules = [&](const std::vector<std::string>& forms) {
            std::vector<std::string> out;
            for (const auto& f : forms)
                for (const auto& [old, repl] : detail::substitutions(p))
                    if (f.size() >= old.size() && f.compare(f.size() - old.size(), old.size(), old) == 0)
                        out.push_back(f.substr(0, f.size() - old.size()) + std::string(repl));
            return out;
        };
        const std::string word(form);
        if (auto it = exc.find(word); it != exc.end()) {
            std::vector<std::string> forms{word};
            forms.insert(forms.end(), it->second.begin(), it->second.end());
            return filter(forms);
        }
        std::vector<std::string> forms = apply_rules({word});
        std::vector<std::string> first{word};
        first.insert(first.end(), forms.begin(), forms.end());
        if (auto r = filter(first); !r.empty()) return r;
        // Every rule shortens the form or ("men" -> "man") leaves no further match: this ends.
        while (!forms.empty()) {
            forms = apply_rules(forms);
            if (auto r = filter(forms); !r.empty()) return r;
        }
        return {};
    }

    /// NLTK's `wn.synsets(word)`: every part of speech, every form `morphy` finds, the index's
    /// synsets of each, in that order (duplicates kept as NLTK keeps them). `word` is lower-cased
    /// (ASCII).
    std::vector<synset_id> synsets(std::string_view word) const {
        const std::string w = ::rscovlm::detail::py::lower_ascii(word);
        std::vector<synset_id> out;
        for (int p = 0; p < 4; ++p)
            for (const auto& f : morphy(w, static_cast<pos>(p))) {
                const auto& offs = m_index.at(f)[static_cast<std::size_t>(p)];
                for (std::uint32_t o : offs)
                    out.push_back(synset_id{static_cast<pos>(p), o});
            }
        return out;
    }

    /// The reference's `are_synonyms(a, b)`: some synset of `a` is a synset of `b`.
    bool are_synonyms(std::string_view a, std::string_view b) const {
        const auto sa = synsets(a);
        if (sa.empty()) return false;
        for (const auto& s2 : synsets(b))
            for (const auto& s1 : sa)
                if (s1 == s2) return true;
        return false;
    }

private:
    bool has(const std::string& lemma, pos p) const {
        auto it = m_index.find(lemma);
        return it != m_index.end() && it->second[static_cast<std::size_t>(p)].has_value;
    }

    struct offsets : std::vector<std::uint32_t> {
        bool has_value = false;
    };

    static std::string read(const std::string& path) {
        return ::rscovlm::detail::py::read_file_or_throw(
            path, "wordnet_missing",
            "cannot open WordNet file '" + path + "' (Debian package wordnet-base provides /usr/share/wordnet)");
    }

    template <class F> static void for_lines(const std::string& text, F&& f) {
        std::size_t start = 0, n = 0;
        while (start < text.size()) {
            std::size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            f(std::string_view(text).substr(start, end - start), ++n);
            start = end + 1;
        }
    }

    // NLTK _load_lemma_pos_offset_map: lines starting with a space are the licence; each other line is
    // "lemma pos n_synsets n_pointers ptr... n_senses n_tagged offset...", n_synsets == n_senses > 0.
    void read_index(const std::string& path) {
        const std::string text = read(path);
        for_lines(text, [&](std::string_view line, std::size_t n) {
            if (line.empty() || line[0] == ' ') return;
            const auto t = detail::split_ws(line);
            auto bad = [&](const char* why) {
                RSCOVLM_THROW(data_error, "bad_wordnet", "'" + path + "' line " + std::to_string(n) + ": " + why);
            };
            if (t.empty()) return;
            std::uint64_t n_synsets = 0, n_pointers = 0, n_senses = 0;
            if (t.size() < 4 || t[1].size() != 1 || !detail::parse_count(t[2], n_synsets) || n_synsets == 0 ||
                !detail::parse_count(t[3], n_pointers))
                bad("not an index line");
            const std::size_t senses_at = 4 + static_cast<std::size_t>(n_pointers);
            if (t.size() < senses_at + 2 || !detail::parse_count(t[senses_at], n_senses) || n_senses != n_synsets ||
                t.size() < senses_at + 2 + n_synsets)
                bad("counts do not match the line");
            int p = -1;
            for (int k = 0; k < 4; ++k)
                if (t[1][0] == pos_letter(static_cast<pos>(k))) p = k;
            if (p < 0) bad("unknown part of speech");
            offsets& o = m_index[std::string(t[0])][static_cast<std::size_t>(p)];
            o.clear();
            o.has_value = true;
            for (std::size_t k = 0; k < n_synsets; ++k) {
                std::uint64_t v = 0;
                if (!detail::parse_count(t[senses_at + 2 + k], v) || v > 0xffffffffu) bad("bad synset offset");
                o.push_back(static_cast<std::uint32_t>(v));
            }
        });
    }

    // NLTK _load_exception_map: terms = line.split(); map[terms[0]] = terms[1:] (a later line wins).
    void read_exceptions(const std::string& path, pos p) {
        const std::string text = read(path);
        auto& m = m_exceptions[static_cast<int>(p)];
        for_lines(text, [&](std::string_view line, std::size_t) {
            const auto t = detail::split_ws(line);
            if (t.empty()) return;
            std::vector<std::string> bases;
            for (std::size_t k = 1; k < t.size(); ++k)
                bases.emplace_back(t[k]);
            m[std::string(t[0])] = std::move(bases);
        });
    }

    std::string m_dir;
    std::unordered_map<std::string, std::array<offsets, 4>> m_index;
    std::array<std::unordered_map<std::string, std::vector<std::string>>, 4> m_exceptions;
};

/// The reference's compute_wups_acc verdict on one answer: equal after `lower().strip().strip(".")`,
/// or WordNet synonyms (see the file comment).
inline bool wups_match(const database& db, std::string_view prediction, std::string_view truth) {
    namespace py = ::rscovlm::detail::py;
    const std::string g(py::strip(py::strip(py::lower_ascii(truth)), "."));
    const std::string p(py::strip(py::strip(py::lower_ascii(prediction)), "."));
    return g == p || db.are_synonyms(g, p);
}

} // namespace rscovlm::eval::wordnet
