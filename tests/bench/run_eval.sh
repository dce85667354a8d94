#!/bin/sh
# Times the eval module beside the references on the same inputs:
#   IoU pairs/s: shapely (GEOS) and DOTA_devkit polyiou's C++ called per pair from Python
#   (through a ctypes shim, the SWIG module cannot be built here) vs rscovlm (1 thread, all cores);
#   a DOTA-val-sized evaluation (458 images, 15 classes, ~1e6 synthetic detections): DOTA_devkit's
#   voc_eval logic in Python/numpy vs rscovlm end to end.
# Usage: tests/bench/run_eval.sh <build dir configured with -DRSCOVLM_BUILD_BENCHMARKS=ON> [detections]
# The Python evaluation of 1e6 detections takes minutes; pass a smaller count to shorten it.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
ndet=${2:-1000000}
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -std=c++17 -O2 -shared -fPIC -I"$root/include" "$here/eval_polyiou_shim.cpp" -o "$tmp/polyiou_shim.so"
set -- $("$py" "$here/eval_ref.py" iou "$root/tests/data/iou/pairs.jsonl" "$tmp/polyiou_shim.so")
shapely_pps=$1
devkit_pps=$2
echo "reference: shapely $shapely_pps pairs/s, devkit polyiou (per call from Python) $devkit_pps pairs/s"
"$build/bench/bench_eval" write "$tmp/data" "$ndet"
set -- $("$py" "$here/eval_ref.py" eval "$tmp/data" "$tmp/polyiou_shim.so")
echo "reference: DOTA_devkit voc_eval (Python) $1 s, mAP $2"
"$build/bench/bench_eval" run "$tmp/data" "$shapely_pps" "$devkit_pps" "$1"
