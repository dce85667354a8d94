#!/usr/bin/env python3
"""Every preprocessing golden case (tests/data/image/preprocess) through `rscovlm preprocess`: identical
grid_thw and token count, bit-identical resized pixels and float32 pixel_values (SHA-256 of the .npy
payload), the reference's errors as exit code 1 with one stderr line.

Usage: image_preprocess.py <rscovlm> <tests/data>."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def npy_payload(path):
    with open(path, "rb") as f:
        b = f.read()
    hlen = b[8] | (b[9] << 8)
    return b[10:10 + hlen].decode("latin1"), b[10 + hlen:]


def main():
    cli, data = sys.argv[1], sys.argv[2]
    d = os.path.join(data, "image", "preprocess")
    cases = [json.loads(l) for l in open(os.path.join(d, "index.jsonl")) if l.strip()]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        pv, rz = os.path.join(tmp, "pv.npy"), os.path.join(tmp, "resized.npy")
        for c in cases:
            mode = "convert" if c["to_rgb"] == "convert" else "composite"
            p = subprocess.run([cli, "preprocess", "--image", os.path.join(d, c["src"]), "--min-pixels", str(c["min_pixels"]),
                                "--max-pixels", str(c["max_pixels"]), "--to-rgb", mode, "--out", pv, "--resized-out", rz],
                               capture_output=True, text=True)
            if c["expected"] == "error":
                lines = p.stderr.strip().splitlines()
                if p.returncode != 1 or len(lines) != 1 or "rscovlm.resolution." not in lines[0]:
                    bad += 1
                    print("FAIL %s: expected exit 1 with one error line, got %d: %r" % (c["id"], p.returncode, p.stderr))
                continue
            if p.returncode != 0:
                bad += 1
                print("FAIL %s: exit %d: %s" % (c["id"], p.returncode, p.stderr.strip()))
                continue
            o = json.loads(p.stdout)
            problems = []
            if o["grid_thw"] != c["grid_thw"]:
                problems.append("grid_thw %s != %s" % (o["grid_thw"], c["grid_thw"]))
            if o["tokens"] != c["num_image_tokens"] or o["resized_height"] != c["resized_h"] or o["resized_width"] != c["resized_w"]:
                problems.append("size/tokens %s" % o)
            header, payload = npy_payload(pv)
            if "<f4" not in header or "(%d, 1176)" % c["pixel_values_shape"][0] not in header:
                problems.append("npy header %r" % header)
            if hashlib.sha256(payload).hexdigest() != c["pixel_values_sha256"]:
                problems.append("pixel_values differ")
            if hashlib.sha256(npy_payload(rz)[1]).hexdigest() != c["resized_rgb_sha256"]:
                problems.append("resized pixels differ")
            if problems:
                bad += 1
                print("FAIL %s: %s" % (c["id"], "; ".join(problems)))
        # Damaged and oversized inputs: exit 1 with one typed error line.
        src = os.path.join(d, cases[0]["src"])
        data = open(src, "rb").read()
        cut = os.path.join(tmp, "cut.png")
        with open(cut, "wb") as f:
            f.write(data[: len(data) // 2])
        for args, want in (([cut], "rscovlm.image.truncated"),
                           ([src, "--max-image-pixels", "10"], "rscovlm.limit.too_many_pixels"),
                           ([os.path.join(tmp, "missing.png")], "rscovlm.io.open_failed")):
            p = subprocess.run([cli, "preprocess", "--image"] + args + ["--out", pv], capture_output=True, text=True)
            lines = p.stderr.strip().splitlines()
            if p.returncode != 1 or len(lines) != 1 or want not in lines[0]:
                bad += 1
                print("FAIL %s: expected exit 1 and %s, got %d: %r" % (args[0], want, p.returncode, p.stderr))
    print("preprocess: %d cases, %d mismatches" % (len(cases), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
