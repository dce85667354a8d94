// Subcommands of the tokenizer module: tokenize, detokenize, chat (JSON Lines), and its demo.
#include "cli.hpp"

#include <rscovlm/tokenizer/all.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>

namespace rscovlm::cli {

namespace {

struct tokenizer_args {
    std::string path;
    bool skip_special = false;
    bool labels = false;
    std::size_t max_length = 0;
    std::optional<tokenizer::bpe_tokenizer> tok;
};

std::string default_tokenizer_path(const std::string& data_dir) {
    return data_dir.empty() ? std::string() : data_dir + "/tokenizer/qwen/tokenizer.json";
}

const tokenizer::bpe_tokenizer& load(tokenizer_args& a, const context& ctx) {
    if (!a.tok) {
        std::string path = a.path.empty() ? default_tokenizer_path(ctx.data_dir) : a.path;
        if (path.empty())
            RSCOVLM_THROW(usage_error, "missing_option", "--tokenizer FILE is required (no bundled data directory)");
        a.tok = tokenizer::bpe_tokenizer::from_file(path);
    }
    return *a.tok;
}

void add_tokenizer_option(CLI::App* cmd, tokenizer_args& a) {
    cmd->add_option("--tokenizer", a.path,
                    "tokenizer.json, or a model directory holding it (default: the bundled Qwen2.5-VL tokenizer)");
}

const nlohmann::json& field(const nlohmann::json& in, const char* name) {
    if (!in.is_object() || !in.contains(name))
        RSCOVLM_THROW(tokenizer_error, "bad_input", std::string("input line has no '") + name + "' field");
    return in[name];
}

std::vector<std::int32_t> read_ids(const nlohmann::json& ids) {
    if (!ids.is_array()) RSCOVLM_THROW(tokenizer_error, "bad_input", "'ids' must be an array of integers");
    std::vector<std::int32_t> out;
    out.reserve(ids.size());
    for (const auto& v : ids) {
        if (!v.is_number_integer() || v.get<long long>() < std::numeric_limits<std::int32_t>::min() ||
            v.get<long long>() > std::numeric_limits<std::int32_t>::max())
            RSCOVLM_THROW(tokenizer_error, "bad_input", "'ids' must hold 32-bit integers, got " + v.dump());
        out.push_back(static_cast<std::int32_t>(v.get<long long>()));
    }
    return out;
}

/// The sample conversation of the demo: a Zoom-in detection dialogue.
nlohmann::json sample_conversation() {
    using nlohmann::json;
    return json::array({
        {{"role", "system"}, {"content", tokenizer::zoom_tool_system_prompt()}},
        {{"role", "user"},
         {"content", json::array({{{"type", "image"}},
                                  {{"type", "text"},
                                   {"text", "Detect all small vehicles in the image. Output one line per object: "
                                            "x1,y1,x2,y2,x3,y3,x4,y4 label."}}})}},
        {{"role", "assistant"},
         {"content",
          "<think>The vehicles are small, I should zoom in.</think>\n" + tokenizer::zoom_tool_call(112, 64, 560, 448)}},
        {{"role", "user"},
         {"content", json::array({{{"type", "image"}}, {{"type", "text"}, {"text", "This is the zoomed-in image."}}})}},
        {{"role", "assistant"},
         {"content", "204,118,236,118,236,134,204,134 small-vehicle\n301,250,329,246,332,262,304,266 small-vehicle"}},
    });
}

} // namespace

void register_tokenizer(CLI::App& app, context& ctx) {
    auto args = std::make_shared<tokenizer_args>();

    auto* tok = app.add_subcommand("tokenize", "JSON Lines {\"text\": ...} -> {\"ids\": [...]} (byte-level BPE)");
    add_tokenizer_option(tok, *args);
    tok->callback([&ctx, args] {
        const auto& t = load(*args, ctx);
        run_jsonl(ctx, [&](const nlohmann::json& in) {
            const nlohmann::json& text = field(in, "text");
            if (!text.is_string()) RSCOVLM_THROW(tokenizer_error, "bad_input", "'text' must be a string");
            return nlohmann::json{{"ids", t.encode(text.get_ref<const std::string&>())}};
        });
    });

    auto* detok = app.add_subcommand("detokenize", "JSON Lines {\"ids\": [...]} -> {\"text\": ...}");
    add_tokenizer_option(detok, *args);
    detok->add_flag("--skip-special", args->skip_special, "Drop special tokens (<tool_call> is not special)");
    detok->callback([&ctx, args] {
        const auto& t = load(*args, ctx);
        run_jsonl(ctx, [&](const nlohmann::json& in) {
            return nlohmann::json{{"text", t.decode(read_ids(field(in, "ids")), args->skip_special)}};
        });
    });

    auto* chat = app.add_subcommand(
        "chat", "JSON Lines {\"messages\": [...], \"add_generation_prompt\": b, \"add_vision_id\": b} -> "
                "{\"text\": ..., \"ids\": [...]} (Qwen2.5-VL chat template)");
    add_tokenizer_option(chat, *args);
    chat->add_flag("--labels", args->labels,
                   "Also output training \"input_ids\"/\"labels\" (span-wise, assistant-only supervision)");
    chat->add_option("--max-length", args->max_length, "Truncate the training encoding to this many tokens (0 = none)");
    chat->callback([&ctx, args] {
        const auto& t = load(*args, ctx);
        tokenizer::qwen2_5_vl_template tmpl;
        run_jsonl(ctx, [&](const nlohmann::json& in) {
            const nlohmann::json& messages = field(in, "messages");
            tokenizer::render_options opt = tokenizer::render_options::from_json(in);
            std::string text = tmpl.render(messages, opt);
            nlohmann::json out{{"text", text}, {"ids", t.encode(text)}};
            if (args->labels) {
                tokenizer::conversation_options co;
                co.add_generation_prompt = opt.add_generation_prompt;
                co.add_vision_id = opt.add_vision_id;
                co.image_grid_thw = opt.image_grid_thw;
                co.video_grid_thw = opt.video_grid_thw;
                co.merge_size = opt.merge_size;
                co.max_length = args->max_length;
                auto enc = tokenizer::encode_conversation(t, messages, co);
                out["input_ids"] = enc.input_ids;
                out["labels"] = enc.labels;
                out["truncated"] = enc.truncated;
            }
            return out;
        });
    });
}

void demo_tokenizer(demo_context& d) {
    std::string path = !d.tokenizer_path.empty() ? d.tokenizer_path : default_tokenizer_path(d.data_dir);
    auto loaded = tokenizer::bpe_tokenizer::try_from_file(path);
    if (!loaded) {
        d.out << "tokenizer: cannot load the bundled tokenizer: " << loaded.error().what() << "\n";
        return;
    }
    const tokenizer::bpe_tokenizer& tok = loaded.value();
    nlohmann::json messages = sample_conversation();
    tokenizer::qwen2_5_vl_template tmpl;
    std::string prompt = tmpl.render(messages, {});
    std::vector<std::int32_t> ids = tok.encode(prompt);

    // Expansion as the processor does it: a 448x448 image is a 1x32x32 patch grid (14 px patches),
    // i.e. 256 pads after 2x2 merging; the zoomed crop is resized to 336x336 -> 1x24x24 -> 144 pads.
    tokenizer::conversation_options co;
    co.image_grid_thw = {{1, 32, 32}, {1, 24, 24}};
    auto enc = tokenizer::encode_conversation(tok, messages, co);

    d.out << "tokenizer: " << tok.source() << " (" << tok.vocab_size() << " ids, " << tok.merges_size() << " merges)\n";
    d.out << "  sample Zoom-in conversation rendered with the Qwen2.5-VL template:\n";
    std::string shown = prompt;
    // The tool declaration is one long JSON line: elide it.
    std::size_t decl = shown.find("\n<tools>\n");
    std::size_t decl_end = decl == std::string::npos ? decl : shown.find("\n</tools>", decl + 9);
    if (decl_end != std::string::npos)
        shown = shown.substr(0, decl + 9) + "[... image_zoom_in declaration, " + std::to_string(decl_end - decl - 9) +
                " bytes ...]" + shown.substr(decl_end);
    std::size_t start = 0;
    while (start < shown.size()) {
        std::size_t nl = shown.find('\n', start);
        if (nl == std::string::npos) nl = shown.size();
        d.out << "    | " << shown.substr(start, nl - start) << "\n";
        start = nl + 1;
    }
    d.out << "  prompt: " << prompt.size() << " bytes, " << ids.size() << " tokens (1 <|image_pad|> per image)\n";
    d.out << "  training encoding with grids 1x32x32 and 1x24x24 (merge 2): " << enc.input_ids.size() << " tokens, "
          << enc.supervised_count() << " supervised (assistant text + <|im_end|>)\n";
    d.out << "  decode(encode(prompt)) == prompt: " << (tok.decode(ids) == prompt ? "yes" : "NO") << "\n";
    if (!d.out_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(d.out_dir, ec);
        std::ofstream f(d.out_dir + "/tokenizer_prompt.txt", std::ios::binary);
        f << prompt;
        if (f) d.out << "  wrote " << d.out_dir << "/tokenizer_prompt.txt\n";
    }
}

} // namespace rscovlm::cli
