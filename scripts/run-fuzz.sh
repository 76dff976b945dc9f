#!/usr/bin/env bash
# Runs each libFuzzer target in $1 for $2 seconds, starting from tests/fuzz/corpus/<name>.
# New inputs go to a scratch folder, so the committed corpus only changes by hand.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
cd "$(dirname "$0")/.."
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [[ -f $bin && -x $bin ]] || continue
  name=${bin##*/fuzz_}
  scratch=$(mktemp -d)
  echo "== fuzz $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        "$scratch" "tests/fuzz/corpus/$name" >"$scratch.log" 2>&1; then
    tail -40 "$scratch.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$scratch.log" | tail -2
  fi
  rm -rf "$scratch" "$scratch.log"
done
exit $status
