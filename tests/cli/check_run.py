#!/usr/bin/env python3
"""`rscovlm run --preset`: the bundled presets run end to end with the scripted backend (detection
with a PNG, grounding, Zoom-in VQA over JSON Lines), and the typed errors of bad runs."""
import json
import os
import subprocess
import sys
import tempfile

from cli_checks import Checks

cli, root = sys.argv[1], sys.argv[2]
checks = Checks("check_run", cli)
run, expect = checks.run, checks.expect
image = os.path.join(root, "tests", "data", "processor", "images", "img_84x140.png")  # 140 wide, 84 high




with tempfile.TemporaryDirectory() as tmp:
    # Detection: the det budget upsizes 140x84 to 588x364 (smart_resize: ceil by 28 above 256*28^2 pixels).
    png = os.path.join(tmp, "det.png")
    answer = "28,28,112,28,112,84,28,84 plane\nnot a box\n"
    rc, out, err = run(["run", "--preset", "dota-quad-detection", "--image", image, "--classes", "plane, ship",
                        "--backend", "scripted", "--reply", answer, "--png", png])
    expect(rc == 0, "detection run exits 0: %s" % err)
    if rc == 0:
        j = json.loads(out)
        expect(j["task"] == "detection" and j["preset"] == "dota-quad-detection", "detection result header")
        rs = j["plan"]["resized_size"]
        expect((rs["width"], rs["height"]) == (588, 364), "detection plan %s" % rs)
        objs = j["objects"]
        expect(len(objs) == 1 and objs[0]["label"] == "plane", "one plane decoded: %s" % objs)
        if objs:
            # v * orig / resized, as dense_det.py parses answers
            expect(objs[0]["coords"][:2] == [28 * 140 / 588, 28 * 84 / 364], "coords to the original frame %s" % objs[0])
        expect(j["dropped"]["total"] == 1, "the garbage line is reported, not thrown")
        expect(j["prompt"] == "find the plane, ship", "the codec's user prompt: %r" % j["prompt"])
        expect(os.path.getsize(png) > 0 and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "--png writes a PNG")

    # Grounding: the square 448 budget; RSCoVLM's plain grounding prompt; resize_bbox mapping.
    rc, out, err = run(["run", "--preset", os.path.join(root, "registry", "presets", "refgeo-grounding.json"),
                        "--image", image, "--query", "the red roof", "--backend", "scripted",
                        "--reply", "100,50,300,150 the red roof\n"])
    expect(rc == 0, "grounding run exits 0: %s" % err)
    if rc == 0:
        j = json.loads(out)
        expect(j["task"] == "grounding" and j["prompt"] == "find the the red roof", "grounding prompt %r" % j.get("prompt"))
        rs = j["plan"]["resized_size"]
        w, h = rs["width"], rs["height"]
        expect(j["box"] == [100 / w * 140, 50 / h * 84, 300 / w * 140, 150 / h * 84], "grounding box %s" % j["box"])

    # Zoom-in VQA over JSON Lines: one result line per input line, errors as lines.
    lines = json.dumps({"image": image, "question": "How many roofs?"}) + "\n" + json.dumps({"image": image}) + "\n"
    rc, out, err = run(["run", "--preset", "lrsvqa-zoom", "--backend", "scripted",
                        "--reply", "<tool_call>{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [0, 0, 100, 60]}}</tool_call>",
                        "--reply", "Two."], stdin=lines)
    outs = [json.loads(l) for l in out.splitlines() if l.strip()]
    expect(rc == 1 and len(outs) == 2, "vqa over JSON Lines: 2 lines, exit 1 for the failed one (rc %d, %s)" % (rc, err))
    if len(outs) == 2:
        expect(outs[0].get("answer") == "Two." and outs[0]["trace"]["steps"][0]["kind"] == "zoom", "zoom answer %s" % outs[0])
        expect("rscovlm.usage.no_question" in outs[1].get("error", ""), "missing question is a typed error line")

    # Bad runs: an unknown preset name (usage, exit 2); a preset with nothing to run (exit 1).
    rc, out, err = run(["run", "--preset", "no-such-preset", "--image", image, "--reply", "x"])
    expect(rc == 2 and "rscovlm.usage.no_preset" in err, "unknown preset: exit 2 with its id (%d, %s)" % (rc, err))
    none = os.path.join(tmp, "none.json")
    with open(none, "w") as f:
        json.dump({"name": "none", "components": [{"kind": "metric", "key": "metric.vqa.exact"}]}, f)
    rc, out, err = run(["run", "--preset", none, "--image", image, "--reply", "x"])
    expect(rc == 1 and "rscovlm.config.not_runnable" in err, "preset without a task: exit 1 (%d, %s)" % (rc, err))
    # A preset's own backend component is used when no backend flag is given.
    own = os.path.join(tmp, "own.json")
    with open(own, "w") as f:
        json.dump({"name": "own", "task": "detection", "components": [
            {"kind": "resolution", "key": "resize.smart", "params": {"preset": "hf_default"}},
            {"kind": "box_codec", "key": "codec.hbb.plain"},
            {"kind": "backend", "key": "backend.scripted", "params": {"replies": ["10,10,50,40 car\n"]}}]}, f)
    rc, out, err = run(["run", "--preset", own, "--image", image])
    expect(rc == 0 and len(json.loads(out or "{}").get("objects", [])) == 1, "preset backend used (%d, %s)" % (rc, err))

checks.finish()
