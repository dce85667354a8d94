#!/usr/bin/env python3
"""Every video golden case (tests/data/video/cases_{scalar,avx2}.jsonl, made by make_video_golden.py with
torch 1.13.1 / torchvision 0.14.1 / Pillow 9.4) through `rscovlm preprocess --video`: identical
video_grid_thw, sizes, frame count and indices, sample fps, second_per_grid_ts and tokens; float32
pixel_values_videos bit-identical (SHA-256 of the .npy payload) for torch's scalar kernels
(`--torch-kernel scalar`), and for its AVX2 kernels (the default) either identical or within the
documented bound of imaging/antialias_resize.hpp (resized uint8 pixels off by at most 1 in under 1e-4 of the values:
the float64 sum may move by at most 1e-4 * values * 1/(255*0.2613)); then bad inputs: exit 1 with one
typed error line.

Usage: video_preprocess.py <rscovlm> <tests/data>."""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

FLAGS = {"fps": "--fps", "nframes": "--nframes", "min_frames": "--min-frames", "max_frames": "--max-frames",
         "min_pixels": "--min-pixels", "max_pixels": "--max-pixels", "total_pixels": "--total-pixels",
         "source_fps": "--source-fps"}


def npy_payload(path):
    with open(path, "rb") as f:
        b = f.read()
    hlen = b[8] | (b[9] << 8)
    return b[10:10 + hlen].decode("latin1"), b[10 + hlen:]


def args_of(a):
    out = []
    for k, v in a.items():
        if k == "frames_as_list":
            out.append("--frames-as-list")
        else:
            out += [FLAGS[k], str(v)]
    return out


def main():
    cli, data = sys.argv[1], sys.argv[2]
    d = os.path.join(data, "video")
    cases = []
    for tag in ("scalar", "avx2"):
        cases += [dict(json.loads(l), kernel=tag) for l in open(os.path.join(d, "cases_%s.jsonl" % tag)) if l.strip()]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        pv = os.path.join(tmp, "pv.npy")
        for i, c in enumerate(cases):
            cmd = [cli, "preprocess", "--video", os.path.join(d, c["video"]), "--out", pv] + args_of(c["args"])
            if c["kernel"] == "scalar":
                cmd += ["--torch-kernel", "scalar"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                bad += 1
                print("FAIL case %d: exit %d: %s" % (i, p.returncode, p.stderr.strip()))
                continue
            o, e = json.loads(p.stdout), c["expected"]
            problems = []
            for k in ("video_grid_thw", "resized_height", "resized_width", "nframes", "frame_indices",
                      "second_per_grid_ts", "tokens", "pixel_values_shape"):
                if o.get(k) != e[k]:
                    problems.append("%s %r != %r" % (k, o.get(k), e[k]))
            if abs(o.get("sample_fps", -1) - e["sample_fps"]) > 0:
                problems.append("sample_fps %r != %r" % (o.get("sample_fps"), e["sample_fps"]))
            header, payload = npy_payload(pv)
            if "<f4" not in header:
                problems.append("npy header %r" % header)
            if hashlib.sha256(payload).hexdigest() != e["sha256"]:
                n = len(payload) // 4
                if c["kernel"] == "scalar" or "frames_as_list" in c["args"]:
                    problems.append("pixel_values_videos differ")
                else:
                    total = sum(struct.unpack("<%df" % n, payload))
                    if abs(total - e["sum"]) > 1e-4 * n / (255 * 0.2613):
                        problems.append("pixel_values_videos sum %r vs %r: beyond the AVX2 bound" % (total, e["sum"]))
            if problems:
                bad += 1
                print("FAIL case %d (%s %s %s): %s" % (i, c["kernel"], c["video"], c["args"], "; ".join(problems)))
        # bfloat16 output: same shape, uint16 payload.
        p = subprocess.run([cli, "preprocess", "--video", os.path.join(d, "frames_a"), "--source-fps", "6", "--min-pixels",
                            "3136", "--max-pixels", "12544", "--dtype", "bfloat16", "--out", pv], capture_output=True, text=True)
        if p.returncode != 0 or "<u2" not in npy_payload(pv)[0] or len(npy_payload(pv)[1]) != 96 * 1176 * 2:
            bad += 1
            print("FAIL bfloat16 output: %d %s" % (p.returncode, p.stderr.strip()))
        # Bad inputs.
        os.makedirs(os.path.join(tmp, "empty"))
        mp4 = os.path.join(tmp, "clip.mp4")
        with open(mp4, "wb") as f:
            f.write(b"\x00\x00\x00\x18ftypmp42")
        corrupt_dir = os.path.join(tmp, "corrupt")
        os.makedirs(corrupt_dir)
        for k in range(4):
            with open(os.path.join(d, "frames_a", "%04d.png" % k), "rb") as f:
                b = f.read()
            with open(os.path.join(corrupt_dir, "%04d.png" % k), "wb") as f:
                f.write(b if k != 2 else b[:60])
        one = os.path.join(tmp, "one.txt")
        with open(one, "w") as f:
            f.write("# fps = 5\n%s\n" % os.path.abspath(os.path.join(d, "frames_a", "0000.png")))
        badfps = os.path.join(tmp, "badfps.txt")
        with open(badfps, "w") as f:
            f.write("# fps = fast\n0000.png\n")
        fa = os.path.join(d, "frames_a")
        errors = [
            ([mp4, "--source-fps", "30"], "rscovlm.io.video_file_unsupported"),
            ([os.path.join(tmp, "empty"), "--source-fps", "30"], "rscovlm.io.empty_video"),
            ([os.path.join(tmp, "missing"), "--source-fps", "30"], "rscovlm.io.not_found"),
            ([os.path.join(d, "frames_b"), "--source-fps", "30"], "rscovlm.io.mixed_frame_sizes"),
            ([corrupt_dir, "--source-fps", "30", "--nframes", "4"], "rscovlm.io.unreadable_frame"),
            ([corrupt_dir, "--frames-as-list"], "rscovlm.io.unreadable_frame"),
            ([fa], "rscovlm.io.bad_fps"),
            ([fa, "--source-fps", "6", "--nframes", "40"], "rscovlm.resolution.bad_nframes"),
            ([fa, "--source-fps", "6", "--nframes", "1"], "rscovlm.resolution.bad_nframes"),
            ([fa, "--source-fps", "6", "--nframes", "4", "--fps", "2"], "rscovlm.resolution.fps_and_nframes"),
            ([one], "rscovlm.resolution.bad_nframes"),
            ([badfps], "rscovlm.io.bad_frame_list"),
        ]
        for extra, want in errors:
            p = subprocess.run([cli, "preprocess", "--video"] + extra + ["--out", pv], capture_output=True, text=True)
            lines = p.stderr.strip().splitlines()
            if p.returncode != 1 or len(lines) != 1 or want not in lines[0]:
                bad += 1
                print("FAIL bad input %s: expected exit 1 with %s, got %d: %r" % (extra, want, p.returncode, p.stderr))
        # Usage errors: exit 2.
        for extra in (["--video", fa, "--image", os.path.join(fa, "0000.png")], ["--video", fa, "--frames-as-list", "--nframes", "4"]):
            p = subprocess.run([cli, "preprocess"] + extra, capture_output=True, text=True)
            if p.returncode != 2:
                bad += 1
                print("FAIL usage %s: expected exit 2, got %d: %r" % (extra, p.returncode, p.stderr))
    total = len(cases) + 1 + len(errors) + 2
    print("%d/%d video preprocessing checks passed" % (total - bad, total))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
