#pragma once
/// \file
/// Answers that always parse: the RSCoVLM plain box formats as a byte automaton
/// (`zoom::answer_constraint`) for constrained decoding.
///
/// `answer_grammar` accepts exactly `There are none.` or one or more lines
/// `v1,v2,...,vn label` (n = 4 hbb, 5 obb, 8 quad), each ending in `\n` (the last one may end at the
/// end of the answer), where
/// - every value is an integer without leading zeros and inside the model's (resized) frame:
///   x in [0, width], y in [0, height]; for obb cx in [0, width], cy in [0, height], w and h in
///   [0, ceil(hypot(width, height))], the angle in [-180, 180] (the only value that may be negative);
/// - the label is one of the class names in display form (lowercase, '-' as ' '), as the codec's
///   decoder matches them exactly (names that begin or end with a space are left out: the decoder
///   strips labels, so they could never match).
/// Such an answer decodes with no dropped line and no fuzzy match. The same language as a regular
/// expression (`regex()`) goes to servers with guided decoding; it bounds each value's digit count,
/// not its range.
///
/// `make_answer_grammar` builds one for a codec (the plain codecs `codec.{hbb,obb,quad}.plain`;
/// nullptr for the others, whose JSON or tag formats are not covered).

#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/zoom/backend.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

class answer_grammar : public zoom::answer_constraint {
public:
    /// `classes` raw or display names (at least one); `width`, `height`: the model's frame (> 0).
    answer_grammar(box_kind kind, const std::vector<std::string>& classes, int width, int height)
        : m_kind(kind), m_n(arity(kind)), m_width(width), m_height(height) {
        if (classes.empty()) RSCOVLM_THROW(codec_error, "no_classes", "a constrained answer needs a class list");
        if (width <= 0 || height <= 0)
            RSCOVLM_THROW(codec_error, "bad_frame", "a constrained answer needs a frame of positive size");
        m_nodes.emplace_back();
        for (const auto& c : classes) {
            const std::string name = box_codec::display_name(c); // as the decoder's matcher compares
            if (name.empty() || name.front() == ' ' || name.back() == ' ') continue; // stripped labels never match

            std::uint32_t at = 0;
            for (char ch : name) {
                auto& kids = m_nodes[at].next;
                auto it = kids.find(static_cast<unsigned char>(ch));
                if (it == kids.end()) {
                    m_nodes.emplace_back();
                    it = m_nodes[at]
                             .next
                             .emplace(static_cast<unsigned char>(ch), static_cast<std::uint32_t>(m_nodes.size() - 1))
                             .first;
                }
                at = it->second;
            }
            m_nodes[at].terminal = true;
            m_names.push_back(name);
        }
        if (m_names.empty()) RSCOVLM_THROW(codec_error, "no_classes", "every class name is empty");
        fill_min();
        const auto diag = static_cast<std::int64_t>(std::ceil(std::hypot(double(width), double(height))));
        for (std::size_t k = 0; k < m_n; ++k) {
            if (kind == box_kind::obb) {
                m_lo.push_back(k == 4 ? -180 : 0);
                m_hi.push_back(k == 0 ? width : k == 1 ? height : k == 4 ? 180 : diag);
            } else {
                m_lo.push_back(0);
                m_hi.push_back(k % 2 == 0 ? width : height);
            }
        }
    }

    /// The class names as the answer writes them.
    const std::vector<std::string>& names() const noexcept { return m_names; }

    state start() const override { return pack(phase::start, 0, 0, false, false, 0, false); }

