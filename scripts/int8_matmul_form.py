#!/usr/bin/env python3
"""Rewrite an int8 model's pointwise convolutions as integer matrix products (an experiment).

tract lowers a 1x1 `QLinearConv` on a 150x150 map to 150 small products of one image row each
(docs/performance.md). This writes each 1x1 `QLinearConv` whose output only feeds a
`DequantizeLinear` as

    Reshape [1,C,H,W] -> [C,H*W]
    MatMulInteger(W [K,C], X [C,H*W]) -> int32 [K,H*W]
    Cast -> float, Mul (weight scale x input scale), Add bias, Relu, Reshape -> [1,K,H,W]

which replaces the convolution and the dequantization after it (the output is not requantized,
so it is a little nearer the float model than the int8 one). `--activations asym` keeps the
input codes (int8, zero point -128) and passes the zero points to `MatMulInteger`;
`--activations sym` quantizes those inputs to int8 with zero point 0 and twice the scale (one
bit less), so the product has no zero points at all.

    python scripts/int8_matmul_form.py models/default.onnx /tmp/mm.onnx --activations sym
    ssd-edge bench --model models/default.onnx --model /tmp/mm.onnx --threads 1 --profile 6
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--activations", choices=["asym", "sym"], default="asym")
    args = ap.parse_args()

    m = onnx.load(args.model)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in g.node for o in n.output}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(m).graph.value_info}

    nodes, added, skip, sym_inputs = [], [], set(), set()

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    for n in g.node:
        if id(n) in skip:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        cons = consumers.get(n.output[0], [])
        if not (n.op_type == "QLinearConv" and list(attrs["kernel_shape"]) == [1, 1]
                and attrs.get("group", 1) == 1 and list(attrs.get("strides", [1, 1])) == [1, 1]
                and len(cons) == 1 and cons[0].op_type == "DequantizeLinear"):
            nodes.append(n)
            continue
        x, xs, xz, wn, ws, wz, _, yz = n.input[:8]
        q = producer.get(x)
        sym = (args.activations == "sym" and q is not None and q.op_type == "QuantizeLinear"
               and len(consumers[x]) == 1 and not inits[wz].any())
        w = inits[wn]
        k, c = w.shape[:2]
        h, wd = shapes[x][2:]
        p = n.name or n.output[0]
        # The int32 bias is in units of weight scale x the original input scale.
        unit = (inits[ws].astype(np.float64) * inits[xs].astype(np.float64)).reshape(-1) * np.ones(k)
        scale = unit * (2 if sym else 1)
        bias = inits[n.input[8]].astype(np.float64) * unit if len(n.input) > 8 else np.zeros(k)
        mm_inputs = [const(p + "_w", w.reshape(k, c)), p + "_x"] + ([] if sym else [wz, xz])
        if sym:
            sym_inputs.add(x)
        nodes += [
            helper.make_node("Reshape", [x, const(p + "_s2", np.array([c, h * wd]))], [p + "_x"]),
            helper.make_node("MatMulInteger", mm_inputs, [p + "_i32"]),
            helper.make_node("Cast", [p + "_i32"], [p + "_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "_f", const(p + "_scale", scale.astype(np.float32)
                                                     .reshape(k, 1))], [p + "_m"]),
            helper.make_node("Add", [p + "_m", const(p + "_bias", bias.astype(np.float32)
                                                     .reshape(k, 1))], [p + "_a"]),
        ]
        last = p + "_a"
        # A zero point at the bottom of the output type's range is a ReLU folded into it.
        if int(inits[yz].reshape(-1)[0]) == np.iinfo(inits[yz].dtype).min:
            nodes.append(helper.make_node("Relu", [last], [p + "_r"]))
            last = p + "_r"
        out = cons[0].output[0]
        nodes.append(helper.make_node("Reshape", [last, const(p + "_s4", np.array([1, k, h, wd]))],
                                      [out]))
        skip.add(id(cons[0]))
    for n in nodes:
        if n.op_type == "QuantizeLinear" and n.output[0] in sym_inputs:
            n.input[1] = const(n.output[0] + "_sym_scale",
                               (inits[n.input[1]] * 2).astype(np.float32))
            n.input[2] = const(n.output[0] + "_sym_zp", np.array(0, np.int8))
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(added)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, args.out)
    print(f"{args.out}: {len(skip)} pointwise convolutions as MatMulInteger ({args.activations})")


if __name__ == "__main__":
    main()
