#!/usr/bin/env python3
"""Reference outputs of a .tflite model from LiteRT (ai-edge-litert), for tests/import_tflite.rs.

    tflite_reference.py run MODEL.tflite OUT_DIR INPUT.npy [INPUT.npy ...]
        Runs the model on each input (NHWC float32 .npy, or raw little-endian f32 with the
        model's input shape) and writes OUT_DIR/<input stem>.<k>.f32 (raw little-endian f32
        of output k) and OUT_DIR/manifest.json: {"outputs": [{"name", "shape"}...],
        "tensors": {...}} where "tensors" lists extra tensors asked for with --tensor NAME
        (read with experimental_preserve_all_tensors, written as <stem>.t<k>.f32).

    tflite_reference.py detect MODEL.tflite OUT.json INPUT.npy [INPUT.npy ...]
        LiteRT's raw outputs post-processed as MediaPipe's Objectron graph configures it:
        SsdAnchorsCalculator (6 layers, scales 0.2-0.95, strides 16..512, ratios 1, 2, 0.5,
        3, 0.3333 + the interpolated square, reduced lowest layer, offsets 0.5),
        TensorsToDetections (y, x, h, w codes / 10, 10, 5, 5, exp on sizes, sigmoid scores,
        class 0 ignored, the best class per box, min score 0.5) and NonMaxSuppression (IoU
        0.5, at most 100, over all classes). Writes {stem: [{class, score, box: [x0, y0, x1,
        y1]}]} (normalised), re-implemented here from those documented options.

    tflite_reference.py make-postprocess OUT.tflite
        Writes a tiny SSD (1x4x4x3 input, two 1x1 convolutions, RESHAPEs, a LOGISTIC) that
        ends in a TFLite_Detection_PostProcess custom op, with known anchors and options.
"""
import json
import os
import sys

import numpy as np


def load_input(path, shape):
    if path.endswith(".npy"):
        x = np.load(path)
    else:
        x = np.fromfile(path, dtype="<f4").reshape(shape)
    return np.ascontiguousarray(x.astype(np.float32).reshape(shape))


def run(model, out_dir, inputs, tensors):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model, experimental_preserve_all_tensors=bool(tensors))
    it.allocate_tensors()
    (inp,) = it.get_input_details()
    outs = it.get_output_details()
    by_name = {d["name"]: d["index"] for d in it.get_tensor_details()}
    os.makedirs(out_dir, exist_ok=True)
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0]
        it.set_tensor(inp["index"], load_input(path, inp["shape"]))
        it.invoke()
        for k, d in enumerate(outs):
            it.get_tensor(d["index"]).astype("<f4").tofile(os.path.join(out_dir, f"{stem}.{k}.f32"))
        for k, name in enumerate(tensors):
            it.get_tensor(by_name[name]).astype("<f4").tofile(os.path.join(out_dir, f"{stem}.t{k}.f32"))
    manifest = {
        "input": {"name": inp["name"], "shape": [int(v) for v in inp["shape"]]},
        "outputs": [{"name": d["name"], "shape": [int(v) for v in d["shape"]]} for d in outs],
        "tensors": tensors,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f)


