#!/usr/bin/env python3
"""Runs every tokenizer golden case through the CLI (`rscovlm tokenize` / `detokenize`).

usage: tokenizer.py CLI DATA_DIR
Golden files (see tests/data/tokenizer/README.md): cases.jsonl (2149 strings: ids and both
decodes, from the Rust `tokenizers` engine), decode_cases.jsonl (300 id sequences), and the tiny
tokenizers' cases (added-token flags, both merges formats). Exact equality is required.
"""
import json
import os
import subprocess
import sys

cli, data = sys.argv[1], sys.argv[2]
failures = []


def run(args, rows):
    stdin = "".join(json.dumps(r) + "\n" for r in rows)
    p = subprocess.run([cli, "--quiet"] + args, input=stdin.encode("utf-8"), capture_output=True, timeout=600)
    out = [json.loads(l) for l in p.stdout.decode("utf-8").split("\n") if l.strip()]
    if len(out) != len(rows):
        failures.append("%s: %d output lines for %d inputs (rc %d, stderr %r)" % (
            " ".join(args), len(out), len(rows), p.returncode, p.stderr.decode("utf-8", "replace")[:300]))
        return [{}] * len(rows)
    return out


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def check_file(tok, cases_path, label, encode=True):
    rows = load(cases_path)
    counts = {"encode": 0, "decode": 0, "decode_skip": 0}
    if encode:
        got = run(["tokenize", "--tokenizer", tok], [{"text": r["text"]} for r in rows])
        for r, g in zip(rows, got):
            if g.get("ids") != r["ids"]:
                counts["encode"] += 1
                if counts["encode"] <= 3:
                    failures.append("%s encode %r: got %s want %s" % (label, r["text"][:80], g.get("ids"), r["ids"]))
    ids_rows = [{"ids": r["ids"]} for r in rows]
    for flag, key, name in (([], "decoded", "decode"), (["--skip-special"], "decoded_skip_special", "decode_skip")):
        got = run(["detokenize", "--tokenizer", tok] + flag, ids_rows)
        for r, g in zip(rows, got):
            if g.get("text") != r[key]:
                counts[name] += 1
                if counts[name] <= 3:
                    failures.append("%s %s %s: got %r want %r" % (label, name, r["ids"][:20], g.get("text"), r[key]))
    total = len(rows)
    print("%-28s %5d cases: encode %s, decode %d/%d, decode(skip_special) %d/%d match" % (
        label, total, ("%d/%d" % (total - counts["encode"], total)) if encode else "n/a",
        total - counts["decode"], total, total - counts["decode_skip"], total))
    if any(counts.values()):
        failures.append("%s: %s mismatches" % (label, counts))


qwen = os.path.join(data, "tokenizer", "qwen", "tokenizer.json")
check_file(qwen, os.path.join(data, "tokenizer", "cases.jsonl"), "qwen cases")
check_file(qwen, os.path.join(data, "tokenizer", "decode_cases.jsonl"), "qwen decode_cases", encode=False)
tiny = os.path.join(data, "tokenizer", "tiny")
check_file(os.path.join(tiny, "tokenizer.json"), os.path.join(tiny, "cases.jsonl"), "tiny (legacy merges)")
check_file(os.path.join(tiny, "tokenizer_pairs.json"), os.path.join(tiny, "cases.jsonl"), "tiny (pair merges)")

# error lines: a bad line yields {"error": ...} in place and exit code 1
p = subprocess.run([cli, "--quiet", "tokenize", "--tokenizer", qwen], input=b'{"text": "a"}\n{"txt": 1}\nnot json\n',
                   capture_output=True, timeout=120)
lines = [json.loads(l) for l in p.stdout.decode("utf-8").split("\n") if l.strip()]
if not (p.returncode == 1 and len(lines) == 3 and "ids" in lines[0] and "rscovlm.tokenizer.bad_input" in lines[1].get("error", "")
        and "error" in lines[2]):
    failures.append("error lines: rc %d, %r" % (p.returncode, lines))
p = subprocess.run([cli, "--quiet", "tokenize", "--tokenizer", os.path.join(data, "no-such-tokenizer.json")],
                   input=b'{"text": "a"}\n', capture_output=True, timeout=120)
if p.returncode != 1 or "rscovlm.tokenizer.file_not_found" not in p.stderr.decode():
    failures.append("missing tokenizer file: rc %d stderr %r" % (p.returncode, p.stderr.decode()))

for f in failures:
    print("FAIL:", f)
print("tokenizer conformance: %s" % ("FAILED" if failures else "all cases match"))
sys.exit(1 if failures else 0)
