"""Reference weights and detections for the tests of `ssd-train import` and `ssd-edge import`.

Usage:
    python train/tests/import_reference.py --arch ARCH --seed S --out DIR
        [--images N] [--legacy] [--dump-raw] [--threads T (default 1)]
    python train/tests/import_reference.py --self-check

ARCH:
  ssd.pytorch             amdegroot/ssd.pytorch's VOC SSD300 (VGG16, 21 classes). That repository is
                          not on PyPI, so `SsdPytorchVoc` below rebuilds its state-dict layout, and
                          `priors`, `decode`, `nms`, `detect` its PriorBox and Detect, written from
                          the algorithm (checked against tests/fixtures/ssd_pytorch_reference.json
                          by --self-check).
  torchvision-ssd300      torchvision.models.detection.ssd300_vgg16(num_classes=91), untrained.
  torchvision-ssdlite320  torchvision.models.detection.ssdlite320_mobilenet_v3_large(num_classes=91),
                          untrained (so with the reduced tail, as the published COCO file).

Writes into DIR:
  weights.pth     model.state_dict(); zip format, or with --legacy the pre-1.6 pickle format
                  (`_use_new_zipfile_serialization=False`, as the 2017 ssd.pytorch file).
  img_K.png       N deterministic RGB uint8 images at the model's input size (they depend on K and
                  the size only, not on the seed); these exact pixels are the input.
  reference.json  the reference implementation's detections on every image (format below).
  raw_0.npz       with --dump-raw: image 0's head outputs `loc` [P,4], `conf` [P,C] (logits) and
                  `priors` [P,4] (ssd.pytorch: cx,cy,w,h in [0,1]; torchvision: its anchors as
                  x0,y0,x1,y1 in pixels).

reference.json:
  {"arch", "seed", "input_size", "num_classes",
   "postprocess": {"score_thresh", "nms_thresh", "topk_candidates", "detections_per_img",
                   "image_mean", "image_std", "pixel_scale", "box_variances" | "box_coder_weights",
                   "bbox_xform_clip", "batch_norm_eps"},
   "images": [{"file", "candidates", "detections": [{"label", "score", "box": [x0,y0,x1,y1]}]}]}
  The network input is (pixel * pixel_scale - image_mean) / image_std per RGB channel, pixel in
  0..255. Boxes are in pixels of the image. `candidates` counts the boxes that entered NMS.
  For ssd.pytorch, topk_candidates is Detect's top_k (per class, NMS sees only the 200 best
  scores) and detections_per_img is null (no cap over all classes); detections of all classes
  are concatenated and stably sorted by score (ties: class, then NMS order).

Random weights are made usable (see `randomize` and `calibrate`): every BatchNorm2d gets
running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5), bias ~ N(0, 0.1);
every conv bias ~ N(0, 0.1); the L2Norm / scale_weight vector 20 * U(0.8, 1.2). Then one forward
pass over img_0..img_2 (one batch, whatever N is) multiplies each conv's weight and bias, in
execution order, by a power of two so its output RMS is within sqrt(2) of 1 (box heads LOC_RMS,
class heads CONF_RMS). That keeps activations from exploding (VGG on 0..255 input) or vanishing
and gives spread-out scores and boxes.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ARCHS = ("ssd.pytorch", "torchvision-ssd300", "torchvision-ssdlite320")
FIXTURE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "ssd_pytorch_reference.json"
)

# ssd.pytorch VOC SSD300 constants (config `voc` and Detect's defaults).
VOC = {
    "feature_maps": [38, 19, 10, 5, 3, 1],
    "min_dim": 300,
    "steps": [8, 16, 32, 64, 100, 300],
    "min_sizes": [30, 60, 111, 162, 213, 264],
    "max_sizes": [60, 111, 162, 213, 264, 315],
    "aspect_ratios": [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
    "variance": [0.1, 0.2],
}
VOC_CLASSES = 21
VOC_MEAN_RGB = [123.0, 117.0, 104.0]  # ssd.pytorch subtracts (104, 117, 123) in BGR order
DETECT_CONF_THRESH = 0.01
DETECT_NMS_THRESH = 0.45
DETECT_TOP_K = 200

CONF_RMS = 2.0  # logit RMS of the class heads: softmax scores then spread over a wide range
CALIB_IMAGES = 3  # img_0..img_2 (one batch) set the calibration
LOC_RMS = 1.0  # offset RMS of the box heads: centres move ~0.1 box, sizes scale by ~e^0.2


# ---------------------------------------------------------------- ssd.pytorch network


class L2Norm(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return x / norm * self.weight.view(1, -1, 1, 1)


class SsdPytorchVoc(nn.Module):
    """Same module names and indices as ssd.pytorch's `build_ssd('test', 300, 21)`."""

    CONV4_3_END = 23  # vgg[:23] ends with conv4_3's ReLU
    BOXES = [4, 6, 6, 6, 4, 4]

    def __init__(self, num_classes=VOC_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        layers, c = [], 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            elif v == "C":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        layers += [
            nn.MaxPool2d(3, 1, 1),
            nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
            nn.ReLU(inplace=True),
            nn.Conv2d(1024, 1024, 1),
            nn.ReLU(inplace=True),
        ]
        self.vgg = nn.ModuleList(layers)
        convs = [i for i, m in enumerate(self.vgg) if isinstance(m, nn.Conv2d)]
        assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33], convs
        assert isinstance(self.vgg[30], nn.MaxPool2d)
        self.L2Norm = L2Norm(512, 20)
        self.extras = nn.ModuleList(
            [
                nn.Conv2d(1024, 256, 1),
                nn.Conv2d(256, 512, 3, stride=2, padding=1),
                nn.Conv2d(512, 128, 1),
                nn.Conv2d(128, 256, 3, stride=2, padding=1),
                nn.Conv2d(256, 128, 1),
                nn.Conv2d(128, 256, 3),
                nn.Conv2d(256, 128, 1),
                nn.Conv2d(128, 256, 3),
            ]
        )
        src_channels = [512, 1024, 512, 256, 256, 256]
        self.loc = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(src_channels, self.BOXES))
        self.conf = nn.ModuleList(
            nn.Conv2d(c, a * num_classes, 3, padding=1) for c, a in zip(src_channels, self.BOXES)
        )

    def forward(self, x):
        """x: [B,3,300,300] mean-subtracted RGB -> loc [B,8732,4], conf logits [B,8732,C]."""
        sources = []
        for layer in self.vgg[: self.CONV4_3_END]:
            x = layer(x)
        sources.append(self.L2Norm(x))
        for layer in self.vgg[self.CONV4_3_END :]:
            x = layer(x)
        sources.append(x)
        for k, conv in enumerate(self.extras):
            x = F.relu(conv(x))
            if k % 2 == 1:
                sources.append(x)
        b = x.shape[0]
        loc = torch.cat([h(s).permute(0, 2, 3, 1).reshape(b, -1) for h, s in zip(self.loc, sources)], 1)
        conf = torch.cat([h(s).permute(0, 2, 3, 1).reshape(b, -1) for h, s in zip(self.conf, sources)], 1)
        return loc.view(b, -1, 4), conf.view(b, -1, self.num_classes)


