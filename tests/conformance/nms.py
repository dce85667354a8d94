#!/usr/bin/env python3
"""Conformance: `rscovlm nms` on the golden rotated-NMS sets (tests/data/nms_rotated/sets.jsonl):
kept indices, in keep order, equal to DOTA_devkit py_cpu_nms_poly / py_cpu_nms_poly_fast and to
mmcv nms_rotated (float32; sets with distinct scores) at IoU 0.1 and 0.5.
Usage: nms.py CLI DATA_DIR
"""
import json
import subprocess
import sys


def run(cli, args, lines):
    p = subprocess.run([cli] + args, input="".join(json.dumps(l) + "\n" for l in lines),
                       capture_output=True, text=True)
    out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    if len(out) != len(lines):
        sys.exit("%s: %d outputs for %d inputs (rc %d): %s" % (args, len(out), len(lines), p.returncode, p.stderr[:300]))
    return out


def main():
    cli, data = sys.argv[1], sys.argv[2]
    sets = [json.loads(l) for l in open(data + "/nms_rotated/sets.jsonl") if l.strip()]
    fails, checks = [], 0
    for thr in ("0.1", "0.5"):
        for method, key in (("devkit", "py_cpu_nms_poly"), ("devkit_fast", "py_cpu_nms_poly_fast")):
            out = run(cli, ["nms", "--iou", thr, "--method", method],
                      [{"boxes": [d[:8] for d in s["dets"]], "scores": [d[8] for d in s["dets"]]} for s in sets])
            for s, o in zip(sets, out):
                checks += 1
                if o.get("keep") != s["keep"][key + "@" + thr]:
                    fails.append("%s %s@%s: %r vs %r" % (s["id"], method, thr, o, s["keep"][key + "@" + thr]))
        mm = [s for s in sets if isinstance(s["keep"].get("mmcv_nms_rotated_f32@" + thr), list) and s["rboxes"]]
        out = run(cli, ["nms", "--iou", thr, "--method", "mmcv"],
                  [{"boxes": s["rboxes"], "scores": [d[8] for d in s["dets"]]} for s in mm])
        for s, o in zip(mm, out):
            checks += 1
            if o.get("keep") != s["keep"]["mmcv_nms_rotated_f32@" + thr]:
                fails.append("%s mmcv@%s: %r vs %r" % (s["id"], thr, o, s["keep"]["mmcv_nms_rotated_f32@" + thr]))
    print("nms: %d sets, %d comparisons, %d failures" % (len(sets), checks, len(fails)))
    for f in fails[:20]:
        print("  " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
