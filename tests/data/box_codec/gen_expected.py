#!/usr/bin/python3
"""Writes expected.jsonl: training answers for sampled annotations, built with the reference's
rules (RSCoVLM rscovlm/training/data/dense_det_dataset.py: class display names and ranks, int()
frame mapping, (rank, y1, x1) ordering, cv2.minAreaRect OBB rule, clockwise vertex
normalisation, json.dumps objects; LMMRotate playground/convert_dota_for_sft.py for Florence-2).
Needs Python 3 with numpy, OpenCV 4.6 and torch-free float32 maths (numpy). Deterministic (seed 7).
"""
import json
import math
import random

import cv2
import numpy as np

DOTA = ['plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle', 'large-vehicle', 'ship',
        'tennis-court', 'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout', 'harbor',
        'swimming-pool', 'helicopter']


def display(name):
    return name.replace('-', ' ').lower()


def ranks(classes, lower=True):
    key = (lambda s: s.replace('-', ' ').lower()) if lower else (lambda s: s.replace('-', ' '))
    srt = sorted(classes, key=key)
    return {c: srt.index(c) for c in classes}, ', '.join(display(c) for c in sorted(classes, key=lambda s: s.replace('-', ' ').lower()))


def to_obb(seg):
    pts = np.array(seg).astype(int).reshape(-1, 2)
    (x, y), (w, h), a = cv2.minAreaRect(pts)
    if w < h:
        w, h = h, w
        a += 90
    while not 90 > a >= -90:
        a = a - 180 if a >= 90 else a + 180
    return [int(x), int(y), int(w), int(h), int(a)]


def order_vertices(poly, clockwise=True):
    pts = [(poly[i], poly[i + 1]) for i in range(0, 8, 2)]
    cx = sum(p[0] for p in pts) / 4
    cy = sum(p[1] for p in pts) / 4
    pts.sort(key=lambda p: math.atan2(p[1] - cy, p[0] - cx), reverse=not clockwise)
    first = pts.index(min(pts, key=lambda p: (p[1], p[0])))
    pts = pts[first:] + pts[:first]
    return [v for p in pts for v in p]


def answers(sample):
    classes, ow, oh, rw, rh = sample['classes'], sample['orig_size'][0], sample['orig_size'][1], sample['resized_size'][0], sample['resized_size'][1]
    rank, _ = ranks(classes)
    anns = []
    for o in sample['objects']:
        poly = o['poly']
        xs, ys = poly[0::2], poly[1::2]
        x1, y1 = min(xs), min(ys)
        bbox = [x1, y1, int(x1 + (max(xs) - x1)), int(y1 + (max(ys) - y1))]
        bbox = [int(bbox[0] * rw / ow), int(bbox[1] * rh / oh), int(bbox[2] * rw / ow), int(bbox[3] * rh / oh)]
        seg = [int(poly[i] * (rw if i % 2 == 0 else rh) / (ow if i % 2 == 0 else oh)) for i in range(len(poly))]
        anns.append({'bbox': bbox, 'seg': seg, 'name': display(o['label']), 'rank': rank[o['label']]})
    anns.sort(key=lambda a: (a['rank'], a['bbox'][1], a['bbox'][0]))
    out = {}
    if not anns:
        for k in ('codec.hbb.plain', 'codec.obb.plain', 'codec.quad.plain', 'codec.hbb.json', 'codec.obb.json', 'codec.quad.json'):
            out[k] = 'There are none.'
        return out
    hbb = [a['bbox'] for a in anns]
    obb = [to_obb(a['seg']) for a in anns]
    quad = [order_vertices(a['seg']) for a in anns]
    names = [a['name'] for a in anns]
    for kind, vals, field in (('hbb', hbb, 'bbox_2d'), ('obb', obb, 'oriented bbox'), ('quad', quad, 'quadrant bbox')):
        out['codec.%s.plain' % kind] = '\n'.join(','.join(str(v) for v in b) + ' ' + n for b, n in zip(vals, names)) + '\n'
        out['codec.%s.json' % kind] = '```json\n[\n\t' + ',\n\t'.join(json.dumps({field: b, 'label': n}) for b, n in zip(vals, names)) + '\n]\n```'
    return out


def florence(sample):
    classes, ow, oh = sample['classes'], sample['orig_size'][0], sample['orig_size'][1]
    rank, _ = ranks(classes, lower=False)
    items = []
    for o in sample['objects']:
        q = order_vertices(o['poly'], clockwise=False)
        qq = []
        for i, v in enumerate(q):
            per_bin = np.float32((ow if i % 2 == 0 else oh) / 1000)
            qq.append(int(min(max(np.floor(np.float32(v) / per_bin), 0), 999)))
        items.append((rank[o['label']], qq, display(o['label'])))
    if not items:
        return 'There are none.'
    items.sort(key=lambda t: (t[0], t[1][1], t[1][0]))
    s, last = '', None
    for _, q, n in items:
        s += n if n != last else '<sep>'
        s += ''.join('<loc_%d>' % v for v in q)
        last = n
    return s


def main():
    rng = random.Random(7)
    lines = []
    for i in range(40):
        classes = DOTA if i % 2 == 0 else rng.sample(DOTA, 5)
        ow, oh = rng.choice([(1024, 1024), (800, 600), (1333, 777), (512, 512)])
        rw, rh = (ow, oh) if i % 5 == 0 else (rng.randrange(10, 40) * 28, rng.randrange(10, 40) * 28)
        objs = []
        for _ in range(0 if i == 3 else rng.randrange(1, 12)):
            cx, cy = rng.uniform(40, ow - 40), rng.uniform(40, oh - 40)
            w, h, t = rng.uniform(6, 120), rng.uniform(6, 80), rng.uniform(-math.pi, math.pi)
            if rng.random() < 0.2:
                t = 0.0
            c, s = math.cos(t), math.sin(t)
            pts = []
            for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
                pts += [int(round(cx + dx * c - dy * s)), int(round(cy + dx * s + dy * c))]
            k = rng.randrange(4)
            pts = pts[2 * k:] + pts[:2 * k]
            objs.append({'poly': pts, 'label': rng.choice(classes)})
        sample = {'classes': classes, 'orig_size': [ow, oh], 'resized_size': [rw, rh], 'objects': objs}
        sample['expected'] = answers(sample)
        sample['expected']['codec.quad.florence2'] = florence(sample)
        sample['categories'] = ranks(classes)[1]
        lines.append(json.dumps(sample))
    with open('expected.jsonl', 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
