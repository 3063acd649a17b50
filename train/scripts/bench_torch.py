#!/usr/bin/env python3
"""The same SSD network as ssd-train, in PyTorch, timed the same way.

The network is rebuilt from the NetSpec JSON that `ssd-train` writes (see
`cargo run -p ssd-train --example bench -- --spec-out spec.json`), so both sides time exactly
the same layers. Prints forward ms (batch 1, eval, no grad) and training images/s (SGD step
with the MultiBox loss on random targets) at the given batch size and thread count.

usage: bench_torch.py SPEC.json [--threads N] [--batch B] [--steps S] [--forwards F]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class L2Norm(nn.Module):
    def __init__(self, channels, scale, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight.view(1, -1, 1, 1)


def conv(c):
    return nn.Conv2d(c["c_in"], c["c_out"], c["kernel"], stride=c["stride"], padding=c["pad"],
                     dilation=c["dilation"], groups=c["groups"], bias=c["bias"])


class SpecNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.num_classes = spec["num_classes"]
        self.ops = nn.ModuleList()
        self.kinds = []
        for layer in spec["layers"]:
            if layer == "Relu":
                self.ops.append(nn.ReLU(inplace=True)); self.kinds.append("op")
            elif "Conv" in layer:
                self.ops.append(conv(layer["Conv"])); self.kinds.append("op")
            elif "BatchNorm" in layer:
                self.ops.append(nn.BatchNorm2d(layer["BatchNorm"]["channels"])); self.kinds.append("op")
            elif "MaxPool" in layer:
                p = layer["MaxPool"]
                self.ops.append(nn.MaxPool2d(p["kernel"], p["stride"], p["pad"], ceil_mode=p["ceil"]))
                self.kinds.append("op")
            elif "Source" in layer:
                l2 = layer["Source"]["l2norm"]
                self.ops.append(L2Norm(l2["channels"], l2["init_scale"], l2["eps"]) if l2 else nn.Identity())
                self.kinds.append("source")
            else:
                raise ValueError(f"unknown layer {layer}")
        self.loc = nn.ModuleList(conv(h["loc"]) for h in spec["heads"])
        self.conf = nn.ModuleList(conv(h["conf"]) for h in spec["heads"])

    def forward(self, x):
        sources = []
        for op, kind in zip(self.ops, self.kinds):
            if kind == "source":
                sources.append(op(x))
            else:
                x = op(x)
        b = x.shape[0]
        loc = torch.cat([l(s).permute(0, 2, 3, 1).reshape(b, -1, 4) for s, l in zip(sources, self.loc)], 1)
        conf = torch.cat([c(s).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes)
                          for s, c in zip(sources, self.conf)], 1)
        return loc, conf


def multibox(loc_p, conf_p, loc_t, conf_t):
    pos = conf_t > 0
    n = pos.sum().clamp(min=1).float()
    loss_l = F.smooth_l1_loss(loc_p[pos], loc_t[pos], reduction="sum")
    ce = torch.logsumexp(conf_p, 2) - conf_p.gather(2, conf_t.unsqueeze(2)).squeeze(2)
    mining = ce.detach().masked_fill(pos, 0)
    _, idx = mining.sort(1, descending=True)
    _, rank = idx.sort(1)
    num_neg = (3 * pos.sum(1, keepdim=True)).clamp(max=conf_t.shape[1] - 1)
    sel = pos | (rank < num_neg)
    return (loss_l + (ce * sel).sum()) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--forwards", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    spec = json.load(open(a.spec))
    net = SpecNet(spec)
    s = spec["input_size"]
    p = sum(f * f * h["boxes"] for f, h in zip(spec["priors"]["feature_maps"], spec["heads"]))
    c = spec["num_classes"]

    net.eval()
    x = torch.randn(1, 3, s, s)
    with torch.no_grad():
        net(x)  # warm-up
        t = time.perf_counter()
        for _ in range(a.forwards):
            net(x)
        fwd_ms = (time.perf_counter() - t) / a.forwards * 1e3

    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    xb = torch.randn(a.batch, 3, s, s)
    loc_t = torch.randn(a.batch, p, 4) * 0.5
    conf_t = torch.randint(0, c, (a.batch, p)) * (torch.rand(a.batch, p) < 0.01)

    def step():
        loc, conf = net(xb)
        loss = multibox(loc, conf, loc_t, conf_t)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    ips = a.batch * a.steps / (time.perf_counter() - t)
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "arch": spec["arch"],
                      "threads": a.threads, "forward_ms": round(fwd_ms, 2), "batch": a.batch,
                      "train_images_per_s": round(ips, 2)}))


if __name__ == "__main__":
    main()
