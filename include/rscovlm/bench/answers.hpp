#pragma once
/// \file bench/answers.hpp
/// The answer file of a benchmark run (`answers.jsonl`): one JSON line per model answer, appended
/// and flushed as each answer arrives, so an interrupted run loses at most the line being written.
/// Reading keeps, per record id, the last line that has no "error" (a successful answer is never
/// replaced by a later failure), else the last failure. A line that is not JSON is a torn write (the
/// process died while writing it; the writer ends such a line before appending) and is skipped and
/// counted; valid JSON that is not an object with a string "id" is `rscovlm.data.bad_answers`.
///
/// Record selection: `--shard i/n` keeps the records whose index in the data set is `i` modulo
/// `n`, then `--limit N` the first N of those.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace rscovlm::bench {

/// A shard `index` of `count` (`--shard i/n`); {0, 1} is the whole data set.
struct shard {
    std::size_t index = 0;
    std::size_t count = 1;
};

/// Parses "i/n" (0 <= i < n); anything else is `rscovlm.usage.bad_shard`.
inline shard parse_shard(const std::string& s) {
    const auto slash = s.find('/');
    auto digits = [](const std::string& t) {
        return !t.empty() && t.size() < 10 && t.find_first_not_of("0123456789") == std::string::npos;
    };
    if (slash != std::string::npos) {
        const std::string a = s.substr(0, slash), b = s.substr(slash + 1);
        if (digits(a) && digits(b)) {
            shard r{std::stoul(a), std::stoul(b)};
            if (r.count > 0 && r.index < r.count) return r;
        }
    }
    RSCOVLM_THROW(usage_error, "bad_shard", "--shard must be i/n with 0 <= i < n, got '" + s + "'");
}

/// The indices of `total` records that shard `s` with `limit` (0 = no limit) selects, in order.
inline std::vector<std::size_t> select_records(std::size_t total, shard s, std::size_t limit) {
    std::vector<std::size_t> out;
    for (std::size_t i = s.index; i < total; i += s.count) {
        if (limit && out.size() >= limit) break;
        out.push_back(i);
    }
    return out;
}

/// The answer lines of a file, by record id (see the file comment). A missing file is empty.
/// `torn`, when given, receives the number of skipped torn lines.
inline std::map<std::string, nlohmann::json> read_answers(const std::string& path, std::size_t* torn = nullptr) {
    if (torn) *torn = 0;
    std::map<std::string, nlohmann::json> out;
    if (!std::filesystem::exists(path)) return out;
    const std::string text =
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open answer file '" + path + "'");
    std::istringstream in(text);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded()) {
            if (torn) ++*torn;
            continue;
        }
        if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) {
            RSCOVLM_THROW(data_error, "bad_answers",
                          "'" + path + "' line " + std::to_string(n) + ": not an answer object with a string \"id\"");
        }
        const std::string id = j["id"].get<std::string>();
        auto it = out.find(id);
        if (it == out.end())
            out.emplace(id, std::move(j));
        else if (!j.contains("error") || it->second.contains("error"))
            it->second = std::move(j);
    }
    return out;
}

/// Appends answer lines to a file, one flushed line each; safe to call from several threads.
class answer_writer {
public:
    explicit answer_writer(const std::string& path) : m_path(path) {
        // A torn last line of an interrupted run would glue onto the next one: end it first.
        bool torn = false;
        {
            std::ifstream f(path, std::ios::binary | std::ios::ate);
            if (f && f.tellg() > 0) {
                f.seekg(-1, std::ios::end);
                torn = f.get() != '\n';
            }
        }
        m_out.open(path, std::ios::binary | std::ios::app);
        if (!m_out) RSCOVLM_THROW(io_error, "open_failed", "cannot open answer file '" + path + "' for writing");
        if (torn) m_out << '\n';
    }
    /// Writes `line` (an object with "id") and flushes it.
    void append(const nlohmann::json& line) {
        const std::string s = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        std::lock_guard<std::mutex> lock(m_mutex);
        m_out << s << '\n';
        m_out.flush();
        if (!m_out) RSCOVLM_THROW(io_error, "write_failed", "cannot write answer file '" + m_path + "'");
    }

private:
    std::string m_path;
    std::ofstream m_out;
    std::mutex m_mutex;
};

} // namespace rscovlm::bench
