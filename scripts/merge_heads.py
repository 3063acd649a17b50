#!/usr/bin/env python3
"""Merge each map's loc and conf convolutions of a float model into one (an experiment).

The exported SSD has two 3x3 predictors per source map reading the same tensor, so tract
packs (im2col) that tensor twice and runs two thin products (m = 4k and m = Ck). This writes
one convolution with both weight sets stacked along the output channels and a `Split` back
into the two original tensors, so the rest of the graph (Transpose, Reshape, Concat) and the
outputs are unchanged; onnxruntime gives bit-identical outputs (checked here).

    python scripts/merge_heads.py models/default-float.onnx /tmp/merged-float.onnx
    ssd-edge bench --threads 1 --frames 100 --model models/default-float.onnx --model /tmp/merged-float.onnx
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import helper, numpy_helper


def merge(model: onnx.ModelProto) -> int:
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    # head convolutions by source tensor: ssd-train names their weights loc.N / conf.N
    pairs: dict[str, dict[str, onnx.NodeProto]] = {}
    for n in g.node:
        if n.op_type == "Conv" and n.input[1].split(".")[0] in ("loc", "conf"):
            pairs.setdefault(n.input[0], {})[n.input[1].split(".")[0]] = n
    nodes, merged, dropped = [], 0, set()
    for n in g.node:
        kind = n.input[1].split(".")[0] if n.op_type == "Conv" else None
        pair = pairs.get(n.input[0]) if kind in ("loc", "conf") else None
        if not pair or set(pair) != {"loc", "conf"}:
            nodes.append(n)
            continue
        if kind == "conf":
            continue  # written with its loc partner
        loc, conf = pair["loc"], pair["conf"]
        if list(loc.attribute) != list(conf.attribute):
            nodes.extend([loc, conf])
            continue
        i = loc.input[1].split(".")[1]
        w = [numpy_helper.to_array(inits[c.input[1]]) for c in (loc, conf)]
        b = [numpy_helper.to_array(inits[c.input[2]]) for c in (loc, conf)]
        g.initializer.extend([
            numpy_helper.from_array(np.concatenate(w), f"head.{i}.weight"),
            numpy_helper.from_array(np.concatenate(b), f"head.{i}.bias"),
            numpy_helper.from_array(np.array([len(w[0]), len(w[1])], np.int64), f"head.{i}.split"),
        ])
        conv = helper.make_node("Conv", [loc.input[0], f"head.{i}.weight", f"head.{i}.bias"],
                                [f"head_{i}"], name=f"HeadConv_{i}")
        conv.attribute.extend(loc.attribute)
        split = helper.make_node("Split", [f"head_{i}", f"head.{i}.split"],
                                 [loc.output[0], conf.output[0]], name=f"HeadSplit_{i}", axis=1)
        nodes.extend([conv, split])
        dropped.update([*loc.input[1:], *conf.input[1:]])
        merged += 1
    del g.node[:]
    g.node.extend(nodes)
    keep = [t for t in g.initializer if t.name not in dropped]
    del g.initializer[:]
    g.initializer.extend(keep)
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    args = ap.parse_args()
    model = onnx.load(args.model)
    n = merge(model)
    if n == 0:
        raise SystemExit(f"{args.model}: no loc/conf convolution pairs (not an ssd-train float export?)")
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    import onnxruntime as ort
    x = np.random.RandomState(0).rand(1, 3, 300, 300).astype(np.float32) * 255 - 117
    name = ort.InferenceSession(args.model).get_inputs()[0].name
    a = ort.InferenceSession(args.model).run(None, {name: x})
    b = ort.InferenceSession(args.out).run(None, {name: x})
    diff = max(float(np.abs(p - q).max()) for p, q in zip(a, b))
    print(f"{args.out}: {n} heads merged; onnxruntime max output difference {diff}")


if __name__ == "__main__":
    main()
