#!/usr/bin/env python3
"""Conformance: `rscovlm geom min-area-rect` against OpenCV 4.6 golden data.

Usage: min_area_rect.py <rscovlm-cli> <tests/data dir>
Runs every case of min_area_rect/cases.jsonl on both paths (float32 and int32) through one CLI
process and requires: an error exactly where OpenCV raised, bit-identical float32 results (sign of
zero included) and identical RSCoVLM integer OBBs.
"""
import json
import math
import subprocess
import sys


def main():
    cli, data = sys.argv[1], sys.argv[2]
    cases = [json.loads(l) for l in open(data + '/min_area_rect/cases.jsonl') if l.strip()]
    requests, expected = [], []
    for c in cases:
        for path, dtype in (('f32', 'float32'), ('int', 'int32')):
            p = c[path]
            requests.append(json.dumps({'points': p['input'], 'dtype': dtype}))
            expected.append((c['id'] + ':' + path, p))
    proc = subprocess.run([cli, 'geom', 'min-area-rect'], input='\n'.join(requests) + '\n',
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != len(requests):
        print('FAIL: exit code %d, %d output lines for %d inputs\n%s' % (proc.returncode, len(lines), len(requests),
                                                                        proc.stderr[-2000:]))
        return 1
    bad = 0
    errors = 0

    def same(a, b):
        return a == b and math.copysign(1, a) == math.copysign(1, b)

    for (name, want), line in zip(expected, lines):
        got = json.loads(line)
        msg = None
        if want['error'] is not None:
            errors += 1
            if 'error' not in got:
                msg = 'expected an error, got %s' % line
        elif 'error' in got:
            msg = 'unexpected error %s' % got['error']
        else:
            r = want['rect']
            pairs = [(got['center'][0], r['center'][0]), (got['center'][1], r['center'][1]),
                     (got['size'][0], r['size'][0]), (got['size'][1], r['size'][1]), (got['angle'], r['angle'])]
            if not all(same(a, b) for a, b in pairs):
                msg = 'rect %s != %s' % (line, json.dumps(r))
            elif got['obb_int'] != want['obb_int']:
                msg = 'obb_int %s != %s' % (got['obb_int'], want['obb_int'])
            elif any(abs(a - b) > 1e-9 * max(1.0, abs(b)) for a, b in zip(got['obb'], want['obb_float'])):
                msg = 'obb %s != %s' % (got['obb'], want['obb_float'])
        if msg:
            bad += 1
            if bad <= 10:
                print('FAIL %s: %s' % (name, msg))
    print('min_area_rect: %d cases (%d OpenCV errors), %d mismatches' % (len(requests), errors, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
