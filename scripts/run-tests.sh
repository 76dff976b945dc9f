#!/usr/bin/env bash
# Runs every test against the pitwall built in $1: the C unit tests, then the
# integration tests (node's test runner) that start that binary on loopback.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."

status=0


echo "== unit tests ($build)"
meson test -C "$build" --print-errorlogs || status=1

echo "== integration tests ($build/pitwall)"
export PITWALL_BIN="$PWD/$build/pitwall"
# openapi.test.mjs validates answers with ajv (an npm devDependency)
[ -d node_modules/ajv ] && [ -d node_modules/ajv-formats ] || npm ci --no-audit --no-fund
node --test tests/integration/*.test.mjs || status=1

echo "== browser tests (Debian chromium + playwright-core)"
# the npm packages only: playwright-core never downloads a browser, it drives /usr/bin/chromium
# (and chart.js, which pitwall serves to the admin page from node_modules)
[ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] && [ -d node_modules/chart.js ] ||
  npm ci --no-audit --no-fund
node --test tests/e2e/*.test.mjs || status=1

exit $status
