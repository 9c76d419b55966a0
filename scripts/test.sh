#!/usr/bin/env bash
# Runs every test: format and lints on both targets, the core tests natively and in
# headless Chromium, then the app end to end in Chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all --check
step "clippy (native)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (wasm32)"
cargo clippy -p phantom-sync -p phantom-core -p phantom-mailbox -p phantom-network --all-targets --locked --target wasm32-unknown-unknown -- -D warnings
step "layers, and the patched crates"
scripts/check-layers.sh
scripts/vendor.sh check
step "tests (native, with a local network of phantom-node processes)"
cargo test --workspace --locked
step "tests (headless Chromium, with a local network for the browser client)"
trap 'scripts/local-network.sh stop' EXIT
scripts/local-network.sh start 5
# Each test binary runs in one page; the link tests wait on real nodes for a minute or so.
PHANTOM_TEST_NODES="$(paste -sd, "$PHANTOM_CACHE/network/addresses")" \
PHANTOM_TEST_WEBRTC_NODES="$(paste -sd, "$PHANTOM_CACHE/network/webrtc-addresses")" \
WASM_BINDGEN_TEST_TIMEOUT=300 \
  wasm-pack test --headless --chrome --mode no-install
step "the package size, then end to end in Playwright: the app (three devices over the local network) and a device reading through faulty nodes"
scripts/build-pkg.sh
# The brief's goal (§6): the package, all features, at most 600 KB gzip.
node scripts/package-size.mjs --budget 600000
# The generated TypeScript declarations, as an embedder's TypeScript compiler reads them.
node_modules/.bin/tsc -p tests/types
PHANTOM_NETWORK="$PHANTOM_CACHE/network" node --test tests/e2e/
