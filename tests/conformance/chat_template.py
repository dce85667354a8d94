#!/usr/bin/env python3
"""Runs every chat-template golden case through the CLI (`rscovlm chat`).

usage: chat_template.py CLI DATA_DIR
Golden file tests/data/chat_template/cases.jsonl: 42 conversations rendered by Jinja2 and
@huggingface/jinja from the real Qwen2.5-VL-7B-Instruct template, with their token ids.
Rendered text and ids must match exactly; the tokenizer is given as a model directory.
"""
import json
import os
import subprocess
import sys

cli, data = sys.argv[1], sys.argv[2]
failures = []
with open(os.path.join(data, "chat_template", "cases.jsonl"), encoding="utf-8") as f:
    rows = [json.loads(l) for l in f if l.strip()]
inputs = []
for r in rows:
    line = {"messages": r["messages"]}
    line.update(r["options"])
    inputs.append(line)
stdin = "".join(json.dumps(i) + "\n" for i in inputs).encode("utf-8")
tok_dir = os.path.join(data, "tokenizer", "qwen")
p = subprocess.run([cli, "--quiet", "chat", "--tokenizer", tok_dir, "--labels"], input=stdin, capture_output=True,
                   timeout=300)
out = [json.loads(l) for l in p.stdout.decode("utf-8").split("\n") if l.strip()]
if p.returncode != 0 or len(out) != len(rows):
    failures.append("rc %d, %d lines for %d cases, stderr %r" % (p.returncode, len(out), len(rows), p.stderr[:300]))
    out = [{}] * len(rows)
text_ok = ids_ok = 0
for r, g in zip(rows, out):
    if g.get("text") == r["rendered"]:
        text_ok += 1
    else:
        failures.append("%s: rendered %r want %r" % (r["name"], g.get("text"), r["rendered"]))
    if g.get("ids") == r["ids"]:
        ids_ok += 1
    else:
        failures.append("%s: ids differ" % r["name"])
    # the training encoding has one label per id and supervises only assistant tokens
    if g.get("input_ids") is not None and len(g.get("labels", [])) != len(g["input_ids"]):
        failures.append("%s: labels and input_ids differ in length" % r["name"])
print("chat template: %d/%d rendered texts, %d/%d id sequences match" % (text_ok, len(rows), ids_ok, len(rows)))

# vision expansion through the CLI: grid 1x4x4 with merge 2 -> 4 pads
line = {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}],
        "image_grid_thw": [[1, 4, 4]], "merge_size": 2}
p = subprocess.run([cli, "--quiet", "chat", "--tokenizer", tok_dir], input=(json.dumps(line) + "\n").encode(),
                   capture_output=True, timeout=120)
got = json.loads(p.stdout.decode("utf-8").split("\n")[0]) if p.stdout else {}
if got.get("text", "").count("<|image_pad|>") != 4 or got.get("ids", []).count(151655) != 4:
    failures.append("image pad expansion: %r" % got)

for f in failures:
    print("FAIL:", f)
print("chat_template conformance: %s" % ("FAILED" if failures else "all cases match"))
sys.exit(1 if failures else 0)
