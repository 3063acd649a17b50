"""What eval_track.py and eval_count.py share: running the project's binaries, making the
synthetic sequences they score, and spoiling true boxes the same way (jitter, drop-outs,
scores), so both tables are measured on detections of one kind."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path


def sh(cmd: list[str], who: str, **kw) -> subprocess.CompletedProcess:
    """Runs `cmd`; on failure exits with its stderr, naming the script `who`."""
    try:
        return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)
    except subprocess.CalledProcessError as e:
        sys.exit(f"{who}: {' '.join(cmd)} failed ({e.returncode}):\n{e.stderr}")


def make_sequence(ssd_train: str, out: Path, frames: int, seed: int, marker: str,
                  who: str) -> None:
    """`ssd-train synth --sequence` into `out`, unless `out/marker` says it is there."""
    if (out / marker).exists():
        return
    if out.exists():
        sys.exit(f"{who}: {out} exists without {marker}; remove it")
    sh([ssd_train, "synth", "--out", str(out), "--sequence", "--count", str(frames),
        "--seed", str(seed)], who)


def iou(a, b) -> float:
    """IoU of two [x0, y0, x1, y1] boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def spoil_box(rng: random.Random, box) -> tuple[list[float], float] | None:
    """A true box as a weak detector reports it: dropped 20 % of the time, else each
    coordinate jittered by N(0, 5 % of the box side) and a score drawn from N(0.75, 0.15)
    in [0.05, 1]; None when dropped or jittered inside out."""
    if rng.random() < 0.2:
        return None
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    b = [x0 + rng.gauss(0, 0.05 * w), y0 + rng.gauss(0, 0.05 * h),
         x1 + rng.gauss(0, 0.05 * w), y1 + rng.gauss(0, 0.05 * h)]
    if b[2] <= b[0] or b[3] <= b[1]:
        return None
    score = min(1.0, max(0.05, rng.gauss(0.75, 0.15)))
    return b, score


def model_detections(ssd_edge: str, model: str, seq: Path, who: str,
                     threshold: float | None = 0.1) -> list[dict]:
    """`ssd-edge run` of `model` on the sequence's frames (all detections above `threshold`;
    None: the model's own threshold), one dict per frame in frame order. The output is
    cached in the sequence folder under the model file's hash and the threshold, so a new
    model is never scored on an old one's detections."""
    digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()[:12]
    cache = seq / f"dets-{digest}-{'own' if threshold is None else threshold}.jsonl"
    if not cache.exists():
        cmd = [ssd_edge, "run", "--model", model, "--source", str(seq / "frames")]
        if threshold is not None:
            cmd += ["--threshold", str(threshold)]
        out = sh(cmd, who, env={**os.environ, "RUST_LOG": "warn"}).stdout
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(out)
        tmp.rename(cache)
    lines = []
    for line in cache.read_text().splitlines():
        d = json.loads(line)
        if "detections" not in d:
            continue
        # Frames come from files named by index: the name, not the order, says which frame.
        d["frame"] = int(Path(d["source"]).stem)
        lines.append(d)
    lines.sort(key=lambda d: d["frame"])
    return lines
