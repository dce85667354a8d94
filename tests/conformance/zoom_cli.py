#!/usr/bin/env python3
"""Conformance of `rscovlm zoom ...`: the scripted Zoom-in Chain end to end through the CLI, the
tool-call parser on the chat-template goldens, LRS-VQA scoring and LRS-VQA-Zoom conversations.

usage: zoom_cli.py <rscovlm cli> <tests/data dir>
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

CLI, DATA = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, stdin=None):
    p = subprocess.run([CLI, "--quiet"] + args, input=stdin, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def write_png(path, w, h):
    rows = b"".join(b"\x00" + bytes(((x * 7 + y * 3) & 255, (x ^ y) & 255, (y * 5) & 255)[c]
                                    for x in range(w) for c in range(3)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def call(x1, y1, x2, y2):
    return ('<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [%d, %d, %d, %d]}}\n</tool_call>'
            % (x1, y1, x2, y2))


# 1. LRS-VQA scoring of existing outputs.
rc, out, err = run(["zoom", "eval", "--benchmark", os.path.join(DATA, "zoom", "lrsvqa_sample.jsonl"), "--score-only"])
check(rc == 0, "eval --score-only exit code %d: %s" % (rc, err))
if rc == 0:
    s = json.loads(out)
    expect = {"overall acc": 4 / 6, "Overall Acc (Source FAIR)": 2 / 3, "Overall Acc (Source STAR)": 0.5,
              "Overall Acc (Source GLH)": 1.0, "Overall Acc (Task count)": 1.0, "Overall Acc (Task reasoning)": 0.0,
              "Overall Acc (Task object status)": None, "Average Acc (Source FAIR)": 2 / 3,
              "Average Acc (Source STAR)": 0.5, "Average Acc (Source GLH)": 1.0, "Average Acc": 0.6}
    for k, v in expect.items():
        got = s.get(k, "missing")
        ok = (got is None) if v is None else (isinstance(got, float) and abs(got - v) < 1e-12)
        check(ok, "score %r: got %r, expected %r" % (k, got, v))

# 2. The parser on every tool call of the chat-template goldens.
lines, expected = [], []
with open(os.path.join(DATA, "zoom", "zoom_cases.jsonl"), encoding="utf-8") as f:
    for line in f:
        case = json.loads(line)
        for m in case["messages"]:
            if m["role"] == "assistant" and isinstance(m["content"], str) and "<tool_call>" in m["content"]:
                lines.append(json.dumps({"output": m["content"]}))
                expected.append(m["content"])
rc, out, err = run(["zoom", "parse"], "\n".join(lines) + "\n")
check(rc == 0, "zoom parse exit code %d" % rc)
parsed = [json.loads(l) for l in out.splitlines()]
check(len(parsed) == len(lines), "zoom parse: one line per input")
for text, p in zip(expected, parsed):
    rebuilt = "\n".join(call(*[int(v) for v in c["bbox"]]) for c in p["calls"])
    body = text.split("</think>", 1)[-1].strip()
    check(p["has_tool_call"] and rebuilt == body, "zoom parse round trip: %r" % text[:60])
rc, out, _ = run(["zoom", "parse"], '{"output": "<tool_call>{oops"}\n{"nope": 1}\n')
res = [json.loads(l) for l in out.splitlines()]
check(len(res) == 2 and res[0]["calls"] == [] and res[0]["dropped"][0]["reason"] == "bad_json", "malformed call reported")
check("error" in res[1] and rc == 1, "bad input line gives an error line and exit 1")

with tempfile.TemporaryDirectory() as tmp:
    png = os.path.join(tmp, "scene.png")
    write_png(png, 640, 480)
    budget = ["--min-pixels", "3136", "--max-pixels", "200704"]
    # 3. One zoom step through `zoom run`.
    trace = os.path.join(tmp, "trace.json")
    rc, out, err = run(["zoom", "run", "--image", png, "--question", "Is there a ship?", "--backend", "scripted",
                        "--reply", "<think>small</think>\n" + call(50, 40, 250, 200), "--reply", "yes",
                        "--trace", trace, "--json"] + budget)
    check(rc == 0, "zoom run exit code %d: %s" % (rc, err))
    if rc == 0:
        r = json.loads(out)
        check(r["answer"] == "yes" and r["answered"] and r["stop_reason"] == "answered", "zoom run answer")
        steps = r["trace"]["steps"]
        check([s["kind"] for s in steps] == ["zoom", "answer"], "zoom run step kinds")
        check(steps[0]["zooms"][0]["crop_frame"] == "original", "crop from the original by default")
        w, h = r["trace"]["resized_size"]
        check(w % 28 == 0 and h % 28 == 0 and w * h <= 200704, "resized size within the budget")
        check(os.path.exists(trace) and os.path.exists(os.path.join(tmp, "trace.png")), "trace json and png written")
    # max_steps reached.
    rc, out, err = run(["zoom", "run", "--image", png, "--question", "q", "--backend", "scripted",
                        "--reply", call(0, 0, 100, 100), "--max-steps", "1", "--json"] + budget)
    check(rc == 0 and json.loads(out)["stop_reason"] == "max_steps", "max steps stop reason")
    # 4. `zoom eval` with a scripted backend: "count" is asked without the zoom prompt.
    bench = os.path.join(tmp, "bench.jsonl")
    with open(bench, "w") as f:
        f.write(json.dumps({"question_id": "FAIR_9", "image": "scene.png", "text": "Color?", "category": "object color",
                            "ground_truth": "yes"}) + "\n")
        f.write(json.dumps({"question_id": "GLH_9", "image": "scene.png", "text": "How many?", "category": "count",
                            "ground_truth": "2"}) + "\n")
    per = os.path.join(tmp, "per.jsonl")
    rc, out, err = run(["zoom", "eval", "--benchmark", bench, "--image-root", tmp, "--backend", "scripted",
                        "--reply", "yes", "--out", per] + budget)
    check(rc == 0, "zoom eval exit code %d: %s" % (rc, err))
    if rc == 0:
        s = json.loads(out)
        check(abs(s["overall acc"] - 0.5) < 1e-12 and s["failed"] == 0, "zoom eval scores")
        rows = [json.loads(l) for l in open(per)]
        check([r["correct"] for r in rows] == [True, False] and all(r["steps"] == 1 for r in rows), "zoom eval rows")
    # 5. Errors: a missing image, and the torch backend.
    rc, out, err = run(["zoom", "run", "--image", os.path.join(tmp, "missing.png"), "--question", "q",
                        "--backend", "scripted", "--reply", "x"])
    check(rc == 1 and err.count("\n") == 1 and "[rscovlm." in err, "missing image: exit 1, one stderr line")
    rc, out, err = run(["zoom", "run", "--image", png, "--question", "q", "--backend", "torch"])
    # Built with LibTorch: rscovlm-torch runs it and asks for --model-dir; without: the core CLI says
    # the command needs rscovlm-torch.
    check((rc == 2 and "model-dir" in err) or (rc == 2 and "rscovlm.cli.no_torch" in err),
          "torch backend unavailable or needs a model (%d, %s)" % (rc, err.strip()))
    rc, out, err = run(["zoom", "run", "--image", png, "--question", "q", "--backend", "scripted"])
    check(rc == 2, "scripted backend without replies is a usage error")

# 6. LRS-VQA-Zoom record -> conversation.
rec = {"question": "What color is the car?", "answer": "white", "image_ori_width": 4000, "image_ori_height": 3000,
       "resized_width": 1204, "resized_height": 896, "bbox_info": {"crop_hbox": [[1000.5, 600, 1401, 902.5]]}}
rc, out, err = run(["zoom", "lrsvqa-zoom"], json.dumps(rec) + "\n")
check(rc == 0, "lrsvqa-zoom exit code")
if rc == 0:
    c = json.loads(out)
    check(c["zoom"] and c["messages"][2]["content"] == call(301, 179, 421, 269), "lrsvqa-zoom tool call")
    check(c["crop_window"] == [1000, 600, 1401, 902], "lrsvqa-zoom crop window (round half to even)")

print("zoom_cli: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
