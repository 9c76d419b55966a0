#!/usr/bin/env bash
# Installs every tool the build, the demo and the tests need; skips what is already there.
# Source it (`. scripts/bootstrap.sh`) so that PATH, CHROMEDRIVER and CARGO_TARGET_DIR carry over.
# Tools live in a cache folder outside the clone, keyed by version, because CI clones afresh
# each run and a shared ~/.cargo/bin copy of wasm-bindgen gets replaced by other projects.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PHANTOM_CACHE="${PHANTOM_CACHE:-$HOME/.cache/phantom-sync}"
mkdir -p "$PHANTOM_CACHE"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  log "installing Debian chromium and chromium-driver"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
fi

wasm_pack_version=0.15.1
wasm_pack_root="$PHANTOM_CACHE/wasm-pack-$wasm_pack_version"
if [ ! -x "$wasm_pack_root/bin/wasm-pack" ]; then
  log "installing wasm-pack $wasm_pack_version"
  cargo install --quiet --locked --root "$wasm_pack_root" wasm-pack --version "$wasm_pack_version"
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$repo_root/Cargo.lock")"
bindgen_root="$PHANTOM_CACHE/wasm-bindgen-$bindgen_version"
if [ ! -x "$bindgen_root/bin/wasm-bindgen-test-runner" ]; then
  log "installing wasm-bindgen-cli $bindgen_version"
  cargo install --quiet --locked --root "$bindgen_root" wasm-bindgen-cli --version "$bindgen_version" \
    || cargo install --quiet --root "$bindgen_root" wasm-bindgen-cli --version "$bindgen_version"
fi

if [ ! -d "$repo_root/node_modules/playwright-core" ] || [ ! -d "$repo_root/node_modules/jsqr" ] \
  || [ ! -d "$repo_root/node_modules/terser" ] || [ ! -d "$repo_root/node_modules/binaryen" ] \
  || [ ! -d "$repo_root/node_modules/typescript" ] || [ ! -d "$repo_root/node_modules/zxing-wasm" ]; then
  log "installing the npm packages (playwright-core drives Debian's chromium; zxing-wasm and jsQR are the QR benchmark's yardsticks; terser minifies the package's JS glue; binaryen's wasm-opt shrinks the wasm; typescript checks the package's declarations)"
  (cd "$repo_root" && npm ci --no-audit --no-fund --silent)
fi

export PATH="$bindgen_root/bin:$wasm_pack_root/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PHANTOM_CACHE/target}"
# Scripted builds gain nothing from incremental files, which grow the cached target by gigabytes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
