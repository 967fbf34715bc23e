#!/usr/bin/env bash
# Runs one fuzz target for FUZZTIME (one worker, so that a loaded machine does
# not starve it) and prints its whole output when it fails.
#
# Go's fuzzing coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime runs out while a starved worker is still busy: it
# compares the parent context's error with its child's before the child is
# cancelled. Such a failure writes no failing input. It is retried (at most
# twice, the output shown each time); a failure that wrote a failing input, or
# any other failure, fails at once.
set -uo pipefail
pkg=$1 target=$2 fuzztime=$3 timeout=$4
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for attempt in 1 2 3; do
  echo "fuzz $pkg $target ($fuzztime)"
  if "${GO:-go}" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s \
      -parallel 1 -timeout "$timeout" "$pkg" >"$log" 2>&1; then
    exit 0
  fi
  cat "$log"
  if grep -q 'Failing input written to' "$log" || ! grep -qx '    context deadline exceeded' "$log"; then
    echo "FAIL: fuzz $pkg $target"
    exit 1
  fi
  echo "fuzz $pkg $target: Go's fuzzing coordinator stopped on its own deadline with no failing input (attempt $attempt of 3)"
done
echo "FAIL: fuzz $pkg $target: the coordinator's deadline race three times in a row"
exit 1
