#!/usr/bin/env bash
# One timed phase of `make test` (README "Test time").
#
#   scripts/phase.sh NAME -- CMD [ARG...]
#
# Runs CMD with its output going where ours goes, then appends a line
#   NAME <TAB> wall seconds <TAB> CPU seconds <TAB> status
# to $PHASE_LOG (default $CARGO_TARGET_DIR/make-test-phases.tsv) and exits with CMD's status.
# Status is `ok` or `FAIL(rc)`. CPU seconds are user + system time of CMD and everything it
# waited for (rustc, test binaries, qemu): CPU/wall near 2 means both cores were busy, near 0
# means the phase mostly waited (on processes, sockets, sleeps) and could overlap with another.
# scripts/phase_table.sh prints the file as a table.
set -uo pipefail

usage() { echo "usage: scripts/phase.sh NAME -- CMD [ARG...]" >&2; exit 2; }
[ $# -ge 3 ] && [ "$2" = "--" ] || usage
name=$1
shift 2
case "$name" in *[[:space:]]*) echo "phase: NAME must not contain whitespace: '$name'" >&2; exit 2 ;; esac
log=${PHASE_LOG:-${CARGO_TARGET_DIR:-target}/make-test-phases.tsv}
mkdir -p "$(dirname "$log")"

# Children's user and system time so far, in seconds: bash's `times` (its second line) must
# run in this shell itself (in a command substitution it would report the subshell's children).
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
cpu_seconds() {
    awk 'NR == 2 {
        s = 0
        for (i = 1; i <= 2; i++) {
            split($i, p, "m"); sub(/s$/, "", p[2]); s += p[1] * 60 + p[2]
        }
        printf "%.1f", s
    }' "$times_file"
}

echo "==> phase $name: $*"
times >"$times_file"
cpu0=$(cpu_seconds)
t0=$(date +%s.%N)
"$@"
rc=$?
t1=$(date +%s.%N)
times >"$times_file"
cpu1=$(cpu_seconds)
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }')
if [ "$rc" -eq 0 ]; then status=ok; else status="FAIL($rc)"; fi
printf '%s\t%s\t%s\t%s\n' "$name" "$wall" "$cpu" "$status" >>"$log"
echo "==> phase $name: $status, ${wall} s wall, ${cpu} s CPU"
exit "$rc"
