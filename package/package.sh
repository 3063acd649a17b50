#!/usr/bin/env bash
# Debian packages of ssd-edge, made from the static release binaries of cross/cross.sh.
#
#   package/package.sh build TARGET OUTDIR  OUTDIR/ssd-edge_<version>_<arch>.deb from
#                                           $CARGO_TARGET_DIR/TARGET/release/ssd-edge
#   package/package.sh check DEB            lintian; systemd-analyze verify and security
#   package/package.sh run DEB              unpacked: --version and `detect` with the packaged
#                                           model (under qemu for a foreign arch); on the
#                                           host's arch also `run` with the packaged config,
#                                           its syscalls checked against the unit's filter
#   package/package.sh install DEB          (root) install, remove, purge in a scratch root
#   package/package.sh test DEB...          check and run each; install the host's arch
#   package/package.sh release OUTDIR TARGET...  a tarball per target (binary, models, deploy/
#                                           files) next to the .debs, and SHA256SUMS of all
#
# The Debian architecture follows from the triple (deb_arch), so another target (armhf) is one
# line there plus its cross/TARGET.env. Tree: package/ holds the control template, maintainer
# scripts, copyright, changelog and the sysusers.d entry; deploy/ the config, unit, udev rule.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

MAINTAINER=${PACKAGE_MAINTAINER:-ssd-edge maintainers <ssd-edge@example.org>}
# Where the packaged config points the model: `auto` picks the faster of the two variants.
MODEL_AUTO=/usr/share/ssd-edge/auto
# The real COCO detector (the default for cameras and streams) and the synthetic-street model,
# each as int8 and float; `auto` keeps the faster of a pair on the board.
SHIPPED_MODELS="models/coco-ssdlite-mnv2.onnx models/coco-ssdlite-mnv2-float.onnx models/default.onnx models/default-float.onnx"

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$here/package.sh" >&2
    exit 2
}
fail() { echo "package: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

deb_arch() {
    case "$1" in
        aarch64-*) echo arm64 ;;
        x86_64-*) echo amd64 ;;
        armv7-*-gnueabihf) echo armhf ;;
        *) echo "package: no Debian architecture for target '$1'" >&2; exit 2 ;;
    esac
}

# The emulator that runs a Debian architecture's binaries here; nothing for the host's own.
qemu_for() {
    [ "$1" = "$(dpkg --print-architecture)" ] && return 0
    case "$1" in
        arm64) echo qemu-aarch64-static ;;
        armhf) echo qemu-arm-static ;;
        amd64) echo qemu-x86_64-static ;;
        *) fail "no emulator known for architecture $1" ;;
    esac
}

# The [package] version of Cargo.toml: the one number for binary, changelog and package.
cargo_version() {
    sed -n '/^\[package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1
}

