#!/usr/bin/env python3
"""Hostile inputs get one typed output line each, in bounded time and memory, and the lines after
them still run: vision grids, output sizes, pixel budgets, TIFF tiles, non-finite geometry, failed
benchmark records, image paths outside the image root, and the --limit option."""
import json
import os
import struct
import subprocess
import sys
import tempfile

from cli_checks import Checks

cli, root = sys.argv[1], sys.argv[2]
checks = Checks("check_limits", cli)
run, expect = checks.run, checks.expect
image = os.path.join(root, "tests", "data", "processor", "images", "img_84x140.png")  # 140 wide, 84 high




def jsonl(args, lines):
    """Runs a JSON Lines command; returns (rc, parsed output lines, stderr)."""
    rc, out, err = run(args, "".join(json.dumps(l) + "\n" for l in lines))
    outs = []
    for l in out.splitlines():
        try:
            outs.append(json.loads(l))
        except ValueError:
            outs.append({"unparsed": l})
    return rc, outs, err


def typed(line, ident):
    return isinstance(line, dict) and ident in str(line.get("error", ""))


def tiff_with_tiles(path, width, height, tile):
    """A little-endian RGB TIFF declaring `tile` x `tile` tiles, with 64 bytes of tile data."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (277, 3, 1, 3), (284, 3, 1, 1), (322, 4, 1, tile), (323, 4, 1, tile), (324, 4, 1, None),
               (325, 4, 1, 64)]
    ifd = 8
    extra = ifd + 2 + 12 * len(entries) + 4
    bps_at, data_at = extra, extra + 6
    body = b""
    for tag, typ, count, value in entries:
        if tag == 258:
            value = bps_at
        if tag == 324:
            value = data_at
        if typ == 3 and count == 1:
            body += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            body += struct.pack("<HHII", tag, typ, count, value)
    blob = b"II*\x00" + struct.pack("<I", ifd) + struct.pack("<H", len(entries)) + body + struct.pack("<I", 0)
    blob += struct.pack("<HHH", 8, 8, 8) + bytes(64)
    with open(path, "wb") as f:
        f.write(blob)


# Vision grids: each side is capped, the product is checked (grid_patches) before any pad is expanded.
msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
rc, outs, err = jsonl(["chat"], [{"messages": msgs, "image_grid_thw": [[1, 100000, 100000]]},
                                 {"messages": msgs, "image_grid_thw": [[1, 4, 4]]}])
expect(rc == 1 and len(outs) == 2, "chat: one line per input, exit 1 (%d, %s, %s)" % (rc, outs, err))
if len(outs) == 2:
    expect(typed(outs[0], "rscovlm.limit.grid_patches"), "chat: huge grid -> limit id: %s" % outs[0])
    expect(outs[1].get("text", "").count("<|image_pad|>") == 4, "chat: the next line still runs: %s" % outs[1])

ids = [151652, 151655, 151653]
rc, outs, err = jsonl(["mrope"], [{"input_ids": ids, "image_grid_thw": [[1, 100000, 100000]]},
                                  {"input_ids": ids, "image_grid_thw": [[1, 1000, 1000]]},
                                  {"input_ids": [151652] + [151655] * 4 + [151653], "image_grid_thw": [[1, 4, 4]]}])
expect(len(outs) == 3, "mrope: one line per input (%s, %s)" % (outs, err))
if len(outs) == 3:
    expect(typed(outs[0], "rscovlm.limit.grid_patches"), "mrope: huge grid -> limit id: %s" % outs[0])
    expect(typed(outs[1], "rscovlm.resolution.bad_input_ids"), "mrope: grid larger than its pads: %s" % outs[1])
    expect("position_ids" in outs[2], "mrope: the next line still runs: %s" % outs[2])

# --limit NAME=VALUE (global, repeatable) changes the policy; a bad one is a usage error.
rc, outs, err = jsonl(["--limit", "grid_patches=8", "--limit", "tokens=1M", "mrope"],
                      [{"input_ids": [151652] + [151655] * 4 + [151653], "image_grid_thw": [[1, 4, 4]]}])
expect(len(outs) == 1 and typed(outs[0], "rscovlm.limit.grid_patches"), "--limit grid_patches=8: %s %s" % (outs, err))
rc, out, err = run(["--limit", "no_such_limit=1", "mrope"], "")
expect(rc == 2 and "unknown_limit" in err, "--limit with an unknown name: exit 2 (%d, %s)" % (rc, err))
rc, out, err = run(["--limit", "grid_patches", "mrope"], "")
expect(rc == 2 and "bad_limit" in err, "--limit without a value: exit 2 (%d, %s)" % (rc, err))

with tempfile.TemporaryDirectory() as tmp:
    # Output sizes: resize --jsonl and preprocess, and pixel budgets that imply huge outputs.
    out_png = os.path.join(tmp, "small.png")
    rc, outs, err = jsonl(["resize", "--jsonl"],
                          [{"in": image, "out": os.path.join(tmp, "big.png"), "width": 100000, "height": 100000},
                           {"in": image, "out": out_png, "width": 28, "height": 14}])
    expect(len(outs) == 2, "resize: one line per input (%s, %s)" % (outs, err))
    if len(outs) == 2:
        expect(typed(outs[0], "rscovlm.limit.output_pixels"), "resize 100000x100000 -> limit id: %s" % outs[0])
        expect(outs[1].get("width") == 28 and os.path.exists(out_png), "resize: the next line still runs: %s" % outs[1])
    for extra in (["--min-pixels", "10000000000"], ["--resized-height", "100016", "--resized-width", "100016"]):
        rc, out, err = run(["preprocess", "--image", image] + extra)
        expect(rc == 1 and "rscovlm.limit.output_pixels" in err, "preprocess %s: typed limit (%d, %s)" % (extra, rc, err))

    # Geometry: int() of an infinite coordinate raises in Python; a typed geometry error here.
    rc, outs, err = jsonl(["geom", "min-area-rect"], [{"points": [[0, 0], [1e39, 0], [1e39, 5], [0, 5]]},
                                                      {"points": [[0, 0], [10, 0], [10, 5], [0, 5]]}])
    expect(len(outs) == 2, "min-area-rect: one line per input (%s, %s)" % (outs, err))
    if len(outs) == 2:
        expect(typed(outs[0], "rscovlm.geometry.not_finite"), "min-area-rect of inf: %s" % outs[0])
        expect(outs[1].get("obb_int") == [5, 2, 10, 5, 0], "min-area-rect: the next line still runs: %s" % outs[1])

    # zoom run --no-clamp: a box far outside the image is rejected (crop_too_large), never allocated.
    call = '<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [0, 0, 5000000, 5000000]}}\n</tool_call>'
    rc, out, err = run(["zoom", "run", "--image", image, "--question", "Is it?", "--no-clamp", "--json",
                        "--backend", "scripted", "--reply", call, "--reply", "yes"])
    expect(rc == 0, "zoom run --no-clamp with a huge box exits 0 (%d, %s)" % (rc, err))
    expect("crop_too_large" in out and '"yes"' in out, "zoom run: the huge box is rejected: %s" % out[:400])

    # zoom eval: failed records are scored wrong, paths leaving --image-root are refused when confined,
    # a TIFF declaring 65536x65536 tiles is refused before its tile buffers exist.
    img_root = os.path.join(tmp, "images")
    os.makedirs(img_root)
    with open(image, "rb") as f, open(os.path.join(img_root, "ok.png"), "wb") as g:
        g.write(f.read())
    tiff_with_tiles(os.path.join(img_root, "huge_tiles.tif"), 256, 256, 65536)
    bench = os.path.join(tmp, "bench.jsonl")
    recs = [{"question_id": "FAIR_1", "image": "ok.png", "text": "Is it?", "category": "count", "ground_truth": "yes"},
            {"question_id": "FAIR_2", "image": "missing.png", "text": "Is it?", "category": "count"},
            {"question_id": "FAIR_3", "image": "huge_tiles.tif", "text": "Is it?", "category": "count"},
            {"question_id": "FAIR_4", "image": "../../../../../../etc/hostname", "text": "Is it?", "category": "count"}]
    with open(bench, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs))
    per_record = os.path.join(tmp, "records.jsonl")
    rc, out, err = run(["zoom", "eval", "--benchmark", bench, "--image-root", img_root, "--confine-to-root",
                        "--backend", "scripted", "--reply", "yes", "--out", per_record])
    expect(rc == 1, "zoom eval with failed records exits 1 (%d, %s)" % (rc, err))
    try:
        summary = json.loads(out)
    except ValueError:
        summary = {}
    expect(summary.get("failed") == 3, "three records failed: %s" % out)
    expect(summary.get("overall acc") == 0.25, "failed records are scored wrong (1 of 4): %s" % out)
    lines = [json.loads(l) for l in open(per_record)] if os.path.exists(per_record) else []
    expect(len(lines) == 4, "one --out line per record: %s" % lines)
    if len(lines) == 4:
        expect(lines[0].get("correct") is True and "error" not in lines[0], "record 1 answered: %s" % lines[0])
        expect(lines[1].get("correct") is False and "error" in lines[1], "missing image: wrong: %s" % lines[1])
        expect("rscovlm.limit.tile_bytes" in lines[2].get("error", ""), "65536 tiles: %s" % lines[2])
        expect("rscovlm.data.path_outside_root" in lines[3].get("error", ""), "escaping path: %s" % lines[3])

checks.finish()
