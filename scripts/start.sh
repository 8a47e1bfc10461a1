#!/usr/bin/env bash
# Brings up the infrastructure, migrates, and runs every app in the foreground; Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
bash scripts/infra.sh up
echo "[start] build" >&2
npx tsc -p tsconfig.build.json
node -r ./scripts/register-paths.js dist/apps/cli/src/main.js migrate >/dev/null
echo "[start] schema and topics migrated" >&2

APPS=(collector ingest api compactor)
pids=()
stop() { trap - INT TERM EXIT; kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap 'stop; exit 130' INT TERM
trap stop EXIT
for app in "${APPS[@]}"; do
  node -r ./scripts/register-paths.js "dist/apps/$app/src/main.js" &
  pids+=($!)
done
echo "[start] collector :${COLLECTOR_PORT:-3001}  api :${API_PORT:-3002}  ingest :${INGEST_PORT:-3003}  compactor :${COMPACTOR_PORT:-3004} (Ctrl-C stops)" >&2
# If any app exits, stop the others and report its status.
set +e
wait -n "${pids[@]}"
status=$?
echo "[start] an app exited with status $status; stopping the others" >&2
exit "$status"
