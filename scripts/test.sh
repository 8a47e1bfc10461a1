#!/usr/bin/env bash
# Every test: type check, unit tests (no I/O), and end-to-end tests against the real Kafka, Cassandra
# and Redis, which it brings up first. Extra arguments go to Jest (e.g. a file pattern).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
echo "[test] type check" >&2
npx tsc -p tsconfig.json --noEmit
bash scripts/lint.sh
bash scripts/infra.sh up
echo "[test] build (end-to-end tests run the apps from dist/)" >&2
npx tsc -p tsconfig.build.json
# In band: the end-to-end suites start real processes and share a 2-core machine. --forceExit: a
# client leaked by test code must not hang CI for 90 minutes (it did once: a
# shared ioredis connection BullMQ does not close). The apps run as their own processes; that they
# close cleanly on SIGTERM is asserted in test/observability.e2e-spec.ts.
npx jest --runInBand --forceExit "$@"
