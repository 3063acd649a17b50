#!/usr/bin/env bash
# Static ARM builds of ssd-edge and their checks under qemu-user.
#
#   cross/cross.sh build  TARGET   release binary: stripped, static; prints size, `file`, --version
#   cross/cross.sh unit   TARGET   SSD-math tests (no tract) built for TARGET, run under qemu
#   cross/cross.sh unit-build TARGET   only build those tests (make test times build and run apart)
#   cross/cross.sh detect TARGET   `ssd-edge detect` under qemu vs the host build: same detections
#   cross/cross.sh test   TARGET   unit + detect
#
# TARGET is a triple with a settings file cross/TARGET.env (linker, C compiler for tract's
# assembly kernels, bindgen arguments for v4l, qemu runner).
# Environment: CARGO_TARGET_DIR (default ./target), CROSS_FEATURES (extra cargo features,
# e.g. embed-model), CROSS_PROFILE (release or small), and CROSS_MODEL, CROSS_IMAGES
# (space-separated), CROSS_THRESHOLD (default 0.3) to run `detect` on other inputs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$here/cross.sh" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
target=$2
envfile="$here/$target.env"
[ -f "$envfile" ] || { echo "cross: no settings for target '$target' ($envfile)" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
fixtures="$CARGO_TARGET_DIR/cross-fixtures"

# `detect` compares with the host build, whose model and images the host's tests write
# (tests/cross_fixture.rs), so nothing binary is committed and they always match the current
# model format. This runs before the target's settings are read: some of them are not scoped
# to the target (LIBSQLITE3_FLAGS, SOURCE_DATE_EPOCH below), and a host build that saw them
# would recompile SQLite and ssd-edge here and again in the next `make test` (README "Test
# time"). `--workspace`: the one host graph of `make test`, so nothing is compiled here; cargo
# builds the package's binary for its integration tests, which leaves the host
# $CARGO_TARGET_DIR/debug/ssd-edge that `detect` compares the target's with.
case "$cmd" in
    detect | test)
        SSD_EDGE_CROSS_FIXTURES="$fixtures" cargo test --workspace --test cross_fixture -- \
            --ignored --exact write_cross_fixtures >/dev/null
        ;;
esac

set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

# Reproducible builds: the same commit built in another directory gives the same bytes
# (checked by cross/repro.sh). Cargo hands rustc the workspace's own sources by relative
# paths, but registry crates by their absolute path under Cargo's home, and build-script
# output (bindgen's V4L2 bindings, say) under the target directory; panic messages and C
# assertions embed those, so both are remapped to fixed names. The checkout's own path is not
# in the flags, so moving it does not invalidate a warm target directory. The build date the
# binary carries is the commit's (build.rs), never the clock's.
cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
mkdir -p "$CARGO_TARGET_DIR"
target_dir=$(cd "$CARGO_TARGET_DIR" && pwd -P)
triple_var=$(echo "$target" | tr 'a-z-' 'A-Z_')
rustflags_var=CARGO_TARGET_${triple_var}_RUSTFLAGS
export "$rustflags_var=${!rustflags_var:-} --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target_dir=/target"
cflags_var=CFLAGS_$(echo "$target" | tr '-' '_')
export "$cflags_var=${!cflags_var:-} -ffile-prefix-map=$cargo_home=/cargo -ffile-prefix-map=$target_dir=/target"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || true)
    [ -n "$SOURCE_DATE_EPOCH" ] && export SOURCE_DATE_EPOCH
fi

# Release profile: the workspace's (opt-level 3, 16 codegen units, no cross-crate LTO,
# strip = true). Cargo reads CARGO_PROFILE_RELEASE_* from the environment, so a trade-off can
# be tried without editing files, e.g. CARGO_PROFILE_RELEASE_LTO=fat; measured numbers are in
# docs/deploy.md ("Build profile").
export CARGO_PROFILE_RELEASE_STRIP=true

# CROSS_PROFILE=small: opt-level "s", fat LTO, one codegen unit, panic=abort; about half the
# size, slower to build, and tract's Rust-side loops are optimised for size (see
# docs/deploy.md, "Build profile"). Defined here so Cargo.toml's profiles stay the host's.
profile=${CROSS_PROFILE:-release}
profile_args=(--profile "$profile")
case "$profile" in
    release) ;;
    small)
        profile_args+=(
            --config 'profile.small.inherits="release"' --config 'profile.small.opt-level="s"'
            --config 'profile.small.lto="fat"' --config 'profile.small.codegen-units=1'
            --config 'profile.small.panic="abort"' --config 'profile.small.strip=true'
        )
        ;;
    *) echo "cross: unknown CROSS_PROFILE '$profile' (release or small)" >&2; exit 2 ;;
esac
bin="$CARGO_TARGET_DIR/$target/$profile/ssd-edge"

now() { date +%s.%N; }
# Runs a target binary: under the settings' emulator, or directly where QEMU is empty (a
# static build for the host's own architecture).
target_run() {
    if [ -n "${QEMU:-}" ]; then "$QEMU" "$@"; else "$@"; fi
}
runner=${QEMU:-native}
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