# Anchors and options of the make-postprocess model; the Rust test checks it reads these.
PP_ANCHORS = [[0.125 + 0.25 * (i // 4), 0.125 + 0.25 * (i % 4), 0.25 + 0.01 * i, 0.5] for i in range(16)]
PP_OPTIONS = {
    "max_detections": 10,
    "max_classes_per_detection": 1,
    "detections_per_class": 100,
    "num_classes": 2,
    "nms_score_threshold": 0.3,
    "nms_iou_threshold": 0.6,
    "y_scale": 10.0,
    "x_scale": 10.0,
    "h_scale": 5.0,
    "w_scale": 5.0,
    "use_regular_nms": False,
}


def make_postprocess(out):
    import flatbuffers
    from flatbuffers import flexbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(7)
    bufs = [b""]

    def buf(arr):
        bufs.append(np.ascontiguousarray(arr).tobytes())
        return len(bufs) - 1

    tensors = []

    def tensor(name, shape, data=None, ttype=s.TensorType.FLOAT32):
        t = s.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = ttype
        t.buffer = 0 if data is None else buf(data)
        tensors.append(t)
        return len(tensors) - 1

    x = tensor("image", [1, 4, 4, 3])
    wb = tensor("box/w", [4, 1, 1, 3], rng.standard_normal((4, 1, 1, 3)).astype("<f4"))
    bb = tensor("box/b", [4], rng.standard_normal(4).astype("<f4"))
    wc = tensor("cls/w", [3, 1, 1, 3], rng.standard_normal((3, 1, 1, 3)).astype("<f4"))
    bc = tensor("cls/b", [3], rng.standard_normal(3).astype("<f4"))
    box4 = tensor("box/conv", [1, 4, 4, 4])
    cls4 = tensor("cls/conv", [1, 4, 4, 3])
    shp_b = tensor("box/shape", [3], np.array([1, 16, 4], "<i4"), s.TensorType.INT32)
    shp_c = tensor("cls/shape", [3], np.array([1, 16, 3], "<i4"), s.TensorType.INT32)
    boxes = tensor("raw_outputs/box_encodings", [1, 16, 4])
    logits = tensor("cls/logits", [1, 16, 3])
    scores = tensor("raw_outputs/class_predictions", [1, 16, 3])
    anchors = tensor("anchors", [16, 4], np.array(PP_ANCHORS, "<f4"))
    outs = [tensor(n, sh) for n, sh in [
        ("TFLite_Detection_PostProcess", [1, 10, 4]),
        ("TFLite_Detection_PostProcess:1", [1, 10]),
        ("TFLite_Detection_PostProcess:2", [1, 10]),
        ("TFLite_Detection_PostProcess:3", [1]),
    ]]

    codes = []
    for b, c in [(s.BuiltinOperator.CONV_2D, None), (s.BuiltinOperator.RESHAPE, None),
                 (s.BuiltinOperator.LOGISTIC, None), (s.BuiltinOperator.CUSTOM, "TFLite_Detection_PostProcess")]:
        oc = s.OperatorCodeT()
        oc.builtinCode = b
        oc.deprecatedBuiltinCode = min(b, 127)
        oc.customCode = c
        oc.version = 1
        codes.append(oc)

    def op(code, ins, outs_, opt_type=0, opt=None, custom=None):
        o = s.OperatorT()
        o.opcodeIndex = code
        o.inputs = ins
        o.outputs = outs_
        o.builtinOptionsType = opt_type
        o.builtinOptions = opt
        if custom is not None:
            o.customOptions = list(custom)
            o.customOptionsFormat = s.CustomOptionsFormat.FLEXBUFFERS
        return o

    def conv_opts():
        c = s.Conv2DOptionsT()
        c.padding = s.Padding.SAME
        c.strideW = c.strideH = 1
        c.dilationWFactor = c.dilationHFactor = 1
        return c

    fbb = flexbuffers.Builder()
    with fbb.Map():
        for k, v in PP_OPTIONS.items():
            if isinstance(v, bool):
                fbb.Bool(k, v)
            elif isinstance(v, int):
                fbb.Int(k, v)
            else:
                fbb.Float(k, v)
    custom = fbb.Finish()

    ops = [
        op(0, [x, wb, bb], [box4], s.BuiltinOptions.Conv2DOptions, conv_opts()),
        op(0, [x, wc, bc], [cls4], s.BuiltinOptions.Conv2DOptions, conv_opts()),
        op(1, [box4, shp_b], [boxes]),
        op(1, [cls4, shp_c], [logits]),
        op(2, [logits], [scores]),
        op(3, [boxes, scores, anchors], outs, custom=custom),
    ]
    sg = s.SubGraphT()
    sg.tensors = tensors
    sg.inputs = [x]
    sg.outputs = outs
    sg.operators = ops
    sg.name = "main"
    m = s.ModelT()
    m.version = 3
    m.description = "ssd-edge post-process fixture"
    m.operatorCodes = codes
    m.subgraphs = [sg]
    m.buffers = []
    for b in bufs:
        bt = s.BufferT()
        bt.data = list(b) if b else None
        m.buffers.append(bt)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    with open(out, "wb") as f:
        f.write(builder.Output())


def mediapipe_anchors(size=300, strides=(16, 32, 64, 128, 256, 512), lo=0.2, hi=0.95,
                      ratios=(1.0, 2.0, 0.5, 3.0, 0.3333)):
    """SsdAnchorsCalculator with interpolated_scale_aspect_ratio 1 and
    reduce_boxes_in_lowest_layer, as (ycenter, xcenter, h, w) rows."""
    n = len(strides)
    scale = lambda i: lo + (hi - lo) * i / (n - 1)
    rows = []
    for layer, stride in enumerate(strides):
        cell = []
        if layer == 0:
            cell = [(0.1, 1.0), (scale(0), 2.0), (scale(0), 0.5)]
        else:
            cell = [(scale(layer), r) for r in ratios]
            nxt = 1.0 if layer == n - 1 else scale(layer + 1)
            cell.append((np.sqrt(scale(layer) * nxt), 1.0))
        side = int(np.ceil(size / stride))
        for y in range(side):
            for x in range(side):
                for s_, r in cell:
                    rows.append(((y + 0.5) / side, (x + 0.5) / side, s_ / np.sqrt(r), s_ * np.sqrt(r)))
    return np.array(rows, dtype=np.float64)


def detect(model, out_json, inputs, min_score=0.5, iou=0.5, keep=100):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model)
    it.allocate_tensors()
    (inp,) = it.get_input_details()
    outs = {d["name"]: d["index"] for d in it.get_output_details()}
    anchors = mediapipe_anchors()
    result = {}
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0]
        it.set_tensor(inp["index"], load_input(path, inp["shape"]))
        it.invoke()
        raw = it.get_tensor(outs["raw_outputs/box_encodings"])[0].astype(np.float64)
        logits = it.get_tensor(outs["raw_outputs/class_predictions"])[0].astype(np.float64)
        yc = raw[:, 0] / 10 * anchors[:, 2] + anchors[:, 0]
        xc = raw[:, 1] / 10 * anchors[:, 3] + anchors[:, 1]
        h = np.exp(raw[:, 2] / 5) * anchors[:, 2]
        w = np.exp(raw[:, 3] / 5) * anchors[:, 3]
        boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
        scores = 1 / (1 + np.exp(-logits))
        scores[:, 0] = -1  # ignore_classes: [0]
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(cls)), cls]
        order = [i for i in np.argsort(-best, kind="stable") if best[i] >= min_score]
        kept = []
        for i in order:
            b = boxes[i]
            ok = True
            for j in kept:
                c = boxes[j]
                ix = max(0.0, min(b[2], c[2]) - max(b[0], c[0]))
                iy = max(0.0, min(b[3], c[3]) - max(b[1], c[1]))
                inter = ix * iy
                union = (b[2] - b[0]) * (b[3] - b[1]) + (c[2] - c[0]) * (c[3] - c[1]) - inter
                if union > 0 and inter / union > iou:
                    ok = False
                    break
            if ok:
                kept.append(i)
            if len(kept) == keep:
                break
        result[stem] = [{"class": int(cls[i]), "score": float(best[i]), "box": [float(v) for v in boxes[i]]}
                        for i in kept]
    with open(out_json, "w") as f:
        json.dump(result, f)


def main(argv):
    if len(argv) >= 4 and argv[0] == "detect":
        detect(argv[1], argv[2], argv[3:])
        return 0
    if len(argv) >= 2 and argv[0] == "make-postprocess":
        make_postprocess(argv[1])
        return 0
    if len(argv) >= 4 and argv[0] == "run":
        tensors, rest = [], []
        args = iter(argv[1:])
        for a in args:
            if a == "--tensor":
                tensors.append(next(args))
            else:
                rest.append(a)
        run(rest[0], rest[1], rest[2:], tensors)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
