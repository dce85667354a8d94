#!/usr/bin/env python3
"""Golden data for `rscovlm preprocess --video` and resolution/video.hpp, from an independent Python
implementation of the reference behaviour on real torch / torchvision / Pillow / numpy.

Environment: Debian 12, /usr/bin/python3 3.11, python3-torch 1.13.1, python3-torchvision 0.14.1,
python3-pil 9.4.0, python3-numpy 1.24.2. Run from the repository root:
    /usr/bin/python3 tests/data/video/make_video_golden.py tests/data/video
It writes the frame fixtures (frames_*/ and lists) and, running itself once per torch CPU kernel build,
cases_scalar.jsonl (ATEN_CPU_CAPABILITY=default) and cases_avx2.jsonl (torch's default kernels on an
AVX2 machine): one line per case with the CLI arguments and the expected JSON fields plus the SHA-256
and the float64 sum of the float32 pixel_values_videos.

Pipeline reproduced (qwen-vl-utils 0.0.11 fetch_video + transformers' slow Qwen2VLImageProcessor video
path + the Qwen2.5-VL processor's second_per_grid_ts):
  decoded video: smart_nframes, torch.linspace(0, total-1, n).round().long(), sample fps
  n/total*video_fps, per-frame budget max(min(VIDEO_MAX_PIXELS, total_pixels/n*2), int(min_pixels*1.05))
  capped by max_pixels, smart_resize, torchvision resize(BICUBIC, antialias=True) of the uint8 TCHW
  tensor, .float();
  frame list: each frame to_rgb + smart_resize(image budget) + PIL resize(BICUBIC), padded to an even
  count with the last frame, sample fps = ele fps or 2.0;
  processor: transformers smart_resize of the first frame with (56*56, 28*28*1280), PIL bicubic when the
  size changes, x*(1/255) in float64 -> float32, (x-mean)/std in float32, temporal padding with the last
  frame, reshape (gt,2,3,gh/2,2,14,gw/2,2,14) transposed (0,3,6,4,7,2,1,5,8).
"""
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as TF, InterpolationMode

FRAME_FACTOR, FPS, FPS_MIN_FRAMES, FPS_MAX_FRAMES = 2, 2.0, 4, 768
VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS = 128 * 28 * 28, 768 * 28 * 28, int(128000 * 28 * 28 * 0.9)
MIN_PIXELS, MAX_PIXELS = 4 * 28 * 28, 16384 * 28 * 28
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def rnd(x, f):
    return round(x / f) * f


def ceil_f(x, f):
    return math.ceil(x / f) * f


def floor_f(x, f):
    return math.floor(x / f) * f


def qvu_smart_resize(h, w, factor=28, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS):
    if max(h, w) / min(h, w) > 200:
        raise ValueError("aspect")
    hb, wb = max(factor, rnd(h, factor)), max(factor, rnd(w, factor))
    if hb * wb > max_pixels:
        beta = math.sqrt((h * w) / max_pixels)
        hb, wb = floor_f(h / beta, factor), floor_f(w / beta, factor)
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = ceil_f(h * beta, factor), ceil_f(w * beta, factor)
    return hb, wb


def tf_smart_resize(h, w, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280):
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        beta = math.sqrt((h * w) / max_pixels)
        hb, wb = max(factor, math.floor(h / beta / factor) * factor), max(factor, math.floor(w / beta / factor) * factor)
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def smart_nframes(ele, total, video_fps):
    assert not ("fps" in ele and "nframes" in ele)
    if "nframes" in ele:
        n = rnd(ele["nframes"], FRAME_FACTOR)
    else:
        fps = ele.get("fps", FPS)
        mn = ceil_f(ele.get("min_frames", FPS_MIN_FRAMES), FRAME_FACTOR)
        mx = floor_f(ele.get("max_frames", min(FPS_MAX_FRAMES, total)), FRAME_FACTOR)
        n = total / video_fps * fps
        n = min(min(max(n, mn), mx), total)
        n = floor_f(n, FRAME_FACTOR)
    if not (FRAME_FACTOR <= n <= total):
        raise ValueError("nframes")
    return n


