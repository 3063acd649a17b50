#!/usr/bin/env python3
"""Line-crossing counts on real footage (vtest.avi) against hand-made truth: ssd-edge vs
`trackers` + supervision, on the very same detection file.

Truth: tests/fixtures/real/vtest_crossings.json (docs/real-footage-truth.md), made by eye, no
detector or tracker: two finite segments (`road`, `top`), the feet (bottom centre of the box)
as the point, every crossing with its frame and direction.
Detections: the real COCO SSDLite (models/coco-ssdlite-mnv2-float.onnx) on every frame of
vtest.avi (`ssd-edge run --threshold 0.1` on the frames ffmpeg extracts; the tracker's own
low_threshold is 0.1), person boxes only (the lines count `classes = ["person"]`), boxes
rounded to 0.1 px: the compact file `person.jsonl`, which is also the test fixture (as CSV,
--write-fixture). 5 fps is every other frame of it (what a Pi 4 achieves), frame numbers
kept, so events are matched against the truth's frames.
Counters:
  ssd-edge    `ssd-edge track --config deploy/vtest.toml` (the truth's lines, default band
              and tracker settings: nothing chosen on this footage);
  baselines   the `trackers` package's ByteTrack, OC-SORT and SORT with their defaults (lost
              buffer 30 frames, like ours) and one supervision LineZone per line: the same
              finite segment (oriented so that its `in` is ours), triggering anchor
              BOTTOM_CENTER (the feet, like ours and the truth) instead of its default four
              corners.
Scoring: per line and direction, counted vs true and |counted - true| as a % of the true. Each
counted crossing is then paired with a true one of the same line and direction at most
MATCH_FRAMES apart (nearest first); every miss and extra of ours is listed with its frame.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_count  # noqa: E402
import synth_eval  # noqa: E402

WHO = "eval_count_real"
# A counted crossing stands for a true one of the same line and direction this close (1.5 s).
MATCH_FRAMES = 15
CLASSES = ["person"]  # class id 1 in COCO (models/coco-labels.json) and in the files below


def extract_frames(video: Path, out: Path) -> None:
    """Every frame of `video` as out/NNNN.png, numbered from 0 as the truth's frames."""
    marker = out / ".complete"
    if marker.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    synth_eval.sh(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-start_number", "0",
                   str(out / "%04d.png")], WHO)
    marker.touch()


def person_lines(dets: list[dict]) -> list[dict]:
    """Per frame, the person boxes only, boxes rounded to 0.1 px (what the fixture holds)."""
    return [{"frame": d["frame"], "width": d["width"], "height": d["height"],
             "detections": [{"class_id": 1, "score": v["score"],
                             "box": [round(c, 1) for c in v["box"]]}
                            for v in d["detections"] if v["class_id"] == 1]}
            for d in dets]


def write_compact(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines))


def write_fixture(path: Path, lines: list[dict], model: str) -> None:
    """The person boxes as CSV (a third of the JSON's size), one row per box; frames without
    boxes have no row (tests/count_real.rs feeds every frame of 0..frames to the tracker)."""
    rows = [f"{d['frame']},{v['score']},{','.join(f'{c:g}' for c in v['box'])}\n"
            for d in lines for v in d["detections"]]
    path.write_text(f"# vtest.avi ({len(lines)} frames, {lines[0]['width']}x{lines[0]['height']}): "
                    f"person boxes (class id 1) of {Path(model).name} at score >= 0.1, box "
                    "rounded to 0.1 px; made by `make count-real-fixture` "
                    "(scripts/eval_count_real.py)\nframe,score,x0,y0,x1,y1\n" + "".join(rows))


def check_lines(truth: dict, config: Path) -> None:
    """The config's lines must be the truth's, or the comparison means nothing."""
    cfg = tomllib.loads(config.read_text())
    got = {l["name"]: (l["a"], l["b"], l.get("anchor", "bottom_center"), l.get("extend", False))
           for l in cfg.get("line", [])}
    for l in truth["lines"]:
        if got.get(l["name"]) != (l["a"], l["b"], l["anchor"], l["extend"]):
            sys.exit(f"{WHO}: {config}'s line {l['name']!r} is not the truth's")


def line_zone(line: dict, width: int, height: int):
    """supervision's LineZone on the truth's segment, anchor BOTTOM_CENTER, oriented so that
    a box walking across the segment's middle from the left of a->b to its right counts `in`
    (ours): checked, not assumed."""
    import numpy as np
    import supervision as sv

    a = (line["a"][0] * width, line["a"][1] * height)
    b = (line["b"][0] * width, line["b"][1] * height)
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = (dx * dx + dy * dy) ** 0.5
    # Right of a->b in image coordinates (y down), as src/count/geometry.rs signed_distance.
    right = (-dy / n, dx / n)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    for start, end in ((a, b), (b, a)):
        def zone():
            return sv.LineZone(start=sv.Point(*start), end=sv.Point(*end),
                               triggering_anchors=[sv.Position.BOTTOM_CENTER])
        probe = zone()
        for t in range(-30, 31, 3):
            x, y = mid[0] + t * right[0], mid[1] + t * right[1]
            probe.trigger(sv.Detections(
                xyxy=np.array([[x - 10, y - 60, x + 10, y]], dtype=np.float32),
                tracker_id=np.array([1]), class_id=np.array([1])))
        if (probe.in_count, probe.out_count) == (1, 0):
            return zone()
    sys.exit(f"{WHO}: no orientation of supervision's LineZone counts {line['name']}'s in as in")