# ---------------------------------------------------------------- ssd.pytorch PriorBox / Detect


def priors(clip=True, cfg=VOC):
    """[8732, 4] (cx, cy, w, h) in [0, 1]; per cell: min square, sqrt(min*max) square, (a, 1/a)."""
    dim = cfg["min_dim"]
    out = []
    for k, f in enumerate(cfg["feature_maps"]):
        f_k = dim / cfg["steps"][k]
        s_k = cfg["min_sizes"][k] / dim
        s_big = math.sqrt(s_k * (cfg["max_sizes"][k] / dim))
        for i in range(f):
            for j in range(f):
                cx, cy = (j + 0.5) / f_k, (i + 0.5) / f_k
                out += [[cx, cy, s_k, s_k], [cx, cy, s_big, s_big]]
                for a in cfg["aspect_ratios"][k]:
                    r = math.sqrt(a)
                    out += [[cx, cy, s_k * r, s_k / r], [cx, cy, s_k / r, s_k * r]]
    p = torch.tensor(out, dtype=torch.float32)
    return p.clamp(0.0, 1.0) if clip else p


def decode(loc, pri, variances=VOC["variance"]):
    """Offsets [P,4] + priors (cx,cy,w,h) -> boxes (x0,y0,x1,y1), normalised."""
    c = pri[:, :2] + loc[:, :2] * variances[0] * pri[:, 2:]
    wh = pri[:, 2:] * torch.exp(loc[:, 2:] * variances[1])
    x0 = c - wh / 2
    return torch.cat([x0, x0 + wh], 1)


