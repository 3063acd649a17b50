#!/usr/bin/env python3
"""Line-crossing counts on held-out synthetic sequences: ssd-edge vs `trackers` + supervision.

Each sequence (`ssd-train synth --sequence`) has a vertical counting line (counts.json) and
its true crossings: a crossing is an object's box centre passing the line between two frames.
Every counter sees the very same detections, read from one JSON-lines file:
  model       the shipped model's detections (`ssd-edge run --threshold 0.1` on the frames);
  gt-spoiled  the true boxes with Gaussian jitter (sigma = 5 % of the box side per
              coordinate), 20 % dropped at random, scores from N(0.75, 0.15) in [0.05, 1],
              plus a person who walks to the line, stands on it for 150 frames with its box
              dithering +-6 px across it and 30 % of those frames missing, then walks on
              (one true crossing per visit, added to the truth).
Counters:
  ssd-edge    `ssd-edge track --config` with the sequence's line (anchor = box centre, as the
              truth): our tracker and counter on the detection file, no detector in the loop;
  baselines   the `trackers` package's ByteTrack, OC-SORT and SORT with their defaults (as a
              new user runs them) and supervision's LineZone on the same line with the
              triggering anchor set to CENTER like ours (LineZone's own default, the four
              corners, is shown once for ByteTrack).
Scoring: per sequence, class and direction, |counted - true|, summed over all of them (a
sequence is one camera's day: an over-count on one does not make up for a miss on another);
the % is of all true crossings. `pooled` sums the counts of all sequences first. On the
model's detections each counted crossing is also paired with a true one (same class and
direction, at most MATCH_FRAMES apart, nearest first): matched, missed and extra per class.
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

# Flicker visits: start frame every FLICKER_EVERY frames; walk in, stand, walk on.
FLICKER_EVERY = 700
FLICKER_WALK, FLICKER_STAND = 40, 150
# A counted crossing stands for a true one of the same class and direction this close.
MATCH_FRAMES = 25


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return synth_eval.sh(cmd, "eval_count", **kw)


def make_sequence(ssd_train: str, out: Path, frames: int, seed: int) -> None:
    synth_eval.make_sequence(ssd_train, out, frames, seed, "counts.json", "eval_count")


def load_gt(seq: Path) -> dict[int, list[tuple[int, str, list[float]]]]:
    gt = defaultdict(list)
    with open(seq / "tracks.csv") as f:
        for r in csv.DictReader(f):
            box = [float(r[k]) for k in ("x0", "y0", "x1", "y1")]
            gt[int(r["frame"])].append((int(r["track_id"]), r["class"], box))
    return gt


def true_counts(meta: dict) -> dict[str, list[int]]:
    return {c: [v["left_to_right"], v["right_to_left"]] for c, v in meta["counts"].items()}


def flicker_boxes(frames: int, line_x: float, height: int, seed: int):
    """Per frame, the flickering person's box (or None), and its true crossings."""
    rng = random.Random(seed * 7919 + 1)
    boxes: dict[int, list[float]] = {}
    crossings = [0, 0]
    for start in range(60, frames - (2 * FLICKER_WALK + FLICKER_STAND), FLICKER_EVERY):
        right = rng.random() < 0.5
        w, h = 26.0, 70.0
        y0 = rng.uniform(0, height - h)
        step = 2.0 if right else -2.0
        cx = line_x - step * FLICKER_WALK
        for f in range(start, start + 2 * FLICKER_WALK + FLICKER_STAND):
            k = f - start
            if k < FLICKER_WALK or k >= FLICKER_WALK + FLICKER_STAND:
                cx += step
                shown = cx
            else:
                cx = line_x
                if rng.random() < 0.3:
                    continue
                shown = cx + rng.uniform(-6.0, 6.0)
            boxes[f] = [shown - w / 2, y0, shown + w / 2, y0 + h]
        # the true centre reaches the line and goes on: one crossing
        crossings[0 if right else 1] += 1
    return boxes, crossings


def spoiled_detections(gt, frames: int, seed: int, classes: list[str], flicker) -> list[dict]:
    rng = random.Random(seed)
    lines = []
    for f in range(frames):
        objs = [(cls, box) for _, cls, box in gt.get(f, [])]
        if f in flicker:
            objs.append(("person", flicker[f]))
        dets = []
        for cls, (x0, y0, x1, y1) in objs:
            spoiled = synth_eval.spoil_box(rng, (x0, y0, x1, y1))
            if spoiled is None:
                continue
            b, score = spoiled
            dets.append({"class_id": classes.index(cls) + 1, "label": cls,
                         "score": round(score, 4), "box": [round(v, 2) for v in b]})
        lines.append({"frame": f, "detections": dets})
    return lines



