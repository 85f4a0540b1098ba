#!/usr/bin/env bash
# Runs every test: installs what the tests need, builds, runs xunit over the whole solution.
set -euo pipefail
cd "$(dirname "$0")"
tools/setup.sh
log=$(mktemp)
set +e
dotnet test ReasoningServe.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One plain summary line for CI readers: "N passed, N failed, N skipped".
awk '/^ *Passed: *[0-9]+ *$/ { p += $2 } /^ *Failed: *[0-9]+ *$/ { f += $2 } /^ *Skipped: *[0-9]+ *$/ { s += $2 }
     END { if (p + f > 0) printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$rc"