def fmt_cell(got: int, true: int) -> str:
    return f"{got} ({100 * abs(got - true) / true:.0f} %)" if true else f"{got}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--video", required=True, type=Path, help="vtest.avi")
    ap.add_argument("--model", default="models/coco-ssdlite-mnv2-float.onnx")
    ap.add_argument("--truth", type=Path, default=Path("tests/fixtures/real/vtest_crossings.json"))
    ap.add_argument("--config", type=Path, default=Path("deploy/vtest.toml"),
                    help="ours counts with this config's lines and [tracker] table")
    ap.add_argument("--work", required=True, type=Path, help="frames and detections go here")
    ap.add_argument("--baselines", default="ByteTrack,OC-SORT,SORT")
    ap.add_argument("--steps", default="1,2",
                    help="comma-separated frame steps: 1 is the footage's 10 fps, 2 is 5 fps")
    ap.add_argument("--write-fixture", type=Path,
                    help="also write the person detections here as CSV (the test fixture)")
    args = ap.parse_args()

    truth = json.loads(args.truth.read_text())
    check_lines(truth, args.config)
    width, height, fps = truth["width"], truth["height"], truth["fps"]
    names = [l["name"] for l in truth["lines"]]
    true_events = [(c["frame"], l["name"], c["direction"]) for l in truth["lines"]
                   for c in l["crossings"]]

    extract_frames(args.video, args.work / "frames")
    dets = synth_eval.model_detections(args.ssd_edge, args.model, args.work, WHO)
    if len(dets) != truth["frames"]:
        sys.exit(f"{WHO}: {len(dets)} frames of detections, the truth has {truth['frames']}")
    people = person_lines(dets)
    write_compact(args.work / "person.jsonl", people)
    if args.write_fixture:
        write_fixture(args.write_fixture, people, args.model)
    n_boxes = sum(len(d["detections"]) for d in people)
    print(f"vtest.avi: {len(people)} frames {width}x{height} at {fps} fps; {n_boxes} person boxes "
          f"at score >= 0.1 from {args.model}; truth {args.truth}; lines from {args.config}")

    counters = ["ssd-edge"] + [b for b in args.baselines.split(",") if b]
    cells = [(n, d) for n in names for d in ("in", "out")]
    for step in (int(s) for s in args.steps.split(",")):
        lines = [d for d in people if d["frame"] % step == 0]
        dets_path = args.work / f"person-step{step}.jsonl"
        write_compact(dets_path, lines)
        truth_cells = [sum(1 for e in true_events if e[1:] == c) for c in cells]
        print(f"\n{fps / step:g} fps ({len(lines)} frames): counted (|error| % of true) per line "
              f"and direction")
        hdr = f"{'counter':<28} " + " ".join(f"{n + ' ' + d:>11}" for n, d in cells) \
            + f" {'|err| sum':>9}   matched/missed/extra (+-{MATCH_FRAMES} frames)"
        print(hdr)
        print("-" * len(hdr))
        print(f"{'true':<28} " + " ".join(f"{v:>11}" for v in truth_cells)
              + f" {'':>9}   {len(true_events)}")
        details = {}
        for name in counters:
            if name == "ssd-edge":
                totals, events = eval_count.track_config(args.ssd_edge, dets_path, args.config,
                                                         CLASSES)
                got = {n: eval_count.line_counts(totals, n, CLASSES)["person"] for n in names}
                events = [(f, p, d) for f, p, _, d in events]
                label = "ssd-edge (ours)"
            else:
                zones = {l["name"]: line_zone(l, width, height) for l in truth["lines"]}
                counts, events = eval_count.track_line_zones(name, lines, zones, CLASSES)
                got = {n: counts[n]["person"] for n in names}
                events = [(f, p, d) for f, p, _, d in events]
                label = f"{name} + LineZone feet"
            gv = [got[n][0 if d == "in" else 1] for n, d in cells]
            matched, missed, extra = eval_count.pair_events(true_events, events, MATCH_FRAMES)
            details[label] = (matched, missed, extra)
            err = sum(abs(g - t) for g, t in zip(gv, truth_cells))
            print(f"{label:<28} "
                  + " ".join(f"{fmt_cell(g, t):>11}" for g, t in zip(gv, truth_cells))
                  + f" {err:>9}   {len(matched)}/{len(missed)}/{len(extra)}")
        for label, (matched, missed, extra) in details.items():
            print(f"{label}: missed " + (", ".join(f"{p} {d} @{f}" for f, p, d in missed) or "none")
                  + "; extra " + (", ".join(f"{p} {d} @{f}" for f, p, d in extra) or "none")
                  + "; matched frame offsets " + " ".join(f"{e[0] - t[0]:+d}" for t, e in matched))


if __name__ == "__main__":
    main()
