#!/bin/sh
# Times the plain quad decoder (C++) beside the reference's Python parse loop on the same answer.
# Usage: tests/bench/run_box_codec.sh <build dir configured with -DRSCOVLM_BUILD_BENCHMARKS=ON>
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
py=$(command -v python3)
ref=$("$py" "$here/box_codec_ref.py")
echo "python str.split + int() loop: $ref lines/s"
"$build/bench/bench_box_codec" "$ref"
