#!/usr/bin/env bash
# Installs npm dependencies when they are missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -L node_modules ]; then
  # A linked node_modules is another checkout's (a git worktree): `npm ci` here would empty it under everyone
  # using it (it did, twice, in session 6). Its owner keeps it up to date.
  echo "[deps] node_modules links to $(readlink node_modules): not installing here" >&2
  exit 0
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] installing npm dependencies" >&2
  # A registry mirror that lacks other platforms' optional builds makes `npm ci` reject any lock file
  # written against it ("Missing: ... from lock file"). `npm install --no-save` still installs the
  # locked versions, without rewriting the lock file.
  if ! npm ci --no-audit --no-fund --loglevel=error 2>/tmp/npm-ci.$$.log; then
    if grep -q "Missing: .* from lock file" /tmp/npm-ci.$$.log; then
      echo "[deps] npm ci refused the lock file (optional platform packages missing from the mirror); using npm install --no-save" >&2
      npm install --no-save --no-audit --no-fund --loglevel=error
    else
      cat /tmp/npm-ci.$$.log >&2; rm -f /tmp/npm-ci.$$.log; exit 1
    fi
  fi
  rm -f /tmp/npm-ci.$$.log
fi
