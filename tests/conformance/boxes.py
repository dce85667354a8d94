#!/usr/bin/env python3
"""Conformance: `rscovlm boxes encode|decode --codec KEY` on the box_codec golden answers.

Usage: boxes.py <rscovlm-cli> <tests/data dir>
For every sample of box_codec/expected.jsonl and every codec with an expected answer: encoding
must reproduce the answer byte for byte, and decoding it must return one box per object with no
drops.
"""
import json
import subprocess
import sys


def run(cli, args, lines):
    proc = subprocess.run([cli] + args, input='\n'.join(json.dumps(l) for l in lines) + '\n',
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, [json.loads(l) for l in proc.stdout.splitlines()], proc.stderr


def main():
    cli, data = sys.argv[1], sys.argv[2]
    samples = [json.loads(l) for l in open(data + '/box_codec/expected.jsonl') if l.strip()]
    keys = sorted(samples[0]['expected'])
    bad = 0
    checked = 0
    for key in keys:
        enc_in = [{'objects': [{'poly': o['poly'], 'label': o['label']} for o in s['objects']],
                   'orig_size': s['orig_size'], 'resized_size': s['resized_size'], 'classes': s['classes']}
                  for s in samples]
        rc, out, err = run(cli, ['boxes', 'encode', '--codec', key], enc_in)
        if rc != 0 or len(out) != len(samples):
            print('FAIL encode %s: rc=%d %s' % (key, rc, err[-500:]))
            bad += 1
            continue
        for i, (s, o) in enumerate(zip(samples, out)):
            checked += 1
            if o.get('text') != s['expected'][key]:
                bad += 1
                if bad <= 10:
                    print('FAIL encode %s sample %d:\n%r\n%r' % (key, i, o.get('text'), s['expected'][key]))
        dec_in = [{'text': s['expected'][key], 'orig_size': s['orig_size'], 'resized_size': s['resized_size'],
                   'classes': s['classes']} for s in samples]
        rc, out, err = run(cli, ['boxes', 'decode', '--codec', key], dec_in)
        if rc != 0 or len(out) != len(samples):
            print('FAIL decode %s: rc=%d %s' % (key, rc, err[-500:]))
            bad += 1
            continue
        for i, (s, o) in enumerate(zip(samples, out)):
            checked += 1
            if len(o.get('boxes', [])) != len(s['objects']) or o.get('dropped'):
                bad += 1
                if bad <= 10:
                    print('FAIL decode %s sample %d: %s' % (key, i, json.dumps(o)[:300]))
    print('boxes: %d encode/decode checks over %d codecs, %d failures' % (checked, len(keys), bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
