#!/usr/bin/env python3
"""How far one model's detections agree with another's (e.g. int8 against float) on real frames.

Usage:
    scripts/model_agreement.py --ssd-edge BIN --reference FLOAT.onnx --candidate INT8.onnx \
        --video vtest.avi --first 400 --step 10 [--threshold T] [--image STILL ...]

Frames `first, first+step, ...` of the video (ffmpeg) and the stills are run through
`ssd-edge detect` with both models at the report threshold (the models' own unless given).
A candidate detection agrees with a reference one of the same class at IoU >= 0.5 (greedy,
best score first). Prints the candidate's recall (reference detections it found) and precision
(its detections the reference also has), per class with at least one reference detection and
overall. Benchmarks and evaluations print numbers; nothing here asserts.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

# The one IoU of the project's scripts (corner boxes in pixels).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cross"))
from compare_detections import iou  # noqa: E402


def detect(edge: str, model: str, images: list[str], threshold: float | None) -> dict[str, list]:
    cmd = [edge, "detect", "--model", model]
    if threshold is not None:
        cmd += ["--threshold", str(threshold)]
    out = subprocess.run(cmd + images, check=True, capture_output=True, text=True).stdout
    return {d["source"]: d["detections"] for d in map(json.loads, out.splitlines())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--video")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--image", action="append", default=[])
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        images = list(a.image)
        if a.video:
            sel = f"select='gte(n\\,{a.first})*not(mod(n-{a.first}\\,{a.step}))'"
            subprocess.run(["ffmpeg", "-loglevel", "error", "-i", a.video, "-vf", sel,
                            "-vsync", "0", f"{tmp}/f_%04d.png"], check=True)
            images += sorted(str(p) for p in Path(tmp).glob("f_*.png"))
        ref = detect(a.ssd_edge, a.reference, images, a.threshold)
        cand = detect(a.ssd_edge, a.candidate, images, a.threshold)

    found = defaultdict(int)
    total_ref = defaultdict(int)
    kept = defaultdict(int)
    total_cand = defaultdict(int)
    for img in images:
        r = sorted(ref.get(img, []), key=lambda d: -d["score"])
        c = sorted(cand.get(img, []), key=lambda d: -d["score"])
        used = set()
        for d in r:
            total_ref[d["label"]] += 1
        for d in c:
            total_cand[d["label"]] += 1
            best, bi = 0.5, None
            for i, e in enumerate(r):
                if i in used or e["label"] != d["label"]:
                    continue
                v = iou(d["box"], e["box"])
                if v >= best:
                    best, bi = v, i
            if bi is not None:
                used.add(bi)
                found[d["label"]] += 1
                kept[d["label"]] += 1
    print(f"{len(images)} images; candidate {a.candidate} against reference {a.reference}")
    print("| class | reference detections | candidate detections | recall | precision |")
    print("|---|---|---|---|---|")
    labels = sorted(total_ref, key=lambda k: -total_ref[k])
    for k in labels + ["all"]:
        tr = sum(total_ref.values()) if k == "all" else total_ref[k]
        tc = sum(total_cand.values()) if k == "all" else total_cand[k]
        f = sum(found.values()) if k == "all" else found[k]
        kp = sum(kept.values()) if k == "all" else kept[k]
        rec = f / tr if tr else float("nan")
        prec = kp / tc if tc else float("nan")
        print(f"| {k} | {tr} | {tc} | {rec:.3f} | {prec:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
