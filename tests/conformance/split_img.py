#!/usr/bin/env python3
"""Conformance: `rscovlm data split` against mmrotate img_split.py golden fixtures.

Usage: split_img.py <rscovlm cli> <tests/data dir>. Compares patch names, sizes, pixel hashes
(SHA-256 of the RGB pixels) and the annotation files byte for byte.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    cli, data_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    root = os.path.join(data_dir, "img_split")
    failures = []
    checked = 0
    tmp = tempfile.mkdtemp(prefix="rscovlm_split_")
    try:
        for fx in sorted(d for d in os.listdir(root) if d.startswith("fx_")):
            exp = json.load(open(os.path.join(root, fx, "expected.json")))
            common = exp["common_args"]
            pad = common[common.index("--padding-value") + 1: common.index("--padding-value") + 4]
            for cfg, c in sorted(exp["configs"].items()):
                args = c["args"]
                size, gap = args[args.index("--sizes") + 1], args[args.index("--gaps") + 1]
                out = os.path.join(tmp, fx, cfg)
                manifest = os.path.join(tmp, fx + "_" + cfg + ".jsonl")
                cmd = [cli, "--quiet", "data", "split", "--images", os.path.join(root, fx, "images"),
                       "--annotations", os.path.join(root, fx, "annfiles"), "--out", out,
                       "--size", size, "--gap", gap, "--img-rate-thr", "0.6", "--iof-thr", "0.7",
                       "--pad", ",".join(pad), "--threads", "2", "--manifest", manifest]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    failures.append("%s/%s: exit %d: %s" % (fx, cfg, r.returncode, r.stderr.strip()))
                    continue
                got = {}
                for line in open(manifest):
                    rec = json.loads(line)
                    got[rec["name"]] = rec
                names = sorted(p["name"] for p in c["patches"])
                if sorted(got) != names:
                    failures.append("%s/%s: patch names differ: got %s, expected %s" % (fx, cfg, sorted(got), names))
                for p in c["patches"]:
                    g = got.get(p["name"])
                    if g is None:
                        continue
                    checked += 1
                    for k in ("x_start", "y_start", "width", "height", "channels", "window_size"):
                        if g[k] != p[k]:
                            failures.append("%s/%s/%s: %s %r != %r" % (fx, cfg, p["name"], k, g[k], p[k]))
                    if g["sha256_rgb"] != p["sha256_rgb"]:
                        failures.append("%s/%s/%s: pixel hash differs" % (fx, cfg, p["name"]))
                    if not os.path.isfile(os.path.join(out, "images", p["name"])):
                        failures.append("%s/%s/%s: patch image not written" % (fx, cfg, p["name"]))
                    a = open(os.path.join(out, "annfiles", p["id"] + ".txt"), "rb").read()
                    e = open(os.path.join(root, fx, "expected", cfg, "annfiles", p["id"] + ".txt"), "rb").read()
                    if a != e:
                        al, el = a.split(b"\n"), e.split(b"\n")
                        first = next((i for i, (x, y) in enumerate(zip(al, el)) if x != y), min(len(al), len(el)))
                        failures.append("%s/%s/%s.txt differs at line %d (got %d lines, expected %d)"
                                        % (fx, cfg, p["id"], first + 1, len(al), len(el)))
                    elif a.count(b"\n") != p["n_ann_lines"]:
                        failures.append("%s/%s/%s.txt: line count" % (fx, cfg, p["id"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:20]:
        print("FAIL", f)
    print("split_img: %d patches checked, %d failures" % (checked, len(failures)))
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
