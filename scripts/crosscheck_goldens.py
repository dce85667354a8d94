#!/usr/bin/python3
"""Cross-checks golden files against the reference's own code.

Several golden files under tests/data/ were written by scripts that restate the reference's rules
(tests/data/box_codec/gen_expected.py, tests/data/builders/make_goldens.py,
tests/data/packing/reference_packing.py, tests/data/video/make_video_golden.py). This script imports
the reference's own functions from source checkouts, feeds them the inputs recorded in the golden
files and compares what they return with what the golden files hold:

* RSCoVLM (https://github.com/VisionXLab/RSCoVLM, commit c507282352644d086a306787f758e9b14d68f22a):
  rscovlm/training/data/{dense_det,refgeo,visual_cot,sft,llava_onevision}_dataset.py,
  fast_data_packing.py, data_collator.py and rscovlm/utils/data.py;
* binpacking 1.5.2 (https://github.com/benmaier/binpacking, tag v1.5.2, commit
  02cf86be4f97ab1fc4525941f70015ee1019e53f), the package fast_data_packing.py imports;
* qwen-vl-utils 0.0.11 (https://github.com/QwenLM/Qwen3-VL, formerly QwenLM/Qwen2.5-VL, commit
  9bbccac640d528129c31331b49f1c4010bcedfc1, folder qwen-vl-utils/src), which the RSCoVLM modules
  import (`smart_resize`, `fetch_image`, `fetch_video`).

Usage (Debian 12: python3-numpy, python3-opencv, python3-pil, python3-skimage, python3-tqdm,
python3-torch, python3-torchvision, python3-requests, python3-packaging):

    git clone https://github.com/VisionXLab/RSCoVLM && git -C RSCoVLM checkout c507282
    git clone https://github.com/benmaier/binpacking && git -C binpacking checkout v1.5.2
    git clone https://github.com/QwenLM/Qwen3-VL && git -C Qwen3-VL checkout 9bbccac
    /usr/bin/python3 scripts/crosscheck_goldens.py --rscovlm-dir RSCoVLM --binpacking-dir binpacking \
        --qwen-vl-utils-dir Qwen3-VL/qwen-vl-utils/src

transformers, datasets, python-magic and RSCoVLM's processing_message module (it needs a model
processor) are replaced by empty stand-ins in sys.modules: the functions compared never call them.
torch, torchvision, OpenCV, Pillow, numpy and scikit-image are the real Debian packages. The exit
status is 1 when any golden value differs from the reference's output; every difference is printed.
With --write-new it also writes the goldens that only the reference's run makes (see
tests/data/builders/README.md).
"""
import argparse
import copy
import hashlib
import importlib.util
import json
import os
import random
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
MIN_PIXELS, MAX_PIXELS = 64 * 28 * 28, 1296 * 28 * 28  # the builders goldens' budget (make_goldens.py)


class Report:
    def __init__(self):
        self.rows = []

    def add(self, golden, part, checked, mismatches):
        self.rows.append((golden, part, checked, mismatches))
        state = "OK" if not mismatches else "DIFFERS (%d)" % len(mismatches)
        print("%-34s %-44s %5d checked  %s" % (golden, part, checked, state))
        for m in mismatches[:10]:
            print("    " + m)

    def failed(self):
        return any(r[3] for r in self.rows)


class quiet:
    """Silences stdout and stderr (progress bars, prints of the reference) inside a block."""

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        self.null = open(os.devnull, "w")
        sys.stdout = sys.stderr = self.null

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved
        self.null.close()


def stub(name, **attrs):
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


def package(name, path):
    mod = stub(name)
    mod.__path__ = [path]
    return mod


def load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class Unused:
    """Stand-in for classes the reference modules name in signatures only."""


def not_available(*_args, **_kwargs):
    raise RuntimeError("needs a Qwen2.5-VL processor; not part of this cross-check")


