#!/bin/sh
# Times the C++ tokenizer and the reference engines side by side on the same tokenizer.json and
# the same corpus (blocks separated by blank lines, one encode call per block).
#
# usage: tests/bench/run_tokenizer.sh BUILD_DIR [TOKENIZER_JSON]
#   BUILD_DIR: a build configured with -DRSCOVLM_BUILD_BENCHMARKS=ON -DCMAKE_BUILD_TYPE=Release
#              (bench_tokenizer is built there).
# References (Node 18+): install once with
#   (cd tests/bench/node && npm install --ignore-scripts)
# which provides @anush008/tokenizers (the Rust engine's Node binding) and @huggingface/tokenizers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: run_tokenizer.sh BUILD_DIR [TOKENIZER_JSON]}
tok=${2:-$root/tests/data/tokenizer/qwen/tokenizer.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --build "$build" --target bench_tokenizer -j1 >/dev/null
# The mixed corpus: every golden tokenizer string and chat prompt, repeated to about 3 MB.
python3 - "$root/tests/data" "$work/corpus.txt" <<'PY'
import json, sys
data, out = sys.argv[1], sys.argv[2]
blocks = []
for rel, key in (("tokenizer/cases.jsonl", "text"), ("chat_template/cases.jsonl", "rendered")):
    with open(data + "/" + rel, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)[key].strip("\n")
            if t:
                blocks.append(t)
parts, size, i = [], 0, 0
while size < 3000000:
    b = blocks[i % len(blocks)]
    parts.append(b)
    size += len(b.encode("utf-8"))
    i += 1
with open(out, "w", encoding="utf-8") as f:
    f.write("\n\n".join(parts))
PY

ref_args=""
if [ -d "$here/node/node_modules/@anush008/tokenizers" ] && [ -d "$here/node/node_modules/@huggingface/tokenizers" ]; then
  echo "measuring the reference engines (Rust via Node, JS port) ..." >&2
  RAYON_NUM_THREADS=2 node "$here/tokenizer_ref.js" "$tok" "$work/corpus.txt" 3 > "$work/ref.json"
  ref_args="--ref $work/ref.json"
else
  echo "reference packages missing: run (cd tests/bench/node && npm install --ignore-scripts) to compare" >&2
fi
# shellcheck disable=SC2086
"$build/bench/bench_tokenizer" --tokenizer "$tok" --corpus "$work/corpus.txt" --repeats 3 $ref_args
