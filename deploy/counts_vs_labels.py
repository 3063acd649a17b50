#!/usr/bin/env python3
"""Reads the summary line of `ssd-edge run` (stdin) and prints each line's counted crossings
per direction next to hand-made truth (a labels file such as
tests/fixtures/real/vtest_crossings.json, docs/real-footage-truth.md). Standard library only.

Usage: tail -n 1 frames.jsonl | deploy/counts_vs_labels.py LABELS.json [CLASS]
"""
import json
import sys

labels = json.load(open(sys.argv[1]))
cls = sys.argv[2] if len(sys.argv) > 2 else "person"
summary = json.loads(sys.stdin.readline())["summary"]
totals = summary.get("totals", {})
print(f"{summary['frames']} frames at {summary['fps']:.1f} fps; {cls} crossings, counted / true "
      f"(truth: {sys.argv[1]})")
print(f"{'line':8} {'in':>9} {'out':>9}")
for line in labels["lines"]:
    name = line["name"]
    true = {"in": 0, "out": 0}
    for c in line["crossings"]:
        true[c["direction"]] += 1
    got = totals.get(name, {}).get("crossing", {}).get(cls, {})
    print(f"{name:8} {got.get('in', 0):>4} / {true['in']:<2} {got.get('out', 0):>4} / {true['out']:<2}")
zones = {k: v for k, v in totals.items() if k not in {l['name'] for l in labels['lines']}}
print("zones:", json.dumps(zones))
print("store:", json.dumps(summary.get("store", {})))