build() {
    local features=()
    [ -n "${CROSS_FEATURES:-}" ] && features=(--features "$CROSS_FEATURES")
    local t0
    t0=$(now)
    cargo build "${profile_args[@]}" --target "$target" --bin ssd-edge "${features[@]}"
    echo "cross: built $bin in $(elapsed "$t0") s"
    local desc
    desc=$(file -b "$bin")
    echo "cross: file: $desc"
    # A dynamically linked binary would need the board's libc (and the right version of it):
    # the whole point of these builds is one file that runs anywhere.
    case "$desc" in
        *"statically linked"* | *"static-pie linked"*) ;;
        *) echo "cross: FAIL: $bin is not statically linked" >&2; exit 1 ;;
    esac
    echo "cross: size: $(stat -c %s "$bin") bytes ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$bin")"))"
    local version
    version=$(target_run "$bin" --version)
    echo "cross: --version under $runner: $version"
    case "$version" in
        *"$target"*) ;;
        *) echo "cross: FAIL: --version does not name $target" >&2; exit 1 ;;
    esac
}

# The SSD-math tests (crate ssd-core) build in the release profile with debug assertions and
# overflow checks turned back on for ssd-core alone: the checks of the dev profile (whose dependencies are
# optimised and unchecked, as release's are), while every dependency unit the tests share
# with the release binary of `build` (same target, profile, flags and features: 96 of the 143
# units for aarch64 by `cargo test --unit-graph`) is reused rather than compiled again.
test_profile=(--release
    --config 'profile.release.package.ssd-core.debug-assertions=true'
    --config 'profile.release.package.ssd-core.overflow-checks=true')

# Runs one cargo test invocation for the target and insists that tests actually ran: a
# filter or a renamed file must not turn the check into "0 passed".
run_tests() {
    local log
    log=$(mktemp)
    cargo test "${test_profile[@]}" --target "$target" -p ssd-core "$@" 2>&1 | tee "$log"
    local passed
    passed=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$log")
    rm -f "$log"
    [ "$passed" -gt 0 ] || { echo "cross: FAIL: no tests ran for: $*" >&2; exit 1; }
    echo "cross: $passed test(s) passed under $runner: $*"
}

# Both SSD-math test binaries in one cargo call, nothing run: the same units `unit` then finds
# fresh (same target, features and profile), so the build and the emulated run are timed apart.
unit_build() {
    local t0
    t0=$(now)
    cargo test "${test_profile[@]}" --target "$target" -p ssd-core --no-run \
        --test ssd_reference --lib
    echo "cross: SSD-math tests for $target built in $(elapsed "$t0") s"
}

unit() {
    local t0
    t0=$(now)
    # ssd-core is the SSD math, synthetic scenes and pixel formats (no tract), so these test
    # binaries are small and cheap to emulate. Cargo runs them through
    # CARGO_TARGET_<T>_RUNNER (qemu) with the package root as working directory, as on the host.
    run_tests --test ssd_reference
    run_tests --lib -- ssd::
    echo "cross: SSD-math tests for $target took $(elapsed "$t0") s (build included)"
}

detect() {
    [ -x "$bin" ] || { echo "cross: $bin missing: run 'cross/cross.sh build $target' first" >&2; exit 1; }
    # The host's fixtures and binary were written at the start, before the target's settings.
    # The shipped model on a synthetic scene once it exists, else the tests' tiny SSD on two
    # colour-patch images: emulated tract runs thousands of times slower than native.
    local model images
    if [ -n "${CROSS_MODEL:-}" ]; then
        model=$CROSS_MODEL
    elif [ -f models/default.onnx ]; then
        model=models/default.onnx
    else
        model=$fixtures/tiny.onnx
    fi
    if [ -n "${CROSS_IMAGES:-}" ]; then
        # shellcheck disable=SC2206
        images=($CROSS_IMAGES)
    elif [ "$model" = "$fixtures/tiny.onnx" ]; then
        images=("$fixtures/tiny0.png" "$fixtures/tiny1.png")
    else
        # A MobileNet-sized model takes minutes per image under qemu: one scene per target.
        images=("$fixtures/scene0.png")
    fi
    [ -f "$model" ] || { echo "cross: model $model not found" >&2; exit 1; }
    local threshold=${CROSS_THRESHOLD:-0.3}
    local host_bin="$CARGO_TARGET_DIR/debug/ssd-edge"
    [ -x "$host_bin" ] || { echo "cross: host build $host_bin missing after the fixture step" >&2; exit 1; }
    local out
    out=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$out'" EXIT
    "$host_bin" detect --model "$model" --threshold "$threshold" "${images[@]}" >"$out/host.jsonl"
    local t0
    t0=$(now)
    target_run "$bin" detect --model "$model" --threshold "$threshold" "${images[@]}" >"$out/target.jsonl"
    echo "cross: detect under $runner: ${#images[@]} image(s), model $model, $(elapsed "$t0") s"
    python3 "$here/compare_detections.py" --threshold "$threshold" \
        "$out/host.jsonl" "$out/target.jsonl"
    # Checked: kept under the hash of binary, model, images, threshold and emulator, so that
    # package/package.sh need not emulate the same run again for the same bytes.
    local memo
    memo=$("$root/scripts/detect_memo.sh" "${QEMU:-}" "$bin" "$model" "$threshold" "${images[@]}")
    mkdir -p "$(dirname "$memo")"
    cp "$out/target.jsonl" "$memo"
}

case "$cmd" in
    build) build ;;
    unit) unit ;;
    unit-build) unit_build ;;
    detect) detect ;;
    test) unit; detect ;;
    *) usage ;;
esac
