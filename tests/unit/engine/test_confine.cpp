// Record image paths: os.path.join semantics by default, confinement to the data root on request.
#include <rscovlm/data/all.hpp>
#include <rscovlm/engine/all.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace rscovlm;
namespace fs = std::filesystem;

namespace {
struct temp_tree {
    fs::path dir = fs::temp_directory_path() / ("rscovlm_confine_" + std::to_string(::getpid()));
    temp_tree() {
        fs::remove_all(dir);
        fs::create_directories(dir / "root" / "images");
        fs::create_directories(dir / "outside");
        std::ofstream(dir / "root" / "images" / "a.png") << "x";
        std::ofstream(dir / "outside" / "secret.png") << "x";
    }
    ~temp_tree() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const fs::path p = dir / name;
        std::ofstream(p) << text;
        return p.string();
    }
    std::string root() const { return (dir / "root").string(); }
};
std::string llava_record(const std::string& image) {
    return R"([{"image": ")" + image + R"(", "conversations": [{"from": "human", "value": "<image>hi"}, )" +
           R"({"from": "gpt", "value": "ok"}]}])";
}
std::string lrsvqa_record(const std::string& image) {
    return R"([{"image": ")" + image + R"(", "image_ori_width": 10, "image_ori_height": 10, "question": "q", )" +
           R"("answer": "a", "bbox_info": {"crop_hbox": []}}])";
}
template <class F> std::string error_id(F&& f) {
    try {
        f();
    } catch (const rscovlm::error& e) {
        return e.id();
    }
    return "no error";
}
} // namespace

TEST_CASE("data: path_within normalises '..' and symbolic links") {
    temp_tree t;
    CHECK(data::path_within(t.root(), t.root() + "/images/a.png"));
    CHECK(data::path_within(t.root() + "/", t.root() + "/images/../images/a.png"));
    CHECK(data::path_within(t.root(), t.root() + "/images/not_yet_there.png"));
    CHECK_FALSE(data::path_within(t.root(), t.root() + "/../outside/secret.png"));
    CHECK_FALSE(data::path_within(t.root(), "/etc/hostname"));
    CHECK_FALSE(data::path_within(t.root(), t.root() + "_sibling/a.png")); // a prefix of the name is not inside
    fs::create_directory_symlink(t.dir / "outside", t.dir / "root" / "link");
    CHECK_FALSE(data::path_within(t.root(), t.root() + "/link/secret.png"));
}

TEST_CASE("data: LLaVA and LRS-VQA readers join like os.path.join and refuse escapes when confined") {
    temp_tree t;
    for (const std::string bad : {"../../../etc/passwd", "/etc/hostname", "images/../../outside/secret.png"}) {
        CAPTURE(bad);
        const std::string llava = t.write("llava.json", llava_record(bad));
        const std::string vqa = t.write("vqa.json", lrsvqa_record(bad));
        // Default: the reference's join, the path is kept as it is.
        CHECK(data::read_llava(llava, t.root()).at(0).images.at(0) == data::detail::join_path(t.root(), bad));
        CHECK(data::read_lrsvqa(vqa, t.root()).at(0).image == data::detail::join_path(t.root(), bad));
        data::llava_read_options lo;
        lo.confine_to_root = true;
        CHECK(error_id([&] { data::read_llava(llava, t.root(), lo); }) == "rscovlm.data.path_outside_root");
        data::lrsvqa_read_options vo;
        vo.confine_to_root = true;
        CHECK(error_id([&] { data::read_lrsvqa(vqa, t.root(), vo); }) == "rscovlm.data.path_outside_root");
        // Through the registry readers (what a recipe build uses).
        auto reader = registry::make<data::reader_kind>("reader.llava", nlohmann::json::object());
        CHECK(error_id([&] {
                  reader->read(data::dataset_source{llava, t.root(), true});
              }) == "rscovlm.data.path_outside_root");
        CHECK(reader->read(data::dataset_source{llava, t.root()}).size() == 1);
    }
    data::llava_read_options lo;
    lo.confine_to_root = true;
    const std::string ok = t.write("ok.json", llava_record("images/a.png"));
    CHECK(data::read_llava(ok, t.root(), lo).at(0).images.at(0) == t.root() + "/images/a.png");
}