def nms(boxes, scores, iou_thresh=DETECT_NMS_THRESH, top_k=DETECT_TOP_K):
    """Greedy NMS over the top_k best scores; keeps a box when IoU <= iou_thresh with every kept
    one. Returns kept indices (into boxes) by decreasing score; equal scores: higher index first."""
    order = torch.argsort(scores, stable=True).flip(0)[:top_k]
    x0, y0, x1, y1 = boxes.unbind(1)
    area = (x1 - x0) * (y1 - y0)
    keep = []
    while order.numel() > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.numel() == 0:
            break
        w = (torch.minimum(x1[rest], x1[i]) - torch.maximum(x0[rest], x0[i])).clamp(min=0.0)
        h = (torch.minimum(y1[rest], y1[i]) - torch.maximum(y0[rest], y0[i])).clamp(min=0.0)
        inter = w * h
        iou = inter / (area[rest] - inter + area[i])
        order = rest[iou <= iou_thresh]
    return keep


def detect(loc, conf_logits, pri, size):
    """ssd.pytorch Detect for one image; returns detections sorted by score, boxes in pixels."""
    boxes = decode(loc, pri)
    scores = F.softmax(conf_logits, dim=-1)
    dets, candidates = [], 0
    for cl in range(1, scores.shape[1]):
        sc = scores[:, cl]
        mask = sc > DETECT_CONF_THRESH
        if not bool(mask.any()):
            continue
        b, s = boxes[mask], sc[mask]
        candidates += min(int(s.numel()), DETECT_TOP_K)
        for i in nms(b, s):
            dets.append({"label": cl, "score": float(s[i]), "box": (b[i] * size).tolist()})
    dets.sort(key=lambda d: -d["score"])  # stable: ties stay by class, then NMS order
    return dets, candidates


def self_check():
    ref = json.load(open(FIXTURE))
    noclip = torch.tensor(ref["priors_noclip"])
    clip = noclip.clone()
    for i, p in ref["priors_clip_changed"]:
        clip[i] = torch.tensor(p)
    for name, mine, want in [("priors_noclip", priors(False), noclip), ("priors_clip", priors(True), clip)]:
        assert mine.shape == want.shape, (name, mine.shape, want.shape)
        d = float((mine - want).abs().max())
        assert d <= 1e-5, f"{name}: max abs diff {d}"
        print(f"{name}: max abs diff {d:.2e}", file=sys.stderr)
    loc = torch.tensor(ref["decode"]["loc"])
    d = float((decode(loc, clip[: len(loc)]) - torch.tensor(ref["decode"]["boxes"])).abs().max())
    assert d <= 1e-5, f"decode: max abs diff {d}"
    print(f"decode: max abs diff {d:.2e}", file=sys.stderr)
    for k, case in enumerate(ref["nms"]):
        keep = nms(torch.tensor(case["boxes"]), torch.tensor(case["scores"]), case["iou_threshold"], case["top_k"])
        assert keep == case["keep"], f"nms case {k}: {keep} != {case['keep']}"
    print(f"nms: {len(ref['nms'])} cases, keep lists equal", file=sys.stderr)


# ---------------------------------------------------------------- images


