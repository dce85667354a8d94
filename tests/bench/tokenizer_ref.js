// Reference timings for tests/bench/bench_tokenizer.cpp, run by tests/bench/run_tokenizer.sh.
//
// usage: node tokenizer_ref.js TOKENIZER_JSON CORPUS_TXT [REPEATS]
//
// Times, on the same file and the same segmentation as the C++ benchmark (one encode call per
// blank-line-separated block of CORPUS_TXT):
//   - rust: the Rust `tokenizers` engine through its Node binding (@anush008/tokenizers);
//           1 thread = sequential encode() calls, 2 threads = encodeBatch() with
//           RAYON_NUM_THREADS=2 (set by the caller);
//   - js:   the pure-JS port @huggingface/tokenizers (single thread only).
// Prints one JSON object on stdout: {engine: {load_ms, load_cpu_ms, encode_1t_ms, encode_1t_cpu_ms,
// encode_2t_ms, tokens}} (wall-clock and process CPU milliseconds, best of REPEATS).
"use strict";
const fs = require("fs");
const path = require("path");

const nodeDir = path.join(__dirname, "node", "node_modules");
const [tokPath, corpusPath, repeatsArg] = process.argv.slice(2);
if (!tokPath || !corpusPath) {
  console.error("usage: node tokenizer_ref.js TOKENIZER_JSON CORPUS_TXT [REPEATS]");
  process.exit(2);
}
const repeats = Number(repeatsArg || 3);
const blocks = fs.readFileSync(corpusPath, "utf8").split("\n\n").filter((b) => b.length > 0);
const configPath = path.join(path.dirname(tokPath), "tokenizer_config.json");

function now() {
  return Number(process.hrtime.bigint()) / 1e6;
}
// Process CPU time (user + system, all threads) in ms: robust on a shared machine.
function cpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}
function best(times) {
  return Math.min(...times);
}

async function benchRust() {
  const { Tokenizer } = require(path.join(nodeDir, "@anush008", "tokenizers"));
  const loads = [];
  const loadsCpu = [];
  let tok;
  for (let r = 0; r < repeats; ++r) {
    const t0 = now();
    const c0 = cpu();
    tok = Tokenizer.fromFile(tokPath);
    loads.push(now() - t0);
    loadsCpu.push(cpu() - c0);
  }
  let tokens = 0;
  const seq = [];
  const seqCpu = [];
  for (let r = 0; r < repeats; ++r) {
    tokens = 0;
    const t0 = now();
    const c0 = cpu();
    for (const b of blocks) {
      const enc = await tok.encode(b, null, { addSpecialTokens: false });
      tokens += enc.getIds().length;
    }
    seq.push(now() - t0);
    seqCpu.push(cpu() - c0);
  }
  const batch = [];
  for (let r = 0; r < repeats; ++r) {
    const t0 = now();
    const encs = await tok.encodeBatch(blocks, { addSpecialTokens: false });
    batch.push(now() - t0);
    if (encs.length !== blocks.length) throw new Error("encodeBatch returned a wrong count");
  }
  return { load_ms: best(loads), load_cpu_ms: best(loadsCpu), encode_1t_ms: best(seq), encode_1t_cpu_ms: best(seqCpu),
    encode_2t_ms: best(batch), tokens };
}

async function benchJs() {
  const { Tokenizer } = require(path.join(nodeDir, "@huggingface", "tokenizers"));
  const loads = [];
  const loadsCpu = [];
  let tok;
  for (let r = 0; r < repeats; ++r) {
    const t0 = now();
    const c0 = cpu();
    const json = JSON.parse(fs.readFileSync(tokPath, "utf8"));
    const cfg = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, "utf8")) : {};
    tok = new Tokenizer(json, cfg);
    loads.push(now() - t0);
    loadsCpu.push(cpu() - c0);
  }
  let tokens = 0;
  const seq = [];
  const seqCpu = [];
  for (let r = 0; r < repeats; ++r) {
    tokens = 0;
    const t0 = now();
    const c0 = cpu();
    for (const b of blocks) tokens += tok.encode(b, { add_special_tokens: false }).ids.length;
    seq.push(now() - t0);
    seqCpu.push(cpu() - c0);
  }
  return { load_ms: best(loads), load_cpu_ms: best(loadsCpu), encode_1t_ms: best(seq), encode_1t_cpu_ms: best(seqCpu),
    encode_2t_ms: null, tokens };
}

(async () => {
  const out = { blocks: blocks.length, bytes: Buffer.byteLength(blocks.join("")) };
  out.rust = await benchRust();
  out.js = await benchJs();
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
