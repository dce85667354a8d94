#!/usr/bin/env python3
"""`rscovlm train` end to end, on the training goldens (tests/data/train, see its README):

1. one process, the golden configuration: per-step loss and grad_norm match transformers' run, the
   saved Hugging Face checkpoint matches its final weights, log.jsonl and curves.png are written;
2. data parallel over c10d/Gloo on 127.0.0.1: 2 and 3 processes with accumulation g give the same
   per-step losses, grad norms and final weights as one process with accumulation W x g, for plain
   DDP and ZeRO-1;
3. a killed rank makes the others fail with a clear error within the timeout, not hang;
4. ranks that disagree on the configuration fail with rscovlm.train.config_mismatch;
5. a mistyped key is a typed error;
6. shards of `rscovlm data build` (plain and packed, with pixels) train the tiny random model, and the
   checkpoint it writes loads back and generates.

usage: train_cli.py RSCOVLM TESTS_DATA_DIR WORK_DIR
"""
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

cli, data_dir, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
train_dir = os.path.join(data_dir, "train")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        if e["dtype"] == "F32":
            out[name] = struct.unpack("<%df" % ((b - a) // 4), body[a:b])
    return out


def read_model(d):
    index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    out = {}
    for f in sorted(set(index["weight_map"].values())):
        out.update(read_safetensors(os.path.join(d, f)))
    return out


def max_diff(a, b):
    worst = 0.0
    for k in b:
        if k not in a:
            return float("inf")
        worst = max(worst, max(abs(x - y) for x, y in zip(a[k], b[k])))
    return worst if set(a) == set(b) else float("inf")


def read_log(d):
    return [json.loads(l) for l in open(os.path.join(d, "log.jsonl")) if l.strip()]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


GOLDEN = {
    "model_name_or_path": os.path.join(train_dir, "models", "TA"),
    "learning_rate": 1e-3, "vision_lr": 5e-4, "merger_lr": 2e-3, "weight_decay": 0.1,
    "lr_scheduler_type": "cosine", "warmup_ratio": 0.25, "max_grad_norm": 1.0,
    "gradient_accumulation_steps": 2, "per_device_train_batch_size": 2, "num_train_epochs": 2,
    "freeze_merger": False, "save_steps": 0, "resume": False, "dist_timeout_s": 60,
}


def write_config(name, **kw):
    cfg = dict(GOLDEN)
    cfg.update(kw)
    path = os.path.join(work, name + ".json")
    json.dump(cfg, open(path, "w"), indent=1)
    return path


def run_ranks(config, world, extra_sets=None, timeout=300):
    port = free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), LOCAL_RANK=str(r),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        args = [cli, "--quiet", "train", "--config", config]
        for s in (extra_sets or {}).get(r, []):
            args += ["--set", s]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
            e += "\n(timed out)"
        outs.append((p.returncode, o, e))
    return outs


# 1. one process, the golden run
mb = os.path.join(train_dir, "data", "micro_batches.jsonl")
want = json.load(open(os.path.join(train_dir, "expected", "TA", "run_groups.json")))
single = os.path.join(work, "single")
cfg = write_config("single", micro_batches=mb, output_dir=single)
r = subprocess.run([cli, "train", "--config", cfg], capture_output=True, text=True)
expect(r.returncode == 0, "rscovlm train (golden configuration) exits 0: " + r.stderr.strip()[-300:])
if r.returncode == 0:
    summary = json.loads(r.stdout)
    expect(summary["steps"] == 4 and summary["total_steps"] == 4, "4 optimizer steps planned and run")
    log = read_log(single)
    expect(len(log) == 4, "log.jsonl has one line per optimizer step")
    for got, w in zip(log, want["steps"]):
        expect(abs(got["loss"] - w["loss"]) <= 1e-5 * abs(w["loss"]), "step %d loss %.7f vs %.7f" % (w["step"], got["loss"], w["loss"]))
        expect(abs(got["grad_norm"] - w["grad_norm"]) <= 1e-4 * w["grad_norm"],
               "step %d grad_norm %.6f vs %.6f" % (w["step"], got["grad_norm"], w["grad_norm"]))
        expect(sorted(got["lr"]) == sorted(g["label"] for g in want["groups"]), "step %d logs every group's lr" % w["step"])
        expect(all(k in got for k in ("tokens", "tokens_per_s")), "step %d logs tokens and tokens/s" % w["step"])
    ref = read_safetensors(os.path.join(train_dir, "expected", "TA", "run_groups.safetensors"))
    d = max_diff(read_model(single), ref)
    expect(d <= 2e-5, "saved checkpoint equals transformers' final weights (max |diff| %.2e)" % d)
    expect(os.path.getsize(os.path.join(single, "curves.png")) > 0, "curves.png written")
    expect(os.path.exists(os.path.join(single, "config.json")), "config.json written beside the weights")

# 2. data parallel: W ranks with GA 1 vs one process with GA W (the same micro-batches per window)
lines = [l for l in open(mb) if l.strip()]
mb3 = os.path.join(work, "mb3.jsonl")
with open(mb3, "w") as f:  # six micro-batches in one epoch (a multiple of 3 ranks)
    for i, l in enumerate(lines[:6]):
        j = json.loads(l)
        j["epoch"] = 0
        j["pixel_values"] = [os.path.join(train_dir, p) for p in j["pixel_values"]]
        f.write(json.dumps(j) + "\n")
base_logs = {}
for world, source in ((2, mb), (3, mb3)):
    ref_dir = os.path.join(work, "ref%d" % world)
    cfg = write_config("ref%d" % world, micro_batches=source, output_dir=ref_dir, gradient_accumulation_steps=world)
    r = subprocess.run([cli, "--quiet", "train", "--config", cfg], capture_output=True, text=True)
    expect(r.returncode == 0, "one process, accumulation %d: %s" % (world, r.stderr.strip()[-300:]))
    if r.returncode != 0:
        continue
    ref_w, ref_log = read_model(ref_dir), read_log(ref_dir)
    for zero in (0, 1):
        out_dir = os.path.join(work, "ddp%d_zero%d" % (world, zero))
        cfg = write_config("ddp%d_zero%d" % (world, zero), micro_batches=source, output_dir=out_dir,
                           gradient_accumulation_steps=1, zero_stage=zero, bucket_mb=0)
        t0 = time.time()
        outs = run_ranks(cfg, world)
        ok = all(rc == 0 for rc, _, _ in outs)
        expect(ok, "%d ranks over Gloo (zero_stage %d) exit 0 in %.1f s: %s" %
               (world, zero, time.time() - t0, " | ".join(e.strip()[-200:] for _, _, e in outs if e.strip())))
        if not ok:
            continue
        log = read_log(out_dir)
        expect(len(log) == len(ref_log), "%d ranks, zero %d: %d steps like one process" % (world, zero, len(ref_log)))
        for a, b in zip(log, ref_log):
            expect(abs(a["loss"] - b["loss"]) <= 1e-5 * abs(b["loss"]) and
                   abs(a["grad_norm"] - b["grad_norm"]) <= 1e-5 * b["grad_norm"],
                   "%d ranks, zero %d, step %d: loss %.7f/%.7f grad_norm %.6f/%.6f" %
                   (world, zero, a["step"], a["loss"], b["loss"], a["grad_norm"], b["grad_norm"]))
        d = max_diff(read_model(out_dir), ref_w)
        expect(d <= 2e-5, "%d ranks, zero %d: final weights equal one process's (max |diff| %.2e)" % (world, zero, d))

# 3. a killed rank: the survivor fails with a typed error within the timeout
long_mb = os.path.join(work, "long.jsonl")
with open(long_mb, "w") as f:
    for e in range(200):
        for l in lines[:4]:
            j = json.loads(l)
            j["epoch"] = e
            j["pixel_values"] = [os.path.join(train_dir, p) for p in j["pixel_values"]]
            f.write(json.dumps(j) + "\n")
kill_dir = os.path.join(work, "killed")
cfg = write_config("killed", micro_batches=long_mb, output_dir=kill_dir, gradient_accumulation_steps=1, dist_timeout_s=15)
port = free_port()
procs = []
for rk in range(2):
    env = dict(os.environ, RANK=str(rk), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    procs.append(subprocess.Popen([cli, "--quiet", "train", "--config", cfg], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
deadline = time.time() + 120
while time.time() < deadline and not (os.path.exists(os.path.join(kill_dir, "log.jsonl")) and
                                      os.path.getsize(os.path.join(kill_dir, "log.jsonl")) > 0):
    if procs[0].poll() is not None:
        break
    time.sleep(0.1)
procs[1].send_signal(signal.SIGKILL)
killed_at = time.time()
try:
    _, err = procs[0].communicate(timeout=60)
    waited = time.time() - killed_at
    trained = os.path.exists(os.path.join(kill_dir, "log.jsonl"))
    expect(trained and procs[0].returncode not in (0, None) and "rscovlm.train.distributed" in err,
           "rank 0 fails with rscovlm.train.distributed after rank 1 is killed mid-training (%.1f s): %s" %
           (waited, err.strip()[-300:]))
    expect(trained and waited < 40, "the failure comes within the timeout (%.1f s)" % waited)
except subprocess.TimeoutExpired:
    procs[0].kill()
    expect(False, "rank 0 hung after rank 1 was killed")
procs[1].communicate()

# 4. ranks that disagree on the configuration
cfg = write_config("mismatch", micro_batches=mb, output_dir=os.path.join(work, "mismatch"), gradient_accumulation_steps=1)
outs = run_ranks(cfg, 2, {1: ["learning_rate=0.5"]}, timeout=120)
expect(all(rc == 1 and "rscovlm.train.config_mismatch" in e for rc, _, e in outs),
       "ranks with different learning rates both fail with rscovlm.train.config_mismatch: " +
       " | ".join("%s %s" % (rc, e.strip()[-150:]) for rc, _, e in outs))

# 5. usage errors are typed
r = subprocess.run([cli, "train", "--config", cfg, "--set", "learning_rat=1"], capture_output=True, text=True)
expect(r.returncode == 1 and "rscovlm.train.bad_config" in r.stderr and "learning_rat" in r.stderr,
       "an unknown key fails with rscovlm.train.bad_config naming it")

# 6. shards of `rscovlm data build` (plain and packed, with pixels) train the tiny random model, and
# the checkpoint it writes loads back and generates.
tok = os.path.join(data_dir, "tokenizer", "qwen", "tokenizer.json")
tiny = os.path.join(work, "tiny")
r = subprocess.run([cli, "--quiet", "tiny-model", "--out", tiny, "--tokenizer", tok], capture_output=True, text=True)
expect(r.returncode == 0, "tiny-model: " + r.stderr.strip()[-200:])
fx = os.path.join(data_dir, "img_split", "fx_a")
catalog = os.path.join(work, "catalog.json")
json.dump({"fx_a": {"annotation_path": os.path.join(fx, "annfiles"), "data_path": os.path.join(fx, "images"),
                    "dataset_type": "dense_det", "reader": "reader.dota"}}, open(catalog, "w"))
recipe = os.path.join(work, "recipe.json")
json.dump(["fx_a*2"], open(recipe, "w"))
for packed in (False, True):
    shards = os.path.join(work, "shards_packed" if packed else "shards")
    cmd = [cli, "--quiet", "data", "build", "--recipe", recipe, "--catalog", catalog, "--out", shards, "--limit", "4",
           "--tokenizer", tok, "--pixels", "--min-pixels", "3136", "--max-pixels", "12544", "--shard-size", "2",
           "--max-length", "256"]
    if packed:
        cmd += ["--pack-length", "512"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    expect(r.returncode == 0, "data build%s: %s" % (" --pack" if packed else "", r.stderr.strip()[-300:]))
    out_dir = os.path.join(work, "tiny_trained_packed" if packed else "tiny_trained")
    r = subprocess.run([cli, "--quiet", "train", "--set", "model_name_or_path=" + tiny, "--set", "shards=" + shards,
                        "--set", "output_dir=" + out_dir, "--set", "per_device_train_batch_size=2",
                        "--set", "max_steps=2", "--set", "learning_rate=1e-4", "--set", "save_steps=0",
                        "--set", "gradient_checkpointing=true", "--set", "freeze_merger=false"],
                       capture_output=True, text=True)
    expect(r.returncode == 0, "train on %s shards: %s" % ("packed" if packed else "plain", r.stderr.strip()[-300:]))
    if r.returncode != 0:
        continue
    log = read_log(out_dir)
    expect(len(log) == 2 and all(math.isfinite(l["loss"]) and l["loss"] > 0 and l["tokens"] > 0 for l in log),
           "%s shards: two logged steps with finite losses" % ("packed" if packed else "plain"))
    if not packed:
        r = subprocess.run([cli, "--quiet", "generate", "--model", out_dir, "--prompt", "Hello", "--max-new-tokens", "3",
                            "--greedy", "--json"], capture_output=True, text=True)
        expect(r.returncode == 0 and "tokens" in json.loads(r.stdout or "{}"),
               "the trained checkpoint loads back and generates: " + r.stderr.strip()[-200:])

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("all train CLI checks passed")
