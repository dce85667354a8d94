#!/usr/bin/env python3
"""Writes golden.json: packing plans, flattened packs and padded batches of the reference logic.

Usage: make_golden.py [--binpacking-src DIR]
With --binpacking-src (a checkout of https://github.com/benmaier/binpacking at tag v1.5.2), every
plan is also computed with that release's own `to_constant_volume` and must equal the port's.
"""
import argparse
import json
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_packing as ref  # noqa: E402


def load_binpacking(src):
    # binpacking 1.5.2 imports `past.builtins.basestring` (python-future); stub it for Python 3.
    past = types.ModuleType("past")
    pb = types.ModuleType("past.builtins")
    pb.basestring = str
    past.builtins = pb
    sys.modules.setdefault("past", past)
    sys.modules.setdefault("past.builtins", pb)
    sys.path.insert(0, src)
    from binpacking import to_constant_volume  # noqa: E402
    return to_constant_volume


def plan_with(tcv, items, max_length, interval):
    """PackingMapDataset.cache_indices (one worker) on top of a given to_constant_volume."""
    out, buf = [], []
    for it in items:
        buf.append(it)
        if len(buf) >= interval:
            groups = tcv(buf, max_length, weight_pos=-1)
            if groups:
                groups, buf = groups[:-1], groups[-1]
            out.extend([[i for i, _ in g] for g in groups])
    if buf:
        groups = tcv(buf, max_length, weight_pos=-1)
        out.extend([[i for i, _ in g] for g in groups])
    return out


def plan_cases(rng):
    cases = []
    def add(name, lengths, max_length, interval, ids=None):
        ids = list(range(len(lengths))) if ids is None else ids
        cases.append({"name": name, "max_length": max_length, "packing_interval": interval,
                      "items": [[int(i), int(l)] for i, l in zip(ids, lengths)]})
    add("tiny", [5, 3, 8, 2, 7, 1], 10, 64)
    add("ties_keep_input_order", [4, 4, 4, 4, 2, 2, 6, 6], 8, 64)
    add("oversize_first", [12, 3, 3, 11, 2], 10, 64)
    add("oversize_later", [3, 12, 3, 3, 15, 9], 10, 3)
    add("exact_fit", [5, 5, 10, 10, 1, 9], 10, 4)
    add("interval_1", [3, 4, 5, 6, 7, 8, 2, 1], 10, 1)
    add("interval_2", [3, 4, 5, 6, 7, 8, 2, 1], 10, 2)
    add("single_bin_grows_buffer", [1] * 20, 100, 4)
    add("ids_not_positions", [300, 200, 500, 100], 600, 2, ids=[17, 3, 42, 8])
    add("rscovlm_6144_interval_64", rng.integers(200, 6500, size=400).tolist(), 6144, 64)
    add("rscovlm_4096_interval_32", rng.integers(50, 3000, size=300).tolist(), 4096, 32)
    add("many_ties", rng.choice([512, 1024, 1536], size=200).tolist(), 6144, 64)
    return cases


def member(rng, n_tokens, n_images, width=4):
    ids = rng.integers(0, 151000, size=n_tokens).tolist()
    labels = [i if rng.random() < 0.4 else -100 for i in ids]
    pos = rng.integers(0, 500, size=(3, n_tokens)).tolist()
    grids = [[1, int(2 * rng.integers(1, 4)), int(2 * rng.integers(1, 4))] for _ in range(n_images)]
    rows = sum(g[0] * g[1] * g[2] for g in grids)
    pix = np.round(rng.standard_normal((rows, width)), 3).astype(np.float32).tolist()
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "image_grid_thw": grids, "pixel_values": pix}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binpacking-src")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(20250601)
    tcv = load_binpacking(args.binpacking_src) if args.binpacking_src else None

    plans = plan_cases(rng)
    for c in plans:
        items = [tuple(it) for it in c["items"]]
        c["groups"] = ref.plan_packs(items, c["max_length"], c["packing_interval"])
        if tcv is not None:
            real = plan_with(tcv, items, c["max_length"], c["packing_interval"])
            if real != c["groups"]:
                raise SystemExit("port differs from binpacking on %s" % c["name"])
        bins = ref.to_constant_volume([l for _, l in items], c["max_length"], lambda w: w)
        if tcv is not None and bins != tcv([l for _, l in items], c["max_length"]):
            raise SystemExit("port differs from binpacking (plain weights) on %s" % c["name"])

    flat = []
    for name, sizes, max_length in [("two_members", [(7, 1), (5, 0)], 0), ("three_members_fit", [(4, 0), (9, 2), (3, 1)], 64),
                                    ("truncated", [(12, 1), (6, 1)], 15), ("single_oversize", [(20, 2)], 8)]:
        ms = [member(rng, n, k) for n, k in sizes]
        flat.append({"name": name, "max_length": max_length, "members": ms, "expected": ref.flatten_pack(ms, max_length)})
        flat.append({"name": name + "_no_mask", "max_length": max_length, "mask_first_label": False, "members": ms,
                     "expected": ref.flatten_pack(ms, max_length, mask_first_label=False)})

    padded = []
    for name, sizes, max_length in [("batch_of_3", [(5, 1), (9, 0), (2, 1)], 0), ("cut_to_6", [(5, 1), (9, 2)], 6),
                                    ("single", [(4, 0)], 100)]:
        ms = [member(rng, n, k) for n, k in sizes]
        padded.append({"name": name, "max_length": max_length, "pad_token_id": 151643, "examples": ms,
                       "expected": ref.collate_padded(ms, 151643, max_length)})

    with open(args.out, "w") as f:
        json.dump({"plans": plans, "flatten": flat, "padded": padded}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d plans%s)" % (args.out, len(plans), ", checked against binpacking" if tcv else ""))


if __name__ == "__main__":
    main()
