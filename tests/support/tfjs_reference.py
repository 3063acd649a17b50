#!/usr/bin/env python3
"""TF.js reference outputs of the COCO SSDLite MobileNetV2 (coco-ssd's graph) on real images.

Usage (after `make deps-real deps-node`; the venv needs numpy and Pillow, `make deps-venv`):

    ~/.cache/ssd-edge/venv/bin/python tests/support/tfjs_reference.py --out DIR \
        [--model $SSD_EDGE_COCO_TFJS] [--max-boxes 20] [--min-score 0.5] \
        IMAGE.jpg IMAGE.png VIDEO.avi#100 ...

Each input is decoded here to 8-bit RGB (Pillow for images; `VIDEO#N` is frame N, counted from
0, of a video, extracted with ffmpeg) and written as DIR/STEM.ppm (STEM: the file's name without
extension, `_fN` added for a video frame), then tests/support/tfjs_reference.mjs runs the graph
on all of them in one node process. It leaves, per input, in DIR:

    STEM.ppm          the RGB pixels fed to the graph (int32 [1,H,W,3] `image_tensor`)
    STEM.json         shapes, node names, constants, detections (coco-ssd's detect() and the
                      same reimplemented), see the header of tfjs_reference.mjs
    STEM.KEY.f32      raw little-endian float32 tensors: resized [1,300,300,3] (0..255, the
                      graph's TF1 bilinear resize), preprocessed (x*2/255-1), box_encodings
                      [1,1917,1,4] (ty,tx,th,tw), class_logits [1,1917,91], scores
                      [1,1917,90] (sigmoid, background dropped), boxes [1,1917,1,4]
                      (decoded ymin,xmin,ymax,xmax, normalized)
    anchors.f32       the graph's anchors [1,1917,4] (ymin,xmin,ymax,xmax, normalized)
    detections.json   {STEM: detections} for all inputs

The node packages come from --node-dir (default $SSD_EDGE_TFJS_NODE or ~/.cache/ssd-edge/node).
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
CACHE = pathlib.Path(os.environ.get("CACHE", pathlib.Path.home() / ".cache/ssd-edge"))


def decode(spec: str, out: pathlib.Path) -> pathlib.Path:
    from PIL import Image

    path, _, frame = spec.partition("#")
    stem = pathlib.Path(path).stem
    if frame:
        n = int(frame)
        stem = f"{stem}_f{n}"
        dst = out / f"{stem}.ppm"
        if shutil.which("ffmpeg") is None:
            sys.exit("ffmpeg is missing: apt-get install -y ffmpeg")
        # select by decoded frame index (not by time), one frame, 8-bit RGB.
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", path, "-vf", f"select=eq(n\\,{n})",
             "-vsync", "0", "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "image2",
             "-c:v", "ppm", str(dst)],
            check=True,
        )
        if not dst.exists():
            sys.exit(f"{path}: no frame {n}")
        # Re-save through Pillow so every PPM has the same plain header.
        Image.open(dst).convert("RGB").save(dst)
        return dst
    dst = out / f"{stem}.ppm"
    Image.open(path).convert("RGB").save(dst)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+", help="image files, or VIDEO#N for frame N of a video")
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--model", default=os.environ.get(
        "SSD_EDGE_COCO_TFJS", str(CACHE / "real/coco/package/models/coco-ssd/model.json")))
    ap.add_argument("--max-boxes", type=int, default=20)
    ap.add_argument("--min-score", type=float, default=0.5)
    ap.add_argument("--node-dir", default=os.environ.get("SSD_EDGE_TFJS_NODE", str(CACHE / "node")))
    ap.add_argument("--node", default="node")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    ppms = [decode(s, args.out) for s in args.inputs]
    subprocess.run(
        [args.node, str(HERE / "tfjs_reference.mjs"), "--model", args.model, "--out", str(args.out),
         "--max-boxes", str(args.max_boxes), "--min-score", str(args.min_score),
         "--node-dir", args.node_dir, *map(str, ppms)],
        check=True,
    )
    summary = {}
    for p in ppms:
        summary[p.stem] = json.loads((args.out / f"{p.stem}.json").read_text())["detections"]
    (args.out / "detections.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
