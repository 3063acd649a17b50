#!/usr/bin/env python3
"""Reads the summary line of `ssd-edge run` on a synthetic source (stdin) and prints the
counted crossings of line `middle` next to the sequence's true ones (standard library only)."""
import json
import sys

summary = json.loads(sys.stdin.readline())["summary"]
gt = summary.get("ground_truth", {})
counted = summary.get("totals", {}).get("middle", {}).get("crossing", {})
det = gt.get("detections", {})
print(f"{summary['frames']} frames at {summary['fps']:.1f} fps; detections: precision "
      f"{det.get('precision', 0):.3f}, recall {det.get('recall', 0):.3f}")
print(f"{'class':10} {'in counted/true':>16} {'out counted/true':>17}")
for label, truth in gt.get("crossings", {}).items():
    c = counted.get(label, {})
    print(f"{label:10} {c.get('in', 0):>8}/{truth['left_to_right']:<7} "
          f"{c.get('out', 0):>8}/{truth['right_to_left']:<7}")
zones = {k: v for k, v in summary.get("totals", {}).items() if k != "middle"}
print("zones:", json.dumps(zones))
print("store:", json.dumps(summary.get("store", {})))
