// Unit tests: the bounded multi-threaded prefetching loader (order, bound, typed errors, early stop,
// resuming from a sampler state).
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/engine/all.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

using namespace rscovlm;

namespace loader_test {
/// Deterministic pseudo-random sleep so worker timing (not the results) varies between positions.
void jitter(std::size_t i) {
    std::mt19937 g(static_cast<std::uint32_t>(i * 2654435761u));
    std::this_thread::sleep_for(std::chrono::microseconds(g() % 700));
}
} // namespace loader_test

TEST_CASE("data: loader returns results in order whatever the thread timing") {
    for (int threads : {1, 2, 4, 8}) {
        CAPTURE(threads);
        engine::prefetch_loader<std::size_t> l(
            120,
            [](std::size_t i) {
                loader_test::jitter(i);
                return i * 3 + 1;
            },
            5, threads);
        std::size_t k = 0;
        while (auto v = l.next()) {
            CHECK(*v == k * 3 + 1);
            ++k;
        }
        CHECK(k == 120);
        CHECK(l.position() == 120);
        CHECK_FALSE(l.next().has_value());
    }
}

TEST_CASE("data: loader never runs more than capacity positions ahead of the consumer") {
    std::atomic<std::size_t> consumed{0}, violations{0}, max_ahead{0};
    const std::size_t capacity = 3;
    engine::prefetch_loader<std::size_t> l(
        80,
        [&](std::size_t i) {
            const std::size_t c = consumed.load();
            const std::size_t ahead = i >= c ? i - c + 1 : 0;
            if (ahead > capacity + 1) violations.fetch_add(1);
            std::size_t m = max_ahead.load();
            while (ahead > m && !max_ahead.compare_exchange_weak(m, ahead)) {
            }
            loader_test::jitter(i);
            return i;
        },
        capacity, 4);
    // A slow consumer: workers would run far ahead if unbounded.
    while (auto v = l.next()) {
        consumed.store(*v + 1);
        const std::size_t started = l.started(); // read before position(): both only grow
        CHECK(started <= l.position() + capacity);
        std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    // Seen from inside produce, the consumer's own counter may lag the loader's by one result.
    CHECK(violations.load() == 0);
    CHECK(max_ahead.load() <= capacity + 1);
    CHECK(max_ahead.load() >= 2); // it did prefetch
}

TEST_CASE("data: loader errors reach the consumer typed, at their position, and stick") {
    engine::prefetch_loader<int> bad(
        10,
        [](std::size_t i) -> int {
            loader_test::jitter(i);
            if (i == 4) RSCOVLM_THROW(io_error, "open_failed", "cannot open image of sample 4");
            return static_cast<int>(i);
        },
        3, 3);
    for (int k = 0; k < 4; ++k) {
        auto v = bad.next();
        REQUIRE(v.has_value());
        CHECK(*v == k);
    }
    bool caught = false;
    try {
        (void)bad.next();
    } catch (const io_error& e) {
        caught = true;
        CHECK(e.id() == "rscovlm.io.open_failed");
    }
    CHECK(caught);
    CHECK_THROWS_AS(bad.next(), io_error); // sticky: the position is never skipped

    // Non-rscovlm exceptions become data_error loader_worker_failed naming the position.
    engine::prefetch_loader<int> foreign(
        6,
        [](std::size_t i) -> int {
            if (i == 2) throw std::out_of_range("vector::at");
            return 0;
        },
        2, 2);
    CHECK(foreign.next().has_value());
    CHECK(foreign.next().has_value());
    caught = false;
    try {
        (void)foreign.next();
    } catch (const data_error& e) {
        caught = true;
        CHECK(e.id() == "rscovlm.data.loader_worker_failed");
        CHECK(std::string(e.what()).find("sample 2") != std::string::npos);
        CHECK(std::string(e.what()).find("vector::at") != std::string::npos);
    }
    CHECK(caught);
}

TEST_CASE("data: loader stops early without hanging or producing the rest") {
    std::atomic<std::size_t> produced{0};
    const auto t0 = std::chrono::steady_clock::now();
    {
        engine::prefetch_loader<int> l(
            100000,
            [&](std::size_t) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                produced.fetch_add(1);
                return 1;
            },
            4, 4);
        CHECK(l.next().has_value());
        CHECK(l.next().has_value());
        l.stop();
        CHECK_FALSE(l.next().has_value()); // after stop: end, not a wait
        l.stop();                          // idempotent
    }
    {
        // Destroyed while workers are blocked on the bound and nothing was consumed.
        engine::prefetch_loader<int> l(
            1000, [&](std::size_t) { return 1; }, 2, 3);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        CHECK(l.started() <= 2);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(produced.load() <= 2 + 4 + 4);
    CHECK(secs < 5.0);
}

TEST_CASE("data: sampler state round-trips through the loader (resume gives the rest)") {
    data::distributed_sampler s(37, 2, 1, true, 11);
    s.set_epoch(3);
    const std::vector<std::size_t> all = s.indices();
    auto load = [](const std::vector<std::size_t>& order, std::size_t stop_after, std::vector<std::size_t>& out) {
        engine::prefetch_loader<std::size_t> l(
            order.size(),
            [&](std::size_t k) {
                loader_test::jitter(k);
                return order[k];
            },
            4, 3);
        while (out.size() < stop_after) {
            auto v = l.next();
            if (!v) break;
            out.push_back(*v);
        }
        return l.position();
    };
    std::vector<std::size_t> first;
    const std::size_t consumed = load(s.remaining(), 7, first);
    s.advance(consumed);
    // The state is saved (as in a manifest) and restored into a fresh sampler.
    const nlohmann::json saved = s.state().to_json();
    CHECK(saved == nlohmann::json{{"epoch", 3}, {"position", 7}});
    data::distributed_sampler resumed(37, 2, 1, true, 11);
    resumed.restore(data::sampler_state::from_json(saved));
    std::vector<std::size_t> rest;
    load(resumed.remaining(), 1000, rest);
    std::vector<std::size_t> joined = first;
    joined.insert(joined.end(), rest.begin(), rest.end());
    CHECK(joined == all);
}

TEST_CASE("data: build_dataset resumes from a manifest's sampler_state.position") {
    namespace fs = std::filesystem;
    const std::string fx = std::string(RSCOVLM_TEST_DATA_DIR) + "/img_split/fx_a";
    engine::build_job job;
    data::dataset_config cfg;
    cfg.annotation_path = fx + "/annfiles";
    cfg.data_path = fx + "/images";
    cfg.dataset_type = "dense_det";
    cfg.reader = "reader.dota";
    job.catalog.add("fx_a", {cfg});
    job.recipe = nlohmann::json::array({"fx_a*2"});
    job.seed = 4;
    job.threads = 3;
    const fs::path dir = fs::temp_directory_path() / "rscovlm_test_resume";
    fs::remove_all(dir);
    auto lines_of = [](const fs::path& p) {
        std::ifstream f(p);
        std::vector<std::string> out;
        for (std::string l; std::getline(f, l);)
            out.push_back(l);
        return out;
    };
    job.out_dir = (dir / "full").string();
    const engine::build_report full = engine::build_dataset(job);
    REQUIRE(full.samples >= 4);
    const auto all = lines_of(dir / "full" / "conversations.jsonl");
    std::ifstream mf(dir / "full" / "manifest.json");
    const auto manifest = nlohmann::json::parse(mf);
    CHECK(manifest.at("sampler_state") == nlohmann::json{{"epoch", 0}, {"position", full.samples}});
    // Stop after 3 (a limit), then resume from the state the partial manifest records.
    job.out_dir = (dir / "part").string();
    job.limit = 3;
    (void)engine::build_dataset(job);
    std::ifstream pf(dir / "part" / "manifest.json");
    const auto part = nlohmann::json::parse(pf);
    const auto state = data::sampler_state::from_json(part.at("sampler_state"));
    CHECK(state.position == 3);
    job.limit = 0;
    job.resume_position = state.position;
    job.out_dir = (dir / "rest").string();
    const engine::build_report rest = engine::build_dataset(job);
    CHECK(rest.samples == full.samples - 3);
    auto joined = lines_of(dir / "part" / "conversations.jsonl");
    const auto tail = lines_of(dir / "rest" / "conversations.jsonl");
    joined.insert(joined.end(), tail.begin(), tail.end());
    CHECK(joined == all);
    fs::remove_all(dir);
}
