#!/usr/bin/env python3
"""Writes the BMP/TGA/GIF/PNM fixtures of tests/data/image/stb/ and records what Pillow 9.4 does with each.

Whole files are written by Pillow (and a few by hand where Pillow's encoder cannot produce the case);
each is then cut short at chosen offsets. expected.json maps file -> {mode, w, h, convert_sha256} (the
SHA-256 of the raw h*w*3 bytes of `Image.open(f).convert("RGB")`) or {error: "<Pillow exception>",
id: "<rscovlm error id>"} when Pillow raises.

Usage: /usr/bin/python3 make_fixtures.py [OUT_DIR]   (defaults to this script's folder)"""
import hashlib
import io
import json
import os
import random
import struct
import sys

from PIL import Image


def noise(mode, w, h, seed, levels=256):
    rng = random.Random(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    data = bytes(rng.randrange(levels) for _ in range(w * h * bands))
    return Image.frombytes(mode, (w, h), data)


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def pnm(magic, w, h, maxval, samples, header_extra=b""):
    width = 1 if maxval < 256 else 2
    body = b"".join(v.to_bytes(width, "big") for v in samples)
    return magic + b"\n" + header_extra + b"%d %d\n%d\n" % (w, h, maxval) + body


def tga_header(w, h, depth, image_type, flags=0x20):
    return bytes([0, 0, image_type]) + b"\0" * 5 + struct.pack("<HHHH", 0, 0, w, h) + bytes([depth, flags])


def verdict(data):
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        rgb = im.convert("RGB")
        return {"mode": im.mode, "w": im.size[0], "h": im.size[1],
                "convert_sha256": hashlib.sha256(rgb.tobytes()).hexdigest()}
    except Exception as e:  # noqa: BLE001 - the exception is the expected result
        msg = f"{type(e).__name__}: {e}"
        low = msg.lower()
        if "truncated" in low or "not enough image data" in low or "eof" in low or "cannot identify" in low:
            rid = "rscovlm.image.truncated"
        else:
            rid = "rscovlm.image.corrupt"
        return {"error": msg, "id": rid}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    files = {}

    def cuts(stem, ext, data, offsets):
        files[f"{stem}.{ext}"] = data
        for off in offsets:
            if off < 0:
                off = len(data) + off
            files[f"{stem}_cut{off}.{ext}"] = data[:off]

    # BMP: 24-bit with row padding (7 px = 21 bytes + 3 padding), 8-bit paletted, 32-bit BGRA, 1-bit.
    rgb = noise("RGB", 7, 5, 1)
    bmp = save(rgb, "BMP")
    last_row_end = len(bmp) - 3  # the last row's padding is not needed
    cuts("rgb24", "bmp", bmp, [last_row_end, last_row_end - 1, 60, 30, 20])
    cuts("p8", "bmp", save(noise("RGB", 9, 4, 2).quantize(16), "BMP"), [-3, -4, -40])
    cuts("rgba32", "bmp", save(noise("RGBA", 5, 3, 3), "BMP"), [-1, -20])
    cuts("bits1", "bmp", save(noise("1", 13, 3, 4), "BMP"), [-2, -3])

    # TGA: raw and RLE (Pillow's encoder), RGB / RGBA / L, bottom-up and top-down.
    rgb = noise("RGB", 6, 4, 5, levels=4)  # few levels: RLE runs
    cuts("rgb_raw", "tga", save(rgb, "TGA"), [-26, -27, 40])
    cuts("rgb_rle", "tga", save(rgb, "TGA", compression="tga_rle"), [-26, -27, 30])
    cuts("rgba_rle", "tga", save(noise("RGBA", 5, 3, 6, levels=3), "TGA", compression="tga_rle"), [-27])
    cuts("l_rle", "tga", save(noise("L", 8, 3, 7, levels=2), "TGA", compression="tga_rle"), [-27, 25])
    # A run packet that crosses the end of a scanline (valid for stb, a buffer overrun for Pillow),
    # and the same pixels as packets that stop at each row's end.
    hdr = tga_header(4, 2, 24, 10)
    files["rle_cross_row.tga"] = hdr + bytes([0x80 | 5, 1, 2, 3]) + bytes([0x01, 9, 9, 9, 8, 8, 8])
    files["rle_row_aligned.tga"] = hdr + bytes([0x80 | 3, 1, 2, 3, 0x80 | 1, 1, 2, 3, 0x01, 9, 9, 9, 8, 8, 8])

    # GIF: a noisy 40x30 frame (LZW data over several sub-blocks), interlaced and not.
    p = noise("RGB", 40, 30, 8).quantize(64)
    for stem, kw in (("p", {"interlace": False}), ("p_interlaced", {"interlace": True})):
        g = save(p, "GIF", **kw)
        cuts(stem, "gif", g, [-1, -2, len(g) // 2, 800, 20, 10])
    small = save(noise("RGB", 3, 2, 9).quantize(4), "GIF")
    cuts("small", "gif", small, [-1, -2, -3])

    # PNM: maxval 255 (raw), other maxvals (PpmDecoder scaling), 16-bit grey (mode I), comments, maxval 0.
    rng = random.Random(10)
    s6 = [rng.randrange(256) for _ in range(5 * 3 * 3)]
    cuts("p6_255", "ppm", pnm(b"P6", 5, 3, 255, s6), [-1, 12])
    s5 = [rng.randrange(256) for _ in range(4 * 3)]
    cuts("p5_255", "pgm", pnm(b"P5", 4, 3, 255, s5, header_extra=b"# a comment\n"), [-1])
    s100 = [rng.randrange(101) for _ in range(3 * 2 * 3)] + [150]  # one sample above maxval
    files["p6_maxval100.ppm"] = pnm(b"P6", 3, 2, 100, s100[:-1])
    files["p6_over_maxval.ppm"] = pnm(b"P6", 3, 2, 100, s100[1:])
    cuts("p6_maxval100", "ppm", files["p6_maxval100.ppm"], [-1])
    s16 = [rng.randrange(65536) for _ in range(3 * 2 * 3)]
    cuts("p6_65535", "ppm", pnm(b"P6", 3, 2, 65535, s16), [-1])
    g16 = [rng.choice([0, 7, 128, 255, 256, 4000, 65535]) for _ in range(4 * 2)]
    cuts("p5_65535", "pgm", pnm(b"P5", 4, 2, 65535, g16), [-1])
    g1000 = [rng.randrange(1001) for _ in range(4 * 2)]
    cuts("p5_maxval1000", "pgm", pnm(b"P5", 4, 2, 1000, g1000), [-1])
    files["p5_maxval1.pgm"] = pnm(b"P5", 3, 1, 1, [0, 1, 1])
    files["p6_maxval0.ppm"] = pnm(b"P6", 1, 1, 0, [0, 0, 0])
    files["p6_header_cut.ppm"] = b"P6\n5 3\n"
    files["p6_long_token.ppm"] = b"P6\n00000000005 3\n255\n" + bytes(45)

    expected = {}
    for name in sorted(files):
        with open(os.path.join(out, name), "wb") as f:
            f.write(files[name])
        expected[name] = verdict(files[name])
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    bad = sum(1 for v in expected.values() if "error" in v)
    print(f"{len(files)} files, {bad} refused by Pillow")


if __name__ == "__main__":
    main()
