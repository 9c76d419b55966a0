#!/usr/bin/env bash
# Runs the benchmarks and prints their results (lines starting with BENCH):
# the vault, AEAD on 64 KiB blocks (wasm against WebCrypto AES-GCM, then natively), QR
# decoding (rqrr in wasm against jsQR on the same camera frames) and the history catch-up
# in headless Chromium (release build), then natively the DHT network, messaging across
# linked devices, and pairing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
for bench in bench_vault bench_aead; do
  WASM_BINDGEN_TEST_TIMEOUT=900 wasm-pack test --release --headless --chrome --mode no-install \
    -- --test "$bench" -- --include-ignored --nocapture 2>&1 | grep '^BENCH'
done
cargo test --quiet --release --locked --test bench_aead -- --ignored --nocapture 2>&1 | grep '^BENCH'
scripts/build-pkg.sh >&2
node scripts/bench-qr.mjs 5
# History catch-up links two browser devices through a local network.
trap 'scripts/local-network.sh stop' EXIT
scripts/local-network.sh start 5
# Each size in a page of its own: wasm memory only grows, so a page's peak is one size's.
for size in 10k 100k; do
  PHANTOM_TEST_NODES="$(paste -sd, "$PHANTOM_CACHE/network/addresses")" \
  PHANTOM_TEST_WEBRTC_NODES="$(paste -sd, "$PHANTOM_CACHE/network/webrtc-addresses")" \
  WASM_BINDGEN_TEST_TIMEOUT=1800 wasm-pack test --release --headless --chrome --mode no-install \
    -- --test bench_history -- --include-ignored --nocapture "catch_up_of_${size}_" 2>&1 | grep '^BENCH'
done
cargo bench --quiet -p phantom-node --bench network 2>&1 | grep '^BENCH'
cargo bench --quiet -p phantom-node --bench messaging 2>&1 | grep '^BENCH'
cargo bench --quiet -p phantom-node --bench pairing 2>&1 | grep '^BENCH'
