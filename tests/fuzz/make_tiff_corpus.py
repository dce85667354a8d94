#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_tiff (tests/fuzz/corpus/tiff/): small striped TIFFs written by Pillow
(RGB, grey, palette, RGBA; raw, LZW, deflate, PackBits) and hand-written tiled ones (contiguous RGB
and separate planes, classic and BigTIFF headers). Usage: /usr/bin/python3 make_tiff_corpus.py [OUT_DIR]"""
import io
import os
import random
import struct
import sys

from PIL import Image


def pillow_files(rng):
    def noise(mode, w, h):
        bands = len(Image.new(mode, (1, 1)).getbands())
        return Image.frombytes(mode, (w, h), bytes(rng.randrange(256) for _ in range(w * h * bands)))

    out = {}
    for name, im, comp in (("rgb_raw", noise("RGB", 9, 7), None),
                           ("l_lzw", noise("L", 12, 5), "tiff_lzw"),
                           ("p_deflate", noise("RGB", 8, 8).quantize(8), "tiff_adobe_deflate"),
                           ("rgba_packbits", noise("RGBA", 6, 4), "packbits")):
        b = io.BytesIO()
        kw = {"compression": comp} if comp else {}
        im.save(b, "TIFF", **kw)
        out[name + ".tif"] = b.getvalue()
    return out


def tiled(w, h, tw, th, spp, separate, big, rng):
    """Uncompressed 8-bit tiled TIFF (or BigTIFF) written by hand."""
    across, down = -(-w // tw), -(-h // th)
    planes = spp if separate else 1
    per_tile = tw * th * (1 if separate else spp)
    tiles = [bytes(rng.randrange(256) for _ in range(per_tile)) for _ in range(across * down * planes)]
    header = 16 if big else 8
    data_off = header
    offsets = []
    for t in tiles:
        offsets.append(data_off)
        data_off += len(t)
    short, long_, long8 = 3, 4, 16
    off_type = long8 if big else long_
    entries = [(256, long_, [w]), (257, long_, [h]), (258, short, [8] * spp), (259, short, [1]),
               (262, short, [2 if spp >= 3 else 1]), (277, short, [spp]), (284, short, [2 if separate else 1]),
               (322, long_, [tw]), (323, long_, [th]), (324, off_type, offsets),
               (325, long_, [len(t) for t in tiles])]
    if spp == 4:
        entries.append((338, short, [2]))
    entries.sort()
    size = {short: 2, long_: 4, long8: 8}
    fmt = {short: "H", long_: "I", long8: "Q"}
    inline = 8 if big else 4
    ifd_off = data_off
    entry_size = 20 if big else 12
    count_size = 8 if big else 2
    extra_off = ifd_off + count_size + entry_size * len(entries) + (8 if big else 4)
    ifd = struct.pack("<Q" if big else "<H", len(entries))
    extra = b""
    for tag, typ, vals in entries:
        payload = b"".join(struct.pack("<" + fmt[typ], v) for v in vals)
        if len(payload) <= inline:
            value = payload.ljust(inline, b"\0")
        else:
            value = struct.pack("<Q" if big else "<I", extra_off + len(extra))
            extra += payload
        ifd += struct.pack("<HHQ" if big else "<HHI", tag, typ, len(vals)) + value
    ifd += struct.pack("<Q" if big else "<I", 0)
    head = (b"II" + struct.pack("<HHHQ", 43, 8, 0, ifd_off)) if big else (b"II" + struct.pack("<HI", 42, ifd_off))
    return head + b"".join(tiles) + ifd + extra


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tiff")
    rng = random.Random(14)
    files = pillow_files(rng)
    files["tiled_rgb.tif"] = tiled(20, 18, 16, 16, 3, False, False, rng)
    files["tiled_separate_rgba.tif"] = tiled(17, 9, 16, 16, 4, True, False, rng)
    files["bigtiff_tiled_grey.tif"] = tiled(18, 17, 16, 16, 1, False, True, rng)
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(files)} files, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