def make_image(k, size):
    """Deterministic RGB uint8 image: gradient, rectangles, an ellipse, a checker patch, noise."""
    rng = np.random.RandomState(7919 * (k + 1))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    ang = rng.uniform(0, 2 * np.pi)
    t = np.clip(0.5 + (xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang), 0, 1)[..., None]
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    img = c0 * (1 - t) + c1 * t
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randint(0, size - 20, 2)
        w, h = rng.randint(15, size // 2, 2)
        img[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
    cx, cy, rx, ry = rng.uniform(0.2, 0.8) * size, rng.uniform(0.2, 0.8) * size, *rng.uniform(15, size / 4, 2)
    img[((xx * (size - 1) - cx) / rx) ** 2 + ((yy * (size - 1) - cy) / ry) ** 2 <= 1] = rng.uniform(0, 255, 3)
    x0, y0 = rng.randint(0, size - 64, 2)
    checker = ((np.arange(64)[:, None] // 8 + np.arange(64)[None, :] // 8) % 2)[..., None]
    img[y0 : y0 + 64, x0 : x0 + 64] = checker * 230 + 10
    img += rng.normal(0, rng.uniform(3, 25), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def save_png(img, path):
    from PIL import Image

    Image.fromarray(img, "RGB").save(path)


# ---------------------------------------------------------------- weights


def randomize(model):
    """Non-trivial BN statistics and affine, conv biases, L2Norm scale (global torch RNG)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 0.1)
        for name, p in model.named_parameters():
            if name in ("L2Norm.weight", "backbone.scale_weight"):
                p.copy_(20.0 * torch.empty_like(p).uniform_(0.8, 1.2))


def calibrate(model, run, targets):
    """One forward pass; each conv, on its first call, has weight and bias scaled by a power of
    two so its output RMS is within a factor sqrt(2) of targets.get(conv, 1.0). The scaled output
    is passed on, so later layers are calibrated on already calibrated inputs. Returns the
    factors applied, in execution order."""
    factors = []

    def hook(conv, _inp, out):
        if getattr(conv, "_calibrated", False):
            return None
        conv._calibrated = True
        rms = float(out.pow(2).mean().sqrt())
        if not math.isfinite(rms) or rms == 0.0:
            return None
        # A power of two: exact in float, and the same whatever rounding the thread count
        # caused in `rms`, so weights.pth does not depend on --threads.
        f = 2.0 ** round(math.log2(targets.get(conv, 1.0) / rms))
        conv.weight.mul_(f)
        if conv.bias is not None:
            conv.bias.mul_(f)
        factors.append(f)
        return out * f

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles = [c.register_forward_hook(hook) for c in convs]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
        for c in convs:
            c.__dict__.pop("_calibrated", None)
    return factors


def head_targets(loc_heads, conf_heads):
    """The last conv of each loc / conf head level -> its RMS target."""

    def last_conv(m):
        return [c for c in m.modules() if isinstance(c, nn.Conv2d)][-1]

    t = {last_conv(m): LOC_RMS for m in loc_heads}
    t.update({last_conv(m): CONF_RMS for m in conf_heads})
    return t


# ---------------------------------------------------------------- architectures


class SsdPytorchArch:
    size = 300

    def __init__(self):
        self.model = SsdPytorchVoc()
        self.priors = priors(clip=True)
        self.num_classes = VOC_CLASSES

    def targets(self):
        return head_targets(self.model.loc, self.model.conf)

    def _input(self, img):
        x = torch.from_numpy(img).float() - torch.tensor(VOC_MEAN_RGB)
        return x.permute(2, 0, 1).unsqueeze(0).contiguous()

    def forward(self, imgs):
        with torch.no_grad():
            return self.model(torch.cat([self._input(i) for i in imgs]))

    def run(self, img):
        """-> (detections, candidates, raw dict)."""
        loc, conf = self.forward([img])
        dets, cand = detect(loc[0], conf[0], self.priors, self.size)
        return dets, cand, {"loc": loc[0], "conf": conf[0], "priors": self.priors}

    def postprocess(self):
        return {
            "score_thresh": DETECT_CONF_THRESH,
            "nms_thresh": DETECT_NMS_THRESH,
            "topk_candidates": DETECT_TOP_K,
            "detections_per_img": None,
            "image_mean": VOC_MEAN_RGB,
            "image_std": [1.0, 1.0, 1.0],
            "pixel_scale": 1.0,
            "box_variances": VOC["variance"],
        }


class TorchvisionArch:
    def __init__(self, arch):
        from torchvision.models import detection

        if arch == "torchvision-ssd300":
            self.model = detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=91)
            self.size = 300
        else:
            self.model = detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)
            self.size = 320
        self.num_classes = 91

    def targets(self):
        h = self.model.head
        return head_targets(h.regression_head.module_list, h.classification_head.module_list)

    def _input(self, img):
        return torch.from_numpy(img).permute(2, 0, 1).float().div(255.0)  # ToTensor

    def forward(self, imgs):
        with torch.no_grad():
            return self.model([self._input(i) for i in imgs])

    def run(self, img):
        m, got = self.model, {}
        hooks = [
            m.head.register_forward_hook(lambda _m, _i, o: got.update(head=o)),
            m.anchor_generator.register_forward_hook(lambda _m, _i, o: got.update(anchors=o[0])),
        ]
        try:
            out = self.forward([img])[0]
        finally:
            for h in hooks:
                h.remove()
        loc, conf = got["head"]["bbox_regression"][0], got["head"]["cls_logits"][0]
        scores = F.softmax(conf, dim=-1)[:, 1:]
        cand = int((scores > m.score_thresh).sum(0).clamp(max=m.topk_candidates).sum())
        dets = [
            {"label": int(lab), "score": float(s), "box": b.tolist()}
            for b, s, lab in zip(out["boxes"], out["scores"], out["labels"])
        ]
        return dets, cand, {"loc": loc, "conf": conf, "priors": got["anchors"]}

    def postprocess(self):
        m = self.model
        eps = sorted({bn.eps for bn in m.modules() if isinstance(bn, nn.BatchNorm2d)})
        return {
            "score_thresh": m.score_thresh,
            "nms_thresh": m.nms_thresh,
            "topk_candidates": m.topk_candidates,
            "detections_per_img": m.detections_per_img,
            "image_mean": list(m.transform.image_mean),
            "image_std": list(m.transform.image_std),
            "pixel_scale": 1.0 / 255.0,
            "box_coder_weights": list(m.box_coder.weights),
            "bbox_xform_clip": m.box_coder.bbox_xform_clip,
            "batch_norm_eps": eps[0] if len(eps) == 1 else (eps or None),
        }


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", choices=ARCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--legacy", action="store_true", help="save weights.pth in the pre-1.6 (non-zip) format")
    ap.add_argument("--dump-raw", action="store_true", help="also write raw_0.npz (loc, conf logits, priors)")
    ap.add_argument("--self-check", action="store_true", help="check PriorBox/decode/nms against the fixture")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    a = ap.parse_args()
    if a.self_check:
        self_check()
        if a.arch is None:
            return
    if a.arch is None or a.out is None:
        ap.error("--arch and --out are required (unless --self-check alone)")
    if a.images < 1:
        ap.error(f"--images must be >= 1, got {a.images}")

    torch.set_num_threads(max(1, a.threads))
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    arch = SsdPytorchArch() if a.arch == "ssd.pytorch" else TorchvisionArch(a.arch)
    model = arch.model
    randomize(model)
    model.eval()
    images = [make_image(k, arch.size) for k in range(a.images)]
    calib = [make_image(k, arch.size) for k in range(CALIB_IMAGES)]  # the same whatever N is
    factors = calibrate(model, lambda: arch.forward(calib), arch.targets())
    exps = [round(math.log2(f)) for f in factors]

    sd = model.state_dict()
    path = os.path.join(a.out, "weights.pth")
    if a.legacy:
        torch.save(sd, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(sd, path)

    entries, summary = [], []
    for k, img in enumerate(images):
        name = f"img_{k}.png"
        save_png(img, os.path.join(a.out, name))
        dets, cand, raw = arch.run(img)
        entries.append({"file": name, "candidates": cand, "detections": dets})
        s = [d["score"] for d in dets]
        summary.append(f"{name}: {len(dets)} dets" + (f" scores {min(s):.4g}..{max(s):.4g}" if s else ""))
        if k == 0 and a.dump_raw:
            np.savez(os.path.join(a.out, "raw_0.npz"), **{n: v.numpy() for n, v in raw.items()})

    ref = {
        "arch": a.arch,
        "seed": a.seed,
        "input_size": arch.size,
        "num_classes": arch.num_classes,
        "postprocess": arch.postprocess(),
        "images": entries,
    }
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump(ref, f)
    scaled = f"{len(exps)} convs scaled by 2^{min(exps)}..2^{max(exps)}" if exps else "no conv scaled"
    print(f"{a.arch} seed {a.seed}: {scaled}; " + "; ".join(summary) + f" ({time.time() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
