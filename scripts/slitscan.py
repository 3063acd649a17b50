#!/usr/bin/env python3
"""Slit-scans and crop strips for labelling line crossings by eye (no detector, no tracker).

usage: slitscan.py VIDEO slit  AX AY BX BY OUT.png [--margin 0.3] [--scale 3]
       slitscan.py VIDEO sweep AX AY BX BY OUT.png [--reach 60] [--scale 3]
       slitscan.py VIDEO crops AX AY BX BY FIRST LAST OUT.png [--step 1] [--box X0 Y0 X1 Y1] [--cols 6]

Points are normalised (0..1 of width/height). The video is decoded once with ffmpeg over a
pipe into a raw RGB cache (/tmp/slitscan-<name>.rgb) and memory-mapped afterwards.
  slit:  pixels sampled along A->B (plus --margin of its length beyond each end), one row per
         frame: time runs down, A is at the left; red ticks mark the segment's ends.
  sweep: foreground (difference from the median frame) in a band around the line, collapsed
         along the line: columns are signed distance from the line (left of A->B on the left,
         right on the right), rows are frames; a walker crossing leaves a slanted streak.
  crops: the frames FIRST..LAST cropped around the segment (or --box, pixels), line drawn
         (green at A, red at B), frame number in the corner.
"""
import argparse
import os
import subprocess

import numpy as np
from PIL import Image, ImageDraw


def load(video):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", video],
                         capture_output=True, text=True, check=True).stdout
    w, h = map(int, out.strip().split(","))
    cache = f"/tmp/slitscan-{os.path.basename(video)}.rgb"
    if not os.path.exists(cache):
        with open(cache + ".part", "wb") as f:
            subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-f", "rawvideo",
                            "-pix_fmt", "rgb24", "-"], stdout=f, check=True)
        os.rename(cache + ".part", cache)
    n = os.path.getsize(cache) // (w * h * 3)
    return np.memmap(cache, dtype=np.uint8, mode="r", shape=(n, h, w, 3))


def sample(frames, xs, ys):
    """Nearest-pixel samples of every frame at (xs, ys): shape (frames, *xs.shape, 3)."""
    _, h, w, _ = frames.shape
    xi = np.clip(np.rint(xs).astype(int), 0, w - 1)
    yi = np.clip(np.rint(ys).astype(int), 0, h - 1)
    return np.stack([f[yi, xi] for f in frames])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("video")
    p.add_argument("mode", choices=["slit", "sweep", "crops"])
    p.add_argument("coords", type=float, nargs=4)
    p.add_argument("rest", nargs="+")
    p.add_argument("--margin", type=float, default=0.3)
    p.add_argument("--scale", type=int, default=3)
    p.add_argument("--reach", type=float, default=60.0)
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--box", type=int, nargs=4)
    p.add_argument("--cols", type=int, default=6)
    args = p.parse_args()
    v = load(args.video)
    n, h, w, _ = v.shape
    a = np.array(args.coords[:2]) * [w, h]
    b = np.array(args.coords[2:]) * [w, h]
    d = b - a
    length = np.hypot(*d)
    u = d / length
    nrm = np.array([-u[1], u[0]])  # points to the right of A->B in image coordinates (y down)
    out = args.rest[-1]

    if args.mode == "slit":
        m = args.margin
        t = np.linspace(-m, 1 + m, int(length * (1 + 2 * m)))
        img = sample(v, a[0] + t * d[0], a[1] + t * d[1])
        ends = [int(np.argmin(abs(t - e))) for e in (0, 1)]
        img[:, ends] = [255, 0, 0]
        img[::50, :4] = [255, 255, 0]  # a yellow tick every 50 frames
        im = Image.fromarray(img).resize((img.shape[1] * args.scale, n))
    elif args.mode == "sweep":
        med = np.median(v[::8], axis=0).astype(np.int16)
        s = np.arange(-args.reach, args.reach + 1)
        t = np.linspace(0, 1, int(length))
        xs = a[0] + np.outer(t, d)[:, 0][None, :] + s[:, None] * nrm[0]
        ys = a[1] + np.outer(t, d)[:, 1][None, :] + s[:, None] * nrm[1]
        bg = med[np.clip(np.rint(ys).astype(int), 0, h - 1), np.clip(np.rint(xs).astype(int), 0, w - 1)]
        fg = np.abs(sample(v, xs, ys).astype(np.int16) - bg).max(axis=-1) > 35
        img = (fg.mean(axis=2) * 4 * 255).clip(0, 255).astype(np.uint8)  # (frames, offsets)
        img = np.repeat(img[:, :, None], 3, axis=2)
        img[:, len(s) // 2] = [255, 0, 0]
        img[::50, :4] = [255, 255, 0]
        im = Image.fromarray(img).resize((img.shape[1] * args.scale, n))
    else:
        first, last = int(args.rest[0]), int(args.rest[1])
        if args.box:
            x0, y0, x1, y1 = args.box
        else:
            lo, hi = np.minimum(a, b) - 60, np.maximum(a, b) + 60
            x0, y0 = np.maximum(lo, 0).astype(int)
            x1, y1 = np.minimum(hi, [w, h]).astype(int)
        idx = list(range(first, min(last, n - 1) + 1, args.step))
        cw, ch = x1 - x0, y1 - y0
        cols = min(args.cols, len(idx))
        im = Image.new("RGB", (cols * cw, -(-len(idx) // cols) * ch))
        for k, i in enumerate(idx):
            c = Image.fromarray(np.array(v[i, y0:y1, x0:x1]))
            dr = ImageDraw.Draw(c)
            dr.line([tuple(a - [x0, y0]), tuple(b - [x0, y0])], fill=(255, 255, 0), width=1)
            for pt, col in ((a, (0, 255, 0)), (b, (255, 0, 0))):
                q = pt - [x0, y0]
                dr.ellipse([q[0] - 3, q[1] - 3, q[0] + 3, q[1] + 3], outline=col)
            dr.text((2, 2), str(i), fill=(255, 255, 0))
            im.paste(c, ((k % cols) * cw, (k // cols) * ch))
    im.save(out)


if __name__ == "__main__":
    main()
