#!/usr/bin/env python3
"""Side-by-side benchmark: the LibTorch Qwen2.5-VL (bench_torch) against transformers 4.50's own
modeling code, on the same torch build, weights, token ids, thread count and dtype (float32, CPU).

    /usr/bin/python3 plugins/torch/bench/compare_transformers.py \
        --bench-torch build/plugins/torch/bench_torch --transformers-src TRANSFORMERS_SRC \
        [--shape 0.5b|tiny] [--contexts 300,2000,4000] [--batches 1,8] [--new 32] [--threads N] \
        [--image HxW] [--out DIR]

The reference is transformers v4.50.0's `modeling_qwen2_5_vl.py` run unchanged through
scripts/hf_reference.py, driven as `GenerationMixin._sample` drives it (prefill with the whole prompt,
then one token per step with its DynamicCache, greedy). Each configuration runs in a fresh process on
each side (load time and peak RSS are per process). It prints one line per configuration and a table of
ratios (ours / reference for tokens per second, reference / ours for load time), checks that both sides
chose the same greedy ids, and writes results.json (and ratios.png when Pillow is present) to --out.
Targets (issue #18): load no slower, prefill >= 1.5x, decode >= 1.2x at every context length. Both sides
split --threads between torch's OpenMP pool and OpenBLAS the same way (rscovlm/torch/threads.hpp).

The reference side's load is the stand-in loader of scripts/hf_reference.py (read the safetensors file,
copy every tensor into the module), not transformers' `from_pretrained`; its load ratio is indicative.
No timing assertions: this is a benchmark, not a test.
"""
import argparse
import json
import os
import random
import resource
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

