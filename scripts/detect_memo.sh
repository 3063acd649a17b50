#!/usr/bin/env bash
# Where a verified emulated `ssd-edge detect` output is kept, so that `make test` runs each one
# once: cross/cross.sh detect stores the target's output there once it matched the host's, and
# package/package.sh reuses it when its packaged binary, model and image are the very same
# bytes (the .deb installs the release binary and models/ unchanged).
#
#   scripts/detect_memo.sh RUNNER BIN MODEL THRESHOLD IMAGE...
#
# Prints $CARGO_TARGET_DIR/detect-memo/KEY.jsonl, KEY a SHA-256 over the emulator's version
# line (RUNNER empty: native), the contents of BIN, MODEL and each IMAGE (not their paths)
# and THRESHOLD: everything the output is a function of. Nothing is created or read.
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: scripts/detect_memo.sh RUNNER BIN MODEL THRESHOLD IMAGE..." >&2; exit 2; }
runner=$1 bin=$2 model=$3 threshold=$4
shift 4
key=$(
    {
        echo "detect-memo 1"
        if [ -n "$runner" ]; then "$runner" --version | head -n 1; else echo native; fi
        sha256sum <"$bin"
        sha256sum <"$model"
        echo "threshold $threshold"
        for image in "$@"; do sha256sum <"$image"; done
    } | sha256sum | cut -c1-32
)
echo "${CARGO_TARGET_DIR:-target}/detect-memo/$key.jsonl"
