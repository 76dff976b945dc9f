#!/usr/bin/env bash
# Lighthouse performance of every page (issue 11): Lighthouse 12.2.3's default mobile settings
# (simulated throttling: slow 4G, 4x CPU slowdown, a Moto G Power screen) in Debian's Chromium,
# over pitwall --demo on a temporary SQLite (tests/lighthouse/lighthouse.mjs does the set-up:
# logins per role, a booked session for /waiting). Records the score and FCP / LCP / TBT / CLS
# / Speed Index of each page, and the elements that shift (tests/lighthouse/shifts.mjs), in BENCHMARKS.md (the section
# between the lighthouse markers, replaced) and the raw results in bench/results/.
# Goal: performance >= 95 on every page. Run it on a quiet machine: 2 busy cores move TBT.
#   bench/lighthouse.sh              (PITWALL_BIN=build/pitwall, CHROME_PATH=/usr/bin/chromium)
#   LH_REPEAT=3 bench/lighthouse.sh  (3 runs; the median score per page is recorded)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PITWALL_BIN=${PITWALL_BIN:-$ROOT/build/pitwall}
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
REPEAT=${LH_REPEAT:-1}
[[ -x $PITWALL_BIN ]] || { echo "lighthouse.sh: $PITWALL_BIN is missing (make build)" >&2; exit 1; }
[[ -d node_modules/lighthouse ]] || npm ci --no-audit --no-fund
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/lighthouse-$stamp
mkdir -p "$out"
cut -d' ' -f1-3 /proc/loadavg > "$out/loadavg" # recorded with the figures: TBT moves with it
for i in $(seq 1 "$REPEAT"); do
  node tests/lighthouse/lighthouse.mjs --performance --json "$out/run$i.json" | tee "$out/run$i.txt"
done
# the elements that shift (Lighthouse's own layout-shifts audit fails with this Chromium)
node tests/lighthouse/shifts.mjs --json "$out/shifts.json" | tee "$out/shifts.txt"
COMMAND="${LH_COMMAND:-$([[ $REPEAT -gt 1 ]] && echo "LH_REPEAT=$REPEAT ")bench/lighthouse.sh}" node bench/lighthouse-report.mjs "$out" BENCHMARKS.md
echo "lighthouse.sh: $out, BENCHMARKS.md updated"