def write_jsonl(path: Path, lines: list[dict], width: int, height: int) -> None:
    path.write_text("".join(json.dumps({**l, "width": width, "height": height}) + "\n"
                            for l in lines))


def track_config(ssd_edge: str, dets: Path, config: Path, classes: list[str]):
    """`ssd-edge track --config` on a detection file: the summary's totals (run's shape) and
    every crossing event as (frame, line, class, direction)."""
    out = sh([ssd_edge, "track", "--config", str(config), "--input", str(dets),
              "--labels", ",".join(classes)], env={**os.environ, "RUST_LOG": "warn"}).stdout
    lines = out.splitlines()
    events = [(e["frame"], e["place"], e["label"], e["direction"]) for line in lines[:-1]
              for e in json.loads(line).get("events", []) if e["kind"] == "crossing"]
    return json.loads(lines[-1])["summary"].get("totals", {}), events


def line_counts(totals: dict, line: str, classes: list[str]) -> dict[str, list[int]]:
    """[in, out] per class on `line` from a summary's totals."""
    crossing = totals.get(line, {}).get("crossing", {})
    return {c: [crossing.get(c, {}).get("in", 0), crossing.get(c, {}).get("out", 0)]
            for c in classes}


def count_ours(ssd_edge: str, dets: Path, config: Path, classes: list[str]):
    """Totals per class as [in, out], and the crossing events as (frame, class, direction)."""
    totals, events = track_config(ssd_edge, dets, config, classes)
    return line_counts(totals, "truth", classes), [(f, c, d) for f, _, c, d in events]


def pair_events(truth: list[tuple], events: list[tuple], window: int = MATCH_FRAMES):
    """Pairs true crossings (frame, *key) with counted ones of the same key (class and
    direction, ...) at most `window` frames apart, nearest first; returns the pairs as
    (true, counted), the true ones left (missed) and the counted ones left (extra)."""
    pairs = sorted((abs(t[0] - e[0]), i, j) for i, t in enumerate(truth)
                   for j, e in enumerate(events)
                   if t[1:] == e[1:] and abs(t[0] - e[0]) <= window)
    used_t, used_e = {}, set()
    for _, i, j in pairs:
        if i not in used_t and j not in used_e:
            used_t[i] = j
            used_e.add(j)
    return ([(truth[i], events[j]) for i, j in sorted(used_t.items())],
            [t for i, t in enumerate(truth) if i not in used_t],
            [e for j, e in enumerate(events) if j not in used_e])


def match_events(truth: list[tuple[int, str, str]], events: list[tuple[int, str, str]]):
    """Pairs true crossings with counted ones of the same class and direction at most
    MATCH_FRAMES apart, nearest first; returns (matched, missed, extra)."""
    matched, missed, extra = pair_events(truth, events)
    return len(matched), len(missed), len(extra)


def line_zone(x: float, height: int, anchors):
    import supervision as sv
    # supervision's `in` is left to right for a line from top to bottom (checked below).
    return sv.LineZone(start=sv.Point(x, 0), end=sv.Point(x, height),
                       triggering_anchors=anchors)


def check_line_zone_direction() -> None:
    import supervision as sv
    lz = line_zone(150.0, 300, [sv.Position.CENTER])
    for x in range(100, 200, 10):
        lz.trigger(sv.Detections(xyxy=np.array([[x - 10, 100, x + 10, 140]], dtype=np.float32),
                                 tracker_id=np.array([1]), class_id=np.array([1])))
    if (lz.in_count, lz.out_count) != (1, 0):
        sys.exit("eval_count: supervision's LineZone direction is not what this script assumes")