def to_rgb(im):
    if im.mode == "RGBA":
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.split()[3])
        return bg
    return im.convert("RGB")


def processor(frames_u8_hwc, fps):
    """frames: list of uint8 HWC arrays (one size or not); returns pixel_values, grid, second_per_grid_t."""
    h0, w0 = frames_u8_hwc[0].shape[:2]
    rh, rw = tf_smart_resize(h0, w0)
    out = []
    for f in frames_u8_hwc:
        if f.shape[:2] != (rh, rw):
            f = np.array(Image.fromarray(f).resize((rw, rh), Image.BICUBIC))
        x = (f.astype(np.float64) * (1 / 255)).astype(np.float32)
        x = (x - MEAN) / STD
        out.append(x.transpose(2, 0, 1))
    patches = np.array(out)
    if patches.shape[0] % 2:
        patches = np.concatenate([patches, patches[-1:]], axis=0)
    gt, gh, gw = patches.shape[0] // 2, rh // 14, rw // 14
    p = patches.reshape(gt, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = np.ascontiguousarray(p.reshape(gt * gh * gw, 3 * 2 * 14 * 14), dtype=np.float32)
    second = torch.tensor([2 / fps]).item()  # the processor's float32 tensor, read back as a Python float
    return flat, [gt, gh, gw], rh, rw, second


def list_files(src):
    if os.path.isdir(src):
        return [os.path.join(src, n) for n in sorted(os.listdir(src)) if n.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".tga"))], None
    files, fps = [], None
    for line in open(src):
        t = line.strip()
        if not t:
            continue
        if t.startswith("#"):
            body = t[1:].strip()
            if body[:3].lower() == "fps" and body[3:].strip()[:1] in "=:":
                fps = float(body[3:].strip()[1:].strip())
            continue
        files.append(t if os.path.isabs(t) else os.path.join(os.path.dirname(src), t))
    return files, fps


def run_case(src, args):
    pv, info = video_inputs(src, args)
    return info


def video_inputs(src, args):
    """(pixel_values_videos float32 [patches, 1176], the case's expected fields) for one case."""
    files, list_fps = list_files(src)
    ele = {}
    for k in ("fps", "nframes", "min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels"):
        if k in args:
            ele[k] = args[k]
    if args.get("frames_as_list"):
        frames = []
        for f in files:
            im = to_rgb(Image.open(f))
            w, h = im.size
            rh, rw = qvu_smart_resize(h, w, 28, ele.get("min_pixels", MIN_PIXELS), ele.get("max_pixels", MAX_PIXELS))
            frames.append(np.array(im.resize((rw, rh))))
        idx = list(range(len(frames)))
        n = ceil_f(len(frames), FRAME_FACTOR)
        while len(frames) < n:
            frames.append(frames[-1])
            idx.append(idx[-1])
        fps = ele.get("fps", 2.0)
    else:
        video_fps = args.get("source_fps", list_fps)
        video = torch.from_numpy(np.stack([np.array(to_rgb(Image.open(f))) for f in files])).permute(0, 3, 1, 2)
        total = video.size(0)
        n = smart_nframes(ele, total, video_fps)
        idx_t = torch.linspace(0, total - 1, n).round().long()
        fps = n / max(total, 1e-6) * video_fps
        video = video[idx_t]
        idx = idx_t.tolist()
        nf, _, h, w = video.shape
        min_pixels = ele.get("min_pixels", VIDEO_MIN_PIXELS)
        total_pixels = ele.get("total_pixels", VIDEO_TOTAL_PIXELS)
        max_pixels = max(min(VIDEO_MAX_PIXELS, total_pixels / nf * FRAME_FACTOR), int(min_pixels * 1.05))
        max_pixels = min(ele.get("max_pixels", max_pixels), max_pixels)
        rh, rw = qvu_smart_resize(h, w, 28, min_pixels, max_pixels)
        video = TF.resize(video, [rh, rw], interpolation=InterpolationMode.BICUBIC, antialias=True).float()
        frames = [v.permute(1, 2, 0).numpy().astype(np.uint8) for v in video]  # exact: integer-valued floats
    pv, grid, rh, rw, second = processor(frames, fps)
    return pv, {
        "video_grid_thw": [grid], "resized_height": rh, "resized_width": rw, "nframes": len(frames),
        "frame_indices": idx, "second_per_grid_ts": [second], "sample_fps": fps,
        "tokens": grid[0] * grid[1] * grid[2] // 4, "pixel_values_shape": list(pv.shape),
        "sha256": hashlib.sha256(pv.tobytes()).hexdigest(), "sum": float(pv.astype(np.float64).sum()),
    }


