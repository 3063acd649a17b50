#!/usr/bin/env python3
"""Soak: one long `ssd-edge run --config` on the synthetic street, resident memory watched.

Runs the binary (its arguments after `--`), samples the child's VmRSS from /proc every few
seconds, and at the end prints the frames, the summary's `rss_kb` (after the first frame and
at the end), the sampled minimum, maximum and the last quarter's mean against the first
quarter's. Fails when the memory grew by more than --max-growth-kb between the end of the
first quarter and the end (warm-up allocations happen before that; a leak keeps growing).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--max-growth-kb", type=int, default=4096)
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- ssd-edge run ...")
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        sys.exit("soak: no command given (soak.py -- ssd-edge run ...)")

    t0 = time.monotonic()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    last = ""
    frames_seen = 0
    next_sample = 0.0
    assert child.stdout is not None
    for line in child.stdout:  # the frame lines are read and dropped: only the summary matters
        last = line
        frames_seen += 1
        now = time.monotonic() - t0
        if now >= next_sample:
            r = rss_kb(child.pid)
            if r is not None:
                samples.append((now, r))
            next_sample = now + args.every
    rc = child.wait()
    if rc != 0:
        sys.exit(f"soak: {' '.join(cmd)} exited with {rc}")
    summary = json.loads(last)["summary"]
    first, end = summary.get("rss_kb", [0, 0])
    print(f"{summary['frames']} frames in {summary['seconds']:.0f} s ({summary['fps']:.1f} fps)")
    print(f"rss_kb (summary): after the first frame {first}, at the end {end} "
          f"({end - first:+d} kB)")
    if len(samples) < 4:
        sys.exit(f"soak: only {len(samples)} memory samples; run longer")
    q = max(1, len(samples) // 4)
    head = [r for _, r in samples[:q]]
    tail = [r for _, r in samples[-q:]]
    rs = [r for _, r in samples]
    print(f"sampled every {args.every:g} s ({len(samples)} samples): min {min(rs)} kB, "
          f"max {max(rs)} kB; first quarter mean {sum(head) / len(head):.0f} kB, "
          f"last quarter mean {sum(tail) / len(tail):.0f} kB")
    print("totals:", json.dumps(summary.get("totals", {})))
    growth = samples[-1][1] - head[-1]
    print(f"growth from the end of the first quarter to the end: {growth:+d} kB "
          f"(limit {args.max_growth_kb} kB)")
    if growth > args.max_growth_kb:
        sys.exit("soak: resident memory kept growing")


if __name__ == "__main__":
    main()
