#!/usr/bin/env python3
"""`rscovlm detect-scene` and the geospatial flags: a synthetic georeferenced GeoTIFF (sample-scene
--geotiff) walked window by window with the scripted backend and over a loopback OpenAI-compatible
server; Task1 lines, and GeoJSON / GeoPackage coordinates read back with GDAL's own Python bindings
(OGR) and compared with the known boxes reprojected independently (OSR); the memory of a large scene;
`zoom run --overviews` reading a small fraction of a 30000x30000 GeoTIFF.

Without GDAL (a build without it) only the pixel outputs are checked."""
import json
import os
import subprocess
import sys
import tempfile
import threading

try:
    from osgeo import gdal, ogr, osr
except ImportError:
    # Debian's python3-gdal is installed for the system interpreter; run there when this one lacks it.
    if os.path.realpath(sys.executable) != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    gdal = None

from cli_checks import Checks

cli, root = sys.argv[1], sys.argv[2]
checks = Checks("check_scene", cli, prefix=["--quiet"])
run, expect = checks.run, checks.expect

# One box per window, in the window's frame: 812 px windows are their own model frame (29 * 28 px, inside
# the detection budget), so the decoded box is exactly the reply's numbers.
QUAD = [100, 120, 220, 120, 220, 180, 100, 180]
REPLY = ",".join(str(v) for v in QUAD) + " plane\n"
ORIGIN, GSD, EPSG = (399960.0, 5400000.0), 0.5, 32633

with_gdal = gdal is not None

