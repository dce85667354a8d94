#!/usr/bin/env python3
"""Regenerates the caption-metric goldens with pycocoevalcap's own scorers.

    python3 make_golden.py --pycocoevalcap PATH [--out DIR]

PATH is a checkout of github.com/salaniz/pycocoevalcap (the folder holding bleu/, rouge/,
cider/) or of github.com/tylin/coco-caption (the folder holding pycocoevalcap/). Only the pure
Python scorers are imported (Bleu, Rouge, Cider: Python + numpy); the Java tokenizer, METEOR and
SPICE are not used, so the inputs are written pre-tokenized.

Writes, for each input set NAME (`handmade`: the cases listed below; `synthetic`: 300 records
drawn with a fixed seed so that numpy's pairwise mean runs through all of its block sizes):
  NAME.jsonl          one record a line: {"id", "pred", "refs": [...]}
  NAME.expected.json  {"Bleu": [4 corpus scores], "Bleu_per_image": [4][N], "ROUGE_L",
                       "ROUGE_L_per_image": [N], "CIDEr", "CIDEr_per_image": [N]}
Floats are written with Python's repr, which round-trips exactly.

numpy 1.22+ computes float64 `np.log` with its own AVX-512F code on CPUs that have it, and that
code rounds about a quarter of the logarithms of integers differently (last bit) from the C
library's `log`, so CIDEr's last bits depend on the CPU. The goldens pin the C library's result:
this script turns numpy's AVX-512 code paths off (NPY_DISABLE_CPU_FEATURES, read when numpy is
first imported) unless --keep-avx512 is given.
"""

import argparse
import json
import os
import random
import sys
import types

AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"


def load_scorers(path):
    root = path
    if os.path.isdir(os.path.join(path, "pycocoevalcap")):
        root = os.path.join(path, "pycocoevalcap")
    pkg = types.ModuleType("pycocoevalcap")
    pkg.__path__ = [os.path.abspath(root)]
    sys.modules["pycocoevalcap"] = pkg
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    return Bleu, Rouge, Cider


def handmade():
    r = []

    def add(pred, refs):
        r.append({"id": "h%02d" % len(r), "pred": pred, "refs": refs})

    add("a plane is parked at the airport", ["a plane is parked at the airport"])
    add("many planes are parked next to a terminal",
        ["several airplanes are parked near the terminal building", "many planes parked beside a long terminal",
         "there are many planes next to the terminal"])
    add("a a a a a", ["a plane on a runway", "a a road"])
    add("the the the cat", ["the cat sat on the mat"])
    add("a", ["a small pond", "a"])
    add("", ["a river goes through the city"])
    add("   ", ["some green trees"])
    add("a  plane", ["a plane", "a  plane"])
    add("ships\tin the harbor", ["ships in the harbor", "boats moored in a harbor"])
    add("a green field", ["a green field with some trees", "green fields", "a large green field next to a road"])
    add("two white storage tanks", ["two white tanks", "four white storage tanks stand in a row"])
    add("a road runs across the green farmland with many trees on both sides of the road",
        ["a road crosses farmland", "green farmland"])
    add("the baseball field is surrounded by trees", ["a baseball diamond surrounded by green trees",
                                                      "the baseball field is near some trees",
                                                      "trees surround the baseball field",
                                                      "a baseball field is surrounded by trees",
                                                      "there is a baseball field"])
    add("buildings buildings buildings", ["many buildings", "dense buildings and roads"])
    add("a bridge over the river", ["a bridge is over a river", "the river has a bridge over it", "a long bridge"])
    add("caf\u00e9 on the corner", ["a caf\u00e9 on the corner of the street", "a shop"])
    add("a parking lot with many cars", ["a parking lot with many cars", "a parking lot with many cars"])
    add("cars", ["a parking lot is full of cars", "cars", "many cars are parked"])
    add("a beach with waves", ["waves hit the beach", "a sandy beach with white waves", "the beach"])
    add("an airport", ["an airport with two runways and several planes", "the airport is big"])
    add("dense residential area with houses and roads",
        ["a dense residential area", "many houses are in a dense residential area with roads"])
    add("a stadium", ["a stadium", "a stadium with a green pitch", "a large stadium"])
    add("a playground is next to a school", ["a school with a playground", "a playground next to a school building"])
    add("green green green green trees", ["green trees", "some green trees near a road"])
    add("the port has many boats and containers", ["the port has many boats and containers and cranes",
                                                   "boats and containers at a port"])
    add("a desert", ["a desert with sand dunes", "yellow desert", "bare desert land"])
    add("railway station", ["a railway station with several tracks", "the train station"])
    add("a tennis court and a swimming pool", ["a tennis court next to a swimming pool",
                                                "a swimming pool and a tennis court", "a court"])
    add("a river", ["", "a river"])
    add("x y z", ["x y z w", "w x y", "z"])
    add("a circular farmland", ["circular farmland", "a circular farmland", "several circular fields"])
    add("industrial area with factories", ["an industrial area with many factories and warehouses"])
    return r


def synthetic(n=300, seed=16):
    rng = random.Random(seed)
    vocab = ("a the an many some two three green white gray large small plane planes car cars road roads "
             "tree trees building buildings river bridge field fields parking lot airport runway house houses "
             "ship ships harbor beach pond lake is are with near next to on in of and along").split()

    def sent(lo, hi):
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(lo, hi)))

    out = []
    for i in range(n):
        refs = [sent(1, 14) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.3:
            pred = refs[0]
            words = pred.split()
            if words and rng.random() < 0.5:
                words[rng.randrange(len(words))] = rng.choice(vocab)
            pred = " ".join(words)
        else:
            pred = sent(0, 12)
        out.append({"id": "s%03d" % i, "pred": pred, "refs": refs})
    return out


def score(records, Bleu, Rouge, Cider):
    gts = {r["id"]: list(r["refs"]) for r in records}
    res = {r["id"]: [r["pred"]] for r in records}
    bleu, bleu_img = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_img = Rouge().compute_score(gts, res)
    cider, cider_img = Cider().compute_score(gts, res)
    return {
        "Bleu": [float(x) for x in bleu],
        "Bleu_per_image": [[float(x) for x in row] for row in bleu_img],
        "ROUGE_L": float(rouge),
        "ROUGE_L_per_image": [float(x) for x in rouge_img],
        "CIDEr": float(cider),
        "CIDEr_per_image": [float(x) for x in cider_img],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pycocoevalcap", required=True, help="checkout of salaniz/pycocoevalcap or tylin/coco-caption")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--keep-avx512", action="store_true", help="let numpy use its AVX-512 code paths")
    args = ap.parse_args()
    if not args.keep_avx512:
        os.environ["NPY_DISABLE_CPU_FEATURES"] = AVX512
    Bleu, Rouge, Cider = load_scorers(args.pycocoevalcap)
    for name, records in (("handmade", handmade()), ("synthetic", synthetic())):
        with open(os.path.join(args.out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        with open(os.path.join(args.out, name + ".expected.json"), "w", encoding="utf-8") as f:
            json.dump(score(records, Bleu, Rouge, Cider), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
