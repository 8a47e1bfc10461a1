#!/usr/bin/env bash
# The habits CI enforces (issue 18): layout (Prettier), code (ESLint, type-aware), and the architecture's
# layers and cycles (dependency-cruiser, .dependency-cruiser.js). Any violation fails `npm test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "[lint] prettier" >&2
npx prettier --check --log-level warn .
echo "[lint] eslint" >&2
npx eslint --max-warnings 0 .
echo "[lint] dependency-cruiser" >&2
npx depcruise apps libs test bench --config .dependency-cruiser.js --output-type err
