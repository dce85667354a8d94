#!/usr/bin/env python3
"""Conformance: `rscovlm geom iou` on the golden IoU pairs (tests/data/iou/pairs.jsonl).

* --method exact: within 1e-6 of shapely/GEOS where GEOS accepts both polygons (of polyiou for
  iou-pub-05450, where GEOS is wrong on touching boxes), of shapely make_valid for bow-ties;
* --method devkit: bit-identical to DOTA_devkit polyiou.iou_poly;
* --method mmcv: bit-identical to mmcv's float32 box_iou_rotated (rbox pairs, float32 inputs) and
  box_iou_quadri (quad pairs).
Usage: iou.py CLI DATA_DIR
"""
import json
import math
import subprocess
import sys


def run(cli, args, lines):
    p = subprocess.run([cli] + args, input="".join(json.dumps(l) + "\n" for l in lines),
                       capture_output=True, text=True)
    out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    if len(out) != len(lines):
        sys.exit("%s: %d outputs for %d inputs (rc %d): %s" % (args, len(out), len(lines), p.returncode, p.stderr[:300]))
    return out


def num(v):
    if v is None:
        return float("nan")
    if isinstance(v, str):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[v]
    return float(v)


def same(a, b):
    a, b = num(a), num(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def main():
    cli, data = sys.argv[1], sys.argv[2]
    pairs = [json.loads(l) for l in open(data + "/iou/pairs.jsonl") if l.strip()]
    fails = []
    exact = run(cli, ["geom", "iou"], [{"a": p["quad1"], "b": p["quad2"]} for p in pairs])
    checked = 0
    for p, o in zip(pairs, exact):
        s = p["shapely"]
        ref = None
        if "make_valid_iou" in p:
            ref = p["make_valid_iou"]
        elif s["error"] is None and all(s["valid"]):
            ref = num(p["polyiou"]) if p["id"] == "iou-pub-05450" else num(s["iou"])
        if ref is not None:
            checked += 1
            if o.get("iou") is None or abs(o["iou"] - ref) > 1e-6:
                fails.append("exact %s: %r vs %r" % (p["id"], o, ref))
    devkit = run(cli, ["geom", "iou", "--method", "devkit"], [{"a": p["quad1"], "b": p["quad2"]} for p in pairs])
    for p, o in zip(pairs, devkit):
        if not same(o.get("iou"), p["polyiou"]):
            fails.append("devkit %s: %r vs %r" % (p["id"], o, p["polyiou"]))
    rb = [p for p in pairs if "mmcv_rotated_f32" in p]
    mm = run(cli, ["geom", "iou", "--method", "mmcv", "--iof"],
             [{"a": p["mmcv_rotated_f32"]["input1"], "b": p["mmcv_rotated_f32"]["input2"]} for p in rb])
    for p, o in zip(rb, mm):
        m = p["mmcv_rotated_f32"]
        if not (same(o.get("iou"), m["iou"]) and same(o.get("iof"), m["iof"])):
            fails.append("mmcv rotated %s: %r vs %r/%r" % (p["id"], o, m["iou"], m["iof"]))
    mq = run(cli, ["geom", "iou", "--method", "mmcv", "--iof"], [{"a": p["quad1"], "b": p["quad2"]} for p in pairs])
    for p, o in zip(pairs, mq):
        m = p["mmcv_quadri_f32"]
        if not (same(o.get("iou"), m["iou"]) and same(o.get("iof"), m["iof"])):
            fails.append("mmcv quadri %s: %r vs %r/%r" % (p["id"], o, m["iou"], m["iof"]))
    print("iou: %d pairs (%d exact checks, %d mmcv rotated); %d failures" % (len(pairs), checked, len(rb), len(fails)))
    for f in fails[:20]:
        print("  " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
