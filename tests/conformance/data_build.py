#!/usr/bin/env python3
"""Conformance: `rscovlm data build` mixing counts and reproducibility across runs and ranks.

Usage: data_build.py <rscovlm cli> <tests/data dir>. Recipe ["coco_ds*2", "chat%50"] over the
fixture catalog: 2 images x 2 repeats x 3 region types + int(4 * 0.5) chats = 14 samples; two
ranks of a world of 2 get 7 samples each, together every index once; a second run is identical.
"""
import json
import os
import struct
import shutil
import subprocess
import sys
import tempfile


def run(cli, recipe, catalog, out, rank, world):
    cmd = [cli, "--quiet", "data", "build", "--recipe", recipe, "--catalog", catalog, "--out", out,
           "--rank", str(rank), "--world-size", str(world), "--seed", "3", "--no-encode"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("exit %d: %s" % (r.returncode, r.stderr.strip()))
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    lines = open(os.path.join(out, "conversations.jsonl"), encoding="utf-8").read().splitlines()
    return summary, [json.loads(l) for l in lines]


def read_safetensors(path):
    """Minimal stdlib reader of the safetensors layout (u64 header size, JSON header, data)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    fmt = {"I32": "i", "I64": "q", "U8": "B", "BF16": "H", "F32": "f"}
    size = {"I32": 4, "I64": 8, "U8": 1, "BF16": 2, "F32": 4}
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        count = (e - b) // size[info["dtype"]]
        expect = 1
        for d in info["shape"]:
            expect *= d
        if count != expect:
            raise RuntimeError("%s: %d elements for shape %r" % (name, count, info["shape"]))
        out[name] = (info["shape"], struct.unpack("<%d%s" % (count, fmt[info["dtype"]]), raw[8 + n + b:8 + n + e]))
    return meta, out


def check_shards(cli, data_dir, tmp, failures):
    fx = os.path.join(data_dir, "img_split", "fx_a")
    catalog = os.path.join(tmp, "catalog.json")
    with open(catalog, "w") as f:
        json.dump({"fx_a": {"annotation_path": os.path.join(fx, "annfiles"), "data_path": os.path.join(fx, "images"),
                            "dataset_type": "dense_det", "reader": "reader.dota"}}, f)
    recipe = os.path.join(tmp, "recipe_fx.json")
    with open(recipe, "w") as f:
        json.dump(["fx_a"], f)
    out = os.path.join(tmp, "enc")
    tok = os.path.join(data_dir, "tokenizer", "qwen", "tokenizer.json")
    cmd = [cli, "--quiet", "data", "build", "--recipe", recipe, "--catalog", catalog, "--out", out, "--limit", "3",
           "--tokenizer", tok, "--shard-size", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("encoded build: exit %d: %s" % (r.returncode, r.stderr.strip()))
        return
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    if manifest["samples"] != 3 or len(manifest["shards"]) != 2:
        failures.append("manifest: %r samples, %r shards" % (manifest["samples"], len(manifest["shards"])))
    total = 0
    for sh in manifest["shards"]:
        meta, t = read_safetensors(os.path.join(out, sh["file"]))
        ids, labels, offs = t["input_ids"][1], t["labels"][1], t["sample_offsets"][1]
        if offs[0] != 0 or offs[-1] != len(ids) or len(labels) != len(ids):
            failures.append("%s: inconsistent offsets" % sh["file"])
        if any(l != -100 and l != i for l, i in zip(labels, ids)):
            failures.append("%s: a label is neither -100 nor its input id" % sh["file"])
        if not any(l != -100 for l in labels):
            failures.append("%s: no supervised token" % sh["file"])
        if t["position_ids"][0] != [3, len(ids)]:
            failures.append("%s: position_ids shape %r" % (sh["file"], t["position_ids"][0]))
        ng = t["image_grid_thw"][0][0]
        if t["image_offsets"][1][-1] != ng:
            failures.append("%s: image offsets" % sh["file"])
        if meta.get("format") != "rscovlm.shard.v1":
            failures.append("%s: metadata %r" % (sh["file"], meta))
        total += int(meta["samples"])
    if total != 3:
        failures.append("shards hold %d samples" % total)
    r = subprocess.run([cli, "data", "inspect", os.path.join(out, manifest["shards"][0]["file"]), "--json",
                        "--tokenizer", tok], capture_output=True, text=True)
    if r.returncode != 0 or "[[" not in json.loads(r.stdout)["text"]:
        failures.append("inspect: %s" % (r.stderr.strip() or r.stdout[:200]))


def check_refgeo_goldens(cli, data_dir, tmp, failures):
    """`data build` of the refGeo fixture (seg masks included) equals the reference's messages
    (tests/data/builders/refgeo.jsonl, made by make_goldens.py), with the default sizing and with
    the same random resize given as a registry strategy (--resolution)."""
    root = os.path.join(data_dir, "builders", "refgeo")
    catalog = os.path.join(tmp, "refgeo_catalog.json")
    with open(catalog, "w") as f:
        json.dump({"fixture": {"annotation_path": os.path.join(root, "metainfo.jsonl"), "data_path": root,
                               "dataset_type": "refgeo"}}, f)
    recipe = os.path.join(tmp, "refgeo_recipe.json")
    with open(recipe, "w") as f:
        json.dump(["fixture"], f)
    goldens = [json.loads(l) for l in open(os.path.join(data_dir, "builders", "refgeo.jsonl"), encoding="utf-8")]
    for g in goldens:
        if g["dataset_type"] != "refgeo":
            continue
        variants = [["--prob-random-resize", str(g["prob_random_resize"])],
                    ["--resolution", json.dumps({"key": "resize.random", "params": {"prob": g["prob_random_resize"]}})]]
        for extra in variants:
            out = os.path.join(tmp, "refgeo_out")
            cmd = [cli, "--quiet", "data", "build", "--recipe", recipe, "--catalog", catalog, "--out", out,
                   "--seed", str(g["seed"]), "--no-encode", "--no-shuffle"] + extra
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                failures.append("refgeo build %r: exit %d: %s" % (extra, r.returncode, r.stderr.strip()))
                continue
            got = [json.loads(l) for l in open(os.path.join(out, "conversations.jsonl"), encoding="utf-8")]
            if len(got) != len(g["samples"]):
                failures.append("refgeo build: %d samples, expected %d" % (len(got), len(g["samples"])))
                continue
            prefix = "file://" + root + "/"
            for rec, want in zip(got, g["samples"]):
                msgs = rec["messages"]
                for m in msgs:
                    if isinstance(m["content"], list):
                        for c in m["content"]:
                            if c.get("type") == "image" and c["image"].startswith(prefix):
                                c["image"] = "file://" + c["image"][len(prefix):]
                if rec["index"] != want["index"] or msgs != want["messages"]:
                    failures.append("refgeo seed %d %r sample %d differs from the reference" % (g["seed"], extra, want["index"]))


def check_answer_codec(cli, data_dir, tmp, failures):
    """A recipe file's "options" and the flags go through one parser: the file's answer codec writes
    every detection answer with its own prompt, a flag overrides it, and bad options are typed errors."""
    fx = os.path.join(data_dir, "img_split", "fx_a")
    catalog = os.path.join(tmp, "hbb_catalog.json")
    with open(catalog, "w") as f:
        json.dump({"fx_a": {"annotation_path": os.path.join(fx, "annfiles"), "data_path": os.path.join(fx, "images"),
                            "dataset_type": "dense_det_hbb_only", "reader": "reader.dota"}}, f)
    recipe = os.path.join(tmp, "recipe_codec.json")
    with open(recipe, "w") as f:
        json.dump({"recipe": ["fx_a"], "options": {"answer_codec": "codec.hbb.qwen2vl", "prob_proxy_prompt": 0.0}}, f)

    def build(extra, expect_ok=True):
        out = os.path.join(tmp, "codec_out")
        shutil.rmtree(out, ignore_errors=True)
        r = subprocess.run([cli, "--quiet", "data", "build", "--recipe", recipe, "--catalog", catalog, "--out", out,
                            "--no-encode", "--limit", "3"] + extra, capture_output=True, text=True)
        if not expect_ok:
            return r
        if r.returncode != 0:
            failures.append("answer codec build %r: exit %d: %s" % (extra, r.returncode, r.stderr.strip()))
            return []
        return [json.loads(l) for l in open(os.path.join(out, "conversations.jsonl"), encoding="utf-8")]

    def user_text(rec):
        for m in rec["messages"]:
            if m["role"] == "user":
                return "".join(c.get("text", "") for c in m["content"] if isinstance(c, dict))
        return ""

    recs = build([])
    if not recs or not all(user_text(r).startswith("Detect all the ") for r in recs):
        failures.append("recipe options: answer_codec codec.hbb.qwen2vl not used: %r" % [user_text(r) for r in recs])
    recs = build(["--answer-codec", "codec.hbb.plain"])
    if not recs or not all(user_text(r).startswith("find the ") for r in recs):
        failures.append("--answer-codec did not override the recipe's options: %r" % [user_text(r) for r in recs])
    r = build(["--answer-codec", "codec.nope"], expect_ok=False)
    if r.returncode == 0 or "rscovlm.registry.unknown_key" not in r.stderr:
        failures.append("unknown answer codec: exit %d, %s" % (r.returncode, r.stderr.strip()))
    r = build(["--prob-proxy-prompt", "2"], expect_ok=False)
    if r.returncode == 0 or "rscovlm.config.bad_options" not in r.stderr:
        failures.append("probability outside [0, 1]: exit %d, %s" % (r.returncode, r.stderr.strip()))


def main():
    cli, data_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ds = os.path.join(data_dir, "datasets")
    tmp = tempfile.mkdtemp(prefix="rscovlm_build_")
    failures = []
    try:
        recipe = os.path.join(tmp, "recipe.json")
        with open(recipe, "w") as f:
            json.dump(["coco_ds*2", "chat%50"], f)
        catalog = os.path.join(ds, "catalog.json")
        got = {}
        for rank in (0, 1):
            s, recs = run(cli, recipe, catalog, os.path.join(tmp, "r%d" % rank), rank, 2)
            if s["dataset_size"] != 14:
                failures.append("dataset_size %r != 14" % s["dataset_size"])
            if s["part_sizes"] != [12, 2]:
                failures.append("part sizes %r != [12, 2]" % s["part_sizes"])
            if len(recs) != 7:
                failures.append("rank %d built %d samples, expected 7" % (rank, len(recs)))
            got[rank] = recs
            s2, recs2 = run(cli, recipe, catalog, os.path.join(tmp, "again%d" % rank), rank, 2)
            if recs2 != recs:
                failures.append("rank %d: a second run differs" % rank)
        idx = sorted(r["index"] for rank in got for r in got[rank])
        if idx != list(range(14)):
            failures.append("ranks do not cover every index once: %r" % idx)
        tasks = sorted(set(r["task"] for rank in got for r in got[rank]))
        if tasks != ["det.hbb", "det.obb", "det.polygon", "sft"]:
            failures.append("tasks %r" % tasks)
        for rank in got:
            for r in got[rank]:
                if r["task"].startswith("det.") and r["messages"][-1]["role"] != "assistant":
                    failures.append("detection sample without an assistant target")
        check_shards(cli, data_dir, tmp, failures)
        check_refgeo_goldens(cli, data_dir, tmp, failures)
        check_answer_codec(cli, data_dir, tmp, failures)
    except RuntimeError as e:
        failures.append(str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:20]:
        print("FAIL", f)
    print("data_build: %d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
