#!/usr/bin/env python3
"""End-to-end check of the LibTorch CLI on the tiny random model (stdlib only).

Usage: cli_end_to_end.py RSCOVLM_CLI DATA_DIR WORK_DIR

Writes the tiny model with the bundled tokenizer (`rscovlm tiny-model`), then runs `rscovlm generate`
and `rscovlm detect` (PNG in, JSON + annotated PNG out) and checks the outputs' structure, that greedy
generation is deterministic, that the nested/sharded layout answers identically, and the error paths.
"""
import json
import os
import shutil
import sys

from e2e_common import png_bytes, run


def write_png(path, w, h):
    with open(path, "wb") as f:
        f.write(png_bytes(w, h))


def main():
    cli, data_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    tok = os.path.join(data_dir, "tokenizer", "qwen", "tokenizer.json")
    if not os.path.exists(tok):
        print("bundled tokenizer missing:", tok)
        return 1
    model = os.path.join(work, "tiny")
    info = json.loads(run([cli, "tiny-model", "--out", model, "--tokenizer", tok]).stdout)
    assert info["vocab_size"] > 151000, info
    for f in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
        assert os.path.exists(os.path.join(model, f)), f
    img = os.path.join(work, "scene.png")
    write_png(img, 130, 90)

    gen = [cli, "-q", "generate", "--model", model, "--image", img, "--prompt", "Describe the image.",
           "--max-new-tokens", "6", "--greedy", "--json"]
    a = json.loads(run(gen).stdout)
    b = json.loads(run(gen).stdout)
    assert a["tokens"] == b["tokens"] and len(a["tokens"]) <= 6, (a, b)
    assert a["prompt_tokens"] > 20, a
    streamed = run(gen[:-1] + ["--stream"]).stdout
    assert streamed.rstrip("\n") == a["text"].rstrip("\n") or a["text"] in streamed, (streamed, a["text"])

    # generate --batch: greedy answers equal the single-prompt ones (rows of different lengths batched
    # together, each with its own limit), in order; a bad line is an error line, the others still run.
    singles = []
    reqs = []
    for i, (prompt, n, with_img) in enumerate([("Describe the image.", 6, True), ("Count the planes.", 4, True),
                                                ("Hello", 5, False), ("What is shown here in detail?", 3, True)]):
        cmd = [cli, "-q", "generate", "--model", model, "--prompt", prompt, "--max-new-tokens", str(n), "--greedy",
               "--json"] + (["--image", img] if with_img else [])
        if i == 2:
            cmd.append("--map-weights")  # mapped weights give the same ids as read ones
        singles.append(json.loads(run(cmd).stdout))
        reqs.append(json.dumps({"id": "r%d" % i, "prompt": prompt, "images": [img] if with_img else [],
                                "max_new_tokens": n}))
    batch_file = os.path.join(work, "batch.jsonl")
    with open(batch_file, "w") as f:
        f.write("\n".join(reqs[:2] + ["{not json"] + reqs[2:]) + "\n")
    r = run([cli, "-q", "generate", "--model", model, "--greedy", "--batch", batch_file, "--max-batch", "4",
             "--in-flight", "4"], expect=1)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(lines) == 5 and "error" in lines[2] and "bad_json" in lines[2]["error"], lines
    got = lines[:2] + lines[3:]
    for i, (g, s1) in enumerate(zip(got, singles)):
        assert g["id"] == "r%d" % i and g["tokens"] == s1["tokens"] and g["text"] == s1["text"], (i, g, s1)
        assert g["prompt_tokens"] == s1["prompt_tokens"], (g, s1)

    # A video through the model (generate --video, and a --batch request with "videos"): the greedy ids of
    # transformers 4.50 on the same frames (tests/data/torch/video_model, case C_video).
    with open(os.path.join(data_dir, "torch", "video_model", "cases.jsonl")) as f:
        case = json.loads(f.readline())
    assert case["id"] == "C_video", case["id"]
    ref_model = os.path.join(data_dir, "torch", "reference", case["model"])
    frames = os.path.join(data_dir, "video", case["inputs"][0]["name"])
    args = case["inputs"][0]["args"]
    v = json.loads(run([cli, "-q", "generate", "--model", ref_model, "--video", frames, "--video-source-fps",
                        str(args["source_fps"]), "--video-min-pixels", str(args["min_pixels"]), "--video-max-pixels",
                        str(args["max_pixels"]), "--prompt", case["prompt"], "--max-new-tokens", "16", "--greedy",
                        "--json"]).stdout)
    assert v["tokens"] == case["greedy_ids"] and v["prompt_tokens"] == case["prompt_tokens"], (v, case["greedy_ids"])
    vbatch = os.path.join(work, "video_batch.jsonl")
    with open(vbatch, "w") as f:
        f.write(json.dumps({"id": "text", "prompt": "Hello", "max_new_tokens": 5}) + "\n")
        f.write(json.dumps({"id": "video", "prompt": case["prompt"], "max_new_tokens": 16,
                            "videos": [dict(path=frames, **args)]}) + "\n")
        f.write(json.dumps({"id": "bad", "prompt": "x", "videos": [{"fps": 2}]}) + "\n")
    r = run([cli, "-q", "generate", "--model", ref_model, "--greedy", "--batch", vbatch], expect=1)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert lines[1]["id"] == "video" and lines[1]["tokens"] == case["greedy_ids"], lines
    assert "error" in lines[2] and "bad_request" in lines[2]["error"], lines[2]

    png_out = os.path.join(work, "detect.png")
    det = [cli, "-q", "detect", "--model", model, "--image", img, "--classes", "plane, ship", "--format", "obb",
           "--max-new-tokens", "8", "--png", png_out]
    d = json.loads(run(det).stdout)
    for k in ("objects", "dropped", "text", "original_size", "resized_size", "grid_thw", "prompt_tokens"):
        assert k in d, k
    assert d["original_size"] == {"width": 130, "height": 90}, d
    assert d["resized_size"]["width"] % 28 == 0 and d["resized_size"]["height"] % 28 == 0, d
    assert d["codec"] == "codec.obb.plain", d
    assert os.path.getsize(png_out) > 100
    with open(png_out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    # The nested, sharded, bfloat16 layouts load too, and the float32 nested model answers identically.
    nested = os.path.join(work, "nested")
    run([cli, "tiny-model", "--out", nested, "--tokenizer", tok, "--layout", "nested", "--shard-bytes", "4000000"])
    assert os.path.exists(os.path.join(nested, "model.safetensors.index.json"))
    c = json.loads(run([cli, "-q", "generate", "--model", nested, "--image", img, "--prompt", "Describe the image.",
                        "--max-new-tokens", "6", "--greedy", "--json"]).stdout)
    assert c["tokens"] == a["tokens"], (c, a)

    # Errors: a missing model directory, a missing tensor, a bad device.
    r = run([cli, "-q", "generate", "--model", os.path.join(work, "nope"), "--prompt", "x"], expect=1)
    assert "rscovlm.config.missing_model_config" in r.stderr, r.stderr
    shards = sorted(f for f in os.listdir(nested) if f.endswith(".safetensors"))
    assert len(shards) > 1 and shards[0].startswith("model-00001-of-"), shards
    os.remove(os.path.join(nested, shards[0]))
    r = run([cli, "-q", "generate", "--model", nested, "--prompt", "x"], expect=1)
    assert "rscovlm.io.safetensors_open" in r.stderr, r.stderr
    r = run([cli, "-q", "generate", "--model", model, "--prompt", "x", "--device", "cuda:7"], expect=1)
    assert "rscovlm.torch.bad_device" in r.stderr or "rscovlm.torch" in r.stderr, r.stderr
    print("torch CLI end to end: tiny-model, generate (json, stream, batch), detect (JSON + PNG), nested sharded layout, errors: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
