// Answers: box spans recorded by the in-place codecs, box scores from token log-probabilities, and the
// codecs' grammars for constrained decoding.
#include <doctest/doctest.h>

#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/box_codec/qwen2vl.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/box_codec/scores.hpp>

#include <cmath>
#include <random>
#include <regex>
#include <string>
#include <vector>

namespace {

struct score_tok {
    std::string text;
    double logprob;
};

/// Splits `s` into tokens of `width` bytes with log-probabilities from `lp(i)`.
template <class F> std::vector<score_tok> score_tokens(const std::string& s, std::size_t width, F lp) {
    std::vector<score_tok> out;
    for (std::size_t i = 0; i < s.size(); i += width)
        out.push_back({s.substr(i, width), lp(out.size())});
    return out;
}

std::string span_text(const std::string& s, const rscovlm::box_codec::object& o) {
    REQUIRE(o.span);
    return s.substr(o.span->first, o.span->second - o.span->first);
}

} // namespace

using namespace rscovlm::box_codec;

TEST_CASE("box_codec: plain and tag codecs record each box's span of the answer") {
    const std::string a = "  10,20,30,40 plane\nbad line\n50,60,70,80 ship  ";
    rscovlm_plain<box_kind::hbb> plain;
    auto r = plain.decode(a, {});
    REQUIRE(r.objects.size() == 2);
    CHECK(span_text(a, r.objects[0]) == "10,20,30,40 plane");
    CHECK(span_text(a, r.objects[1]) == "50,60,70,80 ship");
    CHECK_FALSE(r.objects[0].score);

    const std::string q = "<|object_ref_start|>car<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>";
    qwen2vl_codec tags;
    auto rq = tags.decode(q, {});
    REQUIRE(rq.objects.size() == 1);
    CHECK(span_text(q, rq.objects[0]) == "(1,2),(3,4)");

    // JSON codecs parse a tree: no span.
    rscovlm_json<box_kind::hbb> json;
    auto rj = json.decode(R"([{"bbox_2d": [1, 2, 3, 4], "label": "car"}])", {});
    REQUIRE(rj.objects.size() == 1);
    CHECK_FALSE(rj.objects[0].span);
}

TEST_CASE("box_codec: score_boxes ranks boxes by their tokens' log-probabilities (mean and product)") {
    const std::string a = "10,20,30,40 plane\n50,60,70,80 ship";
    rscovlm_plain<box_kind::hbb> plain;
    auto r = plain.decode(a, {});
    REQUIRE(r.objects.size() == 2);
    // Two-byte tokens; the first line's are likely (-0.1), the second's not (-2).
    const std::size_t line1 = a.find('\n');
    const auto toks = score_tokens(a, 2, [&](std::size_t i) { return i * 2 < line1 ? -0.1 : -2.0; });
    auto objs = r.objects;
    const score_report rep = score_boxes(objs, a, toks, score_rule::mean);
    CHECK(rep.aligned);
    CHECK(rep.from_span == 2);
    CHECK(rep.from_answer == 0);
    // Tokens overlapping a box that hold a letter or digit: line 1 has "10" ",2" "0," ... all with digits
    // except none; the token "e\n" straddles both lines and counts for both (it holds a letter).
    double s1 = 0, s2 = 0;
    int n1 = 0, n2 = 0;
    for (std::size_t i = 0; i < toks.size(); ++i) {
        const std::size_t b = i * 2, e = b + toks[i].text.size();
        bool alnum = false;
        for (char c : toks[i].text)
            alnum = alnum || std::isalnum(static_cast<unsigned char>(c));
        if (!alnum) continue;
        if (b < line1) s1 += toks[i].logprob, ++n1;
        if (e > line1 + 1) s2 += toks[i].logprob, ++n2;
    }
    CHECK(*objs[0].score == doctest::Approx(std::exp(s1 / n1)));
    CHECK(*objs[1].score == doctest::Approx(std::exp(s2 / n2)));
    CHECK(*objs[0].score > *objs[1].score);
    auto prod = r.objects;
    score_boxes(prod, a, toks, score_rule::product);
    CHECK(*prod[0].score == doctest::Approx(std::exp(s1)));
    CHECK(*prod[1].score < *prod[0].score);
    CHECK(*prod[0].score <= *objs[0].score); // a product is at most its geometric mean

    // Separators are not counted: a box whose comma tokens are unlikely keeps its digits' score.
    std::vector<score_tok> sep;
    for (char c : a)
        sep.push_back({std::string(1, c), c == ',' ? -9.0 : -0.5});
    auto so = r.objects;
    score_boxes(so, a, sep, score_rule::mean);
    CHECK(*so[0].score == doctest::Approx(std::exp(-0.5)));

    // Tokens that do not spell the answer: every box gets the answer's score, and the report says so.
    auto mis = r.objects;
    std::vector<score_tok> other = {{"something", -1.0}, {" else", -3.0}};
    const score_report rm = score_boxes(mis, a, other, score_rule::mean);
    CHECK_FALSE(rm.aligned);
    CHECK(rm.from_answer == 2);
    CHECK(*mis[0].score == doctest::Approx(std::exp(-2.0)));
    // Tokens running past the answer (a stop string cut after them) still align.
    auto past = r.objects;
    auto longer = toks;
    longer.push_back({"<stop>", -0.01});
    CHECK(score_boxes(past, a, longer, score_rule::mean).aligned);
    CHECK(*past[0].score == doctest::Approx(*objs[0].score));
    // No tokens: nothing scored.
    auto none = r.objects;
    const score_report rn = score_boxes(none, a, std::vector<score_tok>{}, score_rule::mean);
    CHECK(std::isnan(rn.answer_score));
    CHECK_FALSE(none[0].score);
    // Rule names.
    score_rule rule{};
    CHECK(parse_score_rule("product", rule));
    CHECK(rule == score_rule::product);
    CHECK_FALSE(parse_score_rule("median", rule));
}

