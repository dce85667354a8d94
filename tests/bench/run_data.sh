#!/bin/sh
# Data-engine benchmark: split and build throughput on the synthetic UHR scene, beside a
# decode+encode-only baseline measured in the same run, and our split time on the img_split
# fixtures beside mmrotate img_split.py's wall times recorded in tests/data/img_split/generation.json
# (the reference cannot run here: it needs mmrotate's environment; its times come from the fixture
# generation on a 2-core x86-64 machine). Packing: the RSCoVLM packing plan beside the Python
# reference logic (tests/data/packing/bench_reference.py, run by the benchmark in the same run),
# flattening into packed rows, and a packed build.
# Usage: tests/bench/run_data.sh <build dir configured with -DRSCOVLM_BUILD_BENCHMARKS=ON> [uhr|small|packing] [threads]
set -e
build=${1:-build}
"$build/bench/bench_data" "${2:-uhr}" "${3:-0}"
