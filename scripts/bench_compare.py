#!/usr/bin/env python3
"""ssd-edge (tract) against onnxruntime on the same ONNX files, input and thread counts.

For each model and thread count this prints one row: ssd-edge's forward and whole-frame
medians (`ssd-edge bench --threads T`, preprocessing + forward + decode + tracking), and
onnxruntime's forward median (intra_op_num_threads=T, sequential execution, all graph
optimisations), with their ratio. The input is the same frame for both: a real
image (`--frame`, e.g. OpenCV's messi5.jpg: a real model's decode and NMS work on what a real
scene makes it find) or else a synthetic 640x480 street-like scene drawn here, copied into a
folder timed by `ssd-edge bench --source DIR` and normalised here with the model's own input
metadata (`ssd-edge info --json`; onnxruntime's resize is PIL's bilinear, near enough for timing). Below the table: the model's multiply-accumulates from the
ONNX graph (Conv, Gemm, MatMul, with inferred shapes) and the GFLOP/s each runtime reaches,
against this machine's measured float32 GEMM peak (numpy's BLAS at the same thread counts).

Benchmarks print numbers; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def macs_of(model_path: Path) -> int:
    """Multiply-accumulates of one forward pass (Conv, ConvInteger/QLinearConv, Gemm, MatMul)."""
    import onnx
    from onnx import shape_inference

    m = shape_inference.infer_shapes(onnx.load(str(model_path)))
    g = m.graph
    shapes: dict[str, list[int]] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for n in g.node:
        if n.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            w = shapes.get(n.input[3] if n.op_type == "QLinearConv" else n.input[1])
            out = shapes.get(n.output[0])
            if not w or not out or len(out) < 4:
                continue
            # out: N, Cout, H, W; w: Cout, Cin/groups, kh, kw
            total += out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
        elif n.op_type in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
            a = shapes.get(n.input[0])
            b = shapes.get(n.input[3] if n.op_type == "QLinearMatMul" else n.input[1])
            if not a or not b:
                continue
            k = a[-1]
            rows = 1
            for d in a[:-1]:
                rows *= max(d, 1)
            total += rows * k * b[-1]
    return total


def gemm_peak_gflops(threads: int, n: int = 1024, reps: int = 8) -> float:
    """float32 GEMM GFLOP/s of numpy's BLAS with `threads` threads (in a fresh process, as BLAS
    reads its thread count at start-up)."""
    code = f"""
