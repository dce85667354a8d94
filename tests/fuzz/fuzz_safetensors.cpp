// Fuzz target: the safetensors reader on arbitrary bytes must return or raise a typed io_error,
// never crash, over-read or allocate without bound.
#include <rscovlm/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto r = rscovlm::try_call([&] {
        auto f = rscovlm::io::safetensors::file::from_bytes(std::vector<std::uint8_t>(data, data + size));
        std::size_t total = 0;
        for (const auto& t : f.tensors()) {
            // Touch both ends of every tensor so an out-of-bounds view shows up under ASan.
            const auto* bytes = static_cast<const std::uint8_t*>(t.data);
            if (t.size_bytes > 0) total += bytes[0] + bytes[t.size_bytes - 1];
        }
        return total;
    });
    (void)r;
    return 0;
}
