#!/usr/bin/env bash
# The chaos checker (test/chaos): private Kafka, Cassandra and Redis, a stack of the apps, a seeded
# workload and nemesis, then a check against the reference model. Not the shared services: it kills them.
#   npm run chaos -- --seed 42 --duration 5m
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.chaos.json
VH_DIST_DIR=dist-chaos node -r ./scripts/register-paths.js dist-chaos/test/chaos/main.js "$@"