import numpy as np, time
a = np.random.default_rng(0).standard_normal(({n},{n}), dtype=np.float32)
b = np.random.default_rng(1).standard_normal(({n},{n}), dtype=np.float32)
a @ b
best = 1e9
for _ in range({reps}):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
print(2 * {n}**3 / best / 1e9)
"""
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def model_input(edge: str, model: Path, png: Path):
    """The bench's first synthetic frame, preprocessed as the model's metadata says."""
    import numpy as np
    from PIL import Image

    info = json.loads(subprocess.run([edge, "info", "--json", str(model)], check=True,
                                     capture_output=True, text=True).stdout)
    inp = info["meta"]["input"]
    w, h = inp["width"], inp["height"]
    img = Image.open(png).convert("RGB").resize((w, h), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)
    if inp.get("channel_order", "rgb").lower() == "bgr":
        x = x[..., ::-1]
    x = x * float(inp.get("scale", 1.0))
    mean = np.asarray(inp.get("mean", [0, 0, 0]), dtype=np.float32)
    std = np.asarray(inp.get("std", [1, 1, 1]), dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def ort_forward_ms(model: Path, x, threads: int, frames: int, warmup: int) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    for _ in range(warmup):
        s.run(None, {name: x})
    ts = []
    for _ in range(frames):
        t = time.perf_counter()
        s.run(None, {name: x})
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


def scene_png(folder: Path, copies: int) -> Path:
    """A 640x480 scene (sky, road, a few people- and car-sized blobs) as `copies` identical
    PNG files, so `ssd-edge bench --source FOLDER` times the same frame again and again."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (640, 480), (135, 170, 205))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 260, 640, 480], fill=(90, 90, 95))
    for i, (x, y, w, h, c) in enumerate([(80, 200, 40, 110, (200, 60, 50)),
                                          (300, 290, 160, 70, (40, 80, 170)),
                                          (520, 210, 35, 100, (60, 150, 70))]):
        d.rectangle([x, y, x + w, y + h], fill=c)
        d.ellipse([x + w // 4, y - w // 2, x + 3 * w // 4, y], fill=(230, 190, 160))
    first = folder / "frame_0000.png"
    img.save(first)
    for i in range(1, copies):
        p = folder / f"frame_{i:04}.png"
        if not p.exists():
            p.write_bytes(first.read_bytes())
    return first


def real_frames(folder: Path, image: Path, copies: int) -> Path:
    """`copies` copies of a real image in `folder` (bench times each file once)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    first = folder / f"frame_0000{image.suffix}"
    shutil.copyfile(image, first)
    for i in range(1, copies):
        shutil.copyfile(image, folder / f"frame_{i:04}{image.suffix}")
    return first


def edge_bench(edge: str, model: Path, threads: int, frames: int, warmup: int,
               source: Path) -> dict:
    out = subprocess.run([edge, "bench", "--threads", str(threads), "--model", str(model),
                          "--frames", str(frames), "--warmup", str(warmup),
                          "--source", str(source)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--model", action="append", type=Path, required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ssd-edge-bench-compare"))
    ap.add_argument("--frame", type=Path,
                    help="a real image timed by both runtimes (default: the synthetic scene)")
    a = ap.parse_args()

    threads = [int(t) for t in a.threads.split(",")]
    cores = os.cpu_count() or 1
    threads = [t for t in threads if t <= cores] or [1]
    a.work.mkdir(parents=True, exist_ok=True)
    copies = a.frames + a.warmup + 1
    if a.frame:
        frames_dir = a.work / "real-frames"
        png = real_frames(frames_dir, a.frame, copies)
    else:
        frames_dir = a.work / "frames"
        png = scene_png(frames_dir, copies)
    print(f"machine: {cpu_name()}, {cores} cores; onnxruntime "
          f"{__import__('onnxruntime').__version__}; ssd-edge bench (tract); "
          f"frame: {a.frame.name if a.frame else 'synthetic scene'}")
    print()
    hdr = (f"{'model':32} {'thr':>3} {'tract fwd':>10} {'ort fwd':>9} {'ratio':>6} "
           f"{'ssd-edge frame':>15} {'frame-fwd':>10} {'decode':>7}")
    print(hdr)
    print("-" * len(hdr))
    flops = {}
    rows = []
    for model in a.model:
        x = model_input(a.ssd_edge, model, png)
        flops[model] = 2 * macs_of(model)
        for t in threads:
            e = edge_bench(a.ssd_edge, model, t, a.frames, a.warmup, frames_dir)
            o = ort_forward_ms(model, x, t, a.frames, a.warmup)
            fwd = e["forward_ms"]["median"]
            frame = e["total_ms"]["median"]
            dec = e["decode_ms"]["median"]
            rows.append((model, t, fwd, o, frame))
            # frame-fwd: what the whole frame (preprocess, decode + NMS, track) adds to tract's
            # forward, both medians of the same run.
            print(f"{model.name:32} {t:>3} {fwd:>8.2f}ms {o:>7.2f}ms {fwd / o:>5.2f}x "
                  f"{frame:>13.2f}ms {frame - fwd:>+8.2f}ms {dec:>5.2f}ms", flush=True)
    print()
    # Thread scaling: the forward at 1 thread over the forward at each other count.
    for model in a.model:
        by_t = {t: (fwd, o) for m, t, fwd, o, _ in rows if m == model}
        if 1 in by_t and len(by_t) > 1:
            print(f"{model.name:32} speed-up over 1 thread: " + ", ".join(
                f"{t} thr tract {by_t[1][0] / f:.2f}x, onnxruntime {by_t[1][1] / o:.2f}x"
                for t, (f, o) in sorted(by_t.items()) if t != 1))
    print()
    peaks = {t: gemm_peak_gflops(t) for t in threads}
    print("float32 GEMM peak (numpy BLAS, 1024^3): "
          + ", ".join(f"{peaks[t]:.1f} GFLOP/s at {t} thread(s)" for t in threads))
    for model, t, fwd, o, _ in rows:
        g = flops[model] / 1e9
        print(f"{model.name:32} {t} thr: {g:.2f} GFLOP per frame; tract "
              f"{g / (fwd / 1e3):.1f} GFLOP/s ({100 * g / (fwd / 1e3) / peaks[t]:.0f} % of peak), "
              f"onnxruntime {g / (o / 1e3):.1f} GFLOP/s ({100 * g / (o / 1e3) / peaks[t]:.0f} %)")


if __name__ == "__main__":
    main()