def make_frame(rng, h, w, k, mode="RGB"):
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = (x * 3 + k * 11) % 256
    img[..., 1] = (y * 4 + k * 7) % 256
    img[..., 2] = ((x + y) * 2 + k * 19) % 256
    cy, cx = (h // 2 + k * 3) % h, (w // 3 + k * 5) % w  # a moving square
    img[max(0, cy - 6):cy + 6, max(0, cx - 6):cx + 6] = [250, 30, 30]
    img += rng.integers(-12, 13, size=img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if mode == "RGBA":
        a = np.full((h, w, 1), 255, np.uint8)
        a[: h // 3] = 90
        return Image.fromarray(np.concatenate([img, a], axis=2), "RGBA")
    return Image.fromarray(img, "RGB")


def main():
    out = sys.argv[1]
    if len(sys.argv) > 2:
        return write_cases(out, sys.argv[2])
    import subprocess
    make_fixtures(out)
    for tag, cap in (("avx2", None), ("scalar", "default")):
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        if cap:
            env["ATEN_CPU_CAPABILITY"] = cap
        subprocess.check_call([sys.executable, __file__, out, tag], env=env)


def make_fixtures(out):
    rng = np.random.default_rng(7)
    os.makedirs(os.path.join(out, "frames_a"), exist_ok=True)
    for k in range(15):  # 15 frames of 90x120 ("decoded" clip at 6 fps)
        make_frame(rng, 90, 120, k).save(os.path.join(out, "frames_a", f"{k:04d}.png"))
    os.makedirs(os.path.join(out, "frames_b"), exist_ok=True)
    sizes = [(60, 80), (60, 80), (64, 100), (60, 80), (50, 90)]  # mixed sizes, odd count, one RGBA frame
    for k, (h, w) in enumerate(sizes):
        make_frame(rng, h, w, k, "RGBA" if k == 1 else "RGB").save(os.path.join(out, "frames_b", f"f{k}.png"))
    with open(os.path.join(out, "clip_a.txt"), "w") as f:
        f.write("# frames of frames_a at 6 fps, every other frame\n# fps = 6\n")
        for k in range(0, 15, 2):
            f.write(f"frames_a/{k:04d}.png\n")


def write_cases(out, tag):
    small = {"min_pixels": 3136, "max_pixels": 12544}
    cases = [
        ("frames_a", {"source_fps": 6.0, **small}),
        ("frames_a", {"source_fps": 6.0, "fps": 1.0, "min_frames": 2, **small}),
        ("frames_a", {"source_fps": 6.0, "nframes": 5, **small}),
        ("frames_a", {"source_fps": 30.0, "nframes": 14, "min_pixels": 3136, "total_pixels": 40000}),
        ("frames_a", {"source_fps": 6.0, "nframes": 6, "min_pixels": 6272, "max_pixels": 50176}),
        ("clip_a.txt", {"nframes": 8, **small}),
        ("clip_a.txt", {"source_fps": 3.0, **small}),
        ("frames_b", {"frames_as_list": True, **small}),
        ("frames_b", {"frames_as_list": True, "fps": 0.5, "min_pixels": 3136, "max_pixels": 6000}),
        ("frames_a", {"frames_as_list": True, "min_pixels": 3136, "max_pixels": 8000}),
    ]
    with open(os.path.join(out, "cases_%s.jsonl" % tag), "w") as f:
        for src, args in cases:
            exp = run_case(os.path.join(out, src), args)
            f.write(json.dumps({"video": src, "args": args, "expected": exp}) + "\n")
    print("torch", torch.__version__, tag, "wrote", len(cases), "cases")


if __name__ == "__main__":
    main()