TEST_CASE("box_codec: answer grammar accepts exactly what the plain codecs write and decode whole") {
    const std::vector<std::string> classes = {"plane", "small-vehicle", "ship", "Storage-Tank"};
    const rscovlm::geometry::frame frame{1000, 800, 560, 448};
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> ux(0, 1000), uy(0, 800);
    for (box_kind kind : {box_kind::hbb, box_kind::obb, box_kind::quad}) {
        CAPTURE(static_cast<int>(kind));
        std::unique_ptr<codec> c;
        if (kind == box_kind::hbb) c = std::make_unique<rscovlm_plain<box_kind::hbb>>();
        if (kind == box_kind::obb) c = std::make_unique<rscovlm_plain<box_kind::obb>>();
        if (kind == box_kind::quad) c = std::make_unique<rscovlm_plain<box_kind::quad>>();
        const auto g = make_answer_grammar(*c, classes, frame.resized_width, frame.resized_height);
        REQUIRE(g);
        const std::regex re(g->regex());
        // What the encoder writes for random objects is in the language, and so is every prefix alive.
        for (int trial = 0; trial < 30; ++trial) {
            std::vector<annotation> anns;
            for (int i = 0; i < 1 + trial % 4; ++i) {
                annotation a;
                const double x = 40 + ux(rng) * 0.66, y = 20 + uy(rng) * 0.72, w = 20 + ux(rng) * 0.1,
                             h = 10 + uy(rng) * 0.1;
                a.polygon = {x, y, x + w, y + h * 0.3, x + w * 0.8, y + h, x - w * 0.2, y + h * 0.7};
                a.label = classes[static_cast<std::size_t>(i + trial) % classes.size()];
                anns.push_back(a);
            }
            encode_options eo;
            eo.classes = classes;
            eo.frame = frame;
            const std::string text = c->encode(anns, eo);
            CAPTURE(text);
            CHECK(g->accepts(text));
            CHECK(std::regex_match(text, re));
            auto s = g->start();
            for (std::size_t i = 0; i < text.size(); ++i) {
                REQUIRE(g->step(s, static_cast<unsigned char>(text[i])));
                CHECK(g->min_bytes_to_end(s) <= text.size() - i - 1);
            }
            decode_options d;
            d.classes = classes;
            d.frame = frame;
            const auto r = c->decode(text, d);
            CHECK(r.dropped.total() == 0);
            CHECK(r.objects.size() == anns.size());
        }
        CHECK(g->accepts("There are none."));
        CHECK(std::regex_match(std::string("There are none."), re));
        CHECK_FALSE(g->accepts(""));
        CHECK_FALSE(g->accepts("There are none"));
        CHECK(g->min_bytes_to_end(g->start()) <= 15);
    }
    rscovlm_plain<box_kind::hbb> hbb;
    const auto g = make_answer_grammar(hbb, classes, 560, 448);
    CHECK(g->accepts("1,2,3,4 plane"));
    CHECK(g->accepts("1,2,3,4 plane\n0,0,560,448 storage tank\n"));
    CHECK(g->accepts("1,2,3,4 small vehicle\n"));
    CHECK_FALSE(g->accepts("1,2,3,4 small-vehicle")); // the display form only
    CHECK_FALSE(g->accepts("1,2,3,4 car"));           // not a class
    CHECK_FALSE(g->accepts("1,2,3,4 plan"));          // a prefix of a class
    CHECK_FALSE(g->accepts("1,2,3 plane"));           // too few values
    CHECK_FALSE(g->accepts("1,2,3,4,5 plane"));       // too many
    CHECK_FALSE(g->accepts("561,2,3,4 plane"));       // x outside the frame
    CHECK_FALSE(g->accepts("1,449,3,4 plane"));       // y outside the frame
    CHECK_FALSE(g->accepts("01,2,3,4 plane"));        // leading zero
    CHECK_FALSE(g->accepts("-1,2,3,4 plane"));        // negative
    CHECK_FALSE(g->accepts("1,2,3,4 plane\n\n"));
    CHECK_FALSE(g->accepts("1,2,3,4 plane\nThere are none."));
    CHECK_FALSE(g->accepts(" 1,2,3,4 plane"));
    rscovlm_plain<box_kind::obb> obb;
    const auto go = make_answer_grammar(obb, classes, 560, 448);
    CHECK(go->accepts("100,200,30,40,-45 ship"));
    CHECK(go->accepts("100,200,718,40,180 ship")); // w up to the frame's diagonal, ceil(717.2)
    CHECK_FALSE(go->accepts("100,200,719,40,0 ship"));
    CHECK_FALSE(go->accepts("100,200,30,40,-181 ship"));
    CHECK_FALSE(go->accepts("100,200,30,40,-0 ship"));
    CHECK_FALSE(go->accepts("-100,200,30,40,0 ship")); // only the angle may be negative
    {
        auto st = go->start();
        for (char c : std::string("100,200,30,40,-"))
            REQUIRE(go->step(st, static_cast<unsigned char>(c)));
        auto zero = st;
        CHECK_FALSE(go->step(zero, '0')); // "-0" would dead-end: no digit, comma or space may follow it
    }
    // No state reachable by random walks over every byte is a dead end: some byte continues the answer
    // or it may end, and the bytes to an end are finite.
    for (const auto* g2 : {g.get(), go.get()}) {
        std::mt19937 walk(11);
        for (int w = 0; w < 300; ++w) {
            auto st = g2->start();
            for (int n = 0; n < 80; ++n) {
                std::vector<unsigned char> ok;
                for (int b = 0; b < 256; ++b) {
                    auto t = st;
                    if (g2->step(t, static_cast<unsigned char>(b))) ok.push_back(static_cast<unsigned char>(b));
                }
                REQUIRE((!ok.empty() || g2->can_end(st)));
                REQUIRE(g2->min_bytes_to_end(st) < 1000);
                if (ok.empty()) break;
                REQUIRE(g2->step(st, ok[walk() % ok.size()]));
            }
        }
    }
    // Descriptions (what a server receives) are checked; long names do not recurse.
    const auto round_trip = answer_grammar::from_description(go->describe());
    CHECK(round_trip->regex() == go->regex());
    CHECK(round_trip->accepts("100,200,30,40,-45 ship"));
    CHECK(answer_grammar::from_description(
              {{"kind", "quad"}, {"classes", {std::string(250, 'a')}}, {"width", 10}, {"height", 10}})
              ->accepts("1,1,1,1,1,1,1,1 " + std::string(250, 'a')));
    CHECK_THROWS_AS(answer_grammar::from_description(
                        {{"kind", "quad"}, {"classes", {std::string(300, 'a')}}, {"width", 10}, {"height", 10}}),
                    rscovlm::codec_error);
    CHECK_THROWS_AS(
        answer_grammar::from_description({{"kind", "box"}, {"classes", {"a"}}, {"width", 1}, {"height", 1}}),
        rscovlm::codec_error);
    // Codecs without a grammar, and bad arguments.
    qwen2vl_codec tags;
    CHECK(make_answer_grammar(tags, classes, 560, 448) == nullptr);
    CHECK_THROWS_AS(answer_grammar(box_kind::hbb, {}, 560, 448), rscovlm::codec_error);
    CHECK_THROWS_AS(answer_grammar(box_kind::hbb, classes, 0, 448), rscovlm::codec_error);
}
