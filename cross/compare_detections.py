#!/usr/bin/env python3
"""Compare `ssd-edge detect` JSON lines from the host build with those from an ARM build.

Same images, same classes, same boxes; scores within a tolerance. Floats differ across targets
because tract picks a different matrix-multiply kernel per CPU (AVX2/AVX-512 FMA on x86, NEON on
aarch64, NEON without denormals on armv7): different tile sizes mean a different summation
order, FMA versus separate multiply and add rounds differently, and the exp/sigmoid used by
softmax are per-architecture approximations. Each difference is a few ulps per operation; over a
few hundred thousand accumulations per output they reach ~1e-5 relative, far below the
tolerances here, which are loose enough for that and tight enough to catch a wrong kernel,
a wrong channel order or a wrong prior (those move scores and boxes by whole units).

Detections are paired by class and best IoU, not by position, since two nearly equal scores can
swap order. A detection without partner is accepted only when its score is within the score
tolerance of the threshold (it fell on the other side of the threshold on one machine).
Exit status 0 when equivalent, 1 with a report otherwise.
"""

import argparse
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare_image(host, other, args, problems):
    src = host["source"]
    for key in ("source", "width", "height"):
        if host.get(key) != other.get(key):
            problems.append(f"{src}: {key} differs: {host.get(key)} vs {other.get(key)}")
            return 0
    free = list(other["detections"])
    matched = 0
    worst_score = 0.0
    worst_box = 0.0
    for d in host["detections"]:
        same_class = [o for o in free if o["class_id"] == d["class_id"]]
        best = max(same_class, key=lambda o: iou(d["box"], o["box"]), default=None)
        if best is None or iou(d["box"], best["box"]) < 0.5:
            if d["score"] - args.threshold > args.score_tol:
                problems.append(f"{src}: host detection {d} has no counterpart")
            continue
        free.remove(best)
        matched += 1
        ds = abs(d["score"] - best["score"])
        db = max(abs(x - y) for x, y in zip(d["box"], best["box"]))
        worst_score = max(worst_score, ds)
        worst_box = max(worst_box, db)
        if d.get("label") != best.get("label"):
            problems.append(f"{src}: label {d.get('label')} vs {best.get('label')}")
        if ds > args.score_tol:
            problems.append(f"{src}: score {d['score']} vs {best['score']} (|d| {ds:.2e})")
        if db > args.box_tol:
            problems.append(f"{src}: box {d['box']} vs {best['box']} (max |d| {db:.3f} px)")
    for o in free:
        if o["score"] - args.threshold > args.score_tol:
            problems.append(f"{src}: target detection {o} has no counterpart")
    print(
        f"  {src}: {len(host['detections'])} host / {len(other['detections'])} target "
        f"detections, {matched} paired, max |score diff| {worst_score:.2e}, "
        f"max |box diff| {worst_box:.4f} px"
    )
    return matched


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("host")
    p.add_argument("target")
    p.add_argument("--threshold", type=float, required=True, help="score threshold used")
    p.add_argument("--score-tol", type=float, default=1e-3)
    p.add_argument("--box-tol", type=float, default=0.5, help="pixels")
    args = p.parse_args()
    host, other = load(args.host), load(args.target)
    problems = []
    if len(host) != len(other):
        problems.append(f"{len(host)} host lines vs {len(other)} target lines")
    print(f"compare (score tol {args.score_tol}, box tol {args.box_tol} px):")
    total = sum(compare_image(h, o, args, problems) for h, o in zip(host, other))
    if total == 0:
        # Nothing detected on either side proves nothing about the arithmetic.
        problems.append("no detections to compare: pick images/threshold that produce some")
    if problems:
        print("cross: FAIL: detections differ:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"cross: detections equivalent ({total} paired)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
