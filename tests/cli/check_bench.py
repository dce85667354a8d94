#!/usr/bin/env python3
"""`rscovlm bench run` / `bench merge`: a synthetic DOTA-layout data set answered by the scripted
backend with the exact ground truth (mAP_nc 1 on both protocols) and with a known miss (the AP
computed here by hand), resume, shards + merge == one run, failed records counted, grounding and
VQA with known accuracies, and the typed errors of bad runs."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from cli_checks import Checks

cli, root = sys.argv[1], sys.argv[2]
checks = Checks("check_bench", cli, prefix=["--quiet"])
run, expect = checks.run, checks.expect




def load(path):
    with open(path) as f:
        return json.load(f)


def voc07_ap(recall):
    """11-point AP of a class whose precision is 1 up to `recall` (every detection right)."""
    return sum(1.0 for t in range(11) if t / 10.0 <= recall) / 11.0


with tempfile.TemporaryDirectory() as tmp:
    # One synthetic scene, copied as three images with the same labels (difficulty 0), so that one
    # scripted reply is the exact answer for every record. 560x448: multiples of 28 inside the
    # detection budget, so the model sees the image at its size.
    gen = os.path.join(tmp, "gen")
    rc, out, err = run(["data", "sample-scene", "--out", gen, "--name", "scene", "--seed", "7", "--width", "560",
                        "--height", "448", "--density", "20", "--classes", "plane,storage-tank"])
    expect(rc == 0, "sample-scene: %s" % err)
    objects = []
    with open(os.path.join(gen, "scene.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 9:
                objects.append(([float(v) for v in parts[:8]], parts[8]))
    classes = sorted({c for _, c in objects})
    expect(len(classes) == 2 and len(objects) >= 3, "the scene has both classes: %s" % objects)
    data = os.path.join(tmp, "dota")
    os.makedirs(os.path.join(data, "images"))
    os.makedirs(os.path.join(data, "labelTxt"))
    for i in range(3):
        shutil.copy(os.path.join(gen, "scene.png"), os.path.join(data, "images", "P%04d.png" % i))
        with open(os.path.join(data, "labelTxt", "P%04d.txt" % i), "w") as f:
            for poly, c in objects:
                f.write(" ".join(repr(v) for v in poly) + " %s 0\n" % c)

    preset = load(os.path.join(root, "registry", "presets", "bench-dota-val.json"))
    for c in preset["components"]:
        if c["kind"] == "benchmark":
            c["params"]["classes"] = classes
            c["params"]["padding"] = False
    preset_file = os.path.join(tmp, "bench-dota-test.json")
    with open(preset_file, "w") as f:
        json.dump(preset, f)

    def answer(skip=None):
        lines = []
        for k, (poly, c) in enumerate(objects):
            if k != skip:
                lines.append(",".join(str(int(v)) for v in poly) + " " + c.replace("-", " "))
        return "\n".join(lines) + "\n"

    def bench(out, reply, *extra):
        return run(["bench", "run", "--preset", preset_file, "--data", data, "--out", out, "--backend", "scripted",
                    "--reply", reply] + list(extra))

    exact = os.path.join(tmp, "exact")
    rc, out, err = bench(exact, answer(), "--sweep")
    expect(rc == 0, "exact run exits 0: %s" % err)
    res = load(os.path.join(exact, "results.json"))
    for m in ("metric.dota.devkit", "metric.dota.mmrotate"):
        expect(abs(res["results"]["metrics"][m]["mAP"] - 1.0) < 1e-9, "%s mAP_nc 1 on exact answers: %s" % (m, res["results"]["metrics"][m]))
    expect(abs(res["results"]["metrics"]["sweep"]["best_mAP"] - 1.0) < 1e-9, "sweep best 1")
    expect(res["config"]["backend"] == "scripted" and res["config"]["preset"] == "bench-dota-val",
           "config in results: %s" % res["config"])
    for f in ["results.md", "results.csv", "answers.jsonl", "task1/Task1_%s.txt" % classes[0], "pictures/samples.png",
              "pictures/pr_%s.png" % classes[0]]:
        expect(os.path.exists(os.path.join(exact, f)), "%s written" % f)
    with open(os.path.join(exact, "pictures", "samples.png"), "rb") as f:
        expect(f.read(8) == b"\x89PNG\r\n\x1a\n", "samples page is a PNG")
    with open(os.path.join(exact, "results.md")) as f:
        md = f.read()
    expect("| class |" in md and "mAP" in md, "results.md holds the table")
    with open(os.path.join(exact, "answers.jsonl")) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    expect([l["id"] for l in lines] == ["P0000", "P0001", "P0002"] and all("patches" in l and "prompt" in l for l in lines),
           "one answer line per record with prompt and patches")

    # A known miss: object 0 is missing from every answer.
    missed = objects[0][1]
    n = sum(1 for _, c in objects if c == missed)
    want = (voc07_ap((n - 1) / n) + 1.0) / 2.0
    miss = os.path.join(tmp, "miss")
    rc, out, err = bench(miss, answer(skip=0))
    res = load(os.path.join(miss, "results.json"))
    for m in ("metric.dota.devkit", "metric.dota.mmrotate"):
        got = res["results"]["metrics"][m]["mAP"]
        expect(abs(got - want) < 1e-6, "%s mAP with a known miss: %s, want %s" % (m, got, want))

    # Resume: --limit 2, then a rerun answers only the third record.
    resume = os.path.join(tmp, "resume")
    rc, out, err = bench(resume, answer(), "--limit", "2")
    expect(rc == 0 and json.loads(out)["run"]["generated"] == 2, "limit 2 answers two: %s %s" % (out, err))
    rc, out, err = bench(resume, answer())
    j = json.loads(out or "{}")
    expect(j.get("run", {}).get("resumed") == 2 and j["run"]["generated"] == 1, "rerun resumes: %s" % out)
    with open(os.path.join(resume, "answers.jsonl")) as f:
        expect(sum(1 for l in f if l.strip()) == 3, "three answer lines after the rerun")

    # Shards merged == one run.
    shards = []
    for i in range(2):
        d = os.path.join(tmp, "shard%d" % i)
        rc, out, err = bench(d, answer(), "--shard", "%d/2" % i, "--in-flight", "2")
        expect(rc == 0, "shard %d: %s" % (i, err))
        shards.append(d)
    merged = os.path.join(tmp, "merged")
    rc, out, err = run(["bench", "merge", "--out", merged] + shards)
    expect(rc == 0, "merge exits 0: %s" % err)
    if rc == 0:
        a, b = load(os.path.join(merged, "results.json")), load(os.path.join(resume, "results.json"))
        expect(a["results"]["table"] == b["results"]["table"], "merged table == one run's table")
        expect(a["config"].get("backend") == "scripted", "merged config keeps the backend")

    # A run folder belongs to one preset.
    rc, out, err = run(["bench", "run", "--preset", "bench-dota-val", "--data", data, "--out", exact, "--backend",
                        "scripted", "--reply", "x"])
    expect(rc == 2 and "rscovlm.usage.other_run" in err, "another preset into a run folder: typed error (%d, %s)" % (rc, err))
    rc, out, err = bench(os.path.join(tmp, "s"), answer(), "--shard", "2/2")
    expect(rc != 0 and "rscovlm.usage.bad_shard" in err, "bad shard: typed error (%d, %s)" % (rc, err))

    # Grounding: a right box, a wrong one, and an unreadable image (failed, not scored).
    image = os.path.join(root, "tests", "data", "processor", "images", "img_84x140.png")  # 140 wide, 84 high
    g = os.path.join(tmp, "ground.jsonl")
    with open(g, "w") as f:
        f.write(json.dumps({"image": image, "query": "roof", "gt": [10, 10, 70, 50]}) + "\n")
        f.write(json.dumps({"image": image, "query": "car", "gt": [100, 40, 140, 84]}) + "\n")
        f.write(json.dumps({"image": "missing.png", "query": "car", "gt": [0, 0, 10, 10]}) + "\n")
    rc, out, err = run(["bench", "run", "--preset", "bench-refgeo", "--data", g, "--out", os.path.join(tmp, "g"),
                        "--backend", "scripted", "--reply", "42,43,294,216 roof\n"])
    j = json.loads(out or "{}")
    expect(rc == 1 and j.get("failed") == 1, "grounding: one failed record, exit 1 (%d, %s, %s)" % (rc, out, err))
    res = load(os.path.join(tmp, "g", "results.json"))
    acc = res["results"]["metrics"]["metric.grounding.acc50"]["overall"]["acc"]
    expect(acc == 0.5, "grounding acc over the answered records: %s" % acc)

    # VQA: the same scripted answer for every question, two categories.
    v = os.path.join(tmp, "vqa.jsonl")
    with open(v, "w") as f:
        for q, a, c in [("Is there a plane?", "yes", "presence"), ("Is there a ship?", "no", "presence"),
                        ("Is it a port?", "yes", "scene"), ("Is it a farm?", "yes", "scene")]:
            f.write(json.dumps({"image": image, "question": q, "answer": a, "category": c}) + "\n")
    rc, out, err = run(["bench", "run", "--preset", "bench-vqa", "--data", v, "--out", os.path.join(tmp, "v"),
                        "--backend", "scripted", "--reply", "Yes."])
    expect(rc == 0, "vqa exits 0: %s" % err)
    res = load(os.path.join(tmp, "v", "results.json"))
    m = res["results"]["metrics"]["metric.vqa.contain"]
    expect(m["overall"]["acc"] == 0.75 and m["categories"]["presence"]["acc"] == 0.5 and m["categories"]["scene"]["acc"] == 1.0,
           "vqa accuracies: %s" % m)
    expect(os.path.exists(os.path.join(tmp, "v", "pictures", "accuracy.png")), "vqa bar chart")
    with open(os.path.join(tmp, "v", "results.csv")) as f:
        rows = f.read().splitlines()
    expect(rows[0].startswith("category,total,failed") and rows[-1].startswith("overall,4,0"), "results.csv: %s" % rows)

    # Captioning: the scripted backend gives every image the first reference of the first record.
    c = os.path.join(tmp, "cap.jsonl")
    with open(c, "w") as f:
        f.write(json.dumps({"image": image, "ground_truth": ["many planes are parked near the terminal building",
                                                             "planes at an airport"]}) + "\n")
        f.write(json.dumps({"image": image, "ground_truth": ["a storage tank stands beside the road"]}) + "\n")
    rc, out, err = run(["bench", "run", "--preset", "bench-caption", "--data", c, "--out", os.path.join(tmp, "c"),
                        "--backend", "scripted", "--reply", "many planes are parked near the terminal building"])
    expect(rc == 0, "caption benchmark exits 0: %s" % err)
    if rc == 0:
        m = load(os.path.join(tmp, "c", "results.json"))["results"]["metrics"]
        coco = m["metric.caption.coco"]["overall"]
        expect(set(m) == {"metric.caption.rscovlm_cider", "metric.caption.coco"} and "CIDEr" in m["metric.caption.rscovlm_cider"]["overall"]
               and 0.0 < coco["Bleu_1"] < 1.0 and coco["images"] == 2, "caption metrics: %s" % m)

    # FAIR1M: the scene's objects as labelXml ground truth (plane -> Bus, storage-tank -> Van), the
    # exact answer scripted: mAP_nc 1, and the official submission readable by Python's zipfile and
    # ElementTree with one object per answered box.
    import xml.etree.ElementTree as ET
    import zipfile

    fair = os.path.join(tmp, "fair1m")
    os.makedirs(os.path.join(fair, "images"))
    os.makedirs(os.path.join(fair, "labelXml"))
    names = {"plane": "Bus", "storage-tank": "Van"}
    shutil.copy(os.path.join(gen, "scene.png"), os.path.join(fair, "images", "F0.png"))
    with open(os.path.join(fair, "labelXml", "F0.xml"), "w") as f:
        f.write("<annotation><size><width>560</width><height>448</height></size><objects>")
        for poly, c in objects:
            pts = "".join("<point>%r,%r</point>" % (poly[2 * (k % 4)], poly[2 * (k % 4) + 1]) for k in range(5))
            f.write("<object><possibleresult><name>%s</name></possibleresult><points>%s</points></object>" % (names[c], pts))
        f.write("</objects></annotation>")
    fpreset = load(os.path.join(root, "registry", "presets", "bench-fair1m.json"))
    for comp in fpreset["components"]:
        if comp["kind"] == "benchmark":
            comp["params"]["classes"] = ["Bus", "Van"]
            comp["params"]["padding"] = False
    fpreset_file = os.path.join(tmp, "bench-fair1m-test.json")
    with open(fpreset_file, "w") as f:
        json.dump(fpreset, f)
    reply = "".join(",".join(str(int(v)) for v in poly) + " " + names[c] + "\n" for poly, c in objects)
    rc, out, err = run(["bench", "run", "--preset", fpreset_file, "--data", fair, "--out", os.path.join(tmp, "f"),
                        "--backend", "scripted", "--reply", reply])
    expect(rc == 0, "fair1m benchmark exits 0: %s" % err)
    if rc == 0:
        m = load(os.path.join(tmp, "f", "results.json"))["results"]["metrics"]
        expect(abs(m["metric.dota.devkit"]["mAP"] - 1.0) < 1e-9 and abs(m["metric.dota.mmrotate"]["mAP"] - 1.0) < 1e-6,
               "fair1m mAP_nc 1: %s" % m)
        with zipfile.ZipFile(os.path.join(tmp, "f", "fair1m", "fair1m.zip")) as z:
            expect(z.testzip() is None and z.namelist() == ["test/F0.xml"], "submission zip: %s" % z.namelist())
            sub = ET.fromstring(z.read("test/F0.xml"))
        objs = sub.find("objects").findall("object")
        expect(len(objs) == len(objects) and all(len(o.find("points").findall("point")) == 5 for o in objs)
               and {o.find("possibleresult").find("name").text for o in objs} == {"Bus", "Van"},
               "submission objects: %d of %d" % (len(objs), len(objects)))

    # The OpenAI backend against a loopback chat-completions server, several records in flight: the
    # server answers "Yes." slowly, counts the requests it serves at once, and checks each carries the
    # question and the image as a data URL.
    import http.server
    import threading
    import time as _time

    state = {"now": 0, "max": 0, "requests": 0, "bad": []}
    lock = threading.Lock()

    class Loop(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, obj, code=200):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.reply({"object": "list", "data": [{"id": "loop-model", "object": "model"}]})

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            with lock:
                state["now"] += 1
                state["requests"] += 1
                state["max"] = max(state["max"], state["now"])
            parts = [c for m in req.get("messages", []) if isinstance(m.get("content"), list) for c in m["content"]]
            if req.get("model") != "loop-model" or not any(
                    c.get("type") == "image_url" and c["image_url"]["url"].startswith("data:image/png;base64,") for c in parts):
                state["bad"].append(req.get("model"))
            _time.sleep(0.3)
            with lock:
                state["now"] -= 1
            self.reply({"id": "c", "object": "chat.completion", "model": "loop-model",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes."},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Loop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    v8 = os.path.join(tmp, "vqa8.jsonl")
    with open(v8, "w") as f:
        for i in range(8):
            f.write(json.dumps({"image": image, "question": "Question %d?" % i, "answer": "yes" if i < 6 else "no",
                                "category": "c%d" % (i % 2)}) + "\n")
    t0 = _time.time()
    rc, out, err = run(["bench", "run", "--preset", "bench-vqa", "--data", v8, "--out", os.path.join(tmp, "v8"),
                        "--backend", "openai", "--endpoint", "http://127.0.0.1:%d/v1" % server.server_address[1],
                        "--in-flight", "4"])
    took = _time.time() - t0
    server.shutdown()
    expect(rc == 0, "vqa over the loopback OpenAI server exits 0: %s" % err)
    if rc == 0:
        m = load(os.path.join(tmp, "v8", "results.json"))["results"]["metrics"]["metric.vqa.contain"]
        expect(m["overall"]["acc"] == 0.75, "loopback vqa accuracy 6/8: %s" % m["overall"])
    expect(state["requests"] == 8 and not state["bad"],
           "8 requests, each with the served model name and a PNG data URL (%d, bad %s)" % (state["requests"], state["bad"]))
    expect(state["max"] >= 2, "records answered concurrently over HTTP (max %d at once, %.1f s)" % (state["max"], took))
    print("loopback: %d requests, at most %d at once, %.1f s" % (state["requests"], state["max"], took))

checks.finish()