def setup(args):
    # binpacking 1.5.2 imports `past.builtins.basestring` (python-future) for Python 2 support.
    past = stub("past")
    past.builtins = stub("past.builtins", basestring=str)
    sys.path.insert(0, os.path.abspath(args.binpacking_dir))
    sys.path.insert(0, os.path.abspath(args.qwen_vl_utils_dir))
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "torchvision")
    stub("transformers", ProcessorMixin=Unused, PreTrainedModel=Unused, Qwen2_5_VLProcessor=Unused)
    stub("datasets", load_from_disk=not_available, Dataset=Unused)
    stub("magic", from_file=not_available)  # python-magic: only reached for paths without an extension
    src = os.path.join(os.path.abspath(args.rscovlm_dir), "rscovlm")
    package("rscovlm", src)
    package("rscovlm.training", os.path.join(src, "training"))
    package("rscovlm.training.data", os.path.join(src, "training", "data"))
    stub("rscovlm.training.params", DataArguments=Unused)
    stub("rscovlm.training.data.processing_message",
         process_to_train_qwen2_5_vl_with_default_chat_template=not_available)
    # rscovlm/utils/__init__.py also pulls the evaluation helpers (pycocotools, requests); the data
    # modules use only the two functions of rscovlm/utils/data.py.
    data_utils = load_file("rscovlm.utils.data", os.path.join(src, "utils", "data.py"))
    utils = package("rscovlm.utils", os.path.join(src, "utils"))
    utils.load_json_or_jsonl = data_utils.load_json_or_jsonl
    utils.random_sample = data_utils.random_sample
    ref = types.SimpleNamespace()
    for name in ("dense_det_dataset", "refgeo_dataset", "visual_cot_dataset", "sft_dataset",
                 "llava_onevision_dataset", "fast_data_packing", "data_collator"):
        setattr(ref, name, load_file("rscovlm.training.data." + name,
                                     os.path.join(src, "training", "data", name + ".py")))
    import qwen_vl_utils.vision_process as vp
    ref.vision_process = vp
    return ref


def processor_stub():
    ip = types.SimpleNamespace(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=14, merge_size=2)
    return types.SimpleNamespace(image_processor=ip)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def diff(where, expected, actual, out):
    if expected != actual:
        e, a = json.dumps(expected, ensure_ascii=False), json.dumps(actual, ensure_ascii=False)
        out.append("%s: golden %s | reference %s" % (where, e[:300], a[:300]))


def strip_prefix(messages, prefix):
    for m in messages:
        if isinstance(m["content"], list):
            for c in m["content"]:
                if isinstance(c.get("image"), str) and c["image"].startswith("file://" + prefix):
                    c["image"] = "file://" + c["image"][len("file://" + prefix):]
    return messages


