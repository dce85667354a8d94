#!/usr/bin/env python3
"""Golden vectors for the conversation builders and the mixing rules the data tests compare to.

Each function below is an independent re-statement of one piece of the RSCoVLM / LMMRotate
training-data logic (RSCoVLM rscovlm/training/data/{refgeo,visual_cot,llava_onevision,sft}_dataset.py,
rscovlm/utils.py; LMMRotate lmmrotate/dataset.py), written against the same libraries the reference
uses (CPython `random`, numpy, OpenCV 4.6 `cv2`, Pillow 9.4), so the outputs are what the reference
produces for these inputs. Run from anywhere with Debian 12's /usr/bin/python3 (python3-numpy,
python3-opencv, python3-pil):

    /usr/bin/python3 tests/data/builders/make_goldens.py

It rewrites refgeo/ (metainfo + mask PNGs), lrsvqa_zoom.jsonl, refgeo.jsonl, refgeo_masks.jsonl, dense_open_end*.json*,
dense_synonyms.json,
llava_onevision_rows.jsonl, llava_onevision.json and balanced_concat.json next to this file. Everything is deterministic.
"""
import json
import math
import os
import random

import cv2
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def dump_jsonl(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    # qwen-vl-utils smart_resize (the aspect-ratio check raises ValueError above 200)
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


MIN_PIXELS, MAX_PIXELS = 64 * 28 * 28, 1296 * 28 * 28  # RSCoVLM multitask budget


# ----------------------------------------------------------------------------------------------
# LRS-VQA-Zoom (visual_cot_dataset.get_messages); PIL images are represented by their file and
# the crop box Pillow's Image.crop would use (map(int, map(round, box))).
TOOL_CALL = '<tool_call>\n{{"name": "image_zoom_in", "arguments": {{"bbox": [{x1}, {y1}, {x2}, {y2}]}}}}\n</tool_call>'
MCQ_STRIP = '\n Answer the question using a single word or phrase.'


def zoom_messages(meta, resized, disable_visual_cot=False):
    meta = json.loads(json.dumps(meta))
    if 'question' in meta and 'answer' in meta:
        question, answer = meta['question'], meta['answer']
    else:
        choice_prompt = ' The choices are listed below: \n' + ''.join(c + "\n" for c in meta['Answer choices'])
        question = (meta['Text'].rstrip(MCQ_STRIP) + choice_prompt +
                    'Select the best answer to the above multiple-choice question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option.'
                    + '\nThe best answer is:')
        answer = meta['Ground truth']
    img = {"type": "image", "image": "file://" + meta["image"]}
    if resized:
        meta['resized_height'], meta['resized_width'] = resized
        img["resized_width"] = meta['resized_width']
        img["resized_height"] = meta['resized_height']
    crop_hbox = meta['bbox_info']['crop_hbox']
    if len(crop_hbox) == 1 and not disable_visual_cot:
        crop = [int(round(v)) for v in crop_hbox[0]]
        cropped = {"type": "image", "image": "file://" + meta["image"], "crop": crop}
        if resized:
            for bbox in meta['bbox_info'].get('rbox', []) + meta['bbox_info']['crop_hbox']:
                for i in range(0, len(bbox), 2):
                    bbox[i] = int(bbox[i] * meta['resized_width'] / meta['image_ori_width'])
                    bbox[i + 1] = int(bbox[i + 1] * meta['resized_height'] / meta['image_ori_height'])
        b = crop_hbox[0]
        return [
            {"role": "system", "content": "<SYSTEM_PROMPT>"},
            {"role": "user", "content": [img, {"type": "text", "text": f"{question}\nZoom in to the region of interest and answer the question."}]},
            {"role": "assistant", "content": TOOL_CALL.format(x1=int(b[0]), y1=int(b[1]), x2=int(b[2]), y2=int(b[3]))},
            {"role": "user", "content": [cropped, {"type": "text", "text": "Here's the zoomed-in image. You can complete your task now."}]},
            {"role": "assistant", "content": answer},
        ]
    return [{"role": "user", "content": [img, {"type": "text", "text": question}]}, {"role": "assistant", "content": answer}]


def make_lrsvqa_zoom():
    records = [
        {"image": "LRS_VQA/P0001.png", "image_ori_width": 4000, "image_ori_height": 3000,
         "question": "What is the color of the ship near the harbor?", "answer": "white",
         "bbox_info": {"crop_hbox": [[1000.5, 500, 1500, 900]], "rbox": [[1100, 600, 1200, 600, 1200, 700, 1100, 700]]}},
        {"image": "P0002.png", "image_ori_width": 2000, "image_ori_height": 2000,
         "Text": "How many planes\n Answer the question using a single word or phrase.", "Ground truth": "B",
         "Answer choices": ["A. 1", "B. 2"], "bbox_info": {"crop_hbox": [[0, 0, 100, 100], [200, 200, 300, 300]]}},
        {"image": "glh/big.tif", "image_ori_width": 10000, "image_ori_height": 2600,
         "Text": "Which is larger?\n Answer the question using a single word or phrase.", "Ground truth": "B",
         "Answer choices": ["(A) ship", "(B) plane"], "bbox_info": {"crop_hbox": [[7.5, 9.49, 3100.7, 2599.5]]}},
        {"image": "star/s.png", "image_ori_width": 5001, "image_ori_height": 3333, "question": "Is it urban?",
         "answer": "yes", "bbox_info": {"crop_hbox": [[2.5, 3.5, 4999.9, 3332.1]]}},
    ]
    rows = []
    for rec in records:
        rs = smart_resize(rec["image_ori_height"], rec["image_ori_width"], 28, MIN_PIXELS, MAX_PIXELS)
        for resized in (rs, None):
            for disable in (False, True):
                rows.append({"record": rec, "resized": None if resized is None else [resized[0], resized[1]],
                             "disable_visual_cot": disable, "messages": zoom_messages(rec, resized, disable)})
    dump_jsonl("lrsvqa_zoom.jsonl", rows)


# ----------------------------------------------------------------------------------------------
# refGeo (refgeo_dataset.py): todo_list order, hbb/obb/polygon/seg messages, segmentation masks.
def hbb_json_template(p):
    main = "Locate the {prompt}, output the bbox coordinates using JSON format"
    proxy = ["Give me the bbox of {prompt} using JSON format",
             "Output the bbox of the {prompt} in the image using JSON format.",
             "From this image, provide the bbox for {prompt} using JSON format",
             "Please provide the bbox coordinate of the region this sentence describes: {prompt}",
             "Locate {prompt} in the given image and provide the bbox using JSON format"]
    t = random.choice(proxy) if random.random() < p else main
    if random.random() < p:
        t = t.replace("bbox", "bounding box")
    return t


def obb_json_template(p):
    main = "Locate the {prompt}, output the oriented bbox coordinates using JSON format"
    proxy = ["Give me the oriented bounding box of {prompt} using JSON format",
             "Output the oriented bounding box of the {prompt} in the image using JSON format.",
             "From this image, provide the oriented bounding box for {prompt} using JSON format",
             "Please provide the oriented bounding box coordinate of the region this sentence describes: {prompt}",
             "Locate {prompt} in the given image and provide the oriented bounding box using JSON format"]
    t = random.choice(proxy) if random.random() < p else main
    if random.random() < p:
        t = t.replace("bbox", "bounding box")
    if random.random() < p:
        t = t.replace("oriented", "rotated")
    return t


def mask_template(p):
    main = "Locate the {prompt}, output the segmentation mask"
    proxy = ["Give me the segmentation mask of {prompt}",
             "Output the segmentation mask of the {prompt} in the image",
             "From this image, provide the segmentation mask for {prompt}",
             "Please provide the segmentation mask of the region this sentence describes: {prompt}",
             "Locate {prompt} in the given image and provide the segmentation mask",
             "Segment the {prompt} in the given image"]
    return random.choice(proxy) if random.random() < p else main


def image_item(meta):
    c = {"type": "image", "image": "file://" + meta["image_file_path"]}
    c["resized_width"] = meta['resized_width']
    c["resized_height"] = meta['resized_height']
    return c


def hbb_messages(meta, pp, pt):
    x1, y1, x2, y2 = [int(x) for x in meta['bbox']]
    q = meta['question']
    x1 = int(x1 * meta['resized_width'] / meta['image_width'])
    y1 = int(y1 * meta['resized_height'] / meta['image_height'])
    x2 = int(x2 * meta['resized_width'] / meta['image_width'])
    y2 = int(y2 * meta['resized_height'] / meta['image_height'])
    if random.random() > pt:
        t = hbb_json_template(pp)
        resp = '```json\n[\n\t{"bbox_2d": [' + f"{x1}, {y1}, {x2}, {y2}" + '], "label": "' + q + '"}\n]\n```'
        return [{"role": "user", "content": [image_item(meta), {"type": "text", "text": t.format(prompt=q)}]},
                {"role": "assistant", "content": resp}]
    return [{"role": "system", "content": "As an AI assistant, you specialize in accurate image object detection, delivering coordinates in plain text format 'x1,y1,x2,y2 object'."},
            {"role": "user", "content": [image_item(meta), {"type": "text", "text": "find the {prompt}".format(prompt=q)}]},
            {"role": "assistant", "content": f"{x1},{y1},{x2},{y2} {q}\n"}]


def obb_messages(meta, pp, pt):
    ps = np.array(meta['poly']).astype(int)
    q = meta['question']
    ps[:, 0] = (ps[:, 0] * meta['resized_width'] / meta['image_width']).astype(int)
    ps[:, 1] = (ps[:, 1] * meta['resized_height'] / meta['image_height']).astype(int)
    (x, y), (w, h), a = cv2.minAreaRect(ps)
    if w < h:
        w, h = h, w
        a += 90
    while not 90 > a >= -90:
        a = a - 180 if a >= 90 else a + 180
    o = [int(x), int(y), int(w), int(h), int(a)]
    if random.random() > pt:
        t = obb_json_template(pp)
        resp = '```json\n[\n\t{"oriented bbox": [' + f"{o[0]}, {o[1]}, {o[2]}, {o[3]}, {o[4]}" + '], "label": "' + q + '"}\n]\n```'
        sp = "You are an AI assistant specializing in oriented object detection. Represent objects with: center (x,y), width (w), height (h), and rotation angle."
    else:
        t = "find the {prompt}"
        resp = f"{o[0]},{o[1]},{o[2]},{o[3]},{o[4]} {q}\n"
        sp = "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates in plain text format 'x,y,w,h,a object'."
    return [{"role": "system", "content": sp},
            {"role": "user", "content": [image_item(meta), {"type": "text", "text": t.format(prompt=q)}]},
            {"role": "assistant", "content": resp}]


def normalize_polygon(poly, clockwise=True):
    pts = [(poly[i], poly[i + 1]) for i in range(0, 8, 2)]
    cx, cy = sum(p[0] for p in pts) / 4, sum(p[1] for p in pts) / 4
    pts.sort(key=lambda p: math.atan2(p[1] - cy, p[0] - cx), reverse=not clockwise)
    s = pts.index(min(pts, key=lambda p: (p[1], p[0])))
    return [v for p in pts[s:] + pts[:s] for v in p]


def polygon_messages(meta, pp, pt):
    q = meta['question']
    poly = np.array(meta['poly']).astype(int)
    poly[:, 0] = (poly[:, 0] * meta['resized_width'] / meta['image_width']).astype(int)
    poly[:, 1] = (poly[:, 1] * meta['resized_height'] / meta['image_height']).astype(int)
    v = normalize_polygon([int(x) for p in poly.tolist() for x in p], False)
    if random.random() > pt:
        t = obb_json_template(pp)
        resp = '```json\n[\n\t{"quadrant bbox": [' + ", ".join(map(str, v)) + '], "label": "' + q + '"}\n]\n```'
        sp = "You are an AI assistant specializing in oriented object detection. Represent objects with quadrant bbox: the corrdinates of each vertices of the oriented bounding boxes in clock-wise order."
    else:
        t = "find the {prompt}"
        resp = ",".join(map(str, v)) + f" {q}\n"
        sp = "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates of the polygon vertices in plain text format 'x1,y1,x2,y2,x3,y3,x4,y4 object'."
    return [{"role": "system", "content": sp},
            {"role": "user", "content": [image_item(meta), {"type": "text", "text": t.format(prompt=q)}]},
            {"role": "assistant", "content": resp}]


def encode_rle(rows2d):
    out = []
    for row in rows2d:
        enc, count = [], 1
        for j in range(1, len(row)):
            if row[j] == row[j - 1]:
                count += 1
            else:
                enc.append(f"{row[j - 1]}*{count}")
                count = 1
        enc.append(f"{row[-1]}*{count}")
        out.append(",".join(enc))
    return ";".join(out) + ";"


def block_max(a, b):
    # skimage.measure.block_reduce(a, (b, b), np.max): zero padding at the end to a multiple of b
    ph, pw = (-a.shape[0]) % b, (-a.shape[1]) % b
    a = np.pad(a, ((0, ph), (0, pw)), mode='constant', constant_values=0)
    return a.reshape(a.shape[0] // b, b, a.shape[1] // b, b).max(axis=(1, 3))


def seg_tokens(mask_path, meta, patch=28):
    arr = np.array(Image.open(mask_path).convert("L"))
    _, binary = cv2.threshold(arr, 1, 255, cv2.THRESH_BINARY)
    closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((50, 50), np.uint8))
    contours, hierarchy = cv2.findContours(closed, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(closed)
    for i in range(len(contours)):
        if hierarchy[0][i][3] == -1:
            cv2.drawContours(filled, contours, i, 1, cv2.FILLED)
    im = Image.fromarray(filled)
    assert im.size == (meta['image_width'], meta['image_height'])
    im = im.resize((meta['resized_width'], meta['resized_height']), Image.NEAREST)
    return encode_rle(block_max(np.array(im), patch)), closed, filled


def seg_messages(meta, pp):
    seg, _, _ = seg_tokens(meta["mask_file_path"], meta)
    t = mask_template(pp)
    sp = "As an AI assistant, you specialize in segmentation, delivering segmentation results as Row-wise RLE format. Each row is represented as '<value>*<count>', and rows are separated by ';'. The last row ends with a semicolon. For example, '0*1,1*2;0*3;' represents the mask."
    return [{"role": "system", "content": sp},
            {"role": "user", "content": [image_item(meta), {"type": "text", "text": t.format(prompt=meta['question'])}]},
            {"role": "assistant", "content": f"<seg>{seg}</seg>"}]


def draw_masks(root):
    """A few masks with holes, gaps narrower than the closing kernel, thin lines, border contact."""
    os.makedirs(os.path.join(root, "masks", "rrsis"), exist_ok=True)
    specs = {}
    m = np.zeros((300, 400), np.uint8)
    cv2.rectangle(m, (40, 30), (200, 180), 255, -1)
    cv2.rectangle(m, (90, 80), (150, 130), 0, -1)           # a hole larger than the kernel
    cv2.rectangle(m, (230, 40), (330, 120), 200, -1)
    cv2.rectangle(m, (250, 60), (260, 70), 0, -1)            # a small hole the closing fills
    cv2.line(m, (20, 280), (380, 200), 255, 1)               # a thin diagonal line
    cv2.circle(m, (360, 270), 25, 3, -1)                     # values 2..255 count as foreground
    cv2.circle(m, (320, 270), 10, 1, -1)                     # value 1 does not (threshold > 1)
    specs["a_0.png"] = m
    m = np.zeros((217, 163), np.uint8)
    pts = np.array([[0, 0], [120, 10], [160, 216], [30, 150]], np.int32)
    cv2.fillPoly(m, [pts], 255)
    cv2.fillPoly(m, [np.array([[40, 40], [90, 50], [70, 110]], np.int32)], 0)
    m[100:103, :] = 0                                         # a gap the closing bridges
    specs["b_7.png"] = m
    m = np.zeros((90, 120, 3), np.uint8)                      # an RGB mask: convert("L") weights
    cv2.ellipse(m, (60, 45), (40, 20), 30, 0, 360, (0, 3, 0), -1)
    cv2.ellipse(m, (60, 45), (10, 5), 0, 0, 360, (0, 0, 1), -1)
    specs["c_x1.png"] = m
    for name, arr in specs.items():
        Image.fromarray(arr).save(os.path.join(root, "masks", "rrsis", name))
    return specs


def make_refgeo():
    root = os.path.join(HERE, "refgeo")
    draw_masks(root)
    metas = [
        {"question": "the large building on the left", "bbox": [40, 30, 201, 181],
         "poly": [[40, 30], [201, 30], [201, 181], [40, 181]], "image_width": 400, "image_height": 300,
         "dataset": "rrsis", "image_id": "a.jpg", "question_id": 0},
        {"question": "the \"odd\" field", "bbox": [0.5, 0, 160.7, 216], "poly": [[0, 0], [120, 10], [160, 216], [30, 150]],
         "image_width": 163, "image_height": 217, "dataset": "rrsis", "image_id": "b.tif", "question_id": 7},
        {"question": "a car without a mask", "bbox": [5, 5, 50, 40], "poly": [[5, 5], [50, 8], [48, 40], [3, 37]],
         "image_width": 640, "image_height": 480, "dataset": "rrsis", "image_id": "n.jpg", "question_id": 3},
        {"question": "the ellipse", "bbox": [20, 25, 100, 65], "poly": [[20, 45], [60, 20], [100, 45], [60, 70]],
         "image_width": 120, "image_height": 90, "dataset": "rrsis", "image_id": "c.png", "question_id": "x1"},
        {"question": "a record whose mask is declared missing", "bbox": [1, 2, 3, 4], "poly": [[1, 2], [3, 2], [3, 4], [1, 4]],
         "image_width": 400, "image_height": 300, "dataset": "rrsis", "image_id": "a.jpg", "question_id": 0, "mask_exists": False},
    ]
    with open(os.path.join(root, "metainfo.jsonl"), "w") as f:
        for m in metas:
            f.write(json.dumps(m) + "\n")
    data_path = "DATA"  # replaced by the test's folder
    region_types_of = {"refgeo": ['hbb', 'obb', 'polygon', 'seg'], "refgeo_seg_only": ['seg'],
                       "refgeo_wo_seg": ['hbb', 'obb', 'polygon'], "refgeo_hbb_only": ['hbb'],
                       "refgeo_poly_only": ['polygon']}
    rows = []
    for dtype, region_types in region_types_of.items():
        lst = [dict(m, data_path=data_path) for m in metas]
        for meta in lst:
            meta["image_file_path"] = os.path.join(meta["data_path"], 'images', meta["dataset"], meta['image_id'])
        todo = [(i, r) for r in region_types if r != 'seg' for i in range(len(lst))]
        if 'seg' in region_types:
            for i, meta in enumerate(lst):
                mask_path = f"{root}/masks/{meta['dataset']}/{meta['image_id'].split('.')[0] + '_' + str(meta['question_id']) + '.png'}"
                exists = meta["mask_exists"] if 'mask_exists' in meta else os.path.exists(mask_path)
                meta["mask_file_path"] = mask_path if exists else None
                if exists:
                    todo.append((i, 'seg'))
        todo = sorted(todo, key=lambda x: (x[0], region_types.index(x[1])))
        for seed in (0, 5):
            for prob_rr in (0.0, 0.6):
                samples = []
                for idx, (mid, r) in enumerate(todo):
                    random.seed((seed << 32) + idx)
                    meta = json.loads(json.dumps(lst[mid]))
                    if random.random() <= prob_rr:
                        px = meta["image_width"] * meta["image_height"]
                        scale = random.uniform(MIN_PIXELS / px, MAX_PIXELS / px)
                        rh, rw = int(meta["image_height"] * scale), int(meta["image_width"] * scale)
                        meta['resized_height'], meta['resized_width'] = smart_resize(rh, rw, 28, MIN_PIXELS, MAX_PIXELS)
                    else:
                        meta['resized_height'], meta['resized_width'] = smart_resize(meta["image_height"], meta["image_width"], 28, MIN_PIXELS, MAX_PIXELS)
                    fn = {"hbb": hbb_messages, "obb": obb_messages, "polygon": polygon_messages}.get(r)
                    msgs = fn(meta, 0.5, 0.5) if fn else seg_messages(meta, 0.5)
                    for mm in msgs:  # mask/image paths relative to the data folder
                        if isinstance(mm["content"], list):
                            for c in mm["content"]:
                                if c.get("type") == "image":
                                    c["image"] = c["image"].replace("file://DATA/", "file://")
                    samples.append({"index": idx, "record": mid, "region": r, "messages": msgs})
                rows.append({"dataset_type": dtype, "seed": seed, "prob_random_resize": prob_rr, "samples": samples})
    dump_jsonl("refgeo.jsonl", rows)
    # The mask pipeline at several resized sizes, with the intermediate masks' hashes.
    import hashlib
    masks = []
    for name, (w, h) in {"a_0.png": (400, 300), "b_7.png": (163, 217), "c_x1.png": (120, 90)}.items():
        for rs in [(w, h), smart_resize(h, w, 28, MIN_PIXELS, MAX_PIXELS)[::-1], (56, 28 * 9), (28 * 3, 28)]:
            tok, closed, filled = seg_tokens(os.path.join(root, "masks", "rrsis", name), {"image_width": w, "image_height": h, "resized_width": rs[0], "resized_height": rs[1]})
            masks.append({"mask": name, "resized_width": rs[0], "resized_height": rs[1], "rle": tok,
                          "closed_sha256": hashlib.sha256(closed.tobytes()).hexdigest(),
                          "filled_sha256": hashlib.sha256(filled.tobytes()).hexdigest()})
    dump_jsonl("refgeo_masks.jsonl", masks)


# ----------------------------------------------------------------------------------------------
# LLaVA-OneVision (llava_onevision_dataset.py): random_sample, ensure_image_tag, the skip to the
# next item when get_messages raises, random-resize draws.
def make_llava_onevision():
    rows = [
        {"id": "o0", "image": "ov/0.png", "conversations": [{"from": "human", "value": "Describe the scene."}, {"from": "gpt", "value": "Fields."}]},
        {"id": "o1", "image": None, "conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]},
        {"id": "o2", "image": "ov/2.png", "conversations": [{"from": "human", "value": "<image>\nCount the roofs.\n"}, {"from": "gpt", "value": " 12 "}]},
        {"id": "o3", "image": "ov/3.png", "conversations": [{"from": "gpt", "value": "preface"}, {"from": "human", "value": "Which way is north?"}, {"from": "gpt", "value": "Up."}, {"from": "human", "value": "Sure?"}, {"from": "gpt", "value": "Yes."}]},
        {"id": "o4", "image": "ov/4.png", "conversations": [{"from": "human", "value": "<image> and <image>?"}, {"from": "gpt", "value": "two tags, one image"}]},
        {"id": "o5", "image": "ov/5.png", "conversations": [{"from": "gpt", "value": "no human turn"}]},
        {"id": "o6", "image": "ov/6.png", "conversations": [{"from": "human", "value": "Tags <video> inside"}, {"from": "gpt", "value": "x"}]},
        {"id": "o7", "image": "ov/7.png", "conversations": [{"from": "human", "value": "Last one."}, {"from": "gpt", "value": "ok"}]},
    ]
    sizes = {"ov/0.png": (640, 480), "ov/2.png": (1000, 30), "ov/3.png": (300, 300), "ov/4.png": (50, 50),
             "ov/5.png": (64, 64), "ov/6.png": (90, 80), "ov/7.png": (2000, 1500)}
    dump_jsonl("llava_onevision_rows.jsonl", rows)

    def sample(total, rate, seed):
        rnd = random.Random(42 if seed is not None else None)
        if rate < 1.0:
            return rnd.sample(range(total), max(1, int(total * rate)))
        if rate > 1.0:
            assert float(rate).is_integer()
            return list(range(total)) * int(rate)
        return list(range(total))

    def get_messages(meta, prob_rr):
        meta = json.loads(json.dumps(meta))
        if meta["image"] is not None:
            if not any("<image>" in c["value"] for c in meta["conversations"]):
                first = next(c for c in meta["conversations"] if c["from"] == "human")
                first["value"] = "<image>\n" + first["value"]
        images = [meta["image"]]
        if not all(isinstance(i, str) for i in images):
            raise ValueError("Invalid image format")
        videos = []
        msgs = []
        for turn in meta["conversations"]:
            role = {"human": "user", "gpt": "assistant"}[turn["from"]]
            value = turn["value"].replace("<image>\n", "<image>").replace("<video>\n", "<video>").strip()
            content = []
            import re
            for part in re.split(r'(<image>|<video>)', value):
                if part.strip() == "":
                    continue
                if part == "<image>":
                    content.append({"type": "image", "image": "file://" + images.pop(0)})
                elif part == "<video>":
                    content.append({"type": "video", "video": videos.pop(0)})
                else:
                    content.append({"type": "text", "text": part})
            msgs.append({"role": role, "content": content})
        if random.random() <= prob_rr:
            for m in msgs:
                if m['role'] == 'user':
                    for c in m['content']:
                        if c['type'] == 'image':
                            w, h = sizes[c['image'][len("file://"):]]
                            scale = random.uniform(MIN_PIXELS / (w * h), MAX_PIXELS / (w * h))
                            rh, rw = smart_resize(int(h * scale), int(w * scale), 28, MIN_PIXELS, MAX_PIXELS)
                            c["random_resized"] = [rw, rh]  # drawn, then discarded by the reference
        return msgs

    out = {"sampling": [], "items": []}
    for total, rate in [(8, 0.5), (8, 0.01), (1000, 0.3), (5, 3.0), (5, 1.0)]:
        out["sampling"].append({"total": total, "rate": rate, "indices": sample(total, rate, 0)})
    for prob_rr in (0.0, 0.7):
        for seed in (0, 3):
            items = []
            for idx in range(len(rows)):
                random.seed((seed << 32) + idx)
                j = idx
                while True:  # __getitem__: on an error, load idx + 1
                    try:
                        msgs = get_messages(rows[j], prob_rr)
                        break
                    except (ValueError, IndexError, StopIteration, KeyError):
                        j += 1
                        if j >= len(rows):
                            msgs = None
                            break
                items.append({"index": idx, "source": j if msgs is not None else None, "messages": msgs})
            out["items"].append({"prob_random_resize": prob_rr, "seed": seed, "items": items})
    with open(os.path.join(HERE, "llava_onevision.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)


# ----------------------------------------------------------------------------------------------
# LMMRotate balanced concat (lmmrotate/dataset.py OrientedDetSFTDataset.deal_with_multidataset_mode).
def make_balanced():
    cases = []
    for sizes in ([5, 1, 3], [10, 4], [7], [2, 2, 2], [100, 3, 37, 55], [6, 4]):
        subsets = []
        base = 0
        for n in sizes:
            subsets.append(list(range(base, base + n)))
            base += n
        ratios = [len(s) for s in subsets]
        dummy = sum(ratios)
        ratios = [round(max(ratios) / v) for v in ratios]
        ratios = [v if v > 1.8 else 1 for v in ratios]
        pool = []
        for s, r in zip(subsets, ratios):
            pool.extend(s * r)
        epochs = {str(e): random.Random(e).sample(pool, dummy) for e in (0, 1, 7)}
        cases.append({"sizes": sizes, "ratios": ratios, "length": dummy, "epochs": epochs})
    with open(os.path.join(HERE, "balanced_concat.json"), "w") as f:
        json.dump(cases, f)


# ----------------------------------------------------------------------------------------------
# Dense detection with open-ended prompts (dense_det_dataset.py: preprocess_coco_format_metadata,
# use_synonyms drawn per record at construction, get_{hbb,obb,polygon}_messages with
# set_open_end_prompt_settings). The construction draws use random.Random(open_end_seed) here.
def make_dense_open_end():
    import re
    coco = {
        "categories": [{"id": 1, "name": "small-vehicle"}, {"id": 2, "name": "storage_tank"}, {"id": 3, "name": "Plane"}],
        "images": [{"id": 1, "file_name": "d/0.png", "width": 1000, "height": 800},
                   {"id": 2, "file_name": "d/1.png", "width": 640, "height": 640},
                   {"id": 3, "file_name": "d/2.png", "width": 300, "height": 900}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [100, 200, 50, 40], "segmentation": [[100, 200, 150, 200, 150, 240, 100, 240]]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [400.5, 100, 30, 60.7], "segmentation": [[410, 100, 430.5, 120, 420, 160.7, 400.5, 140]]},
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [700, 500, 90, 90], "segmentation": [[745, 500, 790, 545, 745, 590, 700, 545]]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "segmentation": [[20, 20, 30, 20, 30, 30, 20, 30]]},
            {"id": 5, "image_id": 3, "category_id": 3, "bbox": [10, 10, 200, 300], "segmentation": [[10, 60, 160, 10, 210, 260, 60, 310]]},
        ],
    }
    synonyms = {"small vehicle": ["car", "small car", "vehicle"], "storage tank": ["tank", "oil tank"],
                "plane": ["airplane", "aircraft", "jet"]}
    with open(os.path.join(HERE, "dense_open_end.json"), "w") as f:
        json.dump(coco, f, indent=1)
    with open(os.path.join(HERE, "dense_synonyms.json"), "w") as f:
        json.dump(synonyms, f, indent=1)

    def preprocess(md):
        md = json.loads(json.dumps(md))
        names = sorted([c["name"] for c in md["categories"]], key=lambda s: s.replace("-", " ").lower())
        rank = {c["id"]: names.index(c["name"]) for c in md["categories"]}
        cname = {c["id"]: c["name"].replace("-", " ").lower() for c in md["categories"]}
        cats = ', '.join(c.replace("-", " ").lower() for c in names)
        out = {}
        for im in md["images"]:
            im['image_width'] = im.pop('width')
            im['image_height'] = im.pop('height')
            im['categories_str'] = cats
            im['annotations'] = []
            out[im['id']] = im
        for a in md["annotations"]:
            x1, y1, w, h = a['bbox']
            a['bbox'] = [x1, y1, int(x1 + w), int(y1 + h)]
            a['category_name'] = cname[a['category_id']]
            a['category_rank'] = rank[a['category_id']]
            out[a['image_id']]['annotations'].append(a)
        return list(out.values())

    OPEN = 'all the visible remote sensing objects'

    def open_end(t, anns, syn):
        t = re.sub(r'(the )?{categories}', OPEN, t)
        for a in anns:
            a['category_name'] = random.choice(syn[re.sub(r"[_\-]+", " ", a['category_name']).lower()])
        return t

    def hbb_tmpl(p):
        main = "Locate every item from the category list in the image and output the coordinates in JSON format. The category set includes {categories}."
        proxy = ["Please output bbox coordinates and names of {categories} in JSON format."
                 "Give me the bboxes and names of {categories} using JSON format",
                 "Output the category names and bboxes of the {categories} in the image using JSON format.",
                 "From this image, provide the bboxes and categories for {categories} using JSON format",
                 "Please provide the bbox coordinates of the following objects: {categories}.",
                 "Locate {categories} in the given image and provide the bboxes using JSON format"]
        t = random.choice(proxy) if random.random() <= p else main
        if random.random() <= p:
            t = t.replace("bbox", "bounding box")
        return t

    def obb_tmpl(p):
        main = "Locate every item from the category list in the image and output the oriented bbox coordinates in JSON format. The category set includes {categories}."
        proxy = ["Give me the oriented bboxes and names of {categories} using JSON format",
                 "Output the category names and oriented bboxes of the {categories} in the image using JSON format.",
                 "From this image, provide the oriented bboxes and categories for {categories} using JSON format",
                 "Please provide the oriented bbox coordinates of the following objects: {categories}",
                 "Locate {categories} in the given image and provide the oriented bboxes using JSON format"]
        t = random.choice(proxy) if random.random() <= p else main
        if random.random() <= p:
            t = t.replace("bbox", "bounding box")
        if random.random() <= p:
            t = t.replace("oriented", "rotated")
        return t

    def to_obb(seg):
        ps = np.array(seg[0]).astype(int).reshape(-1, 2)
        (x, y), (w, h), a = cv2.minAreaRect(ps)
        if w < h:
            w, h = h, w
            a += 90
        while not 90 > a >= -90:
            a = a - 180 if a >= 90 else a + 180
        return [int(x), int(y), int(w), int(h), int(a)]

    def messages(region, meta, pp=0.5, pt=0.5):
        anns = meta['annotations']
        cats = meta['categories_str']
        img = {"type": "image", "image": "file://" + meta["image_file_path"],
               "resized_width": meta['resized_width'], "resized_height": meta['resized_height']}
        for a in anns:
            x1, y1, x2, y2 = a['bbox']
            a['bbox'] = [int(x1 * meta['resized_width'] / meta['image_width']), int(y1 * meta['resized_height'] / meta['image_height']),
                         int(x2 * meta['resized_width'] / meta['image_width']), int(y2 * meta['resized_height'] / meta['image_height'])]
            seg = a['segmentation']
            for i in range(0, len(seg[0]), 2):
                seg[0][i] = int(seg[0][i] * meta['resized_width'] / meta['image_width'])
                seg[0][i + 1] = int(seg[0][i + 1] * meta['resized_height'] / meta['image_height'])
        anns.sort(key=lambda a: (a["category_rank"], a["bbox"][1], a["bbox"][0]))
        use, syn = meta["use_synonyms"], meta["synonyms_dict"]
        if random.random() >= pt:
            t = hbb_tmpl(pp) if region == 'hbb' else obb_tmpl(pp)
            if use:
                t = open_end(t, anns, syn)
            if not anns:
                resp = 'There are none.'
            elif region == 'hbb':
                resp = '```json\n[\n\t' + ',\n\t'.join(json.dumps({"bbox_2d": a["bbox"], "label": a["category_name"]}) for a in anns) + '\n]\n```'
            elif region == 'obb':
                resp = '```json\n[\n\t' + ',\n\t'.join(json.dumps({"oriented bbox": to_obb(a["segmentation"]), "label": a["category_name"]}) for a in anns) + '\n]\n```'
            else:
                resp = '```json\n[\n\t' + ',\n\t'.join(json.dumps({"quadrant bbox": normalize_polygon(a["segmentation"][0]), "label": a["category_name"]}) for a in anns) + '\n]\n```'
            sp = {"hbb": None,
                  "obb": "You are an AI assistant specializing in oriented object detection. Represent objects with: center (x,y), width (w), height (h), and rotation angle.",
                  "polygon": "You are an AI assistant specializing in oriented object detection. Represent objects with quadrant bbox: the corrdinates of each vertices of the oriented bounding boxes in clock-wise order."}[region]
        else:
            t = "find the {categories}"
            if use:
                t = open_end(t, anns, syn)
            if not anns:
                resp = 'There are none.'
            elif region == 'hbb':
                resp = '\n'.join(f'{a["bbox"][0]},{a["bbox"][1]},{a["bbox"][2]},{a["bbox"][3]} {a["category_name"]}' for a in anns) + '\n'
            elif region == 'obb':
                resp = '\n'.join(','.join(map(str, to_obb(a["segmentation"]))) + f' {a["category_name"]}' for a in anns) + '\n'
            else:
                resp = '\n'.join(','.join(map(str, normalize_polygon(a["segmentation"][0]))) + f' {a["category_name"]}' for a in anns) + '\n'
            sp = {"hbb": "As an AI assistant, you specialize in accurate image object detection, delivering coordinates in plain text format 'x1,y1,x2,y2 object'.",
                  "obb": "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates in plain text format 'x,y,w,h,a object'.",
                  "polygon": "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates of the polygon vertices in plain text format 'x1,y1,x2,y2,x3,y3,x4,y4 object'."}[region]
        msgs = [{"role": "user", "content": [img, {"type": "text", "text": t.format(categories=cats)}]},
                {"role": "assistant", "content": resp}]
        if sp:
            msgs.insert(0, {"role": "system", "content": sp})
        return msgs

    rows = []
    for seed in (0, 1, 2):
        for prob_rr in (0.0, 0.5):
            recs = preprocess(coco)
            rng = random.Random(seed)  # construction-time draws (open_end_seed)
            for r in recs:
                r["image_file_path"] = os.path.join("DATA", r['file_name'])
                r["use_synonyms"] = True if rng.random() <= 0.6 else False
                r["synonyms_dict"] = synonyms
            todo = [(i, rt) for rt in ['hbb', 'obb', 'polygon'] for i in range(len(recs))]
            samples = []
            for idx, (i, rt) in enumerate(todo):
                random.seed((seed << 32) + idx)
                meta = json.loads(json.dumps(recs[i]))
                if random.random() <= prob_rr:
                    px = meta["image_width"] * meta["image_height"]
                    scale = random.uniform(MIN_PIXELS / px, MAX_PIXELS / px)
                    meta['resized_height'], meta['resized_width'] = smart_resize(int(meta["image_height"] * scale), int(meta["image_width"] * scale), 28, MIN_PIXELS, MAX_PIXELS)
                else:
                    meta['resized_height'], meta['resized_width'] = smart_resize(meta["image_height"], meta["image_width"], 28, MIN_PIXELS, MAX_PIXELS)
                m = messages(rt, meta)
                for mm in m:
                    if isinstance(mm["content"], list):
                        mm["content"][0]["image"] = mm["content"][0]["image"].replace("file://DATA/", "file://")
                samples.append({"index": idx, "region": rt, "use_synonyms": meta["use_synonyms"], "messages": m})
            rows.append({"seed": seed, "prob_random_resize": prob_rr, "prob_open_end_prompts": 0.6, "samples": samples})
    dump_jsonl("dense_open_end.jsonl", rows)


if __name__ == "__main__":
    make_dense_open_end()
    make_lrsvqa_zoom()
    make_refgeo()
    make_llava_onevision()
    make_balanced()