def track_line_zones(tracker_name: str, lines: list[dict], zones: dict, classes: list[str]):
    """The `trackers` package's `tracker_name` with its defaults on each frame's detections,
    every supervision LineZone of `zones` (by name) triggered by its tracks; returns per zone
    {class: [in, out]} and the crossings as (frame, zone, class, direction)."""
    import supervision as sv
    import trackers

    tracker = {"ByteTrack": trackers.ByteTrackTracker, "SORT": trackers.SORTTracker,
               "OC-SORT": trackers.OCSORTTracker}[tracker_name]()
    events = []
    for d in lines:
        dets = d["detections"]
        if dets:
            det = sv.Detections(
                xyxy=np.array([v["box"] for v in dets], dtype=np.float32),
                confidence=np.array([v["score"] for v in dets], dtype=np.float32),
                class_id=np.array([v["class_id"] for v in dets], dtype=int),
            )
        else:
            det = sv.Detections.empty()
        tracked = tracker.update(det)
        for name, lz in zones.items():
            crossed_in, crossed_out = lz.trigger(tracked)
            for direction, crossed in (("in", crossed_in), ("out", crossed_out)):
                events += [(d["frame"], name, classes[int(k) - 1], direction)
                           for k in np.asarray(tracked.class_id)[np.asarray(crossed, dtype=bool)]]
    return {name: {c: [lz.in_count_per_class.get(k + 1, 0), lz.out_count_per_class.get(k + 1, 0)]
                   for k, c in enumerate(classes)} for name, lz in zones.items()}, events


def count_baseline(tracker_name: str, anchors_name: str, lines: list[dict], x: float,
                   height: int, classes: list[str]):
    import supervision as sv

    anchors = ([sv.Position.CENTER] if anchors_name == "center" else
               [sv.Position.TOP_LEFT, sv.Position.TOP_RIGHT, sv.Position.BOTTOM_LEFT,
                sv.Position.BOTTOM_RIGHT])
    counts, events = track_line_zones(tracker_name, lines, {"truth": line_zone(x, height, anchors)},
                                      classes)
    return counts["truth"], [(f, c, d) for f, _, c, d in events]


