#!/usr/bin/env python3
"""Conformance: `rscovlm eval dota` on every DOTA fixture in tests/data/dota_eval, both protocols:
DOTA_devkit (voc07 and area; per-class AP, ranking and TP flags, mAP or its failure) and mmrotate
1.x eval_rbbox_map (rbox/qbox, diff_thr 100/0, 11points/area; per-class AP and mAP), to 1e-6.
Usage: eval_dota.py CLI DATA_DIR
"""
import json
import math
import os
import subprocess
import sys

FIXTURES = ["pub_basic", "pub_fullprec_dups", "pub_all_scores_one", "pub_edge_cases", "pub_label_headers"]


def num(v):
    if v is None:
        return float("nan")
    if isinstance(v, str):
        return float("nan") if v == "NaN" else float("inf")
    return float(v)


def close(a, b):
    a, b = num(a), num(b)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-6


def run(cli, d, extra):
    args = [cli, "eval", "dota", "--gt", os.path.join(d, "annotations"), "--det", os.path.join(d, "detections"),
            "--imageset", os.path.join(d, "imageset.txt")] + extra
    p = subprocess.run(args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    cli, data = sys.argv[1], sys.argv[2]
    fails, runs = [], 0
    for fx in FIXTURES:
        d = os.path.join(data, "dota_eval", fx)
        exp = json.load(open(os.path.join(d, "expected.json")))
        for key, metric in (("use_07_metric=True", "voc07"), ("use_07_metric=False", "area")):
            rc, out, err = run(cli, d, ["--protocol", "devkit", "--metric", metric, "--details"])
            runs += 1
            if rc != 0:
                fails.append("%s devkit %s: rc %d %s" % (fx, metric, rc, err.strip()))
                continue
            got = json.loads(out)
            ex = exp["dota_devkit"][key]
            by_class = {c["class"]: c for c in got["classes"]}
            for cls, pc in ex["per_class"].items():
                g = by_class[cls]
                if "error" in pc:
                    if "error" not in g:
                        fails.append("%s devkit %s %s: expected an error" % (fx, metric, cls))
                    continue
                if not close(g["ap"], pc["ap"]) or g["order"] != pc["sorted_order"] or g["tp"] != pc["tp"]:
                    fails.append("%s devkit %s %s: ap %r vs %r" % (fx, metric, cls, g["ap"], pc["ap"]))
            if not close(got["mAP"], ex["map"]):
                fails.append("%s devkit %s: mAP %r vs %r" % (fx, metric, got["mAP"], ex["map"]))
        for key, ex in exp["mmrotate"].items():
            parts = key.split(",")
            box, diff = parts[0], parts[1].split("=")[1]
            metric = "area" if key.endswith("area") else "voc07"
            rc, out, err = run(cli, d, ["--protocol", "mmrotate", "--box", box, "--diff-thr", diff, "--metric", metric])
            runs += 1
            if isinstance(ex, str) or "error" in ex:
                if rc == 0 or "bad_annotation" not in err:
                    fails.append("%s mmrotate %s: expected bad_annotation, got rc %d" % (fx, key, rc))
                continue
            if rc != 0:
                fails.append("%s mmrotate %s: rc %d %s" % (fx, key, rc, err.strip()))
                continue
            got = json.loads(out)
            for cls, pc in ex["per_class"].items():
                if not close(got["ap"][cls], pc["ap"]):
                    fails.append("%s mmrotate %s %s: ap %r vs %r" % (fx, key, cls, got["ap"][cls], pc["ap"]))
            if not close(got["mAP"], ex["mAP"]):
                fails.append("%s mmrotate %s: mAP %r vs %r" % (fx, key, got["mAP"], ex["mAP"]))
    print("eval_dota: %d fixtures, %d evaluations, %d failures" % (len(FIXTURES), runs, len(fails)))
    for f in fails[:20]:
        print("  " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
