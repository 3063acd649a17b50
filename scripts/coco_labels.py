#!/usr/bin/env python3
"""The COCO SSD's 91 class slots as a JSON list: slot 0 "background", slots 1..90 the COCO ids.

    python3 scripts/coco_labels.py [--tarball TGZ] > models/coco-labels.json

Names are the `displayName`s of @tensorflow-models/coco-ssd 2.2.3's dist/classes.js (the table
coco-ssd's detect() maps with), read from the pinned npm tarball that `make deps-real` fetches
and checks (default $CACHE/real/tensorflow-models-coco-ssd-2.2.3.tgz, CACHE defaulting to
~/.cache/ssd-edge). The 10 ids COCO left unused (12, 26, 29, 30, 45, 66, 68, 69, 71, 83) are
"unused-ID". Slot i is the graph's class_logits channel i (concat_1 [1,1917,91]); coco-ssd's
`scores` output (Postprocessor/Slice [1,1917,90]) channel j is slot j+1.
"""
import argparse
import hashlib
import json
import os
import pathlib
import re
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parent
TARBALL = "tensorflow-models-coco-ssd-2.2.3.tgz"
SLOTS = 91


def pinned_sha256(name: str) -> str:
    for line in (ROOT / "real-assets.sha256").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == name:
            return parts[0]
    sys.exit(f"{name} is not in scripts/real-assets.sha256")


def labels(tgz: pathlib.Path) -> list:
    data = tgz.read_bytes()
    want = pinned_sha256(TARBALL)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        sys.exit(f"{tgz}: sha256 {got}, want {want} (scripts/real-assets.sha256)")
    with tarfile.open(tgz) as tf:
        js = tf.extractfile("package/dist/classes.js").read().decode()
    entries = re.findall(r"(\d+):\s*\{\s*name:\s*'([^']*)',\s*id:\s*(\d+),\s*displayName:\s*'([^']*)'", js)
    out = [None] * SLOTS
    out[0] = "background"
    for key, _mid, ident, display in entries:
        if key != ident:
            sys.exit(f"classes.js: key {key} holds id {ident}")
        i = int(ident)
        if not 1 <= i < SLOTS or out[i] is not None:
            sys.exit(f"classes.js: id {i} out of range or repeated")
        out[i] = display
    if len(entries) != 80:
        sys.exit(f"classes.js: {len(entries)} classes, want COCO's 80")
    return [name if name is not None else f"unused-{i}" for i, name in enumerate(out)]


def main() -> None:
    cache = pathlib.Path(os.environ.get("CACHE", pathlib.Path.home() / ".cache/ssd-edge"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tarball", type=pathlib.Path, default=cache / "real" / TARBALL)
    args = ap.parse_args()
    names = labels(args.tarball)
    # One name a line, so a diff shows which slot changed.
    print("[\n" + ",\n".join("  " + json.dumps(n) for n in names) + "\n]")


if __name__ == "__main__":
    main()