def counter_label(name: str, anchors: str) -> str:
    return ("ssd-edge (ours)" if name == "ssd-edge" else
            f"{name} + LineZone {'CENTER' if anchors == 'center' else '4 corners'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--ssd-train", required=True)
    ap.add_argument("--model", default="models/default-float.onnx",
                    help="the shipped float model (the int8 one is ~3.5x slower on x86)")
    ap.add_argument("--work", required=True, type=Path, help="sequences and detections go here")
    ap.add_argument("--frames", type=int, default=3200)
    ap.add_argument("--seeds", default="301,302,303,304,305,306",
                    help="comma-separated sequence seeds")
    ap.add_argument("--baselines", default="ByteTrack,OC-SORT,SORT")
    ap.add_argument("--sets", default="model,gt-spoiled")
    ap.add_argument("--tracker-config", type=Path,
                    help="a TOML file whose [tracker] table ours uses (default: the built-in)")
    ap.add_argument("--band", type=float,
                    help="the line's hysteresis half-width, a fraction of the shorter side "
                         "(default: the counter's)")
    ap.add_argument("--band-height", type=float,
                    help="the cap on the band as a fraction of the box's height (default: the "
                         "counter's; 100 keeps the band fixed)")
    ap.add_argument("--min-crossings", type=int, default=200,
                    help="fail unless the sequences hold at least this many true crossings")
    args = ap.parse_args()

    check_line_zone_direction()
    args.work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    sets = args.sets.split(",")
    counters = [("ssd-edge", "center")] + [(b, "center") for b in args.baselines.split(",") if b]
    if "ByteTrack" in args.baselines.split(","):
        counters.append(("ByteTrack", "corners"))
    truth = {s: defaultdict(lambda: [0, 0]) for s in sets}
    counted = {(s, c): defaultdict(lambda: [0, 0]) for s in sets for c in counters}
    seq_err = defaultdict(int)
    breakdown = defaultdict(int)
    seconds = defaultdict(float)
    classes: list[str] = []
    for seed in seeds:
        seq = args.work / f"seq{seed}-{args.frames}"
        t0 = time.perf_counter()
        make_sequence(args.ssd_train, seq, args.frames, seed)
        meta = json.loads((seq / "counts.json").read_text())
        classes = meta["classes"]
        width, height, x = meta["width"], meta["height"], meta["line"]["x"]
        config = seq / "count.toml"
        config.write_text(
            "[[line]]\nname = \"truth\"\n"
            f"a = [{x / width}, 1.0]\nb = [{x / width}, 0.0]\n"
            "anchor = \"center\"\nextend = true\n"
            + (f"band = {args.band}\n" if args.band is not None else "")
            + (f"band_height = {args.band_height}\n" if args.band_height is not None else "")
            + (args.tracker_config.read_text() if args.tracker_config else ""))
        gt = load_gt(seq)
        with open(seq / "crossings.csv") as f:
            true_events = [(int(r["frame"]), r["class"],
                            "in" if r["direction"] == "left_to_right" else "out")
                           for r in csv.DictReader(f)]
        for s in sets:
            t = true_counts(meta)
            if s == "model":
                lines = [{"frame": d["frame"], "detections": d["detections"]} for d in
                         synth_eval.model_detections(args.ssd_edge, args.model, seq, "eval_count")]
            elif s == "gt-spoiled":
                flicker, extra = flicker_boxes(args.frames, x, height, seed)
                lines = spoiled_detections(gt, args.frames, seed, classes, flicker)
                t["person"] = [t["person"][0] + extra[0], t["person"][1] + extra[1]]
            else:
                sys.exit(f"eval_count: unknown set {s!r}")
            seconds["detections"] += time.perf_counter() - t0
            for c, v in t.items():
                truth[s][c][0] += v[0]
                truth[s][c][1] += v[1]
            dets_path = seq / f"{s}.jsonl"
            write_jsonl(dets_path, lines, width, height)
            for name, anchors in counters:
                t0 = time.perf_counter()
                got, events = (
                    count_ours(args.ssd_edge, dets_path, config, classes) if name == "ssd-edge"
                    else count_baseline(name, anchors, lines, x, height, classes))
                seconds[(s, name, anchors)] += time.perf_counter() - t0
                if s == "model":
                    for c in classes:
                        got_c = match_events([e for e in true_events if e[1] == c],
                                             [e for e in events if e[1] == c])
                        for k, v in zip(("matched", "missed", "extra"), got_c):
                            breakdown[(name, anchors, c, k)] += v
                seq_err[(s, (name, anchors))] += sum(
                    abs(got[c][d] - t.get(c, [0, 0])[d]) for c in classes for d in (0, 1))
                for c, v in got.items():
                    counted[(s, (name, anchors))][c][0] += v[0]
                    counted[(s, (name, anchors))][c][1] += v[1]
            t0 = time.perf_counter()

    print(f"{len(seeds)} sequences x {args.frames} frames (seeds {args.seeds}), "
          f"line x = {x:g} of {width} px; in = left to right")
    cells = [f"{c} {d}" for c in classes for d in ("in", "out")]
    hdr = (f"{'detections':<10} {'counter':<28} " + " ".join(f"{c:>11}" for c in cells)
           + f" {'total':>6} {'abs err':>7} {'% err':>6} {'s':>6}")
    print(hdr)
    print("-" * len(hdr))
    low = []
    for s in sets:
        tv = [truth[s][c][d] for c in classes for d in (0, 1)]
        if sum(tv) < args.min_crossings:
            low.append(f"{s}: {sum(tv)}")
        print(f"{s:<10} {'true':<28} " + " ".join(f"{v:>11}" for v in tv) + f" {sum(tv):>6}")
        for name, anchors in counters:
            cv = [counted[(s, (name, anchors))][c][d] for c in classes for d in (0, 1)]
            pooled = sum(abs(a - b) for a, b in zip(cv, tv))
            err = seq_err[(s, (name, anchors))]
            label = counter_label(name, anchors)
            print(f"{s:<10} {label:<28} " + " ".join(f"{v:>11}" for v in cv)
                  + f" {sum(cv):>6} {err:>7} {100 * err / max(1, sum(tv)):>5.1f}% {pooled:>6}"
                  + f" {seconds[(s, name, anchors)]:>6.1f}")
    if breakdown:
        print(f"model detections, each counted crossing paired with a true one (same class and "
              f"direction, at most {MATCH_FRAMES} frames apart): matched / missed / extra")
        print(f"{'counter':<28} " + " ".join(f"{c:>16}" for c in classes))
        for name, anchors in counters:
            cells = ["/".join(str(breakdown[(name, anchors, c, k)])
                              for k in ("matched", "missed", "extra")) for c in classes]
            print(f"{counter_label(name, anchors):<28} " + " ".join(f"{v:>16}" for v in cells))
    print(f"(sequences and model detections: {seconds['detections']:.0f} s, cached in {args.work})")
    if low:
        sys.exit(f"eval_count: fewer than {args.min_crossings} true crossings: {', '.join(low)}")


if __name__ == "__main__":
    main()
