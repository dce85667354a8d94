#!/usr/bin/env python3
"""Cost of the Zoom-in Chain's first view of a large GeoTIFF: `rscovlm zoom run` with the exact full decode
(libtiff, the default) beside `--overviews` (GDAL, the coarsest sufficient overview level), on the same
W x H tiled, deflate-compressed GeoTIFF with internal overviews, measured in the same run: wall time,
peak RSS, pixels read. Prints a table with the ratios; asserts nothing.

The scene is a repeating synthetic texture written tile by tile with Debian's python3-gdal (run with
/usr/bin/python3); overviews are GDAL's AVERAGE.

Usage: /usr/bin/python3 tests/bench/overview_reads.py <directory holding rscovlm> [SIDE=30000] [N=3]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from osgeo import gdal


def make_scene(path, side):
    # A small block cache: this process's memory would otherwise count in the children's peak RSS (fork).
    gdal.SetCacheMax(32 << 20)
    ds = gdal.GetDriverByName("GTiff").Create(path, side, side, 3, gdal.GDT_Byte,
                                              ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=YES", "PHOTOMETRIC=RGB"])
    ds.SetGeoTransform([300000.0, 0.3, 0.0, 5500000.0, 0.0, -0.3])
    block = 1024
    for b in range(3):
        tile = bytes(((x * (b + 3) + y * (5 - b)) // 7) % 256 for y in range(block) for x in range(block))
        band = ds.GetRasterBand(b + 1)
        for y in range(0, side, block):
            for x in range(0, side, block):
                w, h = min(block, side - x), min(block, side - y)
                data = tile if (w, h) == (block, block) else b"".join(
                    tile[r * block:r * block + w] for r in range(h))
                band.WriteRaster(x, y, w, h, data)
    levels = []
    k = 2
    while side // k >= 256:
        levels.append(k)
        k *= 2
    ds.BuildOverviews("AVERAGE", levels)
    ds = None


def measure(argv, n):
    walls, rss, out = [], [], None
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        stdout = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - t0)
        rss.append(usage.ru_maxrss / 1024.0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("%s exited %d" % (" ".join(argv), os.waitstatus_to_exitcode(status)))
        out = json.loads(stdout)
    return statistics.median(walls), statistics.median(rss), out


def main():
    bin_dir = sys.argv[1]
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 30000
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    cli = os.path.join(bin_dir, "rscovlm")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scene.tif")
        t0 = time.perf_counter()
        make_scene(path, side)
        print("%dx%d GeoTIFF with overviews written in %.1f s (%.0f MiB)" %
              (side, side, time.perf_counter() - t0, os.path.getsize(path) / 2**20))
        base = [cli, "--quiet", "zoom", "run", "--image", path, "--question", "Is there a plane?", "--backend",
                "scripted", "--reply", "<answer>no</answer>", "--json"]
        exact_t, exact_rss, _ = measure(base, n)
        ovr_t, ovr_rss, out = measure(base + ["--overviews"], n)
        src = out["source"]
        all_px = side * side
        print("| first view of %dx%d | wall s | peak RSS MiB | pixels read |" % (side, side))
        print("| --- | --- | --- | --- |")
        print("| exact (libtiff, full decode) | %.2f | %.0f | %d (100%%) |" % (exact_t, exact_rss, all_px))
        print("| --overviews (GDAL) | %.2f | %.0f | %d (%.2f%%) |" % (ovr_t, ovr_rss, src["pixels_read"],
                                                                  100.0 * src["fraction_of_image"]))
        print("speed-up %.1fx, %.0fx fewer pixels" % (exact_t / ovr_t, all_px / max(1, src["pixels_read"])))


if __name__ == "__main__":
    main()
