#!/usr/bin/env python3
"""Reference timings for bench_resolution: the same steps with Pillow + numpy (the qwen-vl-utils +
transformers slow-processor path), single-threaded, on the images written by bench_resolution.

Usage: resolution_ref.py DIR > ref.json
Prints {name: {decode, resize, normalize_patchify, total, cpu: {same keys}}} in seconds: the best (minimum)
of 5 runs, of the wall-clock time and of the thread CPU time (the minimum is the estimator least disturbed
by other processes on a shared machine; bench_resolution does the same)."""
import io
import json
import math
import os
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def smart_resize(h, w, f=28, mn=64 * 28 * 28, mx=1296 * 28 * 28):
    hb, wb = max(f, round(h / f) * f), max(f, round(w / f) * f)
    if hb * wb > mx:
        b = math.sqrt(h * w / mx)
        hb, wb = math.floor(h / b / f) * f, math.floor(w / b / f) * f
    elif hb * wb < mn:
        b = math.sqrt(mn / (h * w))
        hb, wb = math.ceil(h * b / f) * f, math.ceil(w * b / f) * f
    return hb, wb


def decode(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im.convert("RGB") if im.mode != "RGB" else im


def normalize_patchify(im):
    x = np.array(im).astype(np.float64) * (1 / 255)
    x = x.astype(np.float32)
    x = (x - MEAN) / STD
    x = x.transpose(2, 0, 1)[None]
    x = np.tile(x, (2, 1, 1, 1))
    gh, gw = x.shape[2] // 14, x.shape[3] // 14
    x = x.reshape(1, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gh * gw, 3 * 2 * 14 * 14)


def best(f, n=5):
    """Best wall and thread-CPU seconds of n calls (after one warm-up call), and the last result."""
    r = f()
    ts, cs = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        r = f()
        cs.append(time.thread_time() - c0)
        ts.append(time.perf_counter() - t0)
    return min(ts), min(cs), r


def main():
    d = sys.argv[1]
    out = {}
    for name, ext in (("fhd_1920x1080", ".png"), ("fhd_1920x1080", ".jpg"), ("sq_4000x4000", ".png"),
                      ("sq_4000x4000", ".jpg")):
        key = name if ext == ".png" else name + ".jpg"
        data = open(os.path.join(d, name + ext), "rb").read()
        t_dec, c_dec, im = best(lambda: decode(data))
        h, w = smart_resize(im.height, im.width)
        t_res, c_res, rim = best(lambda: im.resize((w, h), Image.BICUBIC))
        t_norm, c_norm, _ = best(lambda: normalize_patchify(rim))
        t_tot, c_tot, _ = best(lambda: normalize_patchify(decode(data).resize((w, h), Image.BICUBIC)))
        out[key] = {"decode": t_dec, "resize": t_res, "normalize_patchify": t_norm, "total": t_tot,
                     "cpu": {"decode": c_dec, "resize": c_res, "normalize_patchify": c_norm, "total": c_tot}}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
