"""Helpers shared by the LibTorch plugin's end-to-end scripts (stdlib only)."""
import struct
import subprocess
import sys
import zlib


def run(cmd, expect=0):
    """Runs `cmd`; on an exit code other than `expect`, prints its output and exits 1."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode != expect:
        print("FAILED:", " ".join(cmd), "->", p.returncode, "(expected", expect, ")")
        print(p.stdout[-2000:], p.stderr[-2000:])
        sys.exit(1)
    return p


def png_bytes(w, h, seed=0):
    """An 8-bit RGB PNG of a deterministic pattern."""
    rows = b""
    for y in range(h):
        rows += b"\x00" + bytes(((x * 3 + y + seed) % 256, (x + y * 2) % 256, (x * y + seed) % 256)[c]
                                for x in range(w) for c in range(3))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return data + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