    bool step(state& s, unsigned char b) const override {
        const fields f = unpack(s);
        const auto digit = [&](unsigned char c) { return c >= '0' && c <= '9'; };
        switch (f.ph) {
        case phase::start:
            if (b == static_cast<unsigned char>(none_text[0])) {
                s = pack(phase::none_lit, 0, 0, false, false, 1, false);
                return true;
            }
            [[fallthrough]];
        case phase::value_start:
            if (digit(b)) return begin_value(s, f, b - '0', false);
            if (b == '-' && m_lo[f.k] < 0) {
                s = pack(phase::sign, f.k, 0, true, false, 0, f.lines);
                return true;
            }
            return false;
        case phase::sign:
            if (digit(b)) return begin_value(s, f, b - '0', true);
            return false;
        case phase::value: {
            if (digit(b)) {
                if (f.zero) return false; // no leading zeros
                const std::int64_t v = static_cast<std::int64_t>(f.value) * 10 + (b - '0');
                if (!(f.neg ? -v >= m_lo[f.k] : v <= m_hi[f.k])) return false;
                s = pack(phase::value, f.k, static_cast<std::uint32_t>(v), f.neg, false, 0, f.lines);
                return true;
            }
            if (f.neg && f.value == 0) return false; // "-0"
            if (b == ',' && f.k + 1 < m_n) {
                s = pack(phase::value_start, f.k + 1, 0, false, false, 0, f.lines);
                return true;
            }
            if (b == ' ' && f.k + 1 == m_n) {
                s = pack(phase::label, 0, 0, false, false, 0, f.lines);
                return true;
            }
            return false;
        }
        case phase::label: {
            const node& n = m_nodes[f.pos];
            if (b == '\n' && n.terminal) {
                s = pack(phase::value_start, 0, 0, false, false, 0, true);
                return true;
            }
            auto it = n.next.find(b);
            if (it == n.next.end()) return false;
            s = pack(phase::label, 0, 0, false, false, it->second, f.lines);
            return true;
        }
        case phase::none_lit:
            if (f.pos < none_text.size() && b == static_cast<unsigned char>(none_text[f.pos])) {
                s = pack(phase::none_lit, 0, 0, false, false, f.pos + 1, false);
                return true;
            }
            return false;
        }
        return false;
    }

    bool can_end(state s) const override {
        const fields f = unpack(s);
        if (f.ph == phase::none_lit) return f.pos == none_text.size();
        if (f.ph == phase::label) return m_nodes[f.pos].terminal;
        return f.ph == phase::value_start && f.k == 0 && f.lines;
    }

    std::size_t min_bytes_to_end(state s) const override {
        const fields f = unpack(s);
        const std::size_t label = m_nodes[0].min_to_end;
        const std::size_t rest = m_n - f.k; // values from the current one on
        switch (f.ph) {
        case phase::none_lit:
            return none_text.size() - std::min<std::size_t>(f.pos, none_text.size());
        case phase::start:
            return std::min(none_text.size(), 2 * m_n + label); // n digits, n-1 commas, a space, a label
        case phase::value_start:
            return f.lines && f.k == 0 ? 0 : 2 * rest + label;
        case phase::sign:
            return 2 * rest + label;
        case phase::value:
            return 2 * (rest - 1) + 1 + label;
        case phase::label:
            return m_nodes[f.pos].min_to_end;
        }
        return 0;
    }

    /// True when the whole of `text` is in the language.
    bool accepts(std::string_view text) const {
        state s = start();
        for (char c : text)
            if (!step(s, static_cast<unsigned char>(c))) return false;
        return can_end(s);
    }

    /// `{"kind": "hbb"|"obb"|"quad", "classes": [...], "width": W, "height": H}`.
    nlohmann::json describe() const override {
        return {{"kind", m_kind == box_kind::hbb   ? "hbb"
                         : m_kind == box_kind::obb ? "obb"
                                                   : "quad"},
                {"classes", m_names},
                {"width", m_width},
                {"height", m_height}};
    }

    /// Rebuilds a grammar from `describe()`'s JSON; codec_error "bad_grammar" naming what is wrong.
    static std::shared_ptr<const answer_grammar> from_description(const nlohmann::json& j) {
        auto bad = [](const std::string& why) { RSCOVLM_THROW(codec_error, "bad_grammar", why); };
        if (!j.is_object()) bad("the grammar description must be an object");
        const std::string kind = j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
        if (kind != "hbb" && kind != "obb" && kind != "quad") bad("kind must be hbb, obb or quad");
        if (!j.contains("classes") || !j["classes"].is_array() || j["classes"].empty())
            bad("classes must be a non-empty array of strings");
        if (j["classes"].size() > 10000) bad("at most 10000 classes");
        std::vector<std::string> classes;
        for (const auto& c : j["classes"]) {
            if (!c.is_string()) bad("classes must be a non-empty array of strings");
            if (c.get_ref<const std::string&>().size() > 256) bad("a class name is longer than 256 bytes");
            classes.push_back(c.get<std::string>());
        }
        auto side = [&](const char* k) {
            if (!j.contains(k) || !j[k].is_number_integer() || j[k].get<long long>() <= 0 ||
                j[k].get<long long>() > 1000000)
                bad(std::string(k) + " must be an integer in [1, 1000000]");
            return static_cast<int>(j[k].get<long long>());
        };
        const box_kind k = kind == "hbb" ? box_kind::hbb : kind == "obb" ? box_kind::obb : box_kind::quad;
        return std::make_shared<answer_grammar>(k, classes, side("width"), side("height"));
    }