with tempfile.TemporaryDirectory() as tmp:
    rc, out, err = run(["data", "sample-scene", "--geotiff", "--width", "2400", "--height", "1800", "--seed", "11",
                        "--out", tmp, "--name", "s"])
    if rc != 0 and "gdal_unsupported" in err:
        print("check_scene: built without GDAL; GeoTIFF checks skipped")
        with_gdal = False
        rc, out, err = run(["data", "sample-scene", "--width", "2400", "--height", "1800", "--seed", "11",
                            "--out", tmp, "--name", "s"])
    expect(rc == 0, "sample-scene: %s" % err)
    image = json.loads(out)["image"]

    def detect(out_dir, *extra):
        return run(["detect-scene", "--image", image, "--out", out_dir, "--patch-size", "812", "--patch-gap", "112",
                    "--classes", "plane,ship"] + list(extra))

    o1 = os.path.join(tmp, "o1")
    rc, out, err = detect(o1, "--backend", "scripted", "--reply", REPLY, "--in-flight", "3")
    expect(rc == 0, "detect-scene exits 0: %s" % err)
    summary = json.load(open(os.path.join(o1, "summary.json")))
    windows = [json.loads(line) for line in open(os.path.join(o1, "windows.jsonl"))]
    expect(summary["windows"] == len(windows) == 12, "12 windows of 812 px over 2400x1800: %d" % len(windows))
    expect(summary["detections"] == 12 and summary["failed_windows"] == 0, "one box per window: %s" % summary)
    expected = sorted((w["x"] + QUAD[2 * k], w["y"] + QUAD[2 * k + 1]) for w in windows for k in range(4))
    lines = open(os.path.join(o1, "Task1", "Task1_plane.txt")).read().split("\n")[:-1]
    got = sorted((float(v[2 + 2 * k]), float(v[3 + 2 * k])) for v in (l.split() for l in lines) for k in range(4))
    expect(got == expected, "Task1 boxes are the reply moved by each window's offset")
    expect(all(l.split()[0] == "s" and l.split()[1] == "1.0" for l in lines), "Task1 lines: scene id, score 1.0")
    expect(open(os.path.join(o1, "Task1", "Task1_ship.txt")).read() == "", "a class without boxes: empty file")
    expect(open(os.path.join(o1, "detections.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n", "detections.png")
    expect(summary["georeferenced"] == with_gdal, "georeferenced exactly when built with GDAL")

    if with_gdal:
        utm, wgs = osr.SpatialReference(), osr.SpatialReference()
        utm.ImportFromEPSG(EPSG)
        wgs.ImportFromEPSG(4326)
        for s in (utm, wgs):
            s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        to_wgs = osr.CoordinateTransformation(utm, wgs)

        def map_xy(x, y):
            return ORIGIN[0] + x * GSD, ORIGIN[1] - y * GSD

        want_map = sorted(map_xy(x, y) for x, y in expected)
        want_geo = sorted(to_wgs.TransformPoint(*map_xy(x, y))[:2] for x, y in expected)
        raw = json.load(open(os.path.join(o1, "detections.geojson")))
        expect(raw["type"] == "FeatureCollection" and "crs" not in raw, "RFC 7946 FeatureCollection without crs")
        for path, want, tol in ((os.path.join(o1, "detections.geojson"), want_geo, 1e-9),
                                (os.path.join(o1, "detections.gpkg"), want_map, 1e-6)):
            ds = ogr.Open(path)
            expect(ds is not None, "OGR opens %s" % path)
            if ds is None:
                continue
            layer = ds.GetLayer(0)
            pts, props, ccw = [], [], True
            for f in layer:
                ring = f.GetGeometryRef().GetGeometryRef(0)
                n = ring.GetPointCount()
                expect(n == 5 and ring.GetPoint_2D(0) == ring.GetPoint_2D(4), "closed 4-corner rings")
                pts += [ring.GetPoint_2D(i) for i in range(4)]
                area = sum(ring.GetX(i) * ring.GetY(i + 1) - ring.GetX(i + 1) * ring.GetY(i) for i in range(4))
                ccw = ccw and area > 0
                props.append((f.GetField("class"), f.GetField("window")))
            pts.sort()
            expect(len(pts) == len(want) and all(abs(a[0] - b[0]) < tol and abs(a[1] - b[1]) < tol
                                                 for a, b in zip(pts, want)),
                   "%s: corners match the known boxes reprojected by OSR" % os.path.basename(path))
            expect(sorted(props) == sorted(("plane", w["patch"]) for w in windows),
                   "%s: class and source window of every feature" % os.path.basename(path))
            if path.endswith(".geojson"):
                expect(ccw, "GeoJSON exterior rings are counter-clockwise")
            else:
                expect(layer.GetSpatialRef().GetAuthorityCode(None) == str(EPSG), "GeoPackage in the scene's CRS")

        # The same scene over a loopback OpenAI-compatible server, windows answered concurrently.
        import http.server
        import time as _time
        state = {"requests": 0, "now": 0, "max": 0}
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                json.loads(body)
                with lock:
                    state["requests"] += 1
                    state["now"] += 1
                    state["max"] = max(state["max"], state["now"])
                _time.sleep(0.05)
                with lock:
                    state["now"] -= 1
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": REPLY},
                                                "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 10, "completion_tokens": 5}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        o2 = os.path.join(tmp, "o2")
        rc, out, err = detect(o2, "--backend", "openai", "--endpoint",
                              "http://127.0.0.1:%d/v1" % server.server_address[1], "--model", "m", "--in-flight", "4")
        server.shutdown()
        expect(rc == 0, "detect-scene over HTTP exits 0: %s" % err)
        same = open(os.path.join(o2, "Task1", "Task1_plane.txt")).read() == open(
            os.path.join(o1, "Task1", "Task1_plane.txt")).read()
        expect(same, "the OpenAI backend gives the scripted run's Task1")
        expect(state["requests"] == 12 and state["max"] >= 2,
               "12 requests, several at once (max %d)" % state["max"])

        # A 16000x16000 scene (768 MiB decoded): memory stays bounded by the window batch.
        big = os.path.join(tmp, "big.tif")
        ds = gdal.GetDriverByName("GTiff").Create(big, 16000, 16000, 3, gdal.GDT_Byte,
                                                  ["TILED=YES", "COMPRESS=DEFLATE", "PHOTOMETRIC=RGB"])
        ds.SetGeoTransform([300000.0, 0.3, 0.0, 5500000.0, 0.0, -0.3])
        ds.SetProjection(utm.ExportToWkt())
        ds.GetRasterBand(1).WriteRaster(5000, 5000, 64, 64, b"\xff" * 64 * 64)
        ds = None
        o3 = os.path.join(tmp, "o3")
        rc, out, err = run(["detect-scene", "--image", big, "--out", o3, "--classes", "plane", "--backend",
                            "scripted", "--reply", REPLY, "--in-flight", "2", "--cache-mb", "64"])
        expect(rc == 0, "detect-scene on 16000x16000 exits 0: %s" % err)
        if rc == 0:
            s3 = json.load(open(os.path.join(o3, "summary.json")))
            expect(s3["windows"] == 400, "400 windows: %s" % s3["windows"])
            expect(s3["peak_windows_in_memory"] == 4, "4 windows held at once")
            expect(s3["peak_rss_mib"] < 400, "peak memory %.0f MiB, under half the decoded scene" % s3["peak_rss_mib"])
            print("16000x16000: %d windows, peak %.0f MiB, %.1f s" % (s3["windows"], s3["peak_rss_mib"], s3["seconds"]))

        # zoom run --overviews: the first view of a 30000x30000 GeoTIFF from its overviews.
        huge = os.path.join(tmp, "huge.tif")
        ds = gdal.GetDriverByName("GTiff").Create(huge, 30000, 30000, 3, gdal.GDT_Byte,
                                                  ["TILED=YES", "COMPRESS=DEFLATE", "SPARSE_OK=TRUE",
                                                   "BIGTIFF=YES", "PHOTOMETRIC=RGB"])
        ds.BuildOverviews("NONE", [2, 4, 8, 16, 32, 64])
        ds = None
        rc, out, err = run(["zoom", "run", "--image", huge, "--question", "Is there a plane?", "--overviews",
                            "--backend", "scripted", "--reply", "<answer>no</answer>", "--json"])
        expect(rc == 0, "zoom run --overviews exits 0: %s" % err)
        if rc == 0:
            src = json.loads(out).get("source", {})
            expect(src.get("overview_reads", 0) >= 1 and src.get("fraction_of_image", 1) < 0.01,
                   "the first view reads under 1%% of the image: %s" % src)

    # A hallucinated coordinate far off the scene is dropped and counted, not mapped.
    o5 = os.path.join(tmp, "o5")
    rc, out, err = detect(o5, "--backend", "scripted", "--reply", REPLY + "1,1,9,1,9,9,-99999999999999,9 plane\n")
    expect(rc == 0, "an off-scene box does not fail the run: %s" % err)
    if rc == 0:
        s5 = json.load(open(os.path.join(o5, "summary.json")))
        expect(s5["outside_scene"] == 12 and s5["detections"] == 12, "12 off-scene boxes dropped: %s" % s5)

    # Typed errors.
    rc, out, err = run(["detect-scene", "--image", os.path.join(tmp, "missing.tif"), "--out", tmp, "--backend",
                        "scripted", "--reply", "x"])
    expect(rc == 1 and "rscovlm." in err, "a missing scene is a typed error: %s" % err)
    for bad in ("a__b", "a b"):
        rc, out, err = detect(os.path.join(tmp, "o4"), "--backend", "scripted", "--reply", REPLY, "--name", bad)
        expect(rc == 2 and "bad_name" in err, "the scene name %r is refused: %s" % (bad, err))

checks.finish()