# ------------------------------------------------------------------------------------------------
# box_codec/expected.jsonl: dense_det_dataset.get_{hbb,obb,polygon}_messages answers.
def coco_of(sample):
    cats = [{"id": k + 1, "name": c} for k, c in enumerate(sample["classes"])]
    cid = {c["name"]: c["id"] for c in cats}
    anns = []
    for k, o in enumerate(sample["objects"]):
        xs, ys = o["poly"][0::2], o["poly"][1::2]
        anns.append({"id": k + 1, "image_id": 1, "category_id": cid[o["label"]],
                     "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                     "segmentation": [list(o["poly"])]})
    ow, oh = sample["orig_size"]
    return {"categories": cats, "images": [{"id": 1, "file_name": "i.png", "width": ow, "height": oh}],
            "annotations": anns}


def check_box_codec(ref, report):
    dd = ref.dense_det_dataset
    rows = read_jsonl(os.path.join(DATA, "box_codec", "expected.jsonl"))
    bad, n = [], 0
    for i, s in enumerate(rows):
        (rec,) = dd.preprocess_coco_format_metadata(coco_of(s))
        rec["image_file_path"] = "i.png"
        rec["resized_width"], rec["resized_height"] = s["resized_size"]
        diff("sample %d categories" % i, s["categories"], rec["categories_str"], bad)
        for kind, fn in (("hbb", dd.get_hbb_messages), ("obb", dd.get_obb_messages), ("quad", dd.get_polygon_messages)):
            # prob_plain_text_prompt 1.0 always takes the plain-text branch, 0.0 always the JSON one.
            for fmt, p_plain in (("plain", 1.0), ("json", 0.0)):
                key = "codec.%s.%s" % (kind, fmt)
                got = fn(copy.deepcopy(rec), 0.5, p_plain)[-1]["content"]
                diff("sample %d %s" % (i, key), s["expected"][key], got, bad)
                n += 1
    report.add("box_codec/expected.jsonl", "codec.{hbb,obb,quad}.{plain,json}", n, bad)


# ------------------------------------------------------------------------------------------------
# builders/dense_open_end.jsonl: DenseDetectionDatasetForQwen2_5_VL end to end (open-ended prompts).
def check_dense_open_end(ref, report):
    dd = ref.dense_det_dataset
    d = os.path.join(DATA, "builders")
    with open(os.path.join(d, "dense_synonyms.json")) as f:
        synonyms = json.load(f)
    bad, n = [], 0
    for row in read_jsonl(os.path.join(d, "dense_open_end.jsonl")):
        seed = row["seed"]
        data_args = types.SimpleNamespace(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS,
                                          prob_random_resize=row["prob_random_resize"],
                                          prob_open_end_prompts=row["prob_open_end_prompts"])
        cfg = [{"annotation_path": os.path.join(d, "dense_open_end.json"), "data_path": "DATA",
                "synonyms_dict": synonyms}]
        random.seed(seed)  # the construction-time use_synonyms draws (open_end_seed)
        ds = dd.DenseDetectionDatasetForQwen2_5_VL(cfg, processor_stub(), data_args)
        diff("seed %d length" % seed, len(row["samples"]), len(ds), bad)
        for s in row["samples"]:
            idx = s["index"]
            random.seed((seed << 32) + idx)
            mid, region = ds.todo_list[idx]
            got = strip_prefix(ds.get_messages(idx), "DATA/")
            where = "seed %d rr %s idx %d" % (seed, row["prob_random_resize"], idx)
            diff(where + " region", s["region"], region, bad)
            diff(where + " use_synonyms", s["use_synonyms"], ds.list_data_dict[mid]["use_synonyms"], bad)
            diff(where + " messages", s["messages"], got, bad)
            n += 1
    report.add("builders/dense_open_end.jsonl", "DenseDetectionDataset.get_messages", n, bad)


# ------------------------------------------------------------------------------------------------
# builders/refgeo.jsonl and refgeo_masks.jsonl: GeoGround datasets and get_seg_messages.
class Cv2Spy:
    """Forwards to cv2 and keeps the closed mask and the mask the contours are drawn into."""

    def __init__(self, real):
        self.real, self.closed, self.filled = real, None, None

    def __getattr__(self, name):
        return getattr(self.real, name)

    def morphologyEx(self, *a, **k):
        self.closed = self.real.morphologyEx(*a, **k)
        self.filled = None
        return self.closed

    def drawContours(self, img, *a, **k):
        self.filled = img
        return self.real.drawContours(img, *a, **k)


def check_refgeo(ref, report):
    import numpy as np
    rg = ref.refgeo_dataset
    d = os.path.join(DATA, "builders")
    root = os.path.join(d, "refgeo")
    classes = {"refgeo": rg.GeoGroundDatasetForQwen2_5_VL, "refgeo_seg_only": rg.GeoGroundSegOnlyDatasetForQwen2_5_VL,
               "refgeo_wo_seg": rg.GeoGroundWoSegDatasetForQwen2_5_VL, "refgeo_hbb_only": rg.GeoGroundHbbOnlyDatasetForQwen2_5_VL,
               "refgeo_poly_only": rg.GeoGroundPolyOnlyDatasetForQwen2_5_VL}
    bad, n = [], 0
    for row in read_jsonl(os.path.join(d, "refgeo.jsonl")):
        data_args = types.SimpleNamespace(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS,
                                          prob_random_resize=row["prob_random_resize"])
        cfg = [{"annotation_path": os.path.join(root, "metainfo.jsonl"), "data_path": root}]
        with quiet():  # tqdm progress bar of the mask check
            ds = classes[row["dataset_type"]](cfg, processor_stub(), data_args)
        where0 = "%s seed %d rr %s" % (row["dataset_type"], row["seed"], row["prob_random_resize"])
        diff(where0 + " length", len(row["samples"]), len(ds), bad)
        for s in row["samples"]:
            idx = s["index"]
            random.seed((row["seed"] << 32) + idx)
            got = strip_prefix(ds.get_messages(idx), root + "/")
            where = where0 + " idx %d" % idx
            diff(where + " todo", [s["record"], s["region"]], list(ds.todo_list[idx]), bad)
            diff(where + " messages", s["messages"], got, bad)
            n += 1
    report.add("builders/refgeo.jsonl", "GeoGround*Dataset.get_messages", n, bad)

    spy = Cv2Spy(rg.cv2)
    rg.cv2 = spy
    bad, n = [], 0
    try:
        for m in read_jsonl(os.path.join(d, "refgeo_masks.jsonl")):
            path = os.path.join(root, "masks", "rrsis", m["mask"])
            from PIL import Image
            w, h = Image.open(path).size
            meta = {"mask_file_path": path, "image_width": w, "image_height": h, "question": "q",
                    "image_file_path": "i.png", "resized_width": m["resized_width"], "resized_height": m["resized_height"]}
            got = rg.get_seg_messages(meta, 28, 0.5)[-1]["content"]
            where = "%s %dx%d" % (m["mask"], m["resized_width"], m["resized_height"])
            diff(where + " rle", "<seg>%s</seg>" % m["rle"], got, bad)
            filled = spy.filled if spy.filled is not None else np.zeros_like(spy.closed)
            diff(where + " closed", m["closed_sha256"], hashlib.sha256(spy.closed.tobytes()).hexdigest(), bad)
            diff(where + " filled", m["filled_sha256"], hashlib.sha256(filled.tobytes()).hexdigest(), bad)
            n += 1
    finally:
        rg.cv2 = spy.real
    report.add("builders/refgeo_masks.jsonl", "refgeo_dataset.get_seg_messages", n, bad)


# ------------------------------------------------------------------------------------------------
# builders/lrsvqa_zoom.jsonl: visual_cot_dataset.get_messages on real images. The reference puts
# PIL images in the messages; the golden names the file and the crop box. The crop box is read
# back from the cropped image: pixel (x, y) of the full image holds x (first pass) or y (second
# pass) in its red and green bytes.
def coordinate_image(w, h, axis):
    import numpy as np
    from PIL import Image
    v = np.arange(w if axis == 0 else h, dtype=np.int64)
    v = v[None, :] if axis == 0 else v[:, None]
    v = np.broadcast_to(v, (h, w))
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = v & 255
    arr[..., 1] = v >> 8
    arr[..., 2] = 1
    return Image.fromarray(arr)


def check_lrsvqa_zoom(ref, report):
    import numpy as np
    from PIL import Image
    vc = ref.visual_cot_dataset
    bad, n = [], 0
    rows = read_jsonl(os.path.join(DATA, "builders", "lrsvqa_zoom.jsonl"))
    with tempfile.TemporaryDirectory() as tmp:
        images = {}
        for r in rows:
            rec = r["record"]
            images[rec["image"]] = (rec["image_ori_width"], rec["image_ori_height"])
        runs = []
        for axis in (0, 1):
            for name, (w, h) in images.items():
                p = os.path.join(tmp, name)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                coordinate_image(w, h, axis).save(p)
            out = []
            for r in rows:
                meta = copy.deepcopy(r["record"])
                meta["image_file_path"] = os.path.join(tmp, meta["image"])
                if r["resized"] is not None:
                    meta["resized_height"], meta["resized_width"] = r["resized"]
                out.append(vc.get_messages(meta, r["disable_visual_cot"]))
            runs.append(out)
        for i, r in enumerate(rows):
            got = runs[0][i]
            k = 0  # image items in order: the full image, then (zoom rows) the crop
            for turn, other in zip(got, runs[1][i]):
                if turn["role"] == "system" and turn["content"] == vc.SYSTEM_PROMPT:
                    turn["content"] = "<SYSTEM_PROMPT>"
                if not isinstance(turn["content"], list):
                    continue
                for j, (c, c2) in enumerate(zip(turn["content"], other["content"])):
                    if c.get("type") != "image":
                        continue
                    im, im2 = c["image"], c2["image"]
                    item = dict(c, image="file://" + r["record"]["image"])
                    if k > 0:
                        a, b = np.array(im).astype(np.int64), np.array(im2).astype(np.int64)
                        x0 = int(a[0, 0, 0] + 256 * a[0, 0, 1])
                        y0 = int(b[0, 0, 0] + 256 * b[0, 0, 1])
                        item["crop"] = [x0, y0, x0 + im.size[0], y0 + im.size[1]]
                    turn["content"][j] = item
                    k += 1
            diff("row %d messages" % i, r["messages"], got, bad)
            n += 1
    report.add("builders/lrsvqa_zoom.jsonl", "visual_cot_dataset.get_messages", n, bad)


# ------------------------------------------------------------------------------------------------
# builders/llava_onevision{_rows.jsonl,.json}: LlavaOneVisionDatasetForQwen2_5_VL.get_messages with
# the __getitem__ fall-through; rows are Hugging Face records (fresh dicts per access, PIL images).
class Rows:
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        r = self.rows[i]
        return dict(r, conversations=copy.deepcopy(r["conversations"]))


class IndexDataset:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def select(self, indices):
        return list(indices)


def check_llava(ref, report):
    from PIL import Image
    lo = ref.llava_onevision_dataset
    d = os.path.join(DATA, "builders")
    with open(os.path.join(d, "llava_onevision.json")) as f:
        golden = json.load(f)
    bad, n = [], 0
    for s in golden["sampling"]:
        got = lo.random_sample({"sampling_rate": s["rate"]}, IndexDataset(s["total"]), seed=0)
        got = list(range(s["total"])) if isinstance(got, IndexDataset) else got
        diff("sampling %s" % s, s["indices"], got, bad)
        n += 1
    report.add("builders/llava_onevision.json", "llava_onevision_dataset.random_sample", n, bad)

    sizes = {"ov/0.png": (640, 480), "ov/2.png": (1000, 30), "ov/3.png": (300, 300), "ov/4.png": (50, 50),
             "ov/5.png": (64, 64), "ov/6.png": (90, 80), "ov/7.png": (2000, 1500)}  # make_goldens.py
    rows = read_jsonl(os.path.join(d, "llava_onevision_rows.jsonl"))
    hf_rows = []
    for r in rows:
        r = dict(r)
        if r["image"] is not None:
            im = Image.new("RGB", sizes[r["image"]], (10, 20, 30))
            im.info["path"] = r["image"]
            r["image"] = im
        hf_rows.append(r)
    bad, n, notes = [], 0, []
    for case in golden["items"]:
        ds = lo.LlavaOneVisionDatasetForQwen2_5_VL.__new__(lo.LlavaOneVisionDatasetForQwen2_5_VL)
        ds.list_data_meta = Rows(hf_rows)
        ds.min_pixels, ds.max_pixels, ds.image_factor = MIN_PIXELS, MAX_PIXELS, 28
        ds.prob_random_resize = case["prob_random_resize"]
        ds.preprocess = lambda messages, **kw: messages
        last = []
        get_messages = ds.get_messages
        ds.get_messages = lambda i: (last.append(i), get_messages(i))[1]
        for it in case["items"]:
            idx = it["index"]
            random.seed((case["seed"] << 32) + idx)
            del last[:]
            with quiet():  # __getitem__ prints the error of every skipped row
                msgs = ds[idx]
            where = "rr %s seed %d idx %d" % (case["prob_random_resize"], case["seed"], idx)
            diff(where + " source", it["source"], last[-1], bad)
            for m in msgs:
                for c in m["content"]:
                    if c.get("type") == "image":
                        im = c["image"]
                        c["image"] = "file://" + im.info["path"]
                        if im.size != sizes[im.info["path"]]:
                            notes.append("%s: the reference fetched the %dx%d image to %dx%d (qwen-vl-utils' default "
                                         "budget; rscovlm: image_ref::prefetched, see builders/chat_random_resize/)"
                                         % (where, *sizes[im.info["path"]], im.size[0], im.size[1]))
            want = copy.deepcopy(it["messages"])
            for m in want or []:
                for c in m["content"]:
                    c.pop("random_resized", None)  # informative only (see the README)
            diff(where + " messages", want, msgs, bad)
            n += 1
    report.add("builders/llava_onevision.json", "LlavaOneVisionDataset.__getitem__", n, bad)
    for note in notes[:4]:
        print("    note: " + note)
    if len(notes) > 4:
        print("    note: ... %d more" % (len(notes) - 4))


# ------------------------------------------------------------------------------------------------
# packing/golden.json
class ArrivalDataset:
    """get_messages(i) names the item that arrives i-th-in-shard-order (its id stands for messages)."""

    def __init__(self, items, position_of):
        self.items, self.position_of = items, position_of

    def __len__(self):
        return len(self.items)

    def get_messages(self, i):
        return self.items[self.position_of[i]][0]


def check_packing(ref, report):
    import torch
    fp, dc = ref.fast_data_packing, ref.data_collator
    with open(os.path.join(DATA, "packing", "golden.json")) as f:
        golden = json.load(f)
    bad, n = [], 0
    for c in golden["plans"]:
        items = [tuple(it) for it in c["items"]]
        # One packing worker: the items arrive in the order shard_dataset shuffles the indices to;
        # get_messages(i) hands out the item that arrives at that position.
        order = fp.shard_dataset(list(range(len(items))), 1, -1, 42)[0]
        at = {i: pos for pos, i in enumerate(order)}
        dataset = ArrivalDataset(items, at)
        lengths = dict(items)
        saved = fp.get_length_qwen2_5_vl_with_default_chat_template
        fp.get_length_qwen2_5_vl_with_default_chat_template = lambda processor, messages, **kw: lengths[messages]
        try:
            pm = fp.PackingMapDataset(dataset, None, types.SimpleNamespace(min_pixels=0, max_pixels=0),
                                      packing_workers=1, packing_interval=c["packing_interval"],
                                      max_length=c["max_length"], shuffle_seed=42)
            with tempfile.TemporaryDirectory() as tmp:
                with quiet():  # tqdm progress bar, "Saved ... groups"
                    pm.cache_indices(os.path.join(tmp, "packed.jsonl"))
                groups = [[m["messages"] for m in json.loads(line)] for line in open(os.path.join(tmp, "packed.jsonl"))]
        finally:
            fp.get_length_qwen2_5_vl_with_default_chat_template = saved
        diff("plan %s" % c["name"], c["groups"], groups, bad)
        n += 1
    report.add("packing/golden.json", "PackingMapDataset.cache_indices (1 worker)", n, bad)

    def tensors(m):
        t = {"input_ids": torch.tensor(m["input_ids"], dtype=torch.long),
             "labels": torch.tensor(m["labels"], dtype=torch.long),
             "attention_mask": torch.ones(len(m["input_ids"]), dtype=torch.long),
             "position_ids": torch.tensor(m["position_ids"], dtype=torch.long).reshape(3, -1)}
        if m["image_grid_thw"]:
            t["image_grid_thw"] = torch.tensor(m["image_grid_thw"], dtype=torch.long)
            t["pixel_values"] = torch.tensor(m["pixel_values"], dtype=torch.float32)
        return t

    bad, n = [], 0
    cached = fp.CachedPackingDatasetForQwen2_5VL.__new__(fp.CachedPackingDatasetForQwen2_5VL)
    cached.processor, cached.min_pixels, cached.max_pixels, cached.model_for_position_ids = None, 0, 0, None
    saved = fp.process_to_train_qwen2_5_vl_with_default_chat_template
    fp.process_to_train_qwen2_5_vl_with_default_chat_template = lambda processor, messages, **kw: tensors(messages)
    try:
        for c in golden["flatten"]:
            if c.get("mask_first_label", True):
                members = [cached.preprocess(m) for m in c["members"]]
            else:
                members = [tensors(m) for m in c["members"]]
            out = dc.FlattenedDataCollatorForQwen2_5_VL(max_length=c["max_length"])([members])
            e = c["expected"]
            naive = out["naive_position_ids"][0]
            got = {"input_ids": out["input_ids"][0].tolist(), "labels": out["labels"][0].tolist(),
                   "position_ids": out["position_ids"][:, 0].tolist(), "naive_position_ids": naive.tolist(),
                   "image_grid_thw": out["image_grid_thw"].tolist() if "image_grid_thw" in out else [],
                   "pixel_values": out["pixel_values"].tolist() if "pixel_values" in out else []}
            for k in got:
                diff("flatten %s %s" % (c["name"], k), e[k], got[k], bad)
            n += 1
    finally:
        fp.process_to_train_qwen2_5_vl_with_default_chat_template = saved
    report.add("packing/golden.json", "FlattenedDataCollatorForQwen2_5_VL", n, bad)

    # torch 1.13 (Debian 12) pads on the right and has no `padding_side` argument (torch >= 2.5).
    real_pad = dc.pad_sequence

    def pad_sequence(seqs, batch_first=False, padding_value=0.0, padding_side="right"):
        assert padding_side == "right"
        return real_pad(seqs, batch_first=batch_first, padding_value=padding_value)

    dc.pad_sequence = pad_sequence
    bad, n = [], 0
    try:
        for c in golden["padded"]:
            out = dc.DataCollatorForQwen2_5_VL(c["pad_token_id"], max_length=c["max_length"])([tensors(m) for m in c["examples"]])
            e = c["expected"]
            got = {"input_ids": out["input_ids"].tolist(), "labels": out["labels"].tolist(),
                   "attention_mask": out["attention_mask"].long().tolist(), "position_ids": out["position_ids"].tolist(),
                   "image_grid_thw": out["image_grid_thw"].tolist() if "image_grid_thw" in out else []}
            for k in got:
                diff("padded %s %s" % (c["name"], k), e[k], got[k], bad)
            n += 1
    finally:
        dc.pad_sequence = real_pad
    report.add("packing/golden.json", "DataCollatorForQwen2_5_VL", n, bad)


# ------------------------------------------------------------------------------------------------
# video/cases_*.jsonl: qwen-vl-utils 0.0.11 fetch_video. A decoded clip is handed to the
# torchvision reader as torchvision.io.read_video's result (the PNG frames stacked, the case's
# fps); a frame list goes through fetch_video's list branch. The frame indices are read back from
# a second run on a clip whose frame k is filled with the value k. The image-processor step
# (transformers' Qwen2VLImageProcessor) is make_video_golden.py's restatement.
def check_video(ref, report):
    import numpy as np
    import torch
    from PIL import Image
    vp = ref.vision_process
    sys.path.insert(0, os.path.join(DATA, "video"))
    import make_video_golden as mvg
    tag = "scalar" if os.environ.get("ATEN_CPU_CAPABILITY") == "default" else "avx2"
    vdir = os.path.join(DATA, "video")
    bad, n = [], 0
    real_read = vp.io.read_video
    try:
        for case in read_jsonl(os.path.join(vdir, "cases_%s.jsonl" % tag)):
            args, e = case["args"], case["expected"]
            files, list_fps = mvg.list_files(os.path.join(vdir, case["video"]))
            ele = {k: args[k] for k in ("fps", "nframes", "min_frames", "max_frames", "min_pixels", "max_pixels",
                                        "total_pixels") if k in args}
            where = "%s %s" % (case["video"], json.dumps(args))
            if args.get("frames_as_list"):
                frames, fps = vp.fetch_video(dict(ele, video=["file://" + f for f in files]), return_video_sample_fps=True)
                arrays = [np.array(f) for f in frames]
                names = [os.path.abspath(f) for f in files]
                idx = list(range(len(files))) + [len(files) - 1] * (len(frames) - len(files))
                diff(where + " frames", [names[i] for i in e["frame_indices"]], [names[i] for i in idx], bad)
            else:
                video_fps = args.get("source_fps", list_fps)
                clip = torch.from_numpy(np.stack([np.array(mvg.to_rgb(Image.open(f))) for f in files])).permute(0, 3, 1, 2)
                ramp = torch.arange(clip.shape[0], dtype=torch.uint8)[:, None, None, None].expand(clip.shape).contiguous()
                got = []
                for source in (clip, ramp):
                    vp.io.read_video = lambda *a, source=source, **k: (source, None, {"video_fps": video_fps})
                    with quiet():  # "qwen-vl-utils using torchvision to read video."
                        got.append(vp.fetch_video(dict(ele, video="clip.mp4"), return_video_sample_fps=True))
                (video, fps), (ramp_out, _) = got
                idx = ramp_out[:, 0, 0, 0].round().long().tolist()
                arrays = [v.permute(1, 2, 0).numpy().astype(np.uint8) for v in video]
                if not torch.equal(video, video.round()):
                    bad.append(where + ": fetch_video returned non-integer values")
            pv, grid, rh, rw, second = mvg.processor(arrays, fps)
            got = {"video_grid_thw": [grid], "resized_height": rh, "resized_width": rw, "nframes": len(arrays),
                   "second_per_grid_ts": [second], "sample_fps": fps, "tokens": grid[0] * grid[1] * grid[2] // 4,
                   "pixel_values_shape": list(pv.shape), "sha256": hashlib.sha256(pv.tobytes()).hexdigest()}
            if not args.get("frames_as_list"):
                got["frame_indices"] = idx
            for k in got:
                diff(where + " " + k, e[k], got[k], bad)
            n += 1
    finally:
        vp.io.read_video = real_read
    report.add("video/cases_%s.jsonl" % tag, "qwen-vl-utils fetch_video (+ restated processor)", n, bad)


# ------------------------------------------------------------------------------------------------
# New golden (--write-new): builders/chat_random_resize/, what the reference's
# sft_dataset.random_resize_images_in_messages puts into the messages.
def write_chat_random_resize(ref):
    import numpy as np
    from PIL import Image
    sft = ref.sft_dataset
    out = os.path.join(DATA, "builders", "chat_random_resize")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(14)
    y, x = np.mgrid[0:140, 0:1000]
    base = np.stack([(x * 5) % 256, (y * 7) % 256, ((x + y) * 3) % 256], axis=2) + rng.integers(-20, 21, (140, 1000, 3))
    base = np.clip(base, 0, 255).astype(np.uint8)
    inputs = {
        "rgb_45x30.png": Image.fromarray(base[:30, :45]),                       # grows to the minimum budget
        "rgba_130x61.png": Image.fromarray(np.concatenate(                      # to_rgb composites on white
            [base[:61, :130], rng.integers(0, 256, (61, 130, 1)).astype(np.uint8)], axis=2), "RGBA"),
        "grey_1000x30.png": Image.fromarray(base[:30, :1000, 1]),               # sides snapped to 28
        "rgb_84x56.png": Image.fromarray(base[:56, :84]),                       # already a multiple of 28
    }
    for name, im in inputs.items():
        im.save(os.path.join(out, name))
    images = []
    for name in inputs:
        messages = [{"role": "user", "content": [{"type": "image", "image": "file://" + os.path.join(out, name)}]}]
        random.seed(0)
        sft.random_resize_images_in_messages(messages, MIN_PIXELS, MAX_PIXELS, 28)
        fetched = messages[0]["content"][0]["image"]
        fname = "fetched_" + name
        fetched.save(os.path.join(out, fname))
        images.append({"input": name, "input_size": list(inputs[name].size), "fetched": fname,
                       "fetched_size": list(fetched.size)})
    # Which items of a LLaVA-style conversation are fetched: the user turns' images only.
    meta = {"id": "c", "data_path": out, "image": ["rgb_45x30.png", "rgb_84x56.png", "grey_1000x30.png"],
            "conversations": [{"from": "human", "value": "<image>\n<image>\nCompare."},
                              {"from": "gpt", "value": "Like this <image>"}]}
    messages = sft.get_messages_from_llava_style_conversations(meta)
    seed = 5
    random.seed(seed)
    if random.random() <= 1.0:
        sft.random_resize_images_in_messages(messages, MIN_PIXELS, MAX_PIXELS, 28)
    next_random = random.random()
    items = [not isinstance(c["image"], str) for m in messages for c in m["content"] if c.get("type") == "image"]
    golden = {
        "source": "RSCoVLM c507282 sft_dataset.random_resize_images_in_messages with qwen-vl-utils 0.0.11 "
                  "fetch_image (scripts/crosscheck_goldens.py --write-new)",
        "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "images": images,
        "conversation": {"record": meta, "prob_random_resize": 1.0, "seed": seed, "fetched": items,
                         "next_random": next_random},
    }
    golden["conversation"]["record"] = dict(meta, data_path="")
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print("wrote %s (%d images)" % (out, len(images)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rscovlm-dir", required=True, help="RSCoVLM checkout (commit c507282)")
    ap.add_argument("--binpacking-dir", required=True, help="binpacking checkout (tag v1.5.2)")
    ap.add_argument("--qwen-vl-utils-dir", required=True, help="qwen-vl-utils 0.0.11 src folder (holds qwen_vl_utils/)")
    ap.add_argument("--only", nargs="*", help="box_codec dense_open_end refgeo lrsvqa_zoom llava packing video")
    ap.add_argument("--write-new", action="store_true",
                    help="also write the goldens only the reference's run makes (builders/chat_random_resize/, "
                         "builders/zoom_system_prompt.txt, builders/random_sample.json)")
    args = ap.parse_args()
    ref = setup(args)
    if args.write_new:
        write_chat_random_resize(ref)
        # rscovlm.utils.random_sample (dense_det / refgeo / visual_cot / supervised datasets) with a seed.
        cases = []
        for total, rate in [(10, 0.5), (8, 0.01), (1000, 0.3), (3, 0.999), (7, 3.0), (5, 1.0), (0, 0.5)]:
            got = sys.modules["rscovlm.utils"].random_sample({"sampling_rate": rate}, list(range(total)), seed=0)
            cases.append({"total": total, "rate": rate, "indices": got})
        with open(os.path.join(DATA, "builders", "random_sample.json"), "w") as f:
            json.dump({"source": "RSCoVLM c507282 rscovlm/utils/data.py random_sample(data, list(range(total)), seed=0)",
                       "cases": cases}, f)
            f.write("\n")
        # The Zoom-in tool system prompt the lrsvqa_zoom golden names "<SYSTEM_PROMPT>", verbatim.
        with open(os.path.join(DATA, "builders", "zoom_system_prompt.txt"), "w", encoding="utf-8") as f:
            f.write(ref.visual_cot_dataset.SYSTEM_PROMPT)
    report = Report()
    checks = [("box_codec", check_box_codec), ("dense_open_end", check_dense_open_end), ("refgeo", check_refgeo),
              ("lrsvqa_zoom", check_lrsvqa_zoom), ("llava", check_llava), ("packing", check_packing), ("video", check_video)]
    for name, fn in checks:
        if not args.only or name in args.only:
            fn(ref, report)
    if report.failed():
        print("\nSOME GOLDEN VALUES DIFFER FROM THE REFERENCE")
        return 1
    print("\nall checked golden values equal the reference's output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
