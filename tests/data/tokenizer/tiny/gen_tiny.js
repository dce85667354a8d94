// Regenerates the tiny test tokenizers and their golden ids with the Rust `tokenizers` engine
// (Node binding @anush008/tokenizers, installed by `npm install --ignore-scripts` in
// tests/bench/node). usage: node gen_tiny.js   (writes the files next to this script)
"use strict";
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require(path.join(__dirname, "..", "..", "..", "bench", "node", "node_modules", "@anush008", "tokenizers"));

function bytesToUnicode() {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; ++b) bs.push(b);
  for (let b = 0xa1; b <= 0xac; ++b) bs.push(b);
  for (let b = 0xae; b <= 0xff; ++b) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; ++b) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); ++n; }
  const m = {};
  bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
  return m;
}
const b2u = bytesToUnicode();
const vocab = {};
for (let b = 0; b < 256; ++b) vocab[b2u[b]] = b;
const pairs = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "w"], ["o", "r"], ["Ġw", "or"], ["l", "d"],
  ["Ġwor", "ld"], ["Ã", "©"], ["Ġ", "Ġ"], ["ĠĠ", "ĠĠ"], ["Ċ", "Ċ"], ["a", "a"], ["aa", "aa"], ["Ġ", "hello"]];
let next = 256;
for (const [a, b] of pairs) if (!(a + b in vocab)) vocab[a + b] = next++;
const added = [
  { id: 400, content: "[MASK]", single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
  { id: 401, content: "</r>", single_word: false, lstrip: false, rstrip: true, normalized: false, special: false },
  { id: 402, content: "<w>", single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
  { id: 403, content: "\u00e9t\u00e9", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
  { id: 404, content: "<s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  { id: 405, content: "<s>x", single_word: false, lstrip: false, rstrip: false, normalized: false, special: false },
  { id: 406, content: "[B]", single_word: true, lstrip: true, rstrip: true, normalized: true, special: false },
];
const regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const bl = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
function make(mergesLegacy) {
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added,
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false }, bl] },
    post_processor: bl, decoder: bl,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab,
      merges: mergesLegacy ? pairs.map((p) => p.join(" ")) : pairs },
  };
}
fs.writeFileSync(path.join(__dirname, "tokenizer.json"), JSON.stringify(make(true), null, 1));
fs.writeFileSync(path.join(__dirname, "tokenizer_pairs.json"), JSON.stringify(make(false)));

const texts = [
  "", "hello world", "hello  world", "a [MASK] b", "a   [MASK]b", "[MASK][MASK]", "  [MASK]", "x</r>   y", "x</r>",
  "</r>\n\nz", "a<w>b", "a <w> b", "<w>", "_<w>", "é<w>", "<w>1", "été", "e\u0301te\u0301", "ete\u0301",
  "<s>x", "<s>y", "<s><s>x", "hello[B]world", "hello [B] world", "[B]", "  [B]  ", "été[MASK]</r>  <s>x",
  "aaaaaaa", "\n\n\nhello", "hello\u00a0world", "e\u0301", "x\u0301[MASK]\u0301",
];
const tokPath = path.join(__dirname, "tokenizer.json");
const tok = Tokenizer.fromFile(tokPath);
const tok2 = Tokenizer.fromFile(path.join(__dirname, "tokenizer_pairs.json"));
(async () => {
  const lines = [];
  for (const t of texts) {
    const e = await tok.encode(t, null, { addSpecialTokens: false });
    const e2 = await tok2.encode(t, null, { addSpecialTokens: false });
    const ids = Array.from(e.getIds());
    if (JSON.stringify(ids) !== JSON.stringify(Array.from(e2.getIds()))) throw new Error("formats disagree on " + t);
    const dec = await tok.decode(ids, false);
    const decs = await tok.decode(ids, true);
    lines.push(JSON.stringify({ text: t, ids, decoded: dec, decoded_skip_special: decs }));
  }
  fs.writeFileSync(path.join(__dirname, "cases.jsonl"), lines.join("\n") + "\n");
  console.log("wrote", lines.length, "cases");
})();
