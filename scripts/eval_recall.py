#!/usr/bin/env python3
"""Per-size recall of a model on a held-out synthetic sequence, at the model's own threshold.

What a counter needs from its detector is that each object is found in most frames while it
is in view. For every frame of the sequence (`ssd-train synth --sequence`, seed and length
below), each non-difficult true box is matched to the best-scoring unused detection of its
class with IoU >= 0.5 (`ssd-edge run --model M`, no --threshold: the model's own). Recall is
the found fraction of true boxes, per class and box-height bin (pixels of the 300x300 frame).
The headline is persons of 24 px height and more (the model issue's goal: >= 85 %).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_eval  # noqa: E402

BINS = [(0, 24), (24, 40), (40, 60), (60, 90), (90, 10_000)]


def bin_name(lo: int, hi: int) -> str:
    return f"{lo}+" if hi >= 10_000 else f"{lo}-{hi}"


def load_truth(seq: Path) -> dict[int, list[tuple[str, list[float], bool]]]:
    """frame -> [(class, box, difficult)]"""
    truth = defaultdict(list)
    with open(seq / "tracks.csv") as f:
        for r in csv.DictReader(f):
            box = [float(r[k]) for k in ("x0", "y0", "x1", "y1")]
            truth[int(r["frame"])].append((r["class"], box, r["difficult"] in ("1", "true")))
    return truth


def match(cand, used, cls, box) -> int | None:
    """The best unused detection of `cls` at IoU >= 0.5 with `box`, marked used."""
    best, best_iou = None, 0.5
    for j, d in enumerate(cand):
        if used[j] or d.get("label") != cls:
            continue
        v = synth_eval.iou(box, d["box"])
        if v >= best_iou:
            best, best_iou = j, v
    if best is not None:
        used[best] = True
    return best


def score(truth, frames: list[dict]):
    """(class, bin index) -> [found, total] over non-difficult true boxes, and
    class -> [true, false] detections: a detection on a difficult box is neither (VOC's rule)."""
    dets = {d["frame"]: d["detections"] for d in frames}
    table: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    precision: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in set(truth) | set(dets):
        objs = truth.get(f, [])
        cand = sorted(dets.get(f, []), key=lambda d: -d["score"])
        used = [False] * len(cand)
        # tallest first, so a big box is not stolen by a small one's looser match
        for cls, box, difficult in sorted(objs, key=lambda o: (o[2], o[1][1] - o[1][3])):
            hit = match(cand, used, cls, box)
            if difficult:
                if hit is not None:
                    cand[hit]["ignored"] = True
                continue
            h = box[3] - box[1]
            k = next(i for i, (lo, hi) in enumerate(BINS) if lo <= h < hi)
            cell = table[(cls, k)]
            cell[1] += 1
            cell[0] += hit is not None
        for j, d in enumerate(cand):
            if not d.get("ignored"):
                precision[d["label"]][0 if used[j] else 1] += 1
    return table, precision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--ssd-train", required=True)
    ap.add_argument("--model", action="append", help="ONNX model (repeatable)")
    ap.add_argument("--work", required=True, type=Path, help="the sequence and detections")
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=401)
    ap.add_argument("--threshold", type=float,
                    help="score threshold (default: each model's own, from its metadata)")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    models = args.model or ["models/default-float.onnx", "models/default.onnx"]
    seq = args.work / f"seq-{args.seed}-{args.frames}"
    args.work.mkdir(parents=True, exist_ok=True)
    synth_eval.make_sequence(args.ssd_train, seq, args.frames, args.seed, "counts.json",
                             "eval_recall")
    truth = load_truth(seq)
    classes = sorted({c for objs in truth.values() for c, _, _ in objs})
    out = {}
    at = "the model's own threshold" if args.threshold is None else f"threshold {args.threshold}"
    print(f"sequence seed {args.seed}, {args.frames} frames; recall of non-difficult true boxes "
          f"(IoU >= 0.5) at {at}, by box height in px; precision of the class's detections")
    header = ("| model | class | " + " | ".join(bin_name(*b) for b in BINS)
              + " | 24+ | precision |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for m in models:
        table, precision = score(truth, synth_eval.model_detections(
            args.ssd_edge, m, seq, "eval_recall", args.threshold))
        out[m] = {}
        for cls in classes:
            cells = []
            for k in range(len(BINS)):
                found, total = table.get((cls, k), [0, 0])
                cells.append(f"{100 * found / total:.1f} % ({total})" if total else "-")
                out[m].setdefault(cls, {})[bin_name(*BINS[k])] = [found, total]
            big = [table.get((cls, k), [0, 0]) for k in range(1, len(BINS))]
            found, total = sum(c[0] for c in big), sum(c[1] for c in big)
            out[m][cls]["24+"] = [found, total]
            cells.append(f"**{100 * found / total:.1f} %**" if total else "-")
            tp, fp = precision.get(cls, [0, 0])
            out[m][cls]["precision"] = [tp, fp]
            cells.append(f"{100 * tp / (tp + fp):.1f} %" if tp + fp else "-")
            print(f"| {Path(m).name} | {cls} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