    std::string regex() const override {
        std::string labels = "(?:";
        for (std::size_t i = 0; i < m_names.size(); ++i) {
            if (i) labels += "|";
            labels += escape(m_names[i]);
        }
        labels += ")";
        std::string values;
        for (std::size_t k = 0; k < m_n; ++k) {
            if (k) values += ",";
            const std::size_t digits = std::to_string(std::max<std::int64_t>(m_hi[k], -m_lo[k])).size();
            values += std::string(m_lo[k] < 0 ? "-?" : "") + "(?:0|[1-9][0-9]{0," + std::to_string(digits - 1) + "})";
        }
        const std::string line = values + " " + labels;
        return "(?:There are none\\.|(?:" + line + "\\n)*" + line + "\\n?)";
    }

private:
    static constexpr std::string_view none_text = "There are none.";
    enum class phase : std::uint8_t { start, value_start, sign, value, label, none_lit };
    struct fields {
        phase ph;
        std::size_t k;
        std::uint32_t value;
        bool neg, zero;
        std::uint32_t pos;
        bool lines;
    };
    struct node {
        std::map<unsigned char, std::uint32_t> next;
        bool terminal = false;
        std::size_t min_to_end = 0; ///< bytes to the nearest terminal node
    };
    /// Fills every node's `min_to_end`: children have larger indices than their parents, so one pass
    /// from the last node down sees each child before its parent (no recursion: names may be long).
    void fill_min() {
        for (std::size_t i = m_nodes.size(); i-- > 0;) {
            std::size_t best = m_nodes[i].terminal ? 0 : static_cast<std::size_t>(-1) / 2;
            for (const auto& kv : m_nodes[i].next)
                best = std::min(best, 1 + m_nodes[kv.second].min_to_end);
            m_nodes[i].min_to_end = best;
        }
    }

    // Layout: phase 4 bits | k 4 | neg 1 | zero 1 | lines 1 | value 25 | pos 28.
    static state pack(phase ph, std::size_t k, std::uint32_t value, bool neg, bool zero, std::uint32_t pos,
                      bool lines) {
        return static_cast<state>(ph) | (static_cast<state>(k) << 4) | (static_cast<state>(neg) << 8) |
               (static_cast<state>(zero) << 9) | (static_cast<state>(lines) << 10) |
               (static_cast<state>(value & 0x1FFFFFFu) << 11) | (static_cast<state>(pos & 0xFFFFFFFu) << 36);
    }
    static fields unpack(state s) {
        return fields{static_cast<phase>(s & 0xF),
                      static_cast<std::size_t>((s >> 4) & 0xF),
                      static_cast<std::uint32_t>((s >> 11) & 0x1FFFFFFu),
                      ((s >> 8) & 1) != 0,
                      ((s >> 9) & 1) != 0,
                      static_cast<std::uint32_t>((s >> 36) & 0xFFFFFFFu),
                      ((s >> 10) & 1) != 0};
    }
    bool begin_value(state& s, const fields& f, int d, bool neg) const {
        if (neg && d == 0) return false; // "-0" could never become a value the decoder keeps
        if (neg ? -d < m_lo[f.k] : d > m_hi[f.k]) return false;
        s = pack(phase::value, f.k, static_cast<std::uint32_t>(d), neg, d == 0, 0, f.lines);
        return true;
    }
    static std::string escape(const std::string& s) {
        std::string out;
        for (char c : s) {
            if (std::string_view("\\.^$|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
            out.push_back(c);
        }
        return out;
    }

    box_kind m_kind;
    std::size_t m_n;
    int m_width = 0, m_height = 0;
    std::vector<std::int64_t> m_lo, m_hi;
    std::vector<node> m_nodes;
    std::vector<std::string> m_names;
};

/// The grammar of `codec`'s answers for `classes` in a `width` x `height` model frame, or nullptr when
/// the codec's format has none here (JSON, tag and Florence-2 formats).
inline std::shared_ptr<const answer_grammar>
make_answer_grammar(const codec& c, const std::vector<std::string>& classes, int width, int height) {
    const std::string_view name = c.name();
    if (name != "codec.hbb.plain" && name != "codec.obb.plain" && name != "codec.quad.plain") return nullptr;
    return std::make_shared<answer_grammar>(c.kind(), classes, width, height);
}

} // namespace rscovlm::box_codec
