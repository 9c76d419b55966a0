#!/usr/bin/env bash
# Builds everything and serves the demo: http://127.0.0.1:${PORT:-8080}/www/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
scripts/build-pkg.sh
exec node scripts/serve.mjs
