// Unit tests: RSCoVLM sample packing (plan, flattened rows, padded batches) against the golden file
// made by tests/data/packing/make_golden.py, the packed shard writer and the packer stream.
#include <rscovlm/data/packing.hpp>
#include <rscovlm/engine/all.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace rscovlm;

namespace packing_test {

nlohmann::json golden() {
    std::ifstream f(std::string(RSCOVLM_TEST_DATA_DIR) + "/packing/golden.json");
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

/// A member with the fields flatten_pack / collate_padded read (like engine::encoded_sample).
struct member {
    std::vector<std::int32_t> input_ids, labels;
    std::array<std::vector<std::int64_t>, 3> position_ids;
    std::vector<std::array<int, 3>> image_grid_thw;
    std::vector<float> pixel_values;
    std::size_t pixel_rows = 0;
};

member from_json(const nlohmann::json& j) {
    member m;
    m.input_ids = j.at("input_ids").get<std::vector<std::int32_t>>();
    m.labels = j.at("labels").get<std::vector<std::int32_t>>();
    for (std::size_t a = 0; a < 3; ++a)
        m.position_ids[a] = j.at("position_ids").at(a).get<std::vector<std::int64_t>>();
    for (const auto& g : j.at("image_grid_thw"))
        m.image_grid_thw.push_back({g.at(0).get<int>(), g.at(1).get<int>(), g.at(2).get<int>()});
    for (const auto& row : j.at("pixel_values")) {
        for (const auto& v : row)
            m.pixel_values.push_back(v.get<float>());
        ++m.pixel_rows;
    }
    return m;
}

std::vector<std::array<int, 3>> grids_of(const nlohmann::json& j) {
    std::vector<std::array<int, 3>> out;
    for (const auto& g : j)
        out.push_back({g.at(0).get<int>(), g.at(1).get<int>(), g.at(2).get<int>()});
    return out;
}

engine::encoded_sample synthetic_sample(std::size_t n, int seed, std::size_t images = 0) {
    engine::encoded_sample s;
    for (std::size_t k = 0; k < n; ++k) {
        s.input_ids.push_back(static_cast<std::int32_t>(1000 + seed * 100 + static_cast<int>(k)));
        s.labels.push_back(k >= n / 2 ? s.input_ids.back() : -100);
        for (std::size_t a = 0; a < 3; ++a)
            s.position_ids[a].push_back(static_cast<std::int64_t>(k + a));
    }
    for (std::size_t i = 0; i < images; ++i) {
        s.image_grid_thw.push_back({1, 2, 2});
        for (int r = 0; r < 4 * 1176; ++r)
            s.pixel_values.push_back(static_cast<float>(seed) + 0.5f);
        s.pixel_rows += 4;
    }
    return s;
}

} // namespace packing_test

TEST_CASE("data: binpacking to_constant_volume (heaviest first, fullest fitting bin, oversize alone)") {
    // 8 -> bin0; 7 opens bin1; 5 opens bin2; 3 -> fullest fitting is none of 8/7? 7+3 = 10 fits -> bin1;
    // 2 -> bin0 (8+2); 1 -> bin2 (fullest fitting: 5).
    const auto bins = data::to_constant_volume({5, 3, 8, 2, 7, 1}, 10);
    CHECK(bins == std::vector<std::vector<std::size_t>>{{2, 3}, {4, 1}, {0, 5}});
    // The first item takes the open bin even when it is too heavy; later over-long items open bins.
    CHECK(data::to_constant_volume({12, 3, 11}, 10) == std::vector<std::vector<std::size_t>>{{0}, {2}, {1}});
    CHECK(data::to_constant_volume({}, 10).empty());
}

TEST_CASE("data: packing plans equal the reference (binpacking 1.5.2 + PackingMapDataset)") {
    const auto g = packing_test::golden();
    REQUIRE(g.at("plans").size() >= 10);
    for (const auto& c : g.at("plans")) {
        CAPTURE(c.at("name").get<std::string>());
        std::vector<data::packing_item> items;
        for (const auto& it : c.at("items"))
            items.push_back({it.at(0).get<std::size_t>(), it.at(1).get<std::size_t>()});
        data::packing_options o;
        o.max_length = c.at("max_length").get<std::size_t>();
        o.packing_interval = c.at("packing_interval").get<std::size_t>();
        const auto groups = data::plan_packs(items, o);
        CHECK(groups == c.at("groups").get<std::vector<std::vector<std::size_t>>>());
        // Every item exactly once; a group over capacity is a single over-long item.
        std::multiset<std::size_t> seen;
        std::map<std::size_t, std::size_t> len;
        for (const auto& it : items)
            len[it.id] = it.length;
        for (const auto& grp : groups) {
            std::size_t sum = 0;
            for (auto id : grp) {
                seen.insert(id);
                sum += len[id];
            }
            if (sum > o.max_length) CHECK(grp.size() == 1);
        }
        CHECK(seen.size() == items.size());
        // Deterministic: the same input gives the same plan.
        CHECK(data::plan_packs(items, o) == groups);
    }
    CHECK_THROWS_AS(data::packing_planner(data::packing_options{0, 64}), data_error);
    CHECK_THROWS_AS(data::packing_planner(data::packing_options{100, 0}), data_error);
}

TEST_CASE("data: flattened packs equal FlattenedDataCollatorForQwen2_5_VL (labels, positions, cu_seqlens)") {
    const auto g = packing_test::golden();
    for (const auto& c : g.at("flatten")) {
        CAPTURE(c.at("name").get<std::string>());
        std::vector<packing_test::member> ms;
        for (const auto& m : c.at("members"))
            ms.push_back(packing_test::from_json(m));
        std::vector<const packing_test::member*> ptrs;
        for (const auto& m : ms)
            ptrs.push_back(&m);
        data::flatten_options o;
        o.max_length = c.at("max_length").get<std::size_t>();
        o.mask_first_label = !c.contains("mask_first_label") || c.at("mask_first_label").get<bool>();
        const data::packed_sequence p = data::flatten_pack(ptrs, o);
        const auto& e = c.at("expected");
        CHECK(p.input_ids == e.at("input_ids").get<std::vector<std::int32_t>>());
        CHECK(p.labels == e.at("labels").get<std::vector<std::int32_t>>());
        for (std::size_t a = 0; a < 3; ++a)
            CHECK(p.position_ids[a] == e.at("position_ids").at(a).get<std::vector<std::int64_t>>());
        CHECK(p.naive_position_ids == e.at("naive_position_ids").get<std::vector<std::int64_t>>());
        CHECK(p.cu_seqlens == e.at("cu_seqlens").get<std::vector<std::int64_t>>());
        CHECK(p.grid_thw == packing_test::grids_of(e.at("image_grid_thw")));
        std::vector<float> pix;
        for (const auto& row : e.at("pixel_values"))
            for (const auto& v : row)
                pix.push_back(v.get<float>());
        CHECK(p.pixel_values == pix);
        std::size_t total = 0;
        for (const auto& m : ms)
            total += m.input_ids.size();
        CHECK(p.truncated == (o.max_length > 0 && total > o.max_length));
        CHECK(p.member_lengths.size() == ms.size());
    }
    packing_test::member bad;
    bad.input_ids = {1, 2};
    bad.labels = {1};
    std::vector<const packing_test::member*> one{&bad};
    CHECK_THROWS_AS(data::flatten_pack(one), data_error);
}

TEST_CASE("data: padded batches equal DataCollatorForQwen2_5_VL (right padding, -100, mask 0, position 1)") {
    const auto g = packing_test::golden();
    for (const auto& c : g.at("padded")) {
        CAPTURE(c.at("name").get<std::string>());
        std::vector<packing_test::member> ms;
        for (const auto& m : c.at("examples"))
            ms.push_back(packing_test::from_json(m));
        std::vector<const packing_test::member*> ptrs;
        for (const auto& m : ms)
            ptrs.push_back(&m);
        data::collate_options o;
        o.max_length = c.at("max_length").get<std::size_t>();
        o.pad_token_id = c.at("pad_token_id").get<std::int32_t>();
        const data::padded_batch b = data::collate_padded(ptrs, o);
        const auto& e = c.at("expected");
        std::vector<std::int32_t> ids, labels;
        std::vector<std::uint8_t> mask;
        for (const auto& row : e.at("input_ids"))
            for (const auto& v : row)
                ids.push_back(v.get<std::int32_t>());
        for (const auto& row : e.at("labels"))
            for (const auto& v : row)
                labels.push_back(v.get<std::int32_t>());
        for (const auto& row : e.at("attention_mask"))
            for (const auto& v : row)
                mask.push_back(static_cast<std::uint8_t>(v.get<int>()));
        CHECK(b.batch == ms.size());
        CHECK(b.length == e.at("input_ids").at(0).size());
        CHECK(b.input_ids == ids);
        CHECK(b.labels == labels);
        CHECK(b.attention_mask == mask);
        for (std::size_t a = 0; a < 3; ++a) {
            std::vector<std::int64_t> pos;
            for (const auto& row : e.at("position_ids").at(a))
                for (const auto& v : row)
                    pos.push_back(v.get<std::int64_t>());
            CHECK(b.position_ids[a] == pos);
        }
        CHECK(b.grid_thw == packing_test::grids_of(e.at("image_grid_thw")));
    }
}

TEST_CASE("data: sample_packer streams packs into packed shards that read back") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "rscovlm_test_packed_shards";
    fs::remove_all(dir);
    const std::vector<std::size_t> lengths = {30, 50, 20, 70, 10, 40, 25, 90};
    std::vector<engine::encoded_sample> samples;
    for (std::size_t i = 0; i < lengths.size(); ++i)
        samples.push_back(packing_test::synthetic_sample(lengths[i], static_cast<int>(i), i % 3 == 0 ? 1 : 0));
    data::packing_options po;
    po.max_length = 100;
    po.packing_interval = 4;
    data::flatten_options fo;
    fo.max_length = 100;
    std::vector<data::packed_sequence> rows;
    std::vector<std::vector<std::size_t>> members;
    {
        engine::packed_shard_writer w(dir.string(), 2);
        engine::sample_packer packer(po, fo, [&](const data::packed_sequence& r, const std::vector<std::size_t>& m) {
            rows.push_back(r);
            members.push_back(m);
            w.add(r, m);
        });
        for (std::size_t i = 0; i < samples.size(); ++i)
            packer.add(samples[i], 100 + i);
        packer.finish();
        w.flush();
        CHECK(w.packs() == rows.size());
        CHECK(packer.groups() == members);
    }
    // The same plan as the pure planner over (position, length).
    std::vector<data::packing_item> items;
    for (std::size_t i = 0; i < lengths.size(); ++i)
        items.push_back({i, lengths[i]});
    auto plan = data::plan_packs(items, po);
    for (auto& grp : plan)
        for (auto& id : grp)
            id += 100;
    CHECK(plan == members);
    // Rows: positions restart per member, each member's first label is -100, cu_seqlens from zeros.
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto& row = rows[r];
        std::size_t off = 0;
        REQUIRE(row.cu_seqlens.size() == members[r].size() + 1);
        for (std::size_t k = 0; k < members[r].size(); ++k) {
            const auto len = lengths[members[r][k] - 100];
            CHECK(row.cu_seqlens[k] == static_cast<std::int64_t>(off));
            CHECK(row.labels[off] == -100);
            CHECK(row.position_ids[1][off] == 1); // synthetic positions start at k + axis
            CHECK(row.naive_position_ids[off] == 0);
            off += len;
        }
        CHECK(row.cu_seqlens.back() == static_cast<std::int64_t>(row.input_ids.size()));
    }
    // Shards: 2 packs each; the tensors agree with the rows.
    std::size_t r = 0;
    for (std::size_t s = 0;; ++s) {
        char name[64];
        std::snprintf(name, sizeof(name), "pack-%05zu.safetensors", s);
        if (!fs::exists(dir / name)) break;
        auto f = io::safetensors::file::open((dir / name).string());
        CHECK(f.metadata().at("format") == "rscovlm.packed_shard.v1");
        const auto po_v = f.tensor("pack_offsets");
        const auto np = static_cast<std::size_t>(po_v.numel()) - 1;
        CHECK(np <= 2);
        const auto ids = f.tensor("input_ids");
        const auto cu = f.tensor("cu_seqlens");
        const auto cuo = f.tensor("cu_seqlens_offsets");
        for (std::size_t p = 0; p < np; ++p, ++r) {
            REQUIRE(r < rows.size());
            std::int64_t b, e, c0, c1;
            std::memcpy(&b, po_v.bytes() + 8 * p, 8);
            std::memcpy(&e, po_v.bytes() + 8 * (p + 1), 8);
            CHECK(static_cast<std::size_t>(e - b) == rows[r].input_ids.size());
            std::int32_t first;
            std::memcpy(&first, ids.bytes() + 4 * static_cast<std::size_t>(b), 4);
            CHECK(first == rows[r].input_ids[0]);
            std::memcpy(&c0, cuo.bytes() + 8 * p, 8);
            std::memcpy(&c1, cuo.bytes() + 8 * (p + 1), 8);
            std::vector<std::int64_t> cuv(static_cast<std::size_t>(c1 - c0));
            std::memcpy(cuv.data(), cu.bytes() + 8 * static_cast<std::size_t>(c0), cuv.size() * 8);
            CHECK(cuv == rows[r].cu_seqlens);
        }
        if (f.contains("pixel_values")) CHECK(f.info("pixel_values").shape[1] == 1176);
    }
    CHECK(r == rows.size());
    // A bad member list is a typed error.
    engine::packed_shard_writer w2((dir / "bad").string(), 2);
    CHECK_THROWS_AS(w2.add(rows[0], {}), data_error);
    fs::remove_all(dir);
}
