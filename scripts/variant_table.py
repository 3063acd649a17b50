#!/usr/bin/env python3
"""One table of network variants: held-out accuracy, size and speed (tract and onnxruntime).

Each `--variant NAME=CHECKPOINT` (a `ssd-train train` output stem, e.g. `run/phase2/best`) is
exported (`ssd-train export`), quantized as the shipped model is (`make model-int8`'s
flags: every depthwise convolution float, one weight scale per tensor) and evaluated on the
held-out stills (`ssd-train eval`, float and int8). Each `--untrained NAME=ARCH` gets a
checkpoint from one training step on 16 scenes: its speed and size are real, its accuracy is
not measured. Speed: `ssd-edge bench --threads T` (tract) and onnxruntime on the same frame
(bench_compare.py's input and settings), the smallest median over `--rounds` alternating
rounds, so a busy minute on a shared machine counts less. Benchmarks print numbers; nothing
here asserts a speed.

    python scripts/variant_table.py --ssd-train T --ssd-edge E --calib CALIB/JPEGImages \
      --heldout HELDOUT --work DIR --variant shipped=model-build/phase3/best \
      --untrained lite=mobile-lite@0.25+street
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

from bench_compare import edge_bench, macs_of, model_input, ort_forward_ms, scene_png


def run(cmd: list[str]) -> str:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout + p.stderr


def parameters(model: Path) -> int:
    """Weights and biases of the float graph: every float initializer of more than one value."""
    import onnx

    g = onnx.load(str(model)).graph
    n = 0
    for t in g.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) > 0:
            size = 1
            for d in t.dims:
                size *= d
            n += size
    return n


def depthwise_convs(model: Path) -> list[str]:
    import onnx

    out = []
    for node in onnx.load(str(model)).graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.op_type == "Conv" and group > 1:
            out.append(node.name)
    return out


def evaluate(train: str, model: Path, heldout: Path) -> dict[str, float]:
    text = run([train, "eval", "--onnx", model, "--data", heldout, "--split", "test"])
    voc = re.search(r"mAP VOC07 11-point:\s+([\d.]+)", text)
    person = re.search(r"^person\s+([\d.]+)", text, re.M)
    small = re.search(r"COCO AP @\[\.5:\.95\] small 100\s+([\d.]+)", text)
    if not (voc and person and small):
        raise SystemExit(f"unexpected `ssd-train eval` output for {model}:\n{text}")
    return {"voc07": float(voc[1]), "person": float(person[1]),
            "small": 100 * float(small[1])}


def untrained_checkpoint(train: str, arch: str, out: Path) -> Path:
    if not (out / "last.json").exists():
        run([train, "train", "--arch", arch, "--synth", "16", "--val-synth", "4", "--epochs",
             "1", "--batch", "16", "--threads", "1", "--workers", "1", "--quiet", "--out", out])
    return out / "last"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ssd-train", required=True)
    ap.add_argument("--ssd-edge", required=True)
    ap.add_argument("--calib", type=Path, required=True, help="calibration images")
    ap.add_argument("--heldout", type=Path, required=True, help="held-out VOC-layout set")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--variant", action="append", default=[], help="NAME=CHECKPOINT")
    ap.add_argument("--untrained", action="append", default=[], help="NAME=ARCH")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)

    rows = []
    for spec, trained in [(v, True) for v in a.variant] + [(u, False) for u in a.untrained]:
        name, _, what = spec.partition("=")
        if not what:
            raise SystemExit(f"`{spec}`: expected NAME=CHECKPOINT or NAME=ARCH")
        ckpt = what if trained else untrained_checkpoint(a.ssd_train, what, a.work / name)
        fl, q8 = a.work / f"{name}-float.onnx", a.work / f"{name}-int8.onnx"
        run([a.ssd_train, "export", "--checkpoint", ckpt, "--out", fl])
        run([a.ssd_train, "quantize", "--model", fl, "--calib", a.calib, "--float-layers",
             ",".join(depthwise_convs(fl)), "--weight-scale", "tensor", "--out", q8])
        row = {"name": name, "float": fl, "int8": q8, "params": parameters(fl),
               "gmac": macs_of(fl) / 1e9}
        if trained:
            row["acc"] = evaluate(a.ssd_train, fl, a.heldout)
            row["acc8"] = evaluate(a.ssd_train, q8, a.heldout)
        rows.append(row)
        print(f"{name}: exported, quantized{', evaluated' if trained else ''}", flush=True)

    frames = a.work / "frames"
    png = scene_png(frames, a.frames + 4)
    # the preprocessed frame, once per file (it reads the file's input metadata)
    inputs = {row[k]: model_input(a.ssd_edge, row[k], png)
              for row in rows for k in ("float", "int8")}
    best: dict[tuple[str, str, str], float] = {}
    for _ in range(a.rounds):
        for row in rows:
            for kind in ("float", "int8"):
                m = row[kind]
                t = edge_bench(a.ssd_edge, m, a.threads, a.frames, 3, frames)
                o = ort_forward_ms(m, inputs[m], a.threads, a.frames, 3)
                for rt, ms in (("tract", t["forward_ms"]["median"]), ("ort", o)):
                    key = (row["name"], kind, rt)
                    best[key] = min(best.get(key, ms), ms)

    print()
    print(f"held-out: {a.heldout} (`ssd-train eval`, float / int8); forward: smallest median of "
          f"{a.rounds} rounds x {a.frames} frames, {a.threads} thread(s)")
    print()
    print("| variant | parameters | GMAC | VOC07 mAP | person AP | COCO AP small | "
          "tract float | tract int8 | onnxruntime float | onnxruntime int8 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        n = row["name"]
        if "acc" in row:
            f, q = row["acc"], row["acc8"]
            acc = (f"{f['voc07']:.2f} / {q['voc07']:.2f} % | {f['person']:.1f} / "
                   f"{q['person']:.1f} % | {f['small']:.1f} / {q['small']:.1f} %")
        else:
            acc = "not trained | - | -"
        ms = " | ".join(f"{best[(n, k, rt)]:.1f} ms" for rt in ("tract", "ort")
                        for k in ("float", "int8"))
        print(f"| {n} | {row['params'] / 1e6:.2f} M | {row['gmac']:.3f} | {acc} | {ms} |")


if __name__ == "__main__":
    main()
