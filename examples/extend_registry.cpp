// One concept: extending a catalog. A user-defined box codec (one "label: x1 y1 x2 y2" line per
// box) is appended to the built-in box_codec catalog at compile time, then selected by key from a
// preset next to the built-in components.
#include <rscovlm/rscovlm.hpp>

#include <cstdio>
#include <sstream>

namespace my {
// registry::component supplies name() / component_key() from `key`.
struct colon_codec : rscovlm::registry::component<colon_codec, rscovlm::box_codec::codec> {
    static constexpr std::string_view key = "codec.hbb.colon";
    static constexpr std::string_view summary = "label: x1 y1 x2 y2 per line (example)";
    rscovlm::box_codec::box_kind kind() const noexcept override { return rscovlm::box_codec::box_kind::hbb; }
    std::string encode(const std::vector<rscovlm::box_codec::annotation>& anns,
                       const rscovlm::box_codec::encode_options&) const override {
        std::ostringstream o;
        for (const auto& a : anns)
            if (a.bbox)
                o << a.label << ": " << a.bbox->x1 << ' ' << a.bbox->y1 << ' ' << a.bbox->x2 << ' ' << a.bbox->y2
                  << '\n';
        return o.str();
    }
    rscovlm::box_codec::decode_result decode(std::string_view text,
                                             const rscovlm::box_codec::decode_options&) const override {
        rscovlm::box_codec::decode_result r;
        std::istringstream in{std::string(text)};
        std::string line;
        for (std::size_t i = 0; std::getline(in, line); ++i) {
            auto colon = line.find(':');
            std::istringstream nums(colon == std::string::npos ? std::string() : line.substr(colon + 1));
            rscovlm::box_codec::object obj;
            double v;
            while (nums >> v)
                obj.coords.push_back(v);
            if (colon == std::string::npos || obj.coords.size() != 4) {
                r.dropped.add("bad_format", i, line);
                continue;
            }
            obj.label = line.substr(0, colon);
            r.objects.push_back(obj);
        }
        return r;
    }
    std::string user_prompt(const std::vector<std::string>& classes) const override {
        std::string s = "List every";
        for (const auto& c : classes)
            s += " " + c;
        return s + " as 'label: x1 y1 x2 y2'.";
    }
};
} // namespace my

// The extended catalog and a pipeline type that resolves box_codec keys in it.
using my_codecs = rscovlm::registry::append_t<rscovlm::box_codec::builtin, my::colon_codec>;
using my_kinds = rscovlm::registry::type_list<rscovlm::pipeline::kind_entry<rscovlm::resolution::kind>,
                                              rscovlm::pipeline::kind_entry<rscovlm::box_codec::kind, my_codecs>>;
static_assert(rscovlm::registry::find<my_codecs>("codec.hbb.colon") == my_codecs::size - 1);

int main() {
    auto p = rscovlm::pipeline::basic_pipeline<my_kinds>::from_string(R"({
        "name": "custom", "components": [
          {"kind": "resolution", "key": "resize.smart", "params": {"preset": "multitask"}},
          {"kind": "box_codec", "key": "codec.hbb.colon"}]})");
    auto& codec = p.get<rscovlm::box_codec::kind>();
    rscovlm::box_codec::annotation a;
    a.bbox = rscovlm::geometry::hbox{10, 20, 110, 90};
    a.label = "plane";
    const std::string text = codec.encode({a}, {});
    auto r = codec.decode(text + "garbage line\n", {});
    std::printf("%s: encoded '%s', decoded %zu box(es), dropped %zu line(s)\n", std::string(codec.name()).c_str(),
                text.substr(0, text.size() - 1).c_str(), r.objects.size(), r.dropped.total());
    for (const auto& c : rscovlm::pipeline::describe_components<my_kinds>())
        if (c["key"] == "codec.hbb.colon") std::printf("registered as %s\n", c.dump().c_str());
    return (r.objects.size() == 1 && r.objects[0].coords[2] == 110 && r.dropped.total() == 1) ? 0 : 1;
}
