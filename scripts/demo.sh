#!/usr/bin/env bash
# Builds everything, starts a local DHT network of five nodes and serves the app:
# http://127.0.0.1:${PORT:-8080}/www/ (one device per ?profile=), and three devices side by
# side at /www/demo.html (Ctrl-C stops it all).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
scripts/build-pkg.sh
trap 'scripts/local-network.sh stop' EXIT
scripts/local-network.sh start 5
export PHANTOM_NETWORK="$PHANTOM_CACHE/network"
node scripts/serve.mjs
