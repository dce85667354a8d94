"""Video golden data for the LibTorch Qwen2.5-VL: what transformers 4.50's own modeling code computes
for the tiny checkpoints of ../reference when a prompt holds videos (and an image beside them).

Run from the repository root with Debian 12's python3-torch / torchvision / Pillow / numpy and a
transformers v4.50.0 source tree (only its two qwen2_5_vl files are used, unchanged; see
scripts/hf_reference.py):

    ATEN_CPU_CAPABILITY=default /usr/bin/python3 tests/data/torch/video_model/make_video_model_golden.py \
        TRANSFORMERS_SRC tests/data/torch/video_model

ATEN_CPU_CAPABILITY=default selects torch's baseline CPU kernels, so the video frames' resize is the
one of tests/data/video/cases_scalar.jsonl (rscovlm: torch_kernel scalar).
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "data", "video"))
import hf_reference  # noqa: E402
import make_video_golden as vg  # noqa: E402

REF = os.path.join(ROOT, "tests", "data", "torch", "reference")
VIDEO = os.path.join(ROOT, "tests", "data", "video")
IDS = {"<|endoftext|>": 256, "<|im_start|>": 257, "<|im_end|>": 258, "<|vision_start|>": 265,
       "<|vision_end|>": 266, "<|image_pad|>": 268, "<|video_pad|>": 269}
STEPS = 16

# (id, model, parts in the user turn, candidate prompts); the first candidate whose 16 greedy steps all
# have a top-1/top-2 margin >= 0.015 is kept (as ../reference selected its seeds).
VIDEO_ARGS = {"source_fps": 6.0, "min_pixels": 3136, "max_pixels": 12544}
VIDEO_ARGS_1FPS = {"source_fps": 6.0, "fps": 1.0, "min_frames": 2, "min_pixels": 3136, "max_pixels": 12544}
# 6 frames of 15 at 6 fps: sample fps 2.4, 0.8333 s per grid, three temporal steps at M-RoPE times
# int(t * 0.8333 * 2) = 0, 1, 3 (1.0 s per grid would give 0, 2, 4).
VIDEO_ARGS_6 = {"source_fps": 6.0, "nframes": 6, "min_pixels": 3136, "max_pixels": 12544}
CASES = [
    ("C_video", "C", [("video", "frames_a", VIDEO_ARGS)],
     ["What happens in this video?", "Describe the motion.", "Is anything moving?", "Track the square."]),
    ("D_video_image", "D", [("video", "frames_a", VIDEO_ARGS), ("image", "img_56x56.png", None)],
     ["Does the image show a frame of the video?", "Compare the clip and the picture.", "Same scene?",
      "Find the square in both."]),
    ("C_image_two_videos", "C", [("image", "img_84x140.png", None), ("video", "clip_a.txt", VIDEO_ARGS_1FPS),
                                 ("video", "frames_a", VIDEO_ARGS)],
     ["Which clip matches the image?", "Count the moving objects.", "Summarise all three inputs.",
      "What changed over time?", "Order the inputs by brightness.", "Where does the square go?",
      "Name the colours you see.", "How long is each clip?", "Is the picture a still from a clip?",
      "List what stays still.", "Which input is sharpest?", "Describe each input briefly."]),
    ("D_video_three_steps", "D", [("video", "frames_a", VIDEO_ARGS_6)],
     ["Where does the square move?", "What happens in this video?", "Describe the motion.", "Is anything moving?",
      "Track the square.", "How many frames are there?"]),
]


def utf8_ids(text):
    return list(text.encode("utf-8"))


def image_inputs(path):
    im = vg.to_rgb(Image.open(path))
    frame = np.array(im)
    pv, grid, _, _, _ = vg.processor([frame], 2.0)  # one frame, padded to two: the image path
    grid[0] = 1
    return pv, grid


def build(parts):
    ids = [IDS["<|im_start|>"]] + utf8_ids("system\nYou are a helpful assistant.") + [IDS["<|im_end|>"]]
    ids += utf8_ids("\n") + [IDS["<|im_start|>"]] + utf8_ids("user\n")
    images, videos, inputs = [], [], []
    for kind, name, args in parts:
        if kind == "image":
            pv, grid = image_inputs(os.path.join(REF, "images", name))
            images.append((pv, grid))
            pad = IDS["<|image_pad|>"]
        else:
            pv, info = vg.video_inputs(os.path.join(VIDEO, name), args)
            grid = info["video_grid_thw"][0]
            videos.append((pv, grid, info["second_per_grid_ts"][0]))
            pad = IDS["<|video_pad|>"]
        inputs.append({"type": kind, "name": name, "args": args, "grid_thw": grid,
                       "pixel_values_sha256": hashlib.sha256(pv.tobytes()).hexdigest()})
        ids += [IDS["<|vision_start|>"]] + [pad] * (grid[0] * grid[1] * grid[2] // 4) + [IDS["<|vision_end|>"]]
    return ids, images, videos, inputs


def tensors(images, videos):
    kw = {}
    if images:
        kw["pixel_values"] = torch.from_numpy(np.concatenate([p for p, _ in images]))
        kw["image_grid_thw"] = torch.tensor([g for _, g in images])
    if videos:
        kw["pixel_values_videos"] = torch.from_numpy(np.concatenate([p for p, _, _ in videos]))
        kw["video_grid_thw"] = torch.tensor([g for _, g, _ in videos])
        # Qwen2_5_VLProcessor returns second_per_grid_ts as a tensor (float32).
        kw["second_per_grid_ts"] = torch.tensor([s for _, _, s in videos])
    return kw


@torch.no_grad()
def run(model, ids, kw):
    """Prompt logits (one forward, no cache), then greedy decoding as GenerationMixin._sample drives it."""
    x = torch.tensor([ids])
    L = x.shape[1]
    full = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False, **kw).logits[0]
    model.rope_deltas = None
    pos, delta = model.get_rope_index(x, kw.get("image_grid_thw"), kw.get("video_grid_thw"),
                                      kw.get("second_per_grid_ts"), torch.ones_like(x))
    mod = sys.modules[type(model).__module__]
    past = sys.modules[mod.__name__.rsplit(".", 3)[0] + ".cache_utils"].DynamicCache()
    mask = torch.ones_like(x)
    out = model(input_ids=x, attention_mask=mask, past_key_values=past, use_cache=True,
                cache_position=torch.arange(L), **kw)
    steps, greedy, margins = [], [], []
    logits = out.logits[:, -1]
    for i in range(STEPS):
        row = logits[0].float()
        steps.append(row.numpy().copy())
        top2 = torch.topk(row, 2).values
        margins.append(float(top2[0] - top2[1]))
        nxt = int(torch.argmax(row))
        greedy.append(nxt)
        if i + 1 == STEPS:
            break
        mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], 1)
        out = model(input_ids=torch.tensor([[nxt]]), attention_mask=mask, past_key_values=out.past_key_values,
                    use_cache=True, cache_position=torch.tensor([L + i]))
        logits = out.logits[:, -1]
    return full.numpy(), np.stack(steps), greedy, margins, pos, delta


def main():
    src, out = sys.argv[1], sys.argv[2]
    mod = hf_reference.load(src)
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    records = []
    models = {}
    for cid, mname, parts, prompts in CASES:
        if mname not in models:
            models[mname] = hf_reference.load_model(mod, os.path.join(REF, "models", mname))[0]
        model = models[mname]
        head, images, videos, inputs = build(parts)
        kw = tensors(images, videos)
        chosen = None
        for prompt in prompts:
            ids = head + utf8_ids(prompt) + [IDS["<|im_end|>"]] + utf8_ids("\n") + [IDS["<|im_start|>"]]
            ids += utf8_ids("assistant\n")
            res = run(model, ids, kw)
            print(f"  {cid} {prompt!r}: min margin {min(res[3]):.4f}, ids {res[2]}", file=sys.stderr)
            if min(res[3]) >= 0.015 and 258 not in res[2] and 256 not in res[2]:
                chosen = (prompt, ids, res)
                break
        if chosen is None:
            raise SystemExit(f"{cid}: no candidate prompt has every greedy margin >= 0.015")
        prompt, ids, (full, steps, greedy, margins, pos, delta) = chosen
        np.save(os.path.join(out, "expected", f"{cid}.logits.npy"), full.astype(np.float32))
        np.save(os.path.join(out, "expected", f"{cid}.step_logits.npy"), steps.astype(np.float32))
        rec = {"id": cid, "model": f"models/{mname}", "prompt": prompt, "inputs": inputs,
               "input_ids": ids, "prompt_tokens": len(ids),
               "image_grid_thw": [g for _, g in images], "video_grid_thw": [g for _, g, _ in videos],
               "second_per_grid_ts": [float(s) for _, _, s in videos],
               "position_ids": pos[:, 0].tolist(), "rope_delta": int(delta[0, 0]),
               "max_new_tokens": STEPS, "greedy_ids": greedy, "greedy_top2_margins": margins,
               "logits_file": f"expected/{cid}.logits.npy", "step_logits_file": f"expected/{cid}.step_logits.npy",
               "logits_sum": float(full.astype(np.float64).sum()),
               "step0_vs_last_prompt_row_max_abs": float(np.abs(steps[0] - full[-1]).max())}
        records.append(rec)
        print(cid, len(ids), "tokens, rope_delta", rec["rope_delta"], "min margin", min(margins), "prompt:", prompt)
    with open(os.path.join(out, "cases.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    gen = {"torch": torch.__version__, "numpy": np.__version__, "aten_cpu_capability": os.environ.get(
        "ATEN_CPU_CAPABILITY", "(default build)"), "modeling_sha256": hf_reference.MODELING_SHA256,
           "configuration_sha256": hf_reference.CONFIGURATION_SHA256}
    with open(os.path.join(out, "generation.json"), "w") as f:
        json.dump(gen, f, indent=1)


if __name__ == "__main__":
    main()
