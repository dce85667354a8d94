#!/usr/bin/env python3
"""Every M-RoPE golden case (tests/data/mrope) through `rscovlm mrope`: identical position ids and
rope_deltas. Video cases use the Qwen2-VL temporal rule (`--model qwen2_vl`).

Usage: mrope.py <rscovlm> <tests/data>."""
import json
import os
import subprocess
import sys


def run(cli, path, model):
    cases = [json.loads(l) for l in open(path) if l.strip()]
    lines = "".join(json.dumps({k: c[k] for k in ("input_ids", "image_grid_thw", "video_grid_thw", "spatial_merge_size")
                                if k in c}) + "\n" for c in cases)
    p = subprocess.run([cli, "mrope", "--model", model], input=lines, capture_output=True, text=True)
    out = [json.loads(l) for l in p.stdout.splitlines()]
    bad = 0
    if p.returncode != 0 or len(out) != len(cases):
        print("FAIL %s: exit %d, %d lines for %d cases: %s" % (path, p.returncode, len(out), len(cases), p.stderr[:300]))
        return len(cases), len(cases)
    for c, o in zip(cases, out):
        if o.get("position_ids") != c["expected_position_ids"] or o.get("rope_deltas") != c["expected_rope_deltas"][0]:
            bad += 1
            print("FAIL %s" % c["id"])
    return len(cases), bad


def main():
    cli, data = sys.argv[1], sys.argv[2]
    n1, b1 = run(cli, os.path.join(data, "mrope", "cases.jsonl"), "qwen2_5_vl")
    n2, b2 = run(cli, os.path.join(data, "mrope", "cases_video_qwen2vl.jsonl"), "qwen2_vl")
    print("mrope: %d image cases (%d wrong), %d video cases (%d wrong)" % (n1, b1, n2, b2))
    return 1 if b1 or b2 else 0


if __name__ == "__main__":
    sys.exit(main())
