#!/usr/bin/env bash
# Proves that a release build is reproducible: the committed HEAD is cloned into two folders
# of different paths and depths, each is built by cross/cross.sh into its own target
# directory and packaged by package/package.sh, and the two static binaries and the two
# .deb files must be byte-identical.
#
#   cross/repro.sh [TARGET]    default aarch64-unknown-linux-musl
#
# Environment: REPRO_DIR (default: a new folder under ${TMPDIR:-/tmp}), REPRO_KEEP=1 keeps it.
# Two cold release builds: about 20 minutes on a 2-core machine (docs/deploy.md,
# "Reproducible builds"). REPRO_SHARED_TARGET=DIR builds both checkouts into that one target
# directory instead: dependencies compiled once, so only the checkout's path varies (a quick
# check that it does not leak into the output; minutes when DIR is warm).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
target=${1:-aarch64-unknown-linux-musl}
[ -f "$here/$target.env" ] || { echo "repro: no settings for target '$target'" >&2; exit 2; }
rev=$(git -C "$root" rev-parse HEAD)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    echo "repro: note: uncommitted changes are not built; this checks $rev" >&2
fi
work=${REPRO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ssd-edge-repro.XXXXXX")}
mkdir -p "$work"
[ "${REPRO_KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT

now() { date +%s; }
t0=$(now)
declare -a bins debs
for side in a b/deeper/path; do
    src=$work/$side/ssd-edge
    git clone --quiet --no-local "$root" "$src"
    git -C "$src" checkout --quiet "$rev"
    t=$(now)
    tdir=${REPRO_SHARED_TARGET:-$work/$side/target}
    (cd "$src" && CARGO_TARGET_DIR=$tdir cross/cross.sh build "$target") \
        >"$work/${side%%/*}.log" 2>&1 ||
        { tail -n 30 "$work/${side%%/*}.log"; echo "repro: build in $src failed" >&2; exit 1; }
    (cd "$src" && CARGO_TARGET_DIR=$tdir package/package.sh build "$target" "$work/$side/deb") \
        >>"$work/${side%%/*}.log" 2>&1 ||
        { tail -n 30 "$work/${side%%/*}.log"; echo "repro: packaging in $src failed" >&2; exit 1; }
    # Kept before the other side's build overwrites it in a shared target directory.
    cp "$tdir/$target/release/ssd-edge" "$work/$side/ssd-edge.bin"
    bins+=("$work/$side/ssd-edge.bin")
    debs+=("$(ls "$work/$side/deb/"*.deb)")
    echo "repro: built and packaged in $src in $(($(now) - t)) s"
done

status=0
for pair in "${bins[0]} ${bins[1]}" "${debs[0]} ${debs[1]}"; do
    # shellcheck disable=SC2086
    set -- $pair
    if cmp -s "$1" "$2"; then
        echo "repro: identical: $(sha256sum "$1" | cut -c1-64)  $(basename "$1") ($(stat -c %s "$1") bytes)"
    else
        echo "repro: FAIL: $1 and $2 differ ($(cmp -l "$1" "$2" 2>/dev/null | wc -l) bytes," \
            "sizes $(stat -c %s "$1") and $(stat -c %s "$2"))" >&2
        status=1
    fi
done
echo "repro: $target at $rev: two builds in $(($(now) - t0)) s"
exit $status
