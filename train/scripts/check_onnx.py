#!/usr/bin/env python3
"""Checks an exported SSD ONNX with the standard tools: onnx.checker (full check with shape
inference), then onnxruntime on a given input, compared with reference outputs.

usage: check_onnx.py MODEL.onnx INPUT.f32 LOC.f32 CONF.f32 [--tol 1e-4]
(raw little-endian float32 files; INPUT is 1x3xSxS, LOC 1xPx4, CONF 1xPxC)
Prints one JSON line; exit status 1 when the check fails or the difference exceeds tol.
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("loc")
    ap.add_argument("conf")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.fromfile(a.input, dtype="<f4").reshape(inp.shape)
    loc, conf = sess.run(["loc", "conf"], {inp.name: x})
    ref_loc = np.fromfile(a.loc, dtype="<f4").reshape(loc.shape)
    ref_conf = np.fromfile(a.conf, dtype="<f4").reshape(conf.shape)
    d_loc = float(np.abs(loc - ref_loc).max())
    d_conf = float(np.abs(conf - ref_conf).max())
    ok = d_loc <= a.tol and d_conf <= a.tol
    print(json.dumps({"checker": "ok", "onnxruntime": ort.__version__, "opset": model.opset_import[0].version,
                      "loc_shape": list(loc.shape), "conf_shape": list(conf.shape),
                      "max_abs_diff_loc": d_loc, "max_abs_diff_conf": d_conf,
                      "metadata_keys": len(meta), "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
