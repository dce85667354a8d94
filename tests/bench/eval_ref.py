#!/usr/bin/env python3
"""Reference timings for bench_eval (see run_eval.sh).

  eval_ref.py iou PAIRS.jsonl SHIM.so   -> prints "<shapely pairs/s> <devkit polyiou pairs/s>"
  eval_ref.py eval DIR SHIM.so          -> prints "<seconds> <mAP>"

The DOTA devkit's `polyiou` is a SWIG extension that cannot be built here (no SWIG), so its
C++ routine is reached through a ctypes shim around rscovlm's bit-exact port of it
(eval_polyiou_shim.cpp): one foreign call per pair with a list->array conversion, as in the SWIG
wrapper. `voc_eval` below is DOTA_devkit's dota_evaluation_task1.voc_eval logic, rewritten
with the same numpy operations (including the per-detection Python loop).
"""
import ctypes
import logging
import json
import os
import sys
import time

import numpy as np


def load_shim(path):
    lib = ctypes.CDLL(os.path.abspath(path))
    lib.rscovlm_devkit_polyiou.restype = ctypes.c_double
    lib.rscovlm_devkit_polyiou.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)]
    arr = ctypes.c_double * 8

    def iou_poly(p, q):
        return lib.rscovlm_devkit_polyiou(arr(*p), arr(*q))
    return iou_poly


def bench_iou(pairs_path, shim):
    from shapely.geometry import Polygon
    logging.getLogger("shapely.geos").setLevel(logging.CRITICAL)  # bow-ties: TopologyException noise
    pairs = [json.loads(l) for l in open(pairs_path) if l.strip()]
    quads = [(p["quad1"], p["quad2"]) for p in pairs]

    def shapely_iou(a, b):
        A = Polygon(list(zip(a[0::2], a[1::2])))
        B = Polygon(list(zip(b[0::2], b[1::2])))
        try:
            inter = A.intersection(B).area
        except Exception:
            return 0.0
        union = A.area + B.area - inter
        return inter / union if union > 0 else 0.0

    t0 = time.perf_counter()
    for a, b in quads:
        shapely_iou(a, b)
    t_shapely = time.perf_counter() - t0
    iou_poly = load_shim(shim)
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        for a, b in quads:
            iou_poly(a, b)
    t_devkit = time.perf_counter() - t0
    print("%.1f %.1f" % (len(quads) / t_shapely, reps * len(quads) / t_devkit))


CLASSES = ['plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle', 'large-vehicle', 'ship',
           'tennis-court', 'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout', 'harbor',
           'swimming-pool', 'helicopter']


def parse_gt(filename):
    objects = []
    with open(filename) as f:
        for line in f:
            s = line.strip().split(' ')
            if len(s) < 9:
                continue
            objects.append({'name': s[8], 'difficult': int(s[9]) if len(s) == 10 else 0,
                            'bbox': [float(x) for x in s[:8]]})
    return objects


def voc_ap(rec, prec):
    ap = 0.
    for t in np.arange(0., 1.1, 0.1):
        p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap = ap + p / 11.
    return ap


def voc_eval(detpath, annopath, imagenames, classname, iou_poly, recs, ovthresh=0.5):
    class_recs = {}
    npos = 0
    for imagename in imagenames:
        R = [obj for obj in recs[imagename] if obj['name'] == classname]
        bbox = np.array([x['bbox'] for x in R])
        difficult = np.array([x['difficult'] for x in R]).astype(bool)
        npos = npos + sum(~difficult)
        class_recs[imagename] = {'bbox': bbox, 'difficult': difficult, 'det': [False] * len(R)}
    with open(detpath.format(classname)) as f:
        lines = f.readlines()
    splitlines = [x.strip().split(' ') for x in lines]
    image_ids = [x[0] for x in splitlines]
    confidence = np.array([float(x[1]) for x in splitlines])
    BB = np.array([[float(z) for z in x[2:]] for x in splitlines])
    sorted_ind = np.argsort(-confidence)
    BB = BB[sorted_ind, :]
    image_ids = [image_ids[x] for x in sorted_ind]
    nd = len(image_ids)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d, :].astype(float)
        ovmax = -np.inf
        BBGT = R['bbox'].astype(float)
        if BBGT.size > 0:
            BBGT_xmin = np.min(BBGT[:, 0::2], axis=1)
            BBGT_ymin = np.min(BBGT[:, 1::2], axis=1)
            BBGT_xmax = np.max(BBGT[:, 0::2], axis=1)
            BBGT_ymax = np.max(BBGT[:, 1::2], axis=1)
            bb_xmin, bb_ymin = np.min(bb[0::2]), np.min(bb[1::2])
            bb_xmax, bb_ymax = np.max(bb[0::2]), np.max(bb[1::2])
            ixmin = np.maximum(BBGT_xmin, bb_xmin)
            iymin = np.maximum(BBGT_ymin, bb_ymin)
            ixmax = np.minimum(BBGT_xmax, bb_xmax)
            iymax = np.minimum(BBGT_ymax, bb_ymax)
            iw = np.maximum(ixmax - ixmin + 1., 0.)
            ih = np.maximum(iymax - iymin + 1., 0.)
            inters = iw * ih
            uni = ((bb_xmax - bb_xmin + 1.) * (bb_ymax - bb_ymin + 1.) +
                   (BBGT_xmax - BBGT_xmin + 1.) * (BBGT_ymax - BBGT_ymin + 1.) - inters)
            overlaps = inters / uni
            BBGT_keep = BBGT[overlaps > 0, :]
            BBGT_keep_index = np.where(overlaps > 0)[0]
            if len(BBGT_keep) > 0:
                ov = [iou_poly(list(BBGT_keep[i]), list(bb)) for i in range(len(BBGT_keep))]
                ovmax = np.max(ov)
                jmax = BBGT_keep_index[np.argmax(ov)]
        if ovmax > ovthresh:
            if not R['difficult'][jmax]:
                if not R['det'][jmax]:
                    tp[d] = 1.
                    R['det'][jmax] = 1
                else:
                    fp[d] = 1.
        else:
            fp[d] = 1.
    fp = np.cumsum(fp)
    tp = np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc_ap(rec, prec)


def bench_eval(d, shim):
    iou_poly = load_shim(shim)
    t0 = time.perf_counter()
    imagenames = [x.strip() for x in open(os.path.join(d, 'imageset.txt'))]
    recs = {n: parse_gt(os.path.join(d, 'annotations', n + '.txt')) for n in imagenames}
    total = 0.
    for c in CLASSES:
        total += voc_eval(os.path.join(d, 'detections', 'Task1_{:s}.txt'), None, imagenames, c, iou_poly, recs)
    t = time.perf_counter() - t0
    print("%.3f %.6f" % (t, total / len(CLASSES)))


if __name__ == "__main__":
    if sys.argv[1] == "iou":
        bench_iou(sys.argv[2], sys.argv[3])
    else:
        bench_eval(sys.argv[2], sys.argv[3])
