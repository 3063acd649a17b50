#!/usr/bin/env python3
"""Cross-check a model made by `ssd-train quantize` with the standard ONNX tools.

Usage: quant_ort_check.py FLOAT.onnx INT8.onnx
Runs the onnx checker on both files, loads both in onnxruntime (CPU), lists the int8 model's
op types, and compares the outputs on a fixed pseudo-random input shaped like a normalised
image. Exit status 0 when both load and run; prints max/mean abs differences per output.
"""
import collections
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main(float_path, int8_path):
    for p in (float_path, int8_path):
        onnx.checker.check_model(onnx.load(p))
        print(f"{p}: onnx checker OK")
    m = onnx.load(int8_path)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    print("int8 model ops:", dict(sorted(ops.items())))
    keys = [p.key for p in m.metadata_props]
    print("metadata keys:", keys)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    fs = ort.InferenceSession(float_path, so, providers=["CPUExecutionProvider"])
    qs = ort.InferenceSession(int8_path, so, providers=["CPUExecutionProvider"])
    inp = fs.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).normal(0.0, 1.0, size=shape).astype(np.float32)
    fo = fs.run(None, {inp.name: x})
    qo = qs.run(None, {qs.get_inputs()[0].name: x})
    for o, a, b in zip(fs.get_outputs(), fo, qo):
        d = np.abs(a - b)
        print(f"output {o.name} {list(a.shape)}: max abs diff {d.max():.5f}, mean {d.mean():.6f}")
    print("onnxruntime: both models load and run")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
