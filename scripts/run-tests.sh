#!/usr/bin/env bash
# Runs every test against the pitwall built in $1: the C unit tests, then the
# integration tests (node's test runner) that start that binary on loopback.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."

status=0

# A private PostgreSQL (temporary directory, loopback port, no system service) for the
# storage tests that run against both backends and for postgres.test.mjs; stopped on any exit.
# PITWALL_TEST_PG_URL already set: that server is used instead.
if [ -z "${PITWALL_TEST_PG_URL:-}" ]; then
  if pg_dir=$(scripts/pg.sh start); then
    trap 'scripts/pg.sh stop "$pg_dir"' EXIT
    trap 'exit 130' INT TERM # so that the EXIT trap runs on Ctrl-C too
    PITWALL_TEST_PG_URL=$(scripts/pg.sh url "$pg_dir")
    export PITWALL_TEST_PG_URL
  else
    echo "run-tests: could not start PostgreSQL" >&2
    status=1
  fi
fi

# here the PostgreSQL half of the storage tests must run: unreachable is a failure, not SKIP
export PITWALL_TEST_PG_REQUIRED=1

echo "== layers (scripts/check-layers.sh)"
scripts/check-layers.sh || status=1

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

# Lighthouse (npm lighthouse 12.2.3, same Chromium): accessibility and best practices = 100 on
# every page, logged in where the page needs it. PITWALL_LIGHTHOUSE=0 skips it (a quick run).
if [ "${PITWALL_LIGHTHOUSE:-1}" = 1 ]; then
  echo "== lighthouse (accessibility, best practices)"
  [ -d node_modules/lighthouse ] || npm ci --no-audit --no-fund
  CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium} node --test tests/lighthouse/*.test.mjs || status=1
else
  echo "== lighthouse: skipped (PITWALL_LIGHTHOUSE=0)"
fi

exit $status
