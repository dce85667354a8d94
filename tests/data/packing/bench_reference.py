#!/usr/bin/env python3
"""Times the reference packing plan (reference_packing.plan_packs, the numpy-free port of binpacking
1.5.2 + PackingMapDataset) on the lengths bench_data.cpp generates, so the benchmark can print the
ratio measured in the same run.

Usage: bench_reference.py N [max_length] [packing_interval]  ->  prints "<seconds> <groups>"
Lengths: 64-bit LCG x = x * 6364136223846793005 + 1442695040888963407 (mod 2^64) from x = 1,
length = 200 + (x >> 33) % 6300, the same sequence as bench_data.cpp.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_packing as ref  # noqa: E402


def lengths(n):
    x, out = 1, []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append(200 + (x >> 33) % 6300)
    return out


def main():
    n = int(sys.argv[1])
    max_length = int(sys.argv[2]) if len(sys.argv) > 2 else 6144
    interval = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    items = list(enumerate(lengths(n)))
    t0 = time.perf_counter()
    groups = ref.plan_packs(items, max_length, interval)
    print("%.6f %d" % (time.perf_counter() - t0, len(groups)))


if __name__ == "__main__":
    main()