tmpdirs=()
cleanup() { [ ${#tmpdirs[@]} -eq 0 ] || rm -rf "${tmpdirs[@]}"; }
trap cleanup EXIT
scratch() {
    local d
    d=$(mktemp -d)
    tmpdirs+=("$d")
    echo "$d"
}

# man page from the binary's own help (top level and every subcommand), so it cannot drift.
man_page() {
    local bin=$1 runner=$2 version=$3 out=$4
    local work
    work=$(scratch)
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$runner" "$bin" >"$work/ssd-edge"
    chmod +x "$work/ssd-edge"
    {
        echo '[COMMANDS]'
        local cmd
        for cmd in $("$work/ssd-edge" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on && $1 != "help" { print $1 }'); do
            printf '.SS "ssd-edge %s"\n.nf\n' "$cmd"
            # Literal text: escape backslashes, protect lines starting with . or '.
            "$work/ssd-edge" "$cmd" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
            printf '.fi\n'
        done
        cat <<'EOF'
[FILES]
.TP
.I /etc/ssd-edge/edge.toml
The service's configuration: camera, model, tracker, store, counting lines and zones.
.TP
.I /etc/default/ssd-edge
Further arguments for the service (SSD_EDGE_ARGS) and RUST_LOG.
.TP
.I /var/lib/ssd-edge/counts.db
The event database (SQLite); read it with \fBssd-edge report\fR.
.TP
.I /usr/share/ssd-edge/
The shipped models; \fImodel.path = "/usr/share/ssd-edge/auto"\fR runs the faster of the two.
[SEE ALSO]
.BR systemctl (1),
.BR journalctl (1):
\fBjournalctl -u ssd-edge -f\fR follows the service's output.
/usr/share/doc/ssd-edge/ has the README and the deployment guide.
EOF
    } >"$work/include"
    help2man --no-info --no-discard-stderr --version-string="$version" \
        --name="offline object detection and counting for Raspberry Pi and Jetson" \
        --include="$work/include" "$work/ssd-edge" >"$out"
}

build() {
    local target=$1 outdir=$2
    local t0
    t0=$(now)
    local arch bin version
    arch=$(deb_arch "$target")
    bin="$CARGO_TARGET_DIR/$target/release/ssd-edge"
    [ -x "$bin" ] || fail "$bin missing: run 'cross/cross.sh build $target' first"
    version=$(cargo_version)
    [ -n "$version" ] || fail "no [package] version in Cargo.toml"
    local logged
    logged=$(sed -n '1 s/^ssd-edge (\([^)]*\)).*/\1/p' "$here/changelog")
    [ "$logged" = "$version" ] ||
        fail "package/changelog's latest entry is $logged, Cargo.toml says $version: add an entry"
    local runner
    runner=$(qemu_for "$arch")

    local tree
    tree=$(scratch)/ssd-edge
    install -D -m 0755 "$bin" "$tree/usr/bin/ssd-edge"
    install -D -m 0644 -t "$tree/usr/share/ssd-edge" $SHIPPED_MODELS models/NOTICE

    # The example config, its model pointed at the packaged ones.
    install -d -m 0755 "$tree/etc/ssd-edge"
    sed "s|^# path = \"$MODEL_AUTO\" |path = \"$MODEL_AUTO\" |" deploy/edge.toml \
        >"$tree/etc/ssd-edge/edge.toml"
    grep -q "^path = \"$MODEL_AUTO\" " "$tree/etc/ssd-edge/edge.toml" ||
        fail "deploy/edge.toml no longer has the line '# path = \"$MODEL_AUTO\"' to enable"
    install -D -m 0644 deploy/ssd-edge.default "$tree/etc/default/ssd-edge"

    # The unit, with the package's paths for the manual install's /usr/local ones.
    install -d -m 0755 "$tree/usr/lib/systemd/system"
    sed -e 's|/usr/local/bin/ssd-edge|/usr/bin/ssd-edge|g' \
        -e 's|file:///usr/local/share/doc/ssd-edge/deploy.md|file:///usr/share/doc/ssd-edge/|' \
        deploy/ssd-edge.service >"$tree/usr/lib/systemd/system/ssd-edge.service"
    grep -q '^ExecStart=/usr/bin/ssd-edge ' "$tree/usr/lib/systemd/system/ssd-edge.service" ||
        fail "deploy/ssd-edge.service: ExecStart no longer runs /usr/local/bin/ssd-edge"
    ! grep -n '^[^#]*/usr/local' "$tree/usr/lib/systemd/system/ssd-edge.service" ||
        fail "deploy/ssd-edge.service names /usr/local paths the package does not have"
    if [ "$arch" = amd64 ]; then
        # Known defect (docs/deploy.md, "Known problems"): tract-linalg 0.23.9's AMX int8 kernel
        # (Xeon Sapphire Rapids and later) loads tiles past the end of an operand; under musl's
        # allocator, whose guard pages follow small allocations, the int8 model segfaults.
        # Without AMX tract runs its AVX-512/AVX2 int8 kernels.
        install -d -m 0755 "$tree/usr/lib/systemd/system/ssd-edge.service.d"
        printf '# %s\n[Service]\n%s\n' \
            "tract's AMX int8 kernel reads out of bounds (docs/deploy.md, Known problems)." \
            "Environment=TRACT_CPU_ISA=-amx-int8" \
            >"$tree/usr/lib/systemd/system/ssd-edge.service.d/no-amx.conf"
    fi
    install -D -m 0644 deploy/99-ssd-edge-camera.rules \
        "$tree/usr/lib/udev/rules.d/99-ssd-edge-camera.rules"
    install -D -m 0644 "$here/ssd-edge.sysusers" "$tree/usr/lib/sysusers.d/ssd-edge.conf"

    local doc="$tree/usr/share/doc/ssd-edge"
    install -D -m 0644 "$here/copyright" "$doc/copyright"
    gzip -9n <"$here/changelog" >"$doc/changelog.gz"
    gzip -9n <README.md >"$doc/README.md.gz"
    gzip -9n <docs/deploy.md >"$doc/deploy.md.gz"
    gzip -9n <models/README.md >"$doc/models.md.gz"
    chmod 0644 "$doc"/*.gz
    install -d -m 0755 "$tree/usr/share/man/man1"
    man_page "$tree/usr/bin/ssd-edge" "$runner" "$version" "$tree/usr/share/man/man1/ssd-edge.1"
    gzip -9n "$tree/usr/share/man/man1/ssd-edge.1"
    chmod 0644 "$tree/usr/share/man/man1/ssd-edge.1.gz"
    install -D -m 0644 "$here/lintian-overrides" "$tree/usr/share/lintian/overrides/ssd-edge"

    install -d -m 0755 "$tree/DEBIAN"
    install -m 0755 -t "$tree/DEBIAN" "$here/postinst" "$here/prerm" "$here/postrm"
    printf '/etc/default/ssd-edge\n/etc/ssd-edge/edge.toml\n' >"$tree/DEBIAN/conffiles"
    (cd "$tree" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' |
        LC_ALL=C sort -z | xargs -0 md5sum) >"$tree/DEBIAN/md5sums"
    local size
    size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
    sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$MAINTAINER|" \
        -e "s|@INSTALLED_SIZE@|$size|" \
        "$here/control.in" >"$tree/DEBIAN/control"
    chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/conffiles" "$tree/DEBIAN/md5sums"

    # File times from the last commit, not from this build.
    local epoch
    epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
    find "$tree" -exec touch -h -d "@$epoch" {} +
    mkdir -p "$outdir"
    local deb="$outdir/ssd-edge_${version}_${arch}.deb"
    SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >/dev/null
    echo "package: built $deb in $(elapsed "$t0") s"
    echo "package: size: $(stat -c %s "$deb") bytes ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$deb")")), installed $size KiB"
}

# Unpacks DEB into a fresh folder and prints its path.
unpack() {
    local dir
    dir=$(scratch)
    dpkg-deb -x "$1" "$dir"
    dpkg-deb -e "$1" "$dir/DEBIAN"
    echo "$dir"
}

check() {
    local deb=$1
    [ -f "$deb" ] || fail "$deb missing: make package"
    echo "package: lintian $deb"
    # Errors fail; warnings and info are printed (overrides, with reasons: package/lintian-overrides).
    lintian --fail-on error --info --display-level '>=info' "$deb" || fail "lintian errors in $deb"
    local dir unit
    dir=$(unpack "$deb")
    unit="$dir/usr/lib/systemd/system/ssd-edge.service"
    # On the host's systemd with ExecStart pointed at the unpacked binary (verify insists that
    # it exists); --man=no because the man page is checked on its own below.
    local work
    work=$(scratch)
    sed "s|^ExecStart=/usr/bin/ssd-edge |ExecStart=$dir/usr/bin/ssd-edge |" "$unit" \
        >"$work/ssd-edge.service"
    systemd-analyze verify --man=no "$work/ssd-edge.service" >"$work/verify" 2>&1 ||
        { cat "$work/verify"; fail "systemd-analyze verify: ssd-edge.service"; }
    [ ! -s "$work/verify" ] || { cat "$work/verify"; fail "systemd-analyze verify warns"; }
    echo "package: systemd-analyze verify: ssd-edge.service OK"
    local warn
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$dir/usr/share/man/man1/ssd-edge.1.gz" 2>&1 >/dev/null)
    [ -z "$warn" ] || fail "man page: $warn"
    local sec
    sec=$(systemd-analyze security --offline=yes --root="$dir" "$unit" 2>&1) ||
        { echo "$sec"; fail "systemd-analyze security"; }
    echo "$sec" | grep 'Overall exposure' | sed 's/^→ */package: systemd-analyze security: /'
    # A regression guard, not a goal: the unit scores 1.6 here (docs/deploy.md). systemd
    # takes the threshold in tenths (25 = an exposure of 2.5).
    local max=${PACKAGE_SECURITY_MAX:-25}
    systemd-analyze security --offline=yes --root="$dir" --threshold="$max" "$unit" \
        >/dev/null 2>&1 || fail "the unit's exposure rose above $max/10"
}

# The syscalls a filter expression of systemd-analyze allows: the union of the + sets minus
# the ~ ones, groups expanded.
allowed_syscalls() {
    systemd-analyze syscall-filter 2>/dev/null | python3 -c '
import sys
groups, cur = {}, None
for line in sys.stdin:
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    if not line[0].isspace():
        cur = s; groups[cur] = []
    elif cur:
        groups[cur].append(s)
def expand(name, seen=None):
    seen = seen or set()
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for m in groups.get(name, []):
        out |= expand(m, seen)
    return out
allow, deny = set(), set()
for tok in sys.argv[1:]:
    if tok.startswith("~"):
        deny |= expand(tok[1:])
    else:
        allow |= expand(tok)
print("\n".join(sorted(allow - deny)))
' "$@"
}

# The unit's SystemCallFilter lines, as arguments for allowed_syscalls.
unit_filter() {
    sed -n 's/^SystemCallFilter=//p' "$1" | awk '
        /^~/ { sub(/^~/, ""); n = split($0, a, " "); for (i = 1; i <= n; i++) print "~" a[i]; next }
        { n = split($0, a, " "); for (i = 1; i <= n; i++) print a[i] }'
}

# The environment the package's unit drop-ins set (the amd64 AMX workaround), exported so
# that the checks run the binary as the service would.
service_env() {
    local f
    for f in "$1"/usr/lib/systemd/system/ssd-edge.service.d/*.conf; do
        [ -f "$f" ] || continue
        # shellcheck disable=SC2046
        export $(sed -n 's/^Environment=//p' "$f")
        echo "package: service environment from ${f#"$1"}: $(sed -n 's/^Environment=//p' "$f")"
    done
}

run_pkg() {
    local deb=$1
    local dir arch runner version
    dir=$(unpack "$deb")
    arch=$(dpkg-deb -f "$deb" Architecture)
    version=$(dpkg-deb -f "$deb" Version)
    runner=$(qemu_for "$arch")
    local bin="$dir/usr/bin/ssd-edge" share="$dir/usr/share/ssd-edge"
    service_env "$dir"
    run() { if [ -n "$runner" ]; then "$runner" "$bin" "$@"; else "$bin" "$@"; fi; }
    local v
    v=$(run --version)
    echo "package: $arch: --version${runner:+ under $runner}: $v"
    case "$v" in "ssd-edge $version "*) ;; *) fail "--version does not say $version" ;; esac

    # One scene with confident detections of the shipped model (as in make test-cross).
    local fixtures="$CARGO_TARGET_DIR/cross-fixtures" image
    image="$fixtures/scene1.png"
    if [ ! -f "$image" ]; then
        SSD_EDGE_CROSS_FIXTURES="$fixtures" cargo test --workspace --test cross_fixture -- \
            --ignored --exact write_cross_fixtures >/dev/null
    fi
    local t0 out memo
    memo=$("$root/scripts/detect_memo.sh" "$runner" "$bin" "$share/default.onnx" 0.35 "$image")
    local dropins=("$dir"/usr/lib/systemd/system/ssd-edge.service.d/*.conf)
    if [ -n "$runner" ] && [ -s "$memo" ] && [ ! -e "${dropins[0]}" ]; then
        # Emulated, minutes: `cross/cross.sh detect` (make test's qemu:detect phase) already
        # ran these very bytes (binary, model, image) under this emulator, and its output
        # matched the host build's; the check below runs on that output. (Not where the
        # package sets a service environment, which cross.sh did not have.)
        out=$(cat "$memo")
        echo "package: $arch: detect with the packaged model: the same binary, model and image as cross/cross.sh detect ran; its checked output reused"
    else
        t0=$(now)
        out=$(run detect --model "$share/default.onnx" --threshold 0.35 "$image")
        echo "package: $arch: detect with the packaged model: $(elapsed "$t0") s"
    fi
    python3 -c '
import json, sys
rec = json.loads(sys.argv[1])
dets = rec.get("detections", [])
assert dets, "no detections on the test scene: " + sys.argv[1][:200]
print("package: detections:", ", ".join("%s %.2f" % (d["label"], d["score"]) for d in dets))
' "$out" || fail "detect output"

    [ -z "$runner" ] || return 0
    # Natively: the packaged config as the service runs it, on synthetic frames instead of
    # the camera, the models from the package, under strace for the unit's syscall filter.
    local work
    work=$(scratch)
    t0=$(now)
    # As the service runs: not root (as root, SQLite fchown()s its journal files to the
    # database's owner, a call the unit's filter refuses and a service never makes).
    local as_user=()
    if [ "$(id -u)" = 0 ]; then
        chmod 0755 "$dir" "$work" && chown 65534:65534 "$work"
        as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    fi
    "${as_user[@]}" strace -f -qq -o "$work/strace" -e 'trace=all' -e 'signal=none' \
        "$bin" run --config "$dir/etc/ssd-edge/edge.toml" --model "$share/auto" \
        --source synth --frames 20 --db "$work/counts.db" >"$work/frames.jsonl" 2>"$work/log" ||
        { cat "$work/log"; fail "run with the packaged config"; }
    echo "package: $arch: run --config etc/ssd-edge/edge.toml (20 synthetic frames): $(elapsed "$t0") s"
    grep -F -e "--model auto: using $share/default" "$work/log" | sed 's/^.*using /package: auto chose /' |
        grep . || { cat "$work/log"; fail "auto did not choose a packaged model"; }
    tail -n 1 "$work/frames.jsonl" | python3 -c '
import json, sys
s = json.loads(sys.stdin.read())["summary"]
print("package: summary: %d frames, %d tracks, %.1f fps" % (s["frames"], s["tracks"], s["fps"]))
' || fail "no summary line"
    [ -s "$work/counts.db" ] || fail "no event database written"
    local used allowed denied
    used=$(awk -F'(' '{ sub(/^[0-9]+ +/, "", $1); if ($1 ~ /^[a-z_0-9]+$/) print $1 }' "$work/strace" | sort -u)
    # shellcheck disable=SC2046
    allowed=$(allowed_syscalls $(unit_filter "$dir/usr/lib/systemd/system/ssd-edge.service"))
    denied=$(comm -23 <(echo "$used") <(echo "$allowed"))
    echo "package: syscalls used: $(echo "$used" | wc -l), outside the unit's filter: ${denied:-none}"
    [ -z "$denied" ] || fail "the unit's SystemCallFilter would refuse: $denied"
}

install_pkg() {
    local deb=$1
    [ "$(id -u)" = 0 ] || fail "install needs root (dpkg --root, chroot)"
    local arch
    arch=$(dpkg-deb -f "$deb" Architecture)
    [ "$arch" = "$(dpkg --print-architecture)" ] || fail "install: $deb is $arch, this host is not"
    local r
    r=$(scratch)
    chmod 0755 "$r" # a root directory others may enter (the run below is user ssd-edge)
    mkdir -p "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/info" "$r/var/log" "$r/etc" "$r/tmp"
    touch "$r/var/lib/dpkg/status"
    # systemd is what Depends names; the scratch root has no packages at all.
    local dpkg=(dpkg --root="$r" --force-script-chrootless --force-depends --log=/dev/null)
    "${dpkg[@]}" -i "$deb" >"$r/tmp/dpkg.log" 2>&1 || { cat "$r/tmp/dpkg.log"; fail "dpkg -i"; }

    [ -x "$r/usr/bin/ssd-edge" ] || fail "no /usr/bin/ssd-edge"
    grep -q '^ssd-edge:x:[0-9]*:[0-9]*:.*:/var/lib/ssd-edge:/usr/sbin/nologin$' "$r/etc/passwd" ||
        fail "no system user ssd-edge: $(cat "$r/etc/passwd")"
    grep -q '^video:x:[0-9]*:\(.*,\)\?ssd-edge\(,.*\)\?$' "$r/etc/group" ||
        fail "ssd-edge is not in group video: $(grep video "$r/etc/group")"
    [ "$(readlink "$r/etc/systemd/system/multi-user.target.wants/ssd-edge.service")" = \
        /usr/lib/systemd/system/ssd-edge.service ] || fail "ssd-edge.service not enabled"
    echo "package: installed in a scratch root: user ssd-edge (group video), service enabled"

    # What the service does at start, in the scratch root: as ssd-edge, the config's paths.
    local uid gid
    uid=$(awk -F: '$1 == "ssd-edge" { print $3 }' "$r/etc/passwd")
    gid=$(awk -F: '$1 == "ssd-edge" { print $4 }' "$r/etc/passwd")
    install -d -o "$uid" -g "$gid" -m 0755 "$r/var/lib/ssd-edge" # StateDirectory=
    service_env "$r"
    (cd "$r/var/lib/ssd-edge" && chroot --userspec="$uid:$gid" "$r" /usr/bin/ssd-edge run \
        --config /etc/ssd-edge/edge.toml --source synth --frames 10 >/dev/null 2>"$r/tmp/run.log") ||
        { cat "$r/tmp/run.log"; fail "the installed ssd-edge did not run with /etc/ssd-edge/edge.toml"; }
    [ -s "$r/var/lib/ssd-edge/counts.db" ] || fail "no /var/lib/ssd-edge/counts.db"
    # As an admin would, a user who may read /var/lib/ssd-edge but not write it (nobody), after
    # the service stopped; then as the service's own user (`sudo -u ssd-edge`). Same output.
    chroot --userspec=65534:65534 "$r" /usr/bin/ssd-edge report --db /var/lib/ssd-edge/counts.db \
        >"$r/tmp/report.nobody" 2>"$r/tmp/report.log" ||
        { cat "$r/tmp/report.log"; fail "ssd-edge report as another user (nobody)"; }
    chroot --userspec="$uid:$gid" "$r" /usr/bin/ssd-edge report --db /var/lib/ssd-edge/counts.db \
        >"$r/tmp/report" 2>"$r/tmp/report.log" ||
        { cat "$r/tmp/report.log"; fail "ssd-edge report on the installed database"; }
    cmp -s "$r/tmp/report" "$r/tmp/report.nobody" ||
        fail "ssd-edge report as nobody differs from the report as ssd-edge"
    echo "package: ssd-edge report (as nobody and as ssd-edge) on the database the installed service wrote:"
    sed 's/^/package:   /' "$r/tmp/report" | head -n 8
    echo "# edited by the admin" >>"$r/etc/ssd-edge/edge.toml"

    "${dpkg[@]}" -r ssd-edge >"$r/tmp/dpkg.log" 2>&1 || { cat "$r/tmp/dpkg.log"; fail "dpkg -r"; }
    [ ! -e "$r/usr/bin/ssd-edge" ] && [ ! -e "$r/usr/share/ssd-edge/default.onnx" ] ||
        fail "remove left the binary or the models"
    grep -q '^# edited by the admin$' "$r/etc/ssd-edge/edge.toml" || fail "remove lost the config"
    [ -s "$r/var/lib/ssd-edge/counts.db" ] || fail "remove lost the database"
    echo "package: removed: binary and models gone, config and database kept"

    "${dpkg[@]}" -P ssd-edge >"$r/tmp/dpkg.log" 2>&1 || { cat "$r/tmp/dpkg.log"; fail "dpkg -P"; }
    [ ! -e "$r/etc/ssd-edge" ] && [ ! -e "$r/etc/default/ssd-edge" ] || fail "purge left the config"
    [ ! -e "$r/var/lib/ssd-edge" ] || fail "purge left /var/lib/ssd-edge"
    [ ! -e "$r/etc/systemd/system/multi-user.target.wants/ssd-edge.service" ] ||
        fail "purge left the service enabled"
    ! grep -q '^Package: ssd-edge$' "$r/var/lib/dpkg/status" || fail "dpkg still knows ssd-edge"
    echo "package: purged: config, database and enablement gone"
}

# The shipped models are release artifacts: each should record a clean git revision and
# commands without the builder's paths (`ssd-edge info` lists what is wrong). Read with the
# first of the release binaries that runs here. Problems are printed as a warning and listed
# in PROVENANCE next to SHA256SUMS; RELEASE_STRICT_MODELS=1 (the tag workflow) refuses them.
check_release_models() {
    local outdir=$1 target bin="" m problems bad=0
    shift
    for target in "$@"; do
        local b="$CARGO_TARGET_DIR/$target/release/ssd-edge"
        if [ -x "$b" ] && "$b" --version >/dev/null 2>&1; then bin=$b; break; fi
    done
    [ -n "$bin" ] || fail "no release binary among '$*' runs on this machine to read the models"
    : >"$outdir/PROVENANCE"
    for m in $SHIPPED_MODELS; do
        problems=$("$bin" info --json "$m" | python3 -c \
            'import json, sys; print("\n".join(json.load(sys.stdin)["release_problems"]))') ||
            fail "cannot read the provenance of $m"
        if [ -z "$problems" ]; then
            echo "$(basename "$m"): clean revision, portable commands" >>"$outdir/PROVENANCE"
            continue
        fi
        printf '%s\n' "$problems" | sed "s|^|$(basename "$m"): not a release model: |" >>"$outdir/PROVENANCE"
        bad=1
    done
    if [ "$bad" = 0 ]; then
        echo "package: models: clean revisions, portable commands"
        return
    fi
    sed 's/^/package: WARNING: /' "$outdir/PROVENANCE" >&2
    [ "${RELEASE_STRICT_MODELS:-}" = 1 ] &&
        fail "rebuild the models with 'make model' from a clean checkout (docs/deploy.md, Reproducible builds)"
    echo "package: WARNING: releasing them anyway (RELEASE_STRICT_MODELS=1 refuses)" >&2
}

release() {
    local outdir=$1
    shift
    local version epoch target
    mkdir -p "$outdir"
    check_release_models "$outdir" "$@"
    version=$(cargo_version)
    epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
    for target in "$@"; do
        local bin="$CARGO_TARGET_DIR/$target/release/ssd-edge"
        [ -x "$bin" ] || fail "$bin missing: run 'cross/cross.sh build $target' first"
        local name="ssd-edge-$version-$target" work
        work=$(scratch)
        install -D -m 0755 "$bin" "$work/$name/ssd-edge"
        install -D -m 0644 -t "$work/$name/models" $SHIPPED_MODELS models/README.md \
            models/NOTICE models/LICENSE-Apache-2.0.txt
        install -D -m 0644 -t "$work/$name/deploy" deploy/edge.toml deploy/ssd-edge.service \
            deploy/ssd-edge.default deploy/99-ssd-edge-camera.rules
        # Where deploy/ssd-edge.service's install notes name it.
        install -D -m 0644 -t "$work/$name/package" package/ssd-edge.sysusers
        install -m 0644 README.md docs/deploy.md "$work/$name/"
        tar -C "$work" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
            -cf - "$name" | gzip -9n >"$outdir/$name.tar.gz"
        echo "package: $outdir/$name.tar.gz: $(stat -c %s "$outdir/$name.tar.gz") bytes"
    done
    (cd "$outdir" && sha256sum -- *.tar.gz *.deb PROVENANCE >SHA256SUMS && cat SHA256SUMS)
}

[ $# -ge 2 ] || usage
cmd=$1
shift
case "$cmd" in
    build) [ $# -eq 2 ] || usage; build "$1" "$2" ;;
    check) for d in "$@"; do check "$d"; done ;;
    run) for d in "$@"; do run_pkg "$d"; done ;;
    install) for d in "$@"; do install_pkg "$d"; done ;;
    release) release "$@" ;;
    test)
        for d in "$@"; do
            check "$d"
            run_pkg "$d"
            if [ "$(dpkg-deb -f "$d" Architecture)" = "$(dpkg --print-architecture)" ]; then
                if [ "$(id -u)" = 0 ]; then install_pkg "$d"; else sudo "$0" install "$d"; fi
            fi
        done
        ;;
    *) usage ;;
esac
