#!/usr/bin/env bash
# Installs the locked npm dependencies when node_modules is missing or older than package-lock.json,
# so `npm start` and `npm test` work straight after a clone.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies (npm ci) ..."
  npm ci --no-audit --no-fund
fi
