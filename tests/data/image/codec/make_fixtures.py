#!/usr/bin/env python3
"""Writes the PNG/JPEG decoder fixtures of tests/data/image/codec/ and their expected pixels.

PNG files are written by the small encoder below (so that every colour type, bit depth, filter type,
Adam7 interlacing, split IDAT chunks, tRNS, short palettes and damaged variants can be produced); JPEG
files by Pillow itself. The expected results come from decoding each file with Pillow 9.4 exactly as
qwen-vl-utils does: `Image.open(f)`, then `convert("RGB")` ("convert") and the white composite of
`to_rgb` for RGBA ("composite"). expected.json maps file -> {mode, w, h, convert_sha256,
composite_sha256} (SHA-256 of the raw h*w*3 bytes) or {error: "<Pillow exception>"}.

Usage: /usr/bin/python3 make_fixtures.py [OUT_DIR]   (defaults to this script's folder)"""
import hashlib
import io
import json
import os
import random
import re
import struct
import sys
import zlib

from PIL import Image

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(cid, data, crc=None):
    c = zlib.crc32(cid + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", c)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, rng):
    """rows: list of bytes (packed samples). Applies filter types 0..4 in turn (random start)."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    ft = rng.randrange(5)
    for r in rows:
        f = bytearray(len(r))
        for i, x in enumerate(r):
            a = r[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][ft]
            f[i] = (x - pred) & 0xFF
        out.append(ft)
        out += f
        prev = r
        ft = (ft + 1) % 5
    return bytes(out)


def pack_row(samples, bits):
    if bits == 8:
        return bytes(samples)
    if bits == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out = bytearray()
    per = 8 // bits
    for i in range(0, len(samples), per):
        v = 0
        grp = samples[i:i + per]
        for j in range(per):
            v = (v << bits) | (grp[j] if j < len(grp) else 0)
        out.append(v)
    return bytes(out)


def raw_data(w, h, ct, bits, pixels, interlace, rng):
    """pixels[y][x] = tuple of samples. Returns the filtered (uncompressed) image data."""
    ch = CHANNELS[ct]
    bpp = max(1, ch * bits // 8)
    if not interlace:
        rows = [pack_row([s for x in range(w) for s in pixels[y][x]], bits) for y in range(h)]
        return filter_rows(rows, bpp, rng)
    out = b""
    for x0, y0, dx, dy in ADAM7:
        xs = list(range(x0, w, dx))
        ys = list(range(y0, h, dy))
        if not xs or not ys:
            continue
        rows = [pack_row([s for x in xs for s in pixels[y][x]], bits) for y in ys]
        out += filter_rows(rows, bpp, rng)
    return out


def make_png(w, h, ct, bits, seed, interlace=False, plte=None, trns=None, idat_parts=1, level=6, pixels=None,
             first_filter=None):
    rng = random.Random(seed)
    ch = CHANNELS[ct]
    maxv = (1 << bits) - 1
    if pixels is None:
        if ct == 3:
            n = len(plte) // 3
            pixels = [[(rng.randrange(min(n, maxv + 1)),) for _ in range(w)] for _ in range(h)]
        else:
            # smooth ramps plus noise, and the extremes, so that every filter matters
            pixels = []
            for y in range(h):
                row = []
                for x in range(w):
                    px = []
                    for c in range(ch):
                        v = ((x * 7 + y * 13 + c * 50) * maxv // max(1, (w + h) * 7)) + rng.randrange(-3, 4) * (maxv // 255 or 1)
                        if (x + y + c) % 11 == 0:
                            v = maxv if (x + c) % 2 else 0
                        px.append(min(maxv, max(0, v)))
                    row.append(tuple(px))
                pixels.append(row)
    raw = raw_data(w, h, ct, bits, pixels, interlace, rng)
    if first_filter is not None:
        raw = bytes([first_filter]) + raw[1:]
    data = zlib.compress(raw, level)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, ct, 0, 0, 1 if interlace else 0))
    out += chunk(b"tEXt", b"Comment\x00rscovlm fixture")
    if plte is not None:
        out += chunk(b"PLTE", bytes(plte))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    step = max(1, -(-len(data) // idat_parts))
    for i in range(0, len(data), step):
        out += chunk(b"IDAT", data[i:i + step])
    out += chunk(b"IEND", b"")
    return out


def pillow_expect(data):
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        mode = im.mode
        conv = im.convert("RGB")
        if mode == "RGBA":
            comp = Image.new("RGB", im.size, (255, 255, 255))
            comp.paste(im, mask=im.split()[3])
        else:
            comp = conv
        return {"mode": mode, "w": im.width, "h": im.height,
                "convert_sha256": hashlib.sha256(conv.tobytes()).hexdigest(),
                "composite_sha256": hashlib.sha256(comp.tobytes()).hexdigest()}
    except Exception as e:  # noqa: BLE001 - the exception class is the expectation
        return {"error": type(e).__name__ + ": " + re.sub(r" <[^>]*>", "", str(e))}


def png_cases():
    cases = {}
    sizes = [(1, 1), (7, 5), (33, 17)]
    combos = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
              (4, 8), (4, 16), (6, 8), (6, 16)]
    seed = 1
    for ct, bits in combos:
        for interlace in (False, True):
            for (w, h) in sizes:
                if interlace and (w, h) == (1, 1) and ct not in (3, 6):
                    continue
                seed += 1
                rng = random.Random(seed)
                plte = trns = None
                if ct == 3:
                    n = min(256, 1 << bits)
                    plte = [rng.randrange(256) for _ in range(3 * n)]
                    if seed % 2:
                        trns = bytes(rng.randrange(256) for _ in range(max(1, n // 2)))
                elif ct == 0 and seed % 3 == 0:
                    trns = struct.pack(">H", 1)
                elif ct == 2 and seed % 3 == 0:
                    trns = struct.pack(">HHH", 1, 2, 3)
                name = f"ct{ct}_b{bits}_{w}x{h}{'_i' if interlace else ''}.png"
                cases[name] = make_png(w, h, ct, bits, seed, interlace, plte, trns, idat_parts=1 + seed % 3)
    # a palette shorter than the indices used (Pillow fills the missing entries)
    cases["p_short_palette.png"] = make_png(9, 4, 3, 4, 7, plte=[10, 20, 30, 200, 100, 50],
                                            pixels=[[(x % 16,) for x in range(9)] for _ in range(4)])
    # many IDAT chunks, stored (level 0) and maximal compression
    cases["rgb_many_idat.png"] = make_png(40, 30, 2, 8, 3, idat_parts=37, level=0)
    cases["rgba_level9.png"] = make_png(40, 30, 6, 8, 4, level=9)
    return cases


def damaged_cases(base):
    """Damaged variants of one valid RGB PNG (IHDR at 8, tEXt next, then IDAT...)."""
    out = {}
    ihdr_end = 8 + 25
    # bad CRC on IHDR (Pillow checks the CRCs of the chunks before the first IDAT)
    b = bytearray(base)
    b[ihdr_end - 1] ^= 0xFF
    out["bad_ihdr_crc.png"] = bytes(b)
    # bad CRC on an ancillary chunk before IDAT (also checked)
    b = bytearray(base)
    text_len = struct.unpack(">I", base[ihdr_end:ihdr_end + 4])[0]
    b[ihdr_end + 8 + text_len + 3] ^= 0x01
    out["bad_text_crc.png"] = bytes(b)
    # bad CRC on IDAT (not checked by Pillow: decodes)
    idat = base.find(b"IDAT")
    idat_len = struct.unpack(">I", base[idat - 4:idat])[0]
    b = bytearray(base)
    b[idat + 4 + idat_len] ^= 0x10
    out["bad_idat_crc.png"] = bytes(b)
    # no IEND (decodes: the image data is complete)
    out["no_iend.png"] = base[:-12]
    # truncated inside the image data
    out["truncated_idat.png"] = base[:idat + 4 + idat_len // 2]
    # unknown filter type (7) in the first row: Pillow refuses the data stream
    out["bad_filter.png"] = make_png(6, 3, 2, 8, 5, first_filter=7)
    return out


def jpeg_cases():
    rng = random.Random(11)
    w, h = 45, 31
    rgb = Image.new("RGB", (w, h))
    rgb.putdata([((x * 6 + rng.randrange(20)) % 256, (y * 8 + rng.randrange(20)) % 256, (x * y + rng.randrange(30)) % 256)
                 for y in range(h) for x in range(w)])
    out = {}

    def save(im, name, **kw):
        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw)
        out[name] = buf.getvalue()

    save(rgb, "rgb_420.jpg", quality=90)
    save(rgb, "rgb_422.jpg", quality=85, subsampling=1)
    save(rgb, "rgb_444.jpg", quality=95, subsampling=0)
    save(rgb, "rgb_progressive.jpg", quality=80, progressive=True)
    save(rgb, "rgb_optimized.jpg", quality=70, optimize=True)
    save(rgb.convert("L"), "gray.jpg", quality=90)
    save(rgb.convert("CMYK"), "cmyk_adobe.jpg", quality=90)
    big = rgb.resize((321, 203))
    save(big, "rgb_321x203_420.jpg", quality=75)
    data = out["rgb_420.jpg"]
    out["truncated.jpg"] = data[: len(data) * 2 // 3]
    return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    files = png_cases()
    files.update(damaged_cases(files["ct2_b8_33x17.png"]))
    files.update(jpeg_cases())
    expected = {}
    for name in sorted(files):
        with open(os.path.join(d, name), "wb") as f:
            f.write(files[name])
        expected[name] = pillow_expect(files[name])
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
