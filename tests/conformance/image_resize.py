#!/usr/bin/env python3
"""Every resize golden case (tests/data/image/resize, Pillow 9.4) through `rscovlm resize`; the raw RGB
bytes of each output (written as .npy) must have the golden SHA-256.

Usage: image_resize.py <rscovlm> <tests/data>. Exit 0 when every case is bit-identical."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def npy_payload(path):
    with open(path, "rb") as f:
        b = f.read()
    assert b[:6] == b"\x93NUMPY", path
    hlen = b[8] | (b[9] << 8)
    header = b[10:10 + hlen].decode("latin1")
    return header, b[10 + hlen:]


def main():
    cli, data = sys.argv[1], sys.argv[2]
    d = os.path.join(data, "image", "resize")
    cases = [json.loads(l) for l in open(os.path.join(d, "index.jsonl")) if l.strip()]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        # One batch process (`resize --jsonl`) for all cases, in chunks to bound the temporary files.
        for start in range(0, len(cases), 60):
            chunk = cases[start:start + 60]
            jobs = []
            for i, c in enumerate(chunk):
                mode = "convert" if c["to_rgb"] == "convert" else "composite"
                jobs.append({"in": os.path.join(d, c["src"]), "out": os.path.join(tmp, "%d.npy" % i), "width": c["dst_w"],
                             "height": c["dst_h"], "filter": c["filter"], "to_rgb": mode})
            p = subprocess.run([cli, "resize", "--jsonl"], input="".join(json.dumps(j) + "\n" for j in jobs),
                               capture_output=True, text=True)
            results = [json.loads(l) for l in p.stdout.splitlines()]
            if p.returncode != 0 or len(results) != len(chunk):
                print("FAIL: resize --jsonl exit %d, %d results for %d jobs: %s" % (p.returncode, len(results), len(chunk),
                                                                                   p.stderr[:300]))
                return 1
            for i, (c, r) in enumerate(zip(chunk, results)):
                if "error" in r:
                    bad += 1
                    print("FAIL %s: %s" % (c["id"], r["error"]))
                    continue
                out = os.path.join(tmp, "%d.npy" % i)
                header, payload = npy_payload(out)
                os.remove(out)
                shape = "(%d, %d, 3)" % (c["dst_h"], c["dst_w"])
                if shape not in header or hashlib.sha256(payload).hexdigest() != c["expected_rgb_sha256"]:
                    bad += 1
                    print("FAIL %s (%s %s -> %dx%d): pixels differ" % (c["id"], c["filter"], c["src"], c["dst_w"], c["dst_h"]))
        # The single-image form of the command, once.
        c = cases[0]
        out = os.path.join(tmp, "single.png")
        p = subprocess.run([cli, "resize", "--in", os.path.join(d, c["src"]), "--out", out, "--width", str(c["dst_w"]),
                            "--height", str(c["dst_h"]), "--filter", c["filter"]], capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out) or json.loads(p.stdout)["width"] != c["dst_w"]:
            bad += 1
            print("FAIL single-image resize: exit %d %s" % (p.returncode, p.stderr.strip()))
        p = subprocess.run([cli, "resize", "--in", os.path.join(d, c["src"]), "--out", out], capture_output=True, text=True)
        if p.returncode != 2:
            bad += 1
            print("FAIL: resize without a size should be a usage error (exit 2), got %d" % p.returncode)
    print("resize: %d cases, %d not bit-identical" % (len(cases), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
