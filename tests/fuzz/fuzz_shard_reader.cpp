// Fuzz target: the shard reader (engine::shard_reader) on arbitrary bytes must validate every index
// tensor (dtypes, shapes, offsets, monotonicity) before use: it returns samples that lie inside the
// data or raises a typed rscovlm error, never crashes, over-reads or allocates without bound.
#include <rscovlm/engine/shard_reader.hpp>
#include <rscovlm/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto r = rscovlm::try_call([&] {
        rscovlm::engine::shard_reader s(
            rscovlm::io::safetensors::file::from_bytes(std::vector<std::uint8_t>(data, data + size)));
        std::size_t total = s.tokens();
        for (std::size_t i = 0; i < s.size(); ++i) {
            const auto range = s.token_range(i);
            if (range.first > range.second || range.second > s.tokens()) __builtin_trap();
            if (s.kind() == rscovlm::engine::shard_kind::packed) {
                const auto p = s.pack(i, true);
                total += p.input_ids.size() + p.members.size() + p.pixel_values.size();
            } else {
                const auto x = s.sample(i, true);
                if (x.input_ids.size() != x.labels.size()) __builtin_trap();
                total += x.input_ids.size() + x.grid_thw.size() + x.pixel_values.size() + x.pixel_values_videos.size();
            }
        }
        return total;
    });
    (void)r;
    return 0;
}
