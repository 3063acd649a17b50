#!/usr/bin/env python3
"""Tracker quality on synthetic sequences: MOTA, IDF1 and ID switches, ours vs `trackers`.

For each sequence (`ssd-train synth --sequence`, ground-truth tracks in tracks.csv) two sets of
detections are tracked:
  gt-jitter  ground-truth boxes with Gaussian jitter (sigma = 5 % of the box side per
             coordinate), 20 % dropped at random, scores drawn from N(0.75, 0.15) in [0.05, 1];
  model      the shipped model's detections, `ssd-edge run --threshold 0.1` on the frames.
Every tracker sees the very same detections: ours through `ssd-edge track`, and the `trackers`
package's ByteTrack, SORT and OC-SORT with their default settings, as a new user would run them.
Only tracks matched to a detection in a frame are scored (ours reports coasting tracks too,
with lost_frames > 0; they are left out, as the baselines do not output them).

Scoring: py-motmetrics, IoU >= 0.5, a hypothesis only matches ground truth of its own class.
Objects the synthetic scene flags `difficult` (under 35 % visible) are "don't care": removed
from the ground truth, and a hypothesis overlapping one (IoU >= 0.5) is dropped, not counted as
a false positive.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_eval  # noqa: E402

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 still calls it; numpy 2 removed it.
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402

MIN_IOU = 0.5


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return synth_eval.sh(cmd, "eval_track", **kw)


def make_sequence(ssd_train: str, out: Path, frames: int, seed: int) -> None:
    synth_eval.make_sequence(ssd_train, out, frames, seed, "tracks.csv", "eval_track")


def load_gt(seq: Path) -> dict[int, list[tuple[int, str, list[float], bool]]]:
    gt = defaultdict(list)
    with open(seq / "tracks.csv") as f:
        for r in csv.DictReader(f):
            box = [float(r[k]) for k in ("x0", "y0", "x1", "y1")]
            gt[int(r["frame"])].append((int(r["track_id"]), r["class"], box, r["difficult"] == "1"))
    return gt


def jitter_detections(gt, frames: int, seed: int, classes: list[str]) -> list[dict]:
    rng = random.Random(seed)
    lines = []
    for f in range(frames):
        dets = []
        for _, cls, (x0, y0, x1, y1), _ in gt.get(f, []):
            spoiled = synth_eval.spoil_box(rng, (x0, y0, x1, y1))
            if spoiled is None:
                continue
            b, score = spoiled
            dets.append({"class_id": classes.index(cls) + 1, "label": cls,
                         "score": round(score, 4), "box": [round(v, 2) for v in b]})
        lines.append({"frame": f, "detections": dets})
    return lines



def write_jsonl(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(l) + "\n" for l in lines))


def track_ours(ssd_edge: str, dets_path: Path, config: str | None) -> dict:
    cmd = [ssd_edge, "track", "--input", str(dets_path)]
    if config:
        cmd += ["--tracker-config", config]
    out = sh(cmd, env={**os.environ, "RUST_LOG": "warn"}).stdout
    hyps = {}
    for line in out.splitlines():
        d = json.loads(line)
        hyps[d["frame"]] = [(t["id"], t["label"], t["box"]) for t in d["tracks"]
                            if t["lost_frames"] == 0]
    return hyps


def track_baseline(name: str, det_lines: list[dict]) -> dict:
    import supervision as sv
    import trackers

    tracker = {"ByteTrack": trackers.ByteTrackTracker, "SORT": trackers.SORTTracker,
               "OC-SORT": trackers.OCSORTTracker}[name]()
    hyps = {}
    for d in det_lines:
        dets = d["detections"]
        if dets:
            det = sv.Detections(
                xyxy=np.array([x["box"] for x in dets], dtype=np.float32),
                confidence=np.array([x["score"] for x in dets], dtype=np.float32),
                class_id=np.array([x["class_id"] for x in dets], dtype=int),
                data={"label": np.array([x["label"] or "" for x in dets])},
            )
        else:
            det = sv.Detections.empty()
            det.data["label"] = np.array([], dtype=str)
        out = tracker.update(det)
        labels = out.data.get("label", np.array([""] * len(out)))
        hyps[d["frame"]] = [(int(t), str(l), list(map(float, b)))
                            for t, l, b in zip(out.tracker_id, labels, out.xyxy) if t != -1]
    return hyps


def accumulate(gt, hyps: dict, frames: int) -> mm.MOTAccumulator:
    acc = mm.MOTAccumulator(auto_id=False)
    for f in range(frames):
        objs = gt.get(f, [])
        care = [o for o in objs if not o[3]]
        dont = [o for o in objs if o[3]]
        hs = [h for h in hyps.get(f, [])
              if not any(h[1] == o[1] and synth_eval.iou(h[2], o[2]) >= MIN_IOU for o in dont)]
        dist = np.full((len(care), len(hs)), np.nan)
        for i, o in enumerate(care):
            for j, h in enumerate(hs):
                v = synth_eval.iou(o[2], h[2])
                if h[1] == o[1] and v >= MIN_IOU:
                    dist[i, j] = 1.0 - v
        acc.update([o[0] for o in care], [h[0] for h in hs], dist, frameid=f)
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--ssd-train", required=True)
    ap.add_argument("--model", default="models/default.onnx")
    ap.add_argument("--work", required=True, type=Path, help="sequences and detections go here")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seeds", default="101,102", help="comma-separated sequence seeds")
    ap.add_argument("--tracker-config", help="a TOML [tracker] table for ours")
    ap.add_argument("--baselines", default="ByteTrack,SORT,OC-SORT")
    ap.add_argument("--sets", default="gt-jitter,model")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    sets = args.sets.split(",")
    trackers_ = ["ssd-edge"] + [b for b in args.baselines.split(",") if b]
    accs = defaultdict(list)
    seconds = defaultdict(float)
    for seed in seeds:
        seq = args.work / f"seq{seed}-{args.frames}"
        make_sequence(args.ssd_train, seq, args.frames, seed)
        classes = json.loads((seq / "counts.json").read_text())["classes"]
        gt = load_gt(seq)
        for s in sets:
            if s == "gt-jitter":
                lines = jitter_detections(gt, args.frames, seed, classes)
            elif s == "model":
                lines = synth_eval.model_detections(args.ssd_edge, args.model, seq, "eval_track")
            else:
                sys.exit(f"eval_track: unknown set {s!r}")
            dets_path = seq / f"{s}.jsonl"
            write_jsonl(dets_path, lines)
            for t in trackers_:
                t0 = time.perf_counter()
                hyps = (track_ours(args.ssd_edge, dets_path, args.tracker_config) if t == "ssd-edge"
                        else track_baseline(t, lines))
                seconds[(s, t)] += time.perf_counter() - t0
                accs[(s, t)].append(accumulate(gt, hyps, args.frames))

    mh = mm.metrics.create()
    metrics = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses",
               "mostly_tracked", "num_unique_objects"]
    print(f"{len(seeds)} sequences x {args.frames} frames (seeds {args.seeds}); IoU >= {MIN_IOU}")
    hdr = f"{'detections':<10} {'tracker':<18} {'MOTA':>6} {'IDF1':>6} {'IDsw':>5} {'FP':>6} {'FN':>6} {'MT':>8} {'s':>6}"
    print(hdr)
    print("-" * len(hdr))
    for s in sets:
        for t in trackers_:
            a = accs[(s, t)]
            m = mh.compute_many(a, metrics=metrics, names=[str(i) for i in range(len(a))],
                                generate_overall=True).loc["OVERALL"]
            name = "ssd-edge (ours)" if t == "ssd-edge" else f"trackers {t}"
            mt = f"{int(m.mostly_tracked)}/{int(m.num_unique_objects)}"
            print(f"{s:<10} {name:<18} {100 * m.mota:6.1f} {100 * m.idf1:6.1f} "
                  f"{int(m.num_switches):5d} {int(m.num_false_positives):6d} "
                  f"{int(m.num_misses):6d} {mt:>8} {seconds[(s, t)]:6.2f}")


if __name__ == "__main__":
    main()