# Text: Qwen2.5-0.5B's shape (tied embeddings); vision: Qwen2.5-VL's width with two blocks. 505M
# parameters in all, the shape of the measurements.
SHAPES = {
    "0.5b": {
        "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "max_position_embeddings": 32768, "tie_word_embeddings": True,
        "rope_scaling": {"type": "mrope", "mrope_section": [8, 12, 12]},
        "vision_config": {"depth": 2, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 896, "fullatt_block_indexes": [1]},
    },
    "tiny": {
        "vocab_size": 151936, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "max_position_embeddings": 32768, "tie_word_embeddings": True,
        "rope_scaling": {"type": "mrope", "mrope_section": [4, 6, 6]},
        "vision_config": {"depth": 1, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2,
                          "out_hidden_size": 128, "fullatt_block_indexes": [0]},
    },
}
COMMON = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_act": "silu",
    "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "vision_token_id": 151654, "image_token_id": 151655, "video_token_id": 151656, "use_sliding_window": False,
    "sliding_window": 32768, "max_window_layers": 28, "attention_dropout": 0.0, "torch_dtype": "float32",
}
VISION_COMMON = {"hidden_act": "silu", "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                 "window_size": 112, "in_chans": 3, "tokens_per_second": 2}


def write_checkpoint(path, shape):
    """config.json + model.safetensors with seeded random float32 weights (norms near 1)."""
    import torch

    cfg = dict(COMMON, **SHAPES[shape])
    cfg["vision_config"] = dict(VISION_COMMON, **cfg["vision_config"])
    os.makedirs(path, exist_ok=True)
    marker = os.path.join(path, "shape.json")
    if os.path.exists(marker) and json.load(open(marker)) == cfg:
        return cfg
    import hf_reference

    mod = hf_reference.load(ARGS.transformers_src)
    model = mod.Qwen2_5_VLForConditionalGeneration(hf_reference.config_from_dict(mod, cfg))
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for name, p in model.named_parameters():
        if name == "lm_head.weight" and cfg["tie_word_embeddings"]:
            continue
        if "norm" in name or "ln_q" in name:
            t = 1 + 0.05 * torch.randn(p.shape, generator=gen)
        else:
            t = 0.02 * torch.randn(p.shape, generator=gen)
        tensors[name] = t.float().contiguous()
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(path, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(marker, "w") as f:
        json.dump(cfg, f)
    return cfg


def set_threads(torch, n):
    """The thread split rscovlm uses (rscovlm/torch/threads.hpp), so both sides run the same way: with an
    OpenBLAS that has its own threads, the BLAS gets n and torch's OpenMP pool 1; otherwise torch gets n.
    Returns the BLAS thread count (0: not OpenBLAS)."""
    import ctypes

    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            # Only a BLAS this torch already loaded (RTLD_NOLOAD): never a second, unrelated library.
            lib = ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
            setter = lib.openblas_set_num_threads
        except (OSError, AttributeError):
            continue
        setter(n)
        torch.set_num_threads(1)
        return lib.openblas_get_num_threads()
    torch.set_num_threads(n)
    return 0


def reference_worker(a):
    """One configuration of the reference in this process: prints a JSON line."""
    import torch

    import hf_reference

    blas = set_threads(torch, a.threads)
    mod = hf_reference.load(a.transformers_src)
    t0 = time.perf_counter()
    model, _ = hf_reference.load_model(mod, a.model)
    load_s = time.perf_counter() - t0
    cache_cls = sys.modules[mod.__name__.rsplit(".", 3)[0] + ".cache_utils"].DynamicCache
    rows = json.load(open(a.ids))
    vision = {}
    if isinstance(rows[0], dict):
        import numpy as np

        vision["pixel_values"] = torch.cat([torch.from_numpy(np.fromfile(r["pixels"], dtype="<f4")) for r in rows])
        vision["pixel_values"] = vision["pixel_values"].view(-1, 3 * 2 * 14 * 14)
        vision["image_grid_thw"] = torch.tensor([g for r in rows for g in r["grid_thw"]])
        rows = [r["input_ids"] for r in rows]
    ids = torch.tensor(rows)
    B, L = ids.shape
    with torch.no_grad():
        mask = torch.ones_like(ids)
        t0 = time.perf_counter()
        out = model(input_ids=ids, attention_mask=mask, past_key_values=cache_cls(), use_cache=True,
                    cache_position=torch.arange(L), **vision)
        nxt = out.logits[:, -1].argmax(-1)
        prefill_s = time.perf_counter() - t0
        tokens = [nxt]
        steps = []
        t1 = time.perf_counter()
        for i in range(a.new - 1):
            s0 = time.perf_counter()
            mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype)], 1)
            out = model(input_ids=nxt[:, None], attention_mask=mask, past_key_values=out.past_key_values,
                        use_cache=True, cache_position=torch.tensor([L + i]))
            nxt = out.logits[:, -1].argmax(-1)
            tokens.append(nxt)
            steps.append(time.perf_counter() - s0)
        decode_s = time.perf_counter() - t1
    q = max(1, len(steps) // 4)
    first = sum(steps[:q]) / q if steps else 0.0
    last = sum(steps[-q:]) / q if steps else 0.0
    print(json.dumps({
        "load_s": load_s, "prefill_s": prefill_s, "prefill_tok_s": B * L / prefill_s, "decode_s": decode_s,
        "decode_tok_s": B * (a.new - 1) / decode_s if decode_s > 0 else 0.0, "step_first_ms": first * 1e3,
        "step_last_ms": last * 1e3, "step_growth": last / first if first > 0 else 0.0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "tokens": torch.stack(tokens, 1).tolist(), "threads": torch.get_num_threads(), "blas_threads": blas}))


def with_image(cfg, text_ids, size, pixels_file, rng):
    """A prompt row with one random image of `size` ("HxW", multiples of 28) before the text."""
    h, w = (int(v) // 28 * 2 for v in size.lower().split("x"))
    n = h * w
    with open(pixels_file, "wb") as f:
        f.write(struct.pack(f"<{n * 1176}f", *(rng.gauss(0.0, 1.0) for _ in range(n * 1176))))
    ids = [cfg["vision_start_token_id"]] + [cfg["image_token_id"]] * (n // 4) + [cfg["vision_end_token_id"]]
    return {"input_ids": ids + text_ids, "grid_thw": [[1, h, w]], "pixels": pixels_file}


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def write_png(path, rows):
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return False
    # Load is left out: mapping against copying gives ratios in the thousands that would flatten the rest.
    metrics = [("prefill", "prefill_x"), ("decode", "decode_x")]
    w, h, pad = max(640, 160 + len(rows) * (26 * len(metrics) + 30)), 360, 40
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    top = max([r[k] for r in rows for _, k in metrics] + [2.0])
    scale = (h - 2 * pad) / top
    y1 = h - pad - scale * 1.0
    d.line([(pad, y1), (w - pad, y1)], fill=(200, 0, 0))
    d.text((4, y1 - 6), "1.0x", fill=(200, 0, 0))
    x = pad + 10
    colours = {"prefill": (60, 160, 60), "decode": (220, 140, 30)}
    for r in rows:
        for name, k in metrics:
            v = r[k]
            d.rectangle([x, h - pad - scale * v, x + 22, h - pad], fill=colours[name])
            d.text((x, h - pad - scale * v - 12), f"{v:.2f}", fill="black")
            x += 26
        d.text((x - 26 * len(metrics), h - pad + 4), f"b{r['batch']} {r['context']}", fill="black")
        x += 30
    d.text((pad, 8), "tokens/s, ours / transformers 4.50: green prefill, orange decode", fill="black")
    im.save(path)
    return True


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench-torch", required=False)
    p.add_argument("--transformers-src", required=True)
    p.add_argument("--shape", default="0.5b", choices=sorted(SHAPES))
    p.add_argument("--contexts", default="300,2000,4000")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--image", default="", help="HxW: one random image of that size (multiples of 28) before each "
                   "prompt's text, so prefill includes the vision tower")
    p.add_argument("--out", default="compare_transformers_out")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--ids", help=argparse.SUPPRESS)
    ARGS = a = p.parse_args()
    if a.worker:
        return reference_worker(a)
    if not a.bench_torch:
        p.error("--bench-torch is required")
    os.makedirs(a.out, exist_ok=True)
    model = os.path.join(a.out, f"model_{a.shape}")
    cfg = write_checkpoint(model, a.shape)
    rng = random.Random(0)
    rows = []
    print(f"shape {a.shape}, {a.threads} threads, float32, {a.new} new tokens; torch build of both sides: "
          f"{subprocess.run([sys.executable, '-c', 'import torch; print(torch.__version__)'], capture_output=True, text=True).stdout.strip()}")
    for batch in [int(x) for x in a.batches.split(",")]:
        for context in [int(x) for x in a.contexts.split(",")]:
            ids = [[rng.randrange(3, min(cfg["vocab_size"], 150000)) for _ in range(context)] for _ in range(batch)]
            tag = f"b{batch}_c{context}" + (f"_i{a.image}" if a.image else "")
            if a.image:
                ids = [with_image(cfg, row, a.image, os.path.join(a.out, f"pixels_{tag}_{b}.f32"), rng)
                       for b, row in enumerate(ids)]
            ids_file = os.path.join(a.out, f"ids_{tag}.json")
            with open(ids_file, "w") as f:
                json.dump(ids, f)
            ref = run_json([sys.executable, os.path.abspath(__file__), "--worker", "--transformers-src",
                            a.transformers_src, "--model", model, "--ids", ids_file, "--new", str(a.new),
                            "--threads", str(a.threads)])
            ours = run_json([a.bench_torch, "--model", model, "--ids", ids_file, "--new", str(a.new), "--threads",
                             str(a.threads), "--repeat", "1", "--dtype", "float32"])
            # Random weights give small logit margins: a rounding-level difference can flip a greedy id,
            # after which the rows diverge (the work per step is the same). Report where, if anywhere.
            same = ours["tokens"] == ref["tokens"]
            first_diff = None
            if not same:
                for b_, (x, y) in enumerate(zip(ours["tokens"], ref["tokens"])):
                    k = next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), None)
                    if k is not None:
                        first_diff = [b_, k]
                        break
            row = {"batch": batch, "context": context, "ours": {k: v for k, v in ours.items() if k != "tokens"},
                   "reference": {k: v for k, v in ref.items() if k != "tokens"}, "same_greedy_ids": same, "first_difference": first_diff,
                   "load_x": ref["load_s"] / ours["load_s"] if ours["load_s"] > 0 else 0.0,
                   "prefill_x": ours["prefill_tok_s"] / ref["prefill_tok_s"],
                   "decode_x": ours["decode_tok_s"] / ref["decode_tok_s"] if ref["decode_tok_s"] > 0 else 0.0}
            rows.append(row)
            print(f"batch {batch:2d} context {context:5d}{' image ' + a.image if a.image else ''}: load {ours['load_s']:.2f}s vs {ref['load_s']:.2f}s, "
                  f"prefill {ours['prefill_tok_s']:.0f} vs {ref['prefill_tok_s']:.0f} tok/s, decode "
                  f"{ours['decode_tok_s']:.1f} vs {ref['decode_tok_s']:.1f} tok/s, step growth "
                  f"{ours['step_growth']:.2f} vs {ref['step_growth']:.2f}, peak RSS {ours['peak_rss_mib']:.0f} vs "
                  f"{ref['peak_rss_mib']:.0f} MiB, same greedy ids: {same if same else first_diff}", flush=True)
    print("\nratios (ours over transformers; load: transformers time over ours; targets load >= 1, prefill >= 1.5, "
          "decode >= 1.2)")
    print(f"{'batch':>5} {'context':>7} {'load':>6} {'prefill':>8} {'decode':>7} {'ids':>5}")
    for r in rows:
        print(f"{r['batch']:5d} {r['context']:7d} {r['load_x']:6.2f} {r['prefill_x']:8.2f} {r['decode_x']:7.2f} "
              f"{'same' if r['same_greedy_ids'] else 'DIFF':>5}")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"shape": a.shape, "threads": a.threads, "new": a.new, "image": a.image, "rows": rows}, f, indent=1)
    if write_png(os.path.join(a.out, "ratios.png"), rows):
        print("wrote", os.path.join(a.out, "ratios.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
