#!/usr/bin/env bash
# Benchmarks against the real local services; writes bench/results/ and BENCHMARKS.md. Not part of npm test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
bash scripts/infra.sh up
npx tsc -p tsconfig.bench.json
VH_DIST_DIR=dist-bench node -r ./scripts/register-paths.js dist-bench/bench/run.js "$@"
