#!/usr/bin/env bash
# Builds the wasm package into pkg/ (ES module for the browser, with TypeScript types),
# then stamps the app's version and offline file list (www/app-version.js).
# Expects scripts/bootstrap.sh to have been sourced.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
wasm-pack build --profile shipped --target web --mode no-install --out-dir pkg
node scripts/stamp-app.mjs
