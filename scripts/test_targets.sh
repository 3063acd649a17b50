#!/usr/bin/env bash
# The integration-test targets of one workspace package, from `cargo metadata` (so a new
# tests/*.rs file is picked up, and nothing else is).
#
#   scripts/test_targets.sh PACKAGE            prints `--test NAME` for each of them
#   scripts/test_targets.sh PACKAGE CMD...     runs CMD with those arguments appended, e.g.
#                                              scripts/test_targets.sh ssd-edge cargo test --workspace
#
# `make test` runs each package's integration tests as a phase of its own, yet in the one
# `cargo test --workspace` graph that builds everything once (README "Test time"). The second
# form fails when the list cannot be made, rather than running CMD with no `--test` (which
# would run every test of the workspace in the wrong phase).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/test_targets.sh PACKAGE [CMD...]" >&2; exit 2; }
pkg=$1
shift
args=$(cargo metadata --no-deps --format-version 1 --offline | python3 -c '
import json, sys
pkg = sys.argv[1]
meta = json.load(sys.stdin)
found = [p for p in meta["packages"] if p["name"] == pkg]
if not found:
    sys.exit(f"test_targets: no package {pkg} in the workspace")
names = sorted(t["name"] for t in found[0]["targets"] if "test" in t["kind"])
if not names:
    sys.exit(f"test_targets: package {pkg} has no integration tests")
# `--test NAME` picks NAME in every selected package: a name two packages share would run
# the tests of both packages in one phase (and twice in all).
others = {t["name"] for p in meta["packages"] if p["name"] != pkg
          for t in p["targets"] if "test" in t["kind"]}
shared = sorted(set(names) & others)
if shared:
    sys.exit(f"test_targets: test names in more than one package: {shared}; rename one")
print(" ".join(f"--test {n}" for n in names))
' "$pkg")
if [ $# -eq 0 ]; then
    echo "$args"
else
    # shellcheck disable=SC2086
    exec "$@" $args
fi
