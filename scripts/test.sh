#!/usr/bin/env bash
# The whole test suite, with its own set-up: system packages, PostgreSQL and Redis, node modules,
# a fresh build (the e2e tests run dist/main.js as a process). Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
bash scripts/ensure-services.sh
bash scripts/install-node-deps.sh --if-needed
npm run --silent build

results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
# --forceExit: a test that bounces Redis can leave a BullMQ client behind (see docs/testing.md,
# "Running it"); it must not keep the run alive after every test has finished.
npx jest --ci --forceExit --json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || true
exit $status
