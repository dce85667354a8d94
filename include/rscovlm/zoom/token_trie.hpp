#pragma once
/// \file
/// The tokens a constrained decoder may write next, found without visiting the whole vocabulary.
///
/// A byte-level vocabulary (Qwen2.5's has 151k tokens) is stored once as a trie of the tokens' bytes.
/// `admissible` walks it from an `answer_constraint` state and descends only into prefixes the
/// constraint accepts, so its cost is in the admissible prefixes and their siblings, not in the
/// vocabulary: a box-codec answer admits a few dozen tokens at each step, where a loop over every
/// token steps 151k automata.
///
/// The result is the set of ids whose every byte is a valid step from the state and after which the
/// answer can still end within `after` more bytes (`answer_constraint::min_bytes_to_end`), exactly as
/// testing each token in turn would give. Tokens with no bytes (special tokens) are never admitted;
/// the caller decides about stop ids, which end the answer.

#include <rscovlm/zoom/backend.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::zoom {

/// A vocabulary's token bytes as a trie (see the file comment).
class token_trie {
public:
    token_trie() = default;
    /// `bytes[id]`: token id's raw bytes (empty: never admitted).
    explicit token_trie(const std::vector<std::string>& bytes) {
        std::vector<std::uint32_t> order;
        order.reserve(bytes.size());
        for (std::size_t i = 0; i < bytes.size(); ++i)
            if (!bytes[i].empty()) order.push_back(static_cast<std::uint32_t>(i));
        std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
            return bytes[a] < bytes[b] || (bytes[a] == bytes[b] && a < b);
        });
        m_ids = order;
        m_nodes.push_back(node{});
        // The path of the previous token: node per depth (path[0] is the root) and its last child.
        std::vector<std::uint32_t> path{0};
        std::vector<std::uint32_t> last_child{none};
        const std::string* prev = nullptr;
        for (std::size_t k = 0; k < order.size(); ++k) {
            const std::string& b = bytes[order[k]];
            std::size_t common = 0;
            if (prev)
                while (common < prev->size() && common < b.size() && (*prev)[common] == b[common])
                    ++common;
            path.resize(common + 1);
            last_child.resize(common + 1);
            for (std::size_t d = common; d < b.size(); ++d) {
                const auto id = static_cast<std::uint32_t>(m_nodes.size());
                node n;
                n.byte = static_cast<unsigned char>(b[d]);
                m_nodes.push_back(n);
                const std::uint32_t parent = path.back();
                if (last_child.back() == none)
                    m_nodes[parent].first_child = id;
                else
                    m_nodes[last_child.back()].next_sibling = id;
                last_child.back() = id;
                path.push_back(id);
                last_child.push_back(none);
            }
            node& end = m_nodes[path.back()];
            if (end.ids_end == end.ids_begin) end.ids_begin = static_cast<std::uint32_t>(k);
            end.ids_end = static_cast<std::uint32_t>(k + 1);
            prev = &b;
        }
    }

    /// Appends to `out` every id whose bytes `c` accepts from `s`, leaving an end within `after` more
    /// bytes (each once, in no particular order).
    void admissible(const answer_constraint& c, answer_constraint::state s, std::size_t after,
                    std::vector<std::int64_t>& out) const {
        if (m_nodes.empty()) return;
        struct frame {
            std::uint32_t n;
            answer_constraint::state s;
        };
        std::vector<frame> stack{{0, s}};
        while (!stack.empty()) {
            const frame f = stack.back();
            stack.pop_back();
            for (std::uint32_t ch = m_nodes[f.n].first_child; ch != none; ch = m_nodes[ch].next_sibling) {
                const node& n = m_nodes[ch];
                answer_constraint::state t = f.s;
                if (!c.step(t, n.byte)) continue;
                if (n.ids_end > n.ids_begin && c.min_bytes_to_end(t) <= after)
                    for (std::uint32_t i = n.ids_begin; i < n.ids_end; ++i)
                        out.push_back(static_cast<std::int64_t>(m_ids[i]));
                if (n.first_child != none) stack.push_back({ch, t});
            }
        }
    }

    /// Nodes in the trie (the root included) and tokens in it.
    std::size_t nodes() const noexcept { return m_nodes.size(); }
    std::size_t tokens() const noexcept { return m_ids.size(); }

private:
    static constexpr std::uint32_t none = 0xFFFFFFFFu;
    struct node {
        std::uint32_t first_child = none;
        std::uint32_t next_sibling = none;
        std::uint32_t ids_begin = 0, ids_end = 0; ///< the tokens ending here, in `m_ids`
        unsigned char byte = 0;
    };
    std::vector<node> m_nodes;
    std::vector<std::uint32_t> m_ids; ///< token ids sorted by their bytes
};

} // namespace rscovlm::zoom
