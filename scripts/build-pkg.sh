#!/usr/bin/env bash
# Builds the wasm package into pkg/ (ES module for the browser, minified, with TypeScript types),
# then stamps the app's version and offline file list (www/app-version.js).
# Expects scripts/bootstrap.sh to have been sourced.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
wasm-pack build --profile shipped --target web --mode no-install --out-dir pkg
# The JS glue minified, as a browser downloads it (its export names and the wasm's import
# names are properties, which terser keeps).
node_modules/.bin/terser pkg/phantom_sync.js --module --compress --mangle --output pkg/phantom_sync.js
node scripts/stamp-app.mjs
