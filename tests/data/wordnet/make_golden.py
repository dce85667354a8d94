#!/usr/bin/python3
"""Writes wups_golden.json: RSCoVLM's own WordNet answer matching over Debian's WordNet 3.0.

The reference is `compute_wups_acc` of rscovlm/eval/metric/large_image_bench.py (RSCoVLM commit
c507282352644d086a306787f758e9b14d68f22a), imported from a checkout and run with Debian 12's NLTK
3.8 (python3-nltk) over the WordNet database of Debian's wordnet-base package (/usr/share/wordnet).
NLTK's reader also wants a `lexnames` file, which wordnet-base ships only as the lexnames(5WN) man
page; this script writes it from that page's table into a temporary nltk_data folder beside links to
the database files (lexnames names the lexicographer files and plays no part in matching).

RSCoVLM's metric.py (imported by large_image_bench.py for other metrics) needs pycocoevalcap,
shapely, torch and torchvision: it is replaced by an empty stand-in; compute_wups_acc does not use it.

Usage:
    git clone https://github.com/VisionXLab/RSCoVLM && git -C RSCoVLM checkout c507282
    apt-get install python3-nltk wordnet-base
    /usr/bin/python3 tests/data/wordnet/make_golden.py --rscovlm-dir RSCoVLM

Each pair is scored alone (compute_wups_acc over a one-item list: acc 1.0 or 0.0), and `synsets`
records `wn.synsets(word)` as (data file, offset) in NLTK's order for the words of the pairs.
"""
import argparse
import gzip
import importlib.util
import json
import os
import random
import re
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def nltk_wordnet(wordnet_dir, tmp):
    corp = os.path.join(tmp, "corpora", "wordnet")
    os.makedirs(corp)
    for f in os.listdir(wordnet_dir):
        if re.match(r"^(index|data)\.(noun|verb|adj|adv)$|^(noun|verb|adj|adv)\.exc$", f):
            os.symlink(os.path.join(wordnet_dir, f), os.path.join(corp, f))
    with gzip.open("/usr/share/man/man5/lexnames.5WN.gz", "rt") as f:
        rows = [l.split("\t")[:2] for l in f if re.match(r"^\d\d\t", l)]
    with open(os.path.join(corp, "lexnames"), "w") as f:
        for num, name in rows:
            f.write("%s\t%s\t%d\n" % (num, name.strip(), 3 if name.startswith("adj") else 1))
    import nltk

    nltk.data.path.insert(0, tmp)
    from nltk.corpus import wordnet as wn

    wn.ensure_loaded()
    return wn


def load_reference(rscovlm_dir):
    pkg = types.ModuleType("rsref")
    pkg.__path__ = []
    sys.modules["rsref"] = pkg
    stub = types.ModuleType("rsref.metric")
    stub.compute_contain_acc = stub.compute_startswith_acc = None
    sys.modules["rsref.metric"] = stub
    path = os.path.join(rscovlm_dir, "rscovlm", "eval", "metric", "large_image_bench.py")
    spec = importlib.util.spec_from_file_location("rsref.large_image_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.compute_wups_acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rscovlm-dir", required=True)
    ap.add_argument("--wordnet-dir", default="/usr/share/wordnet")
    ap.add_argument("--out", default=os.path.join(HERE, "wups_golden.json"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    wn = nltk_wordnet(args.wordnet_dir, tmp)
    wups = load_reference(args.rscovlm_dir)

    # Answers of the kind LRS-VQA and MME-RealWorld hold, and forms that exercise morphy: plurals,
    # verb and adjective inflections, exception-list forms, multi-word lemmas, case, punctuation.
    hand = [
        ("yes", "yes"), ("yes", "no"), ("car", "automobile"), ("car", "cars"), ("cars", "auto"),
        ("ship", "boat"), ("boat", "boats"), ("airplane", "aeroplane"), ("plane", "airplane"),
        ("white", "whitish"), ("gray", "grey"), ("Gray.", " grey "), ("red", "reddish"),
        ("rural", "urban"), ("round", "circular"), ("circle", "round"), ("square", "rectangle"),
        ("parked", "park"), ("moving", "move"), ("stationary", "still"), ("big", "bigger"),
        ("large", "larger"), ("good", "better"), ("goose", "geese"), ("child", "children"),
        ("mouse", "mice"), ("go", "went"), ("buildings", "building"), ("traffic light", "traffic_light"),
        ("traffic_light", "traffic_light"), ("storage tank", "storage tank"), ("storage_tank", "tank"),
        ("2", "two"), ("3", "three"), ("one", "1"), ("", ""), ("", "car"), ("...", "."), ("harbor", "harbour"),
        ("harbor", "port"), ("runway", "airstrip"), ("road", "route"), ("bridge", "span"), ("tree", "trees"),
        ("forest", "wood"), ("water", "H2O"), ("farmland", "cropland"), ("desert", "abandon"),
        ("dense", "thick"), ("sparse", "thin"), ("left", "left"), ("top", "upper"), ("bottom", "underside"),
        ("vehicle", "car"), ("truck", "lorry"), ("container", "box"), ("dark", "black"), ("brown", "browned"),
        ("flies", "fly"), ("studies", "study"), ("churches", "church"), ("boxes", "box"), ("wolves", "wolf"),
        ("women", "woman"), ("axes", "axis"), ("hardest", "hard"), ("nicer", "nice"), ("running", "run"),
        ("Café", "cafe"), ("STADIUM", "stadium"), ("stadia", "stadium"), ("tennis court", "court"),
        ("the car", "car"), ("a ship.", "ship"), ("ship.", "ship"), ("ship..", "ship"), ("baseball_diamond", "diamond"),
    ]
    # Random pairs of WordNet lemmas (and inflected forms of them) that share a synset or not.
    rng = random.Random(7)
    lemmas = sorted(wn._lemma_pos_offset_map.keys())
    sample = rng.sample(lemmas, 600)
    auto = []
    for w in sample:
        syns = wn.synsets(w)
        other = [l.name().lower() for s in syns for l in s.lemmas() if l.name().lower() != w]
        if other:
            auto.append((w, rng.choice(other)))
        auto.append((w, rng.choice(lemmas)))
        for suf in ("s", "es", "ed", "ing", "er", "est"):
            if rng.random() < 0.25:
                auto.append((w, w + suf))
    pairs = [(g, p) for g, p in hand + auto]
    out_pairs = []
    words = set()
    for g, p in pairs:
        acc = wups([{"ground_truth": g, "output": p}])["acc"]
        out_pairs.append({"gt": g, "pred": p, "match": acc == 1.0})
        words.add(g.lower().strip().strip("."))
        words.add(p.lower().strip().strip("."))
    synsets = {}
    for w in sorted(words):
        synsets[w] = [["a" if s.pos() == "s" else s.pos(), s.offset()] for s in wn.synsets(w)]
    with open(args.out, "w") as f:
        json.dump({"reference": "RSCoVLM c507282 rscovlm/eval/metric/large_image_bench.py compute_wups_acc; "
                   "NLTK 3.8 (Debian python3-nltk 3.8-1); WordNet 3.0 (Debian wordnet-base)",
                   "pairs": out_pairs, "synsets": synsets}, f, ensure_ascii=False, indent=0)
    print("%d pairs (%d match), %d words" % (len(out_pairs), sum(p["match"] for p in out_pairs), len(synsets)))


if __name__ == "__main__":
    main()
