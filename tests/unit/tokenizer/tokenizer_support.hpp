#pragma once
// Shared helpers of the tokenizer unit tests: the vendored Qwen2.5-VL tokenizer (loaded once)
// and JSON Lines readers for the golden files in tests/data.
#include <rscovlm/tokenizer/all.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace tokenizer_test {

inline std::string data_path(const std::string& rel) {
    return std::string(RSCOVLM_TEST_DATA_DIR) + "/" + rel;
}

/// The vendored Qwen2.5-VL tokenizer (tests/data/tokenizer/qwen), loaded once per process.
inline const rscovlm::tokenizer::bpe_tokenizer& qwen() {
    static const rscovlm::tokenizer::bpe_tokenizer tok =
        rscovlm::tokenizer::bpe_tokenizer::from_file(data_path("tokenizer/qwen/tokenizer.json"));
    return tok;
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::vector<nlohmann::json> rows;
    std::ifstream f(path, std::ios::binary);
    std::string line;
    while (std::getline(f, line))
        if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
    return rows;
}

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

} // namespace tokenizer_test
