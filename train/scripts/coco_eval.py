#!/usr/bin/env python3
"""Reference COCO box evaluation with pycocotools, for the Rust implementation's tests.

usage: coco_eval.py GT.json DETS.json  -> prints the 12 COCOeval stats as a JSON list,
and the per-category AP@[.5:.95] (area all, maxDets 100) as a second JSON line.
"""
import contextlib
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def main():
    gt_path, dt_path = sys.argv[1], sys.argv[2]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dets = json.load(open(dt_path))
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    print(json.dumps([float(s) for s in ev.stats]))
    prec = ev.eval["precision"][:, :, :, 0, -1]  # T, R, K at area all, maxDets 100
    per_cat = []
    for k, cat in enumerate(ev.params.catIds):
        s = prec[:, :, k]
        s = s[s > -1]
        per_cat.append([int(cat), float(np.mean(s)) if s.size else -1.0])
    print(json.dumps(per_cat))


if __name__ == "__main__":
    main()
