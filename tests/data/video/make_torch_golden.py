#!/usr/bin/env python3
"""Golden data from torch / torchvision for the video path (imaging/antialias_resize.hpp, video.hpp).

Run with Debian 12's python3-torch 1.13.1 and python3-torchvision 0.14.1:
    /usr/bin/python3 tests/data/video/make_torch_golden.py tests/data/video
It runs itself twice in subprocesses, once with torch's default CPU kernels (AVX2 on an AVX2 machine)
and once with ATEN_CPU_CAPABILITY=default, and writes:
  torch_resize/case_NN_in.npy                 uint8 [H, W, C] input (seeded numpy noise + gradients)
  torch_resize/case_NN_{avx2,scalar}.npy      uint8 [h, w, C] torchvision resize(BICUBIC, antialias=True)
  torch_resize/cases.json                     the list of cases (sizes)
  linspace_{avx2,scalar}.json                 torch.linspace(start, end, n) float32 values and .round().long()
"""
import json
import os
import subprocess
import sys

import numpy as np

SIZES = [  # (in_h, in_w, out_h, out_w, channels)
    (37, 53, 28, 28, 3), (64, 48, 56, 84, 3), (120, 200, 56, 112, 3), (90, 160, 252, 448, 3),
    (301, 199, 84, 56, 3), (240, 320, 168, 224, 3), (100, 100, 100, 100, 3), (33, 70, 65, 19, 1),
    (270, 480, 112, 196, 3), (17, 300, 28, 252, 4), (256, 256, 28, 28, 3), (50, 60, 50, 30, 3),
]
LINSPACE = [(t, n) for t in (2, 3, 5, 7, 10, 16, 17, 31, 33, 49, 64, 97, 100, 128, 150, 301, 999, 1000, 3001, 12345)
            for n in (2, 4, 6, 8, 16, 18, 24, 32, 34, 48, 64, 66, 100, 128, 256, 768) if n <= t]
LINSPACE += [(0, 2), (5, 2)]  # start/end pairs used with a start offset below


def make_input(rng, h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    base = ((x * 255.0 / max(w - 1, 1) + y * 97.0 / max(h - 1, 1)) % 256).astype(np.float64)
    img = np.empty((h, w, c), np.uint8)
    for ch in range(c):
        noise = rng.integers(0, 256, size=(h, w))
        mix = np.where(rng.random((h, w)) < 0.3, noise, base + ch * 40)
        img[:, :, ch] = np.clip(mix, 0, 255).astype(np.uint8)
    # hard edges and saturated blocks exercise clamping
    img[h // 3: h // 2, :, :] = 255
    img[:, w // 4: w // 4 + 2, :] = 0
    return img


def child(out_dir, tag):
    import torch
    from torchvision.transforms import functional as F, InterpolationMode
    torch.set_num_threads(1)
    rng = np.random.default_rng(20251127)
    cases = []
    for k, (ih, iw, oh, ow, c) in enumerate(SIZES):
        img = make_input(rng, ih, iw, c)
        np.save(os.path.join(out_dir, "torch_resize", f"case_{k:02d}_in.npy"), img)
        t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        r = F.resize(t, [oh, ow], interpolation=InterpolationMode.BICUBIC, antialias=True)
        np.save(os.path.join(out_dir, "torch_resize", f"case_{k:02d}_{tag}.npy"), r.permute(1, 2, 0).contiguous().numpy())
        cases.append({"index": k, "in_h": ih, "in_w": iw, "out_h": oh, "out_w": ow, "channels": c})
    lins = []
    for (t, n) in LINSPACE:
        if t == 0 or t == 5:
            continue
        v = torch.linspace(0, t - 1, n)
        lins.append({"start": 0, "end": t - 1, "n": n, "idx": v.round().long().tolist(), "values": v.tolist()})
    for (s, e, n) in [(3, 40, 8), (10, 99, 18), (7, 1000, 66), (1, 2, 2), (0, 7, 16)]:
        v = torch.linspace(s, e, n)
        lins.append({"start": s, "end": e, "n": n, "idx": v.round().long().tolist(), "values": v.tolist()})
    with open(os.path.join(out_dir, f"linspace_{tag}.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": lins}, f)
    with open(os.path.join(out_dir, "torch_resize", "cases.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)


def main():
    out_dir = sys.argv[1]
    if len(sys.argv) > 2:
        child(out_dir, sys.argv[2])
        return
    os.makedirs(os.path.join(out_dir, "torch_resize"), exist_ok=True)
    for tag, env_cap in (("avx2", None), ("scalar", "default")):
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        if env_cap:
            env["ATEN_CPU_CAPABILITY"] = env_cap
        subprocess.check_call([sys.executable, __file__, out_dir, tag], env=env)


if __name__ == "__main__":
    main()
