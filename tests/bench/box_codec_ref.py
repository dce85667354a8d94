#!/usr/bin/env python3
"""Reference side of bench_box_codec: the parse loop of RSCoVLM's parse_plain_output (split(' ', 1),
split(','), int(), label lookup, frame mapping) on the same 1000-line answer. Prints lines/s."""
import time

CLASSES = ['plane', 'ship', 'storage-tank', 'small-vehicle', 'large-vehicle', 'harbor', 'bridge', 'helicopter']


def answer():
    state = 12345
    lines = []
    for i in range(1000):
        vals = []
        for _ in range(8):
            state = (state * 1103515245 + 12345) & 0xFFFFFFFF
            vals.append(str((state >> 8) % 1000))
        lines.append(','.join(vals) + ' ' + CLASSES[i % len(CLASSES)].replace('-', ' ').lower())
    return '\n'.join(lines) + '\n'


def parse(output, cls_map, ow, oh, rw, rh):
    output = output.strip()
    polys, labels = [], []
    for line in output.splitlines():
        if len(line.strip()) == 0:
            continue
        try:
            poly, label = line.split(' ', 1)
            poly = [int(c) for c in poly.split(',')]
        except Exception:
            continue
        label = label.strip().lower()
        if len(poly) != 8:
            if len(poly) > 8:
                poly = poly[:8]
            else:
                continue
        label = cls_map[label]
        for i in range(0, 8, 2):
            poly[i] = poly[i] * ow / rw
            poly[i + 1] = poly[i + 1] * oh / rh
        polys.append(poly)
        labels.append(label)
    return polys, labels


def main():
    text = answer()
    cls_map = {c.replace('-', ' ').lower(): i for i, c in enumerate(CLASSES)}
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        polys, _ = parse(text, cls_map, 1024, 1024, 812, 812)
        times.append(time.perf_counter() - t0)
    assert len(polys) == 1000
    times.sort()
    print('%.1f' % (1000.0 / times[len(times) // 2]))


if __name__ == '__main__':
    main()
