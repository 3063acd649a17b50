#!/usr/bin/env bash
# The phase table of `make test` (README "Test time").
#
#   scripts/phase_table.sh --reset [FILE]   start a new record (FILE emptied, start time noted)
#   scripts/phase_table.sh [FILE]           print the record as a table
#
# FILE defaults to $PHASE_LOG, else $CARGO_TARGET_DIR/make-test-phases.tsv; scripts/phase.sh
# appends one line per phase. The table: each phase in the order it ran with its wall and CPU
# seconds, the cores it kept busy (CPU / wall), its share of the total and its status; then the
# sum of the phases and the elapsed time since --reset (they differ by make's own time, or
# where phases overlapped). Exits 0 whatever the phases' status: `make test` exits with its
# own.
set -euo pipefail

reset=0
if [ "${1:-}" = "--reset" ]; then
    reset=1
    shift
fi
log=${1:-${PHASE_LOG:-${CARGO_TARGET_DIR:-target}/make-test-phases.tsv}}

if [ "$reset" = 1 ]; then
    mkdir -p "$(dirname "$log")"
    printf '#start\t%s\n' "$(date +%s.%N)" >"$log"
    exit 0
fi
[ -f "$log" ] || { echo "phase table: no record at $log" >&2; exit 0; }

awk -F '\t' -v now="$(date +%s.%N)" '
    function mmss(s) { return sprintf("%d:%02d", int(s / 60), int(s % 60)) }
    $1 == "#start" { start = $2; next }
    NF >= 4 { n++; name[n] = $1; wall[n] = $2; cpu[n] = $3; st[n] = $4; total += $2; tcpu += $3
              if ($4 != "ok") failed = failed (failed ? ", " : "") $1 }
    END {
        w = 34
        print ""
        printf "make test: phases (wall clock; CPU = user + system of all processes)\n"
        printf "%-" w "s %9s %7s %9s %6s %6s  %s\n", "phase", "seconds", "m:ss", "CPU s", "cores", "share", "status"
        line = sprintf("%" w + 50 "s", ""); gsub(/ /, "-", line); print line
        for (i = 1; i <= n; i++)
            printf "%-" w "s %9.1f %7s %9.1f %6.2f %5.1f%%  %s\n", name[i], wall[i], mmss(wall[i]),
                cpu[i], (wall[i] > 0 ? cpu[i] / wall[i] : 0), (total > 0 ? 100 * wall[i] / total : 0), st[i]
        print line
        printf "%-" w "s %9.1f %7s %9.1f %6.2f\n", "sum of phases", total, mmss(total), tcpu, (total > 0 ? tcpu / total : 0)
        if (start != "")
            printf "%-" w "s %9.1f %7s\n", "elapsed since the start", now - start, mmss(now - start)
        if (failed != "") printf "FAILED: %s\n", failed
        else printf "all %d phases ok\n", n
    }' "$log"
