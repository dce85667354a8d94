#!/usr/bin/env python3
"""Regenerates the GeoChat referring golden by running RSCoVLM's compute_geochat_referring_acc.

    python3 make_referring_golden.py --rscovlm PATH [--out DIR]

--rscovlm is a checkout of github.com/VisionXLab/RSCoVLM. The function runs with the real numpy
and shapely (Debian: python3-numpy, python3-shapely); it also uses a few torch tensor operations
(float32 tensors, `* python_float`, `zeros`, `topk(k=1)`, `flatten`, `view`, row/column
assignment), which this script provides with a small numpy-backed stand-in that follows torch's
rules for them: a float32 tensor times a Python float is computed and stored in float32, and
`topk(k=1)` returns the first of equal maxima. pycocoevalcap is not needed (an empty stand-in is
registered for `pycocoevalcap.cider.cider`).

Writes referring.json: {"samples": [...], "plain": {...}, "json": {...}} where each sample has
the text `output`, the parsed boxes as the reference reads them (`pred`), `gt`, the image sizes and
the grouping fields, and "plain" / "json" hold the reference's result table for the two prompt
types (the json samples are the same boxes written as the JSON the reference expects).
"""

import argparse
import importlib.util
import json
import os
import sys
import types

import numpy as np


class Tensor:
    """The torch operations compute_geochat_referring_acc uses, on a float32 (or int64) array."""

    def __init__(self, a):
        self.a = np.asarray(a)

    # shape
    def dim(self):
        return self.a.ndim

    @property
    def shape(self):
        return self.a.shape

    def size(self, i=None):
        return self.a.shape if i is None else self.a.shape[i]

    def view(self, *shape):
        return Tensor(self.a.reshape(shape))

    def flatten(self, start=0, end=-1):
        assert (start, end) in ((0, 1), (0, -1))
        return Tensor(self.a.reshape(-1))

    # element access
    def __len__(self):
        return len(self.a)

    def __iter__(self):
        for x in self.a:
            yield Tensor(x)

    def __getitem__(self, k):
        return Tensor(self.a[k.a if isinstance(k, Tensor) else k])

    def __setitem__(self, k, v):
        self.a[k] = v

    def __index__(self):
        return int(self.a)

    def __float__(self):
        return float(self.a)

    def __array__(self, dtype=None):
        return self.a if dtype is None else self.a.astype(dtype)

    # arithmetic: a Python scalar does not promote a float32 tensor; the result stays float32
    def _other(self, o):
        if isinstance(o, Tensor):
            return o.a
        if isinstance(o, float) and self.a.dtype == np.float32:
            return np.float32(o)
        return o

    def __mul__(self, o):
        return Tensor(np.multiply(self.a, self._other(o), dtype=self.a.dtype if self.a.dtype == np.float32 else None))

    __rmul__ = __mul__

    def __sub__(self, o):
        return Tensor(np.subtract(self.a, self._other(o), dtype=np.float32 if self.a.dtype == np.float32 else None))

    def __floordiv__(self, o):
        return Tensor(self.a // o)

    def __mod__(self, o):
        return Tensor(self.a % o)

    def __lt__(self, o):
        return bool(self.a < self._other(o))


def make_torch():
    torch = types.ModuleType("torch")
    torch.float32 = np.float32
    torch.Tensor = Tensor

    def tensor(data, dtype=None):
        return Tensor(np.array(data, dtype=dtype))

    def zeros(shape, dtype=None):
        return Tensor(np.zeros(shape, dtype=dtype))

    def topk(t, k):
        assert k == 1
        i = int(np.argmax(t.a))
        return Tensor(t.a[i:i + 1]), Tensor(np.array([i], dtype=np.int64))

    torch.tensor, torch.zeros, torch.topk = tensor, zeros, topk
    sys.modules["torch"] = torch
    for name in ("torchvision", "torchvision.ops"):
        sys.modules[name] = types.ModuleType(name)
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.box_area = None
    sys.modules["torchvision.ops.boxes"] = boxes
    for name in ("pycocoevalcap", "pycocoevalcap.cider"):
        sys.modules[name] = types.ModuleType(name)
    cider = types.ModuleType("pycocoevalcap.cider.cider")
    cider.Cider = None
    sys.modules["pycocoevalcap.cider.cider"] = cider


SAMPLES = [
    # (plain output, gt boxes, (orig w, orig h, resized w, resized h), size_group, type, obj_ids)
    ("10,10,50,50", [[10, 10, 50, 50]], (100, 100, 100, 100), "small", "ship", [1]),
    ("10,10,50,50", [[12, 12, 52, 52]], (100, 100, 100, 100), "small", "ship", [1]),
    ("10,10,50,50", [[30, 30, 70, 70]], (100, 100, 100, 100), "small", "plane", [1]),
    ("0,0,20,20 40,40,60,60", [[0, 0, 20, 20], [41, 40, 60, 61]], (200, 100, 100, 50), "medium", "ship", [1, 2]),
    ("0,0,20,20", [[0, 0, 20, 20], [40, 40, 60, 60]], (100, 100, 100, 100), "medium", "car", [1, 2]),
    ("0,0,20,20 40,40,60,60 80,80,90,90", [[0, 0, 20, 20], [40, 40, 60, 60]], (100, 100, 100, 100), "large",
     "car", [1, 2]),
    ("10,10,60,10,60,40,10,40", [[10, 10, 60, 40]], (1000, 800, 560, 448), "small", "plane", [3]),
    ("60,10,10,10,10,40,60,40", [[10, 10, 60, 10, 60, 40, 10, 40]], (100, 100, 100, 100), "small", "plane", [3]),
    ("5,5,45,5,45,45,5,45", [[20, 0, 40, 20, 20, 40, 0, 20]], (100, 100, 100, 100), "large", "tank", [4]),
    ("100,100,300,300", [[100, 100, 300, 300]], (1024, 1024, 512, 512), "large", "tank", [5]),
    ("0,0,10,30", [[0, 0, 10, 29]], (333, 333, 999, 999), "small", "ship", [6]),
    ("the box is 7,7,27,27 and also 50,50,70,70", [[50, 50, 70, 70], [7, 7, 27, 27]], (100, 100, 100, 100),
     "medium", "ship", [1, 2]),
    ("10,10,10,50", [[10, 10, 10, 50]], (100, 100, 100, 100), "small", "bridge", [7]),
    ("0,0,40,40", [[0, 0, 40, 20]], (100, 100, 100, 100), "small", "bridge", [7]),
    ("0,0,40,40", [[0, 0, 40, 21]], (100, 100, 100, 100), "small", "bridge", [7]),
    ("20,20,40,40 21,21,41,41", [[20, 20, 40, 40], [22, 22, 42, 42]], (640, 480, 644, 476), "medium", "car", [8, 9]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rscovlm", required=True)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    make_torch()
    spec = importlib.util.spec_from_file_location(
        "rscovlm_metric", os.path.join(args.rscovlm, "rscovlm", "eval", "metric", "metric.py"))
    metric = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metric)

    import re
    plain, js, recorded = [], [], []
    for out, gt, (ow, oh, rw, rh), size, typ, ids in SAMPLES:
        base = {"ground_truth": gt, "original_width": ow, "original_height": oh, "resized_width": rw,
                "resized_height": rh, "size_group": size, "type": typ, "obj_ids": ids}
        boxes = re.findall(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", out) or \
            re.findall(r"(\d+),(\d+),(\d+),(\d+)", out)
        boxes = [[int(c) for c in b] for b in boxes]
        plain.append(dict(base, output=out))
        json_out = "```json\n" + json.dumps([{"bbox_2d": b, "label": typ} for b in boxes]) + "\n```"
        js.append(dict(base, output=json_out))
        recorded.append({"output": out, "json_output": json_out, "pred": boxes, "gt": gt, "original_width": ow,
                         "original_height": oh, "resized_width": rw, "resized_height": rh, "size_group": size,
                         "type": typ, "obj_ids": ids})
    result = {
        "samples": recorded,
        "plain": metric.compute_geochat_referring_acc(plain, prompt_type="plain"),
        "json": metric.compute_geochat_referring_acc(js, prompt_type="json"),
        "giou": [[float(metric.polygon_giou(Tensor(np.array(p, dtype=np.float32)),
                                            Tensor(np.array(g, dtype=np.float32)), s["original_width"] /
                                            s["resized_width"], s["original_height"] / s["resized_height"]))
                  for p in s["pred"] for g in s["gt"]] for s in recorded],
    }
    with open(os.path.join(args.out, "referring.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
