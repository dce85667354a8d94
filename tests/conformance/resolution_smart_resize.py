#!/usr/bin/env python3
"""Every smart_resize golden case (tests/data/image/smart_resize.jsonl) through `rscovlm smart-resize`.

Usage: resolution_smart_resize.py <rscovlm> <tests/data>. Exit 0 when every case matches."""
import json
import os
import subprocess
import sys


def main():
    cli, data = sys.argv[1], sys.argv[2]
    cases = [json.loads(l) for l in open(os.path.join(data, "image", "smart_resize.jsonl")) if l.strip()]
    lines = "".join(json.dumps({k: c[k] for k in ("h", "w", "factor", "min_pixels", "max_pixels")})
                    .replace('"h"', '"height"').replace('"w"', '"width"') + "\n" for c in cases)
    p = subprocess.run([cli, "smart-resize"], input=lines, capture_output=True, text=True)
    out = [json.loads(l) for l in p.stdout.splitlines()]
    if len(out) != len(cases):
        print("expected %d output lines, got %d; stderr: %s" % (len(cases), len(out), p.stderr[:500]))
        return 1
    bad = errors = 0
    for c, o in zip(cases, out):
        if c["expected"] == "error":
            errors += 1
            want = "zero_size" if c.get("error_type") == "ZeroDivisionError" else "aspect_ratio"
            if "error" not in o or ("rscovlm.resolution." + want) not in o["error"]:
                bad += 1
                print("FAIL %s: expected error %s, got %s" % (c["id"], want, o))
        elif o.get("height") != c["expected"][0] or o.get("width") != c["expected"][1]:
            bad += 1
            print("FAIL %s: %dx%d expected %s, got %s" % (c["id"], c["h"], c["w"], c["expected"], o))
    if errors and p.returncode != 1:
        print("exit code %d, expected 1 (some lines are errors)" % p.returncode)
        bad += 1
    print("smart_resize: %d cases (%d errors), %d mismatches" % (len(cases), errors, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
