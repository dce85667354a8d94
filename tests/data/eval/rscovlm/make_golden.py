#!/usr/bin/env python3
"""Regenerates the goldens of RSCoVLM's own metric functions by running them.

    python3 make_golden.py --rscovlm PATH --pycocoevalcap PATH [--out DIR]

--rscovlm is a checkout of github.com/VisionXLab/RSCoVLM, --pycocoevalcap one of
github.com/salaniz/pycocoevalcap (or tylin/coco-caption). The reference modules are loaded from
their files: `rscovlm/eval/metric/vhm_bench.py` needs nothing else; `rscovlm/eval/metric/metric.py`
imports torch, torchvision and shapely at module level, which the functions run here
(`compute_cider`) do not use, so empty stand-ins are registered for them.

Writes:
  vhm.json    pairs and the reference's per-pair results and benchmark scores:
              "contain": eval_contain per pair and compute_vhm_scores' accuracy;
              "counting": eval_counting_mae per pair and compute_vhm_scores' counting_mae/_mape;
              "parse_number": parse_number of assorted texts.
  cider.json  records ({"pred", "refs"}) and compute_cider's {"CIDEr"}.
Floats are written with Python's repr, which round-trips exactly.

numpy 1.22+ computes float64 `np.log` with its own AVX-512F code on CPUs that have it, and that
code rounds about a quarter of the logarithms of integers differently (last bit) from the C
library's `log`, so CIDEr's last bits depend on the CPU. The goldens pin the C library's result:
this script turns numpy's AVX-512 code paths off (NPY_DISABLE_CPU_FEATURES, read when numpy is
first imported) unless --keep-avx512 is given.
"""

import argparse
import importlib.util
import json
import os
import sys
import types

AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"


def load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stub(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def load_metric_py(rscovlm, pycocoevalcap):
    root = pycocoevalcap
    if os.path.isdir(os.path.join(root, "pycocoevalcap")):
        root = os.path.join(root, "pycocoevalcap")
    pkg = types.ModuleType("pycocoevalcap")
    pkg.__path__ = [os.path.abspath(root)]
    sys.modules["pycocoevalcap"] = pkg
    unused = object()
    stub("torch", Tensor=unused)
    stub("torchvision")
    stub("torchvision.ops")
    stub("torchvision.ops.boxes", box_area=unused)
    stub("shapely")
    stub("shapely.geometry", Polygon=unused, MultiPolygon=unused)
    stub("shapely.ops", unary_union=unused)
    return load_file("rscovlm_metric", os.path.join(rscovlm, "rscovlm", "eval", "metric", "metric.py"))


CONTAIN = [
    ("Yes", "yes"), ("yes.", "Yes"), ("no", "yes"), ("The answer is rural.", "rural"), ("urban", "Urban area."),
    ("  residential  ", "dense residential"), ("", "yes"), ("airport", ""), (".", "."), ("A Beach", "beach"),
    ("river", "lake"), ("forest.", "forest"), ("two", "twenty"), ("twenty", "two"), ("Parking lot", "parking"),
    ("harbor", "Harbour"), ("...", "x"), ("Medium residential", "medium_residential"), ("YES", "no"),
    ("caf\u00e9", "caf\u00e9"),
]

COUNTING = [
    ("3", 3), ("There are 5 planes.", 4), ("seven", 7), ("Twelve ships", 10), ("twenty-one", 20),
    ("about 12 or 13", 12), ("0", 2), ("10.", 8), ("I count forty cars", 50), ("007", 7),
    ("ninety-nine", 100), ("1 2 3", 3), ("The image shows 250 vehicles", 200), ("one", 1), ("zero", 3),
    ("Eleven.", 11), ("  6  ", 6), ("2.5", 2), ("thirty five", 35), ("no digits but nine", 9),
]

PARSE = [
    "3", "abc", "there are 4 ships", "seven cars", "twenty-one", "Twenty-One", "thirty five", "one two",
    "100 and 5", "", "hundred", "x9y", "nineteen.", "nineteen", "forty-two planes", "fourty", "zero",
]

CAPTIONS = [
    ("Many planes are parked at the Airport.", ["Several planes are parked at an airport.",
                                                "Many airplanes parked near the terminal.", "An airport."]),
    ("A River goes through the city", ["A river flows through the city.", "the city has a river"]),
    ("green TREES", ["Green trees and a road", "some trees"]),
    ("", ["A baseball field"]),
    ("A bridge, over a river.", ["A bridge over a river", "A bridge crosses the river."]),
    ("Dense residential area", ["A dense residential area with many houses.", "Many buildings.",
                                "Dense houses", "residential area"]),
    ("two storage tanks", ["Two white storage tanks.", "Storage tanks"]),
    ("The beach", ["The beach and the sea", "A beach"]),
    ("a  parking lot", ["A parking lot full of cars", "A parking lot"]),
    ("ships in the harbor", ["Ships in the harbor", "Many ships in a harbor near the port"]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rscovlm", required=True)
    ap.add_argument("--pycocoevalcap", required=True)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--keep-avx512", action="store_true", help="let numpy use its AVX-512 code paths")
    args = ap.parse_args()
    if not args.keep_avx512:
        os.environ["NPY_DISABLE_CPU_FEATURES"] = AVX512

    vhm = load_file("rscovlm_vhm_bench", os.path.join(args.rscovlm, "rscovlm", "eval", "metric", "vhm_bench.py"))
    contain = [{"pred": p, "gt": g, "match": bool(vhm.eval_contain(p, g))} for p, g in CONTAIN]
    counting = []
    for p, g in COUNTING:
        mae, mape = vhm.eval_counting_mae(p, g)
        counting.append({"pred": p, "gt": g, "abs_error": mae, "rel_error": float(mape)})
    items = [{"ground_truth": g, "output": p, "image_path": "rsvqa_hr"} for p, g in CONTAIN]
    items += [{"ground_truth": g, "output": p, "image_path": "counting_dota-test_open"} for p, g in COUNTING]
    scores = vhm.compute_vhm_scores(items)
    out = {
        "contain": {"pairs": contain, "acc": scores["rsvqa_hr"]},
        "counting": {"pairs": counting, "mae": scores["counting_mae"], "mape": scores["counting_mape"]},
        "parse_number": [{"text": t, "number": vhm.parse_number(t)} for t in PARSE],
    }
    with open(os.path.join(args.out, "vhm.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")

    metric = load_metric_py(args.rscovlm, args.pycocoevalcap)
    data = [{"output": p, "ground_truth": refs} for p, refs in CAPTIONS]
    cider = metric.compute_cider(data)
    with open(os.path.join(args.out, "cider.json"), "w", encoding="utf-8") as f:
        json.dump({"records": [{"pred": p, "refs": r} for p, r in CAPTIONS], "CIDEr": float(cider["CIDEr"])}, f,
                  indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
