#!/usr/bin/env python3
"""Conformance: shards written by `rscovlm data build` (plain and --pack) against a strict,
independent safetensors reader, and against what `rscovlm data inspect` reports.

Usage: check_safetensors.py <rscovlm cli> <tests/data dir>

The reader below implements the safetensors format description (huggingface/safetensors README)
with the standard library only:
  * 8 bytes: N, unsigned little-endian 64-bit; N <= 100,000,000 and 8 + N <= file size;
  * N bytes: UTF-8 JSON header starting with '{' (0x7B), optionally padded at the end with spaces
    (0x20) and nothing else; duplicate keys are rejected;
  * every entry but `__metadata__` is {"dtype", "shape", "data_offsets"} (no other keys), dtype one
    of the format's names, shape a list of non-negative integers, data_offsets [begin, end] with
    end - begin == prod(shape) * itemsize;
  * the entries tile the byte buffer: sorted by offset they start at 0, each begins where the
    previous ends (no hole, no overlap) and the last ends at the end of the file;
  * `__metadata__`, when present, maps strings to strings only.
It also checks the conventions of the Rust serializer our writer follows (N a multiple of 8, data
laid out by descending dtype then name), and that the CLI's own reader rejects every malformed file
the strict reader rejects.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from array import array

MAX_HEADER = 100_000_000
# Format names, item sizes, struct codes (little-endian), and rank in the Rust crate's Dtype order.
DTYPES = {
    "BOOL": (1, "?", 0), "U8": (1, "B", 1), "I8": (1, "b", 2), "F8_E5M2": (1, "B", 3),
    "F8_E4M3": (1, "B", 4), "I16": (2, "h", 5), "U16": (2, "H", 6), "F16": (2, "e", 7),
    "BF16": (2, "H", 8), "I32": (4, "i", 9), "U32": (4, "I", 10), "F32": (4, "f", 11),
    "F64": (8, "d", 12), "I64": (8, "q", 13), "U64": (8, "Q", 14),
}


class Tensor:
    """A decoded tensor: shape and row-major flat values."""

    def __init__(self, shape, flat):
        self.shape, self.flat = tuple(shape), flat

    def __len__(self):
        return self.shape[0] if self.shape else 1

    def __getitem__(self, k):
        if len(self.shape) == 1:
            return self.flat[k]
        w = 1
        for d in self.shape[1:]:
            w *= d
        if isinstance(k, slice):
            b, e, _ = k.indices(self.shape[0])
            return [self.flat[i * w:(i + 1) * w] for i in range(b, e)]
        return self.flat[k * w:(k + 1) * w]


def decode(dtype, shape, buf):
    size, code, _ = DTYPES[dtype]
    n = len(buf) // size
    if code in "bBhHiIqQfd" and array(code).itemsize == size:
        a = array(code)
        a.frombytes(buf)
        if sys.byteorder != "little":
            a.byteswap()
        flat = a.tolist()
    else:
        flat = list(struct.unpack("<%d%s" % (n, code), buf))
    if dtype == "BF16":
        flat = [struct.unpack("<f", struct.pack("<I", v << 16))[0] for v in flat]
    return Tensor(shape, flat)


class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise FormatError("duplicate key %r in the header" % k)
        out[k] = v
    return out


def _is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_strict(raw):
    """bytes -> (metadata dict, {name: numpy array}, info dict). Raises FormatError."""
    if len(raw) < 8:
        raise FormatError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER:
        raise FormatError("header length %d over the 100000000 limit" % n)
    if 8 + n > len(raw):
        raise FormatError("header length %d runs past the file (%d bytes)" % (n, len(raw)))
    hb = raw[8:8 + n]
    if n == 0 or hb[:1] != b"{":
        raise FormatError("header does not start with '{'")
    try:
        text = hb.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError("header is not UTF-8: %s" % e)
    try:
        header, end = json.JSONDecoder(object_pairs_hook=_no_duplicates).raw_decode(text)
    except json.JSONDecodeError as e:
        raise FormatError("header is not JSON: %s" % e)
    if any(c != " " for c in text[end:]):
        raise FormatError("header padding holds something other than spaces: %r" % text[end:][:20])
    if not isinstance(header, dict):
        raise FormatError("header is not an object")
    meta = header.pop("__metadata__", None)
    if meta is not None:
        if not isinstance(meta, dict) or any(not isinstance(k, str) or not isinstance(v, str) for k, v in meta.items()):
            raise FormatError("__metadata__ must map strings to strings")
    data = raw[8 + n:]
    spans = []
    for name, e in header.items():
        if not name:
            raise FormatError("empty tensor name")
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise FormatError("tensor %r: entry must have exactly dtype, shape, data_offsets" % name)
        if e["dtype"] not in DTYPES:
            raise FormatError("tensor %r: unknown dtype %r" % (name, e["dtype"]))
        shape = e["shape"]
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise FormatError("tensor %r: shape must be a list of non-negative integers" % name)
        off = e["data_offsets"]
        if not isinstance(off, list) or len(off) != 2 or not all(_is_uint(o) for o in off) or off[0] > off[1]:
            raise FormatError("tensor %r: data_offsets must be [begin, end] with 0 <= begin <= end" % name)
        size = DTYPES[e["dtype"]][0]
        numel = 1
        for d in shape:
            numel *= d
        if numel * size != off[1] - off[0]:
            raise FormatError("tensor %r: %d bytes for shape %r of %s" % (name, off[1] - off[0], shape, e["dtype"]))
        spans.append((off[0], off[1], name))
    spans.sort()
    cursor = 0
    for b, e, name in spans:
        if b != cursor:
            raise FormatError("tensor %r starts at %d, expected %d (%s)" % (name, b, cursor, "hole" if b > cursor else "overlap"))
        cursor = e
    if cursor != len(data):
        raise FormatError("tensors cover %d bytes of a %d-byte buffer" % (cursor, len(data)))
    arrays = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        arrays[name] = decode(e["dtype"], e["shape"], data[b:en])
    layout = [name for _, _, name in spans]
    info = {"header_length": n, "layout": layout, "dtypes": {k: v["dtype"] for k, v in header.items()}}
    return meta or {}, arrays, info


def check_writer_conventions(info, where, failures):
    if info["header_length"] % 8 != 0:
        failures.append("%s: header length %d is not a multiple of 8" % (where, info["header_length"]))
    dt = info["dtypes"]
    expect = sorted(info["layout"], key=lambda k: (-DTYPES[dt[k]][2], k))
    if info["layout"] != expect:
        failures.append("%s: data order %r, the Rust serializer's is %r" % (where, info["layout"], expect))


# ------------------------------------------------------------------------------------------ self-test

def build_file(entries, meta=None, pad_to=8, header_override=None):
    """entries: list of (name, dtype, shape, bytes) laid out in order."""
    header, off, blob = {}, 0, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blob += data
    h = header_override if header_override is not None else json.dumps(header, separators=(",", ":"))
    h = h.encode()
    while (8 + len(h)) % pad_to:
        h += b" "
    return struct.pack("<Q", len(h)) + h + blob


def malformed_cases():
    ok = [("a", "I32", [2], struct.pack("<2i", 1, 2)), ("b", "U8", [3], b"\x01\x02\x03")]
    good = build_file(ok, {"format": "x"})
    hdr = json.dumps({"a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]},
                      "b": {"dtype": "U8", "shape": [3], "data_offsets": [8, 11]}}, separators=(",", ":"))
    blob = struct.pack("<2i", 1, 2) + b"\x01\x02\x03"

    def raw(h, data=blob, n=None):
        hb = h.encode()
        return struct.pack("<Q", len(hb) if n is None else n) + hb + data

    return good, [
        ("short file", b"\x01\x02"),
        ("header length past the end", raw(hdr, n=10 ** 6)),
        ("header length over the limit", struct.pack("<Q", MAX_HEADER + 1) + b"{}"),
        ("no leading brace", raw(" " + hdr)),
        ("newline padding", raw(hdr + "\n")),
        ("garbage after the header", raw(hdr + "  x")),
        ("duplicate tensor", raw('{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},'
                                 '"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},'
                                 '"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}')),
        ("metadata with a number", raw('{"__metadata__":{"k":1},' + hdr[1:])),
        ("metadata not an object", raw('{"__metadata__":"x",' + hdr[1:])),
        ("unknown dtype", raw(hdr.replace('"U8"', '"U9"'))),
        ("size mismatch", raw(hdr.replace('"shape":[3]', '"shape":[4]'))),
        ("hole", raw(hdr.replace("[8,11]", "[9,12]"), blob + b"\x00")),
        ("overlap", raw(hdr.replace("[8,11]", "[7,10]"))),
        ("buffer not covered", raw(hdr, blob + b"\x00")),
        ("offsets reversed", raw(hdr.replace("[0,8]", "[8,0]"))),
        ("negative dimension", raw(hdr.replace('"shape":[2]', '"shape":[-2]'))),
        ("extra entry key", raw(hdr.replace('"dtype":"U8"', '"dtype":"U8","extra":1'))),
        ("header not an object", raw('[1,2]', b"")),
    ]


def self_test(cli, tmp, failures):
    good, bad = malformed_cases()
    try:
        meta, arrays, info = read_strict(good)
        if meta != {"format": "x"} or arrays["a"].flat != [1, 2] or arrays["b"].flat != [1, 2, 3]:
            failures.append("self-test: valid file decoded wrong")
    except FormatError as e:
        failures.append("self-test: valid file rejected: %s" % e)
    # Empty tensors are allowed and take no bytes.
    try:
        read_strict(build_file([("e", "F32", [0, 4], b""), ("a", "I32", [1], struct.pack("<i", 5))]))
    except FormatError as e:
        failures.append("self-test: empty tensor rejected: %s" % e)
    for name, raw in bad:
        try:
            read_strict(raw)
            failures.append("self-test: strict reader accepted %s" % name)
        except FormatError:
            pass
        # The CLI's reader (io/safetensors.hpp) must reject it too, with an io error id.
        path = os.path.join(tmp, "bad.safetensors")
        with open(path, "wb") as f:
            f.write(raw)
        r = subprocess.run([cli, "data", "inspect", path, "--json"], capture_output=True, text=True)
        if r.returncode == 0 or "rscovlm.io.safetensors_" not in r.stderr:
            failures.append("self-test: rscovlm accepted %s (exit %d: %s)" % (name, r.returncode, r.stderr.strip()[:160]))


# ------------------------------------------------------------------------------------------ shards

def run_build(cli, args):
    r = subprocess.run([cli, "--quiet", "data", "build"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("build %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return json.loads(r.stdout.strip().splitlines()[-1])


def inspect(cli, path, index, tok):
    r = subprocess.run([cli, "data", "inspect", path, "--json", "--index", str(index), "--tokenizer", tok],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("inspect %s %d: %s" % (path, index, r.stderr.strip()))
    return json.loads(r.stdout)


def load_shards(out, failures):
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    shards = []
    for sh in manifest["shards"]:
        path = os.path.join(out, sh["file"])
        try:
            meta, arrays, info = read_strict(open(path, "rb").read())
        except FormatError as e:
            failures.append("%s: %s" % (sh["file"], e))
            continue
        check_writer_conventions(info, sh["file"], failures)
        shards.append((path, meta, arrays))
    return manifest, shards


def check_plain(cli, tok, out, failures):
    manifest, shards = load_shards(out, failures)
    samples = []
    for path, meta, t in shards:
        offs = t["sample_offsets"]
        n = len(offs) - 1
        if meta.get("format") != "rscovlm.shard.v1" or int(meta.get("samples", -1)) != n:
            failures.append("%s: metadata %r" % (path, meta))
        T = len(t["input_ids"])
        if offs[0] != 0 or offs[-1] != T or t["position_ids"].shape != (3, T):
            failures.append("%s: offsets / position shape" % path)
        rows = 0
        for i in range(n):
            b, e = int(offs[i]), int(offs[i + 1])
            g0, g1 = int(t["image_offsets"][i]), int(t["image_offsets"][i + 1])
            grids = t["image_grid_thw"][g0:g1]
            j = inspect(cli, path, i, tok)
            ids, labels = t["input_ids"][b:e], t["labels"][b:e]
            if j["input_ids"] != ids or j["labels"] != labels:
                failures.append("%s[%d]: inspect ids/labels differ from the decoded arrays" % (path, i))
            if j["tokens"] != e - b or j["grids"] != grids or j["index"] != int(t["sample_index"][i]) or \
                    j["truncated"] != bool(t["truncated"][i]):
                failures.append("%s[%d]: inspect header differs: %r" % (path, i, {k: j[k] for k in ("tokens", "grids", "index")}))
            if j["supervised_tokens"] != sum(1 for l in labels if l != -100):
                failures.append("%s[%d]: supervised count" % (path, i))
            pos = [t["position_ids"][a][b:e] for a in range(3)]
            if any(p[0] != 0 for p in pos):
                failures.append("%s[%d]: positions do not start at 0" % (path, i))
            if "pixel_values" in t:
                need = sum(g[0] * g[1] * g[2] for g in grids)
                rows += need
            samples.append({"index": int(t["sample_index"][i]), "input_ids": ids, "labels": labels,
                            "positions": pos, "grids": grids})
        if "pixel_values" in t and (t["pixel_values"].shape != (rows, 1176) or int(t["pixel_offsets"][-1]) != rows):
            failures.append("%s: pixel rows %r for %d" % (path, t["pixel_values"].shape, rows))
    if len(samples) != manifest["samples"]:
        failures.append("%s: %d samples in shards, manifest says %d" % (out, len(samples), manifest["samples"]))
    return samples


def check_packed(cli, tok, out, plain, pack_length, interval, ref, failures):
    manifest, shards = load_shards(out, failures)
    if manifest.get("format") != "rscovlm.packed_shard.v1":
        failures.append("%s: manifest format %r" % (out, manifest.get("format")))
    groups = []
    for path, meta, t in shards:
        po = t["pack_offsets"]
        P = len(po) - 1
        if meta.get("format") != "rscovlm.packed_shard.v1" or int(meta.get("packs", -1)) != P:
            failures.append("%s: metadata %r" % (path, meta))
        for p in range(P):
            b, e = int(po[p]), int(po[p + 1])
            cu = t["cu_seqlens"][int(t["cu_seqlens_offsets"][p]):int(t["cu_seqlens_offsets"][p + 1])]
            m0, m1 = int(t["member_offsets"][p]), int(t["member_offsets"][p + 1])
            members = t["member_index"][m0:m1]
            lengths = t["member_length"][m0:m1]
            groups.append(list(zip(members, lengths)))
            ids, labels = t["input_ids"][b:e], t["labels"][b:e]
            pos = [t["position_ids"][a][b:e] for a in range(3)]
            j = inspect(cli, path, p, tok)
            if j["input_ids"] != ids or j["labels"] != labels or j["cu_seqlens"] != cu or j["tokens"] != e - b:
                failures.append("%s[%d]: inspect differs from the decoded arrays" % (path, p))
            if [s["index"] for s in j["samples"]] != members:
                failures.append("%s[%d]: inspect members %r != %r" % (path, p, [s["index"] for s in j["samples"]], members))
            if e - b > pack_length:
                failures.append("%s[%d]: %d tokens over the pack length" % (path, p, e - b))
            if bool(t["truncated"][p]) != (sum(lengths) > pack_length):
                failures.append("%s[%d]: truncated flag" % (path, p))
            if sum(lengths) > pack_length and len(members) != 1:
                failures.append("%s[%d]: an over-long pack with several members" % (path, p))
            # The row is the members' own encodings back to back (first label masked), cut to the length.
            exp_ids, exp_labels, exp_pos, exp_grids, exp_cu = [], [], [[], [], []], [], []
            for m in members:
                s = plain.pop(0) if plain and plain[0]["index"] == m else next(x for x in plain if x["index"] == m)
                if s in plain:
                    plain.remove(s)
                exp_cu.append(len(exp_ids))
                exp_ids += s["input_ids"]
                exp_labels += [-100] + s["labels"][1:]
                for a in range(3):
                    exp_pos[a] += s["positions"][a]
                exp_grids += s["grids"]
            exp_cu = [c for c in exp_cu if c < pack_length] + [min(len(exp_ids), pack_length)]
            if ids != exp_ids[:pack_length] or labels != exp_labels[:pack_length]:
                failures.append("%s[%d]: packed tokens differ from the members' encodings" % (path, p))
            if pos != [x[:pack_length] for x in exp_pos]:
                failures.append("%s[%d]: positions do not restart per member" % (path, p))
            if cu != exp_cu:
                failures.append("%s[%d]: cu_seqlens %r != %r" % (path, p, cu, exp_cu))
            grids = t["image_grid_thw"][int(t["image_offsets"][p]):int(t["image_offsets"][p + 1])]
            if grids != exp_grids:
                failures.append("%s[%d]: grids %r != %r" % (path, p, grids, exp_grids))
    # The plan equals the reference's over the same arrival order (conversations.jsonl order).
    order = [json.loads(l)["index"] for l in open(os.path.join(out, "conversations.jsonl"))]
    length_of = {m: l for g in groups for m, l in g}
    items = [(k, length_of[m]) for k, m in enumerate(order)]
    expect = [[order[k] for k in g] for g in ref.plan_packs(items, pack_length, interval)]
    got = [[m for m, _ in g] for g in groups]
    if got != expect:
        failures.append("%s: packs %r, reference plan %r" % (out, got, expect))
    if manifest.get("packs") != got:
        failures.append("%s: manifest packs differ from the shards" % out)
    return len(groups)


def main():
    cli, data_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sys.path.insert(0, os.path.join(data_dir, "packing"))
    import reference_packing as ref  # noqa: E402
    tmp = tempfile.mkdtemp(prefix="rscovlm_st_")
    failures = []
    try:
        self_test(cli, tmp, failures)
        tok = os.path.join(data_dir, "tokenizer", "qwen", "tokenizer.json")
        fx = os.path.join(data_dir, "img_split", "fx_a")
        catalog = os.path.join(tmp, "catalog.json")
        with open(catalog, "w") as f:
            json.dump({"fx_a": {"annotation_path": os.path.join(fx, "annfiles"), "data_path": os.path.join(fx, "images"),
                                "dataset_type": "dense_det", "reader": "reader.dota"}}, f)
        recipe = os.path.join(tmp, "recipe.json")
        with open(recipe, "w") as f:
            json.dump(["fx_a*2"], f)
        common = ["--recipe", recipe, "--catalog", catalog, "--tokenizer", tok, "--limit", "7", "--seed", "5",
                  "--max-pixels", str(64 * 28 * 28)]
        plain_out = os.path.join(tmp, "plain")
        run_build(cli, common + ["--out", plain_out, "--shard-size", "3", "--max-length", "0", "--pixels"])
        plain = check_plain(cli, tok, plain_out, failures)
        lengths = sorted(len(s["input_ids"]) for s in plain)
        for name, pack_length, interval in [("fit", lengths[-1] + lengths[0] + 1, 3), ("cut", lengths[0] - 5, 64)]:
            out = os.path.join(tmp, "packed_" + name)
            s = run_build(cli, common + ["--out", out, "--pack", "--pack-length", str(pack_length), "--packing-interval",
                                         str(interval), "--shard-size", "2", "--pixels"])
            n = check_packed(cli, tok, out, list(plain), pack_length, interval, ref, failures)
            if s["packs"] != n or n == 0:
                failures.append("%s: summary packs %r, shards hold %d" % (name, s["packs"], n))
            if name == "cut" and n != len(plain):
                failures.append("cut: every sample should be its own truncated pack")
            if name == "fit" and n >= len(plain):
                failures.append("fit: no two samples shared a pack")
    except RuntimeError as e:
        failures.append(str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:30]:
        print("FAIL", f)
    print("check_safetensors: %d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
