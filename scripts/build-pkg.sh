#!/usr/bin/env bash
# Builds the wasm package into pkg/ (ES module for the browser, minified, with TypeScript types),
# then stamps the app's version and offline file list (www/app-version.js).
# Expects scripts/bootstrap.sh to have been sourced.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Panic messages name the dependency's source file: without the build machine's registry
# path in front (its home directory has no business in the package, and it costs bytes).
remap=""
for registry in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  remap+=" --remap-path-prefix=${registry}="
done
RUSTFLAGS="${RUSTFLAGS:-}${remap}" \
  wasm-pack build --profile shipped --target web --mode no-install --out-dir pkg
# npm binaryen 132 (Debian's wasm-opt 108 emits a module Chromium rejects). -O1 to a fixed
# point is the level whose output gzips smallest: -Os and -Oz shrink the raw bytes more
# but gzip worse. Of -O2's passes only dead-argument elimination gzips smaller (3 KB: the
# generic code passes arguments its instances never read); redundant-set elimination,
# local merging, code folding and global simplification take 1.4 KB more (each tried
# alone and together; inlining, local CSE and function merging gzip larger). The features
# are the ones rustc enables for wasm32 by default.
node_modules/.bin/wasm-opt -O1 --dae-optimizing --rse --merge-locals --code-folding --simplify-globals-optimizing --converge \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/phantom_sync_bg.wasm -o pkg/phantom_sync_bg.wasm
# The JS glue minified, as a browser downloads it (its export names and the wasm's import
# names are properties, which terser keeps).
node_modules/.bin/terser pkg/phantom_sync.js --module --compress --mangle --output pkg/phantom_sync.js
node scripts/stamp-app.mjs
