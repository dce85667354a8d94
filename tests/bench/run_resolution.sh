#!/bin/sh
# Times the rscovlm image path and the same steps in Pillow + numpy (single-threaded) on the same files,
# then prints rscovlm's numbers with the ratios. Usage: run_resolution.sh [build-dir]
# (the build needs -DRSCOVLM_BUILD_BENCHMARKS=ON; Pillow and numpy from /usr/bin/python3).
set -e
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH="$BUILD/bench/bench_resolution"
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BENCH" --write-images "$TMP"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$PY" "$HERE/resolution_ref.py" "$TMP" > "$TMP/ref.json"
echo "Pillow + numpy (s): $(cat "$TMP/ref.json")"
"$BENCH" --images "$TMP" --ref "$TMP/ref.json"
