#!/usr/bin/env bash
# Runs every benchmark in one go and reports them side by side: in headless Chromium (built
# with the package's `shipped` profile) the vault, AEAD on 64 KiB blocks against WebCrypto,
# QR decoding against jsQR and the history catch-up over a local network; natively AEAD,
# the DHT network, messaging across linked devices and pairing; and the wasm package's
# size. Every BENCH line goes to
# test-results/bench.log; scripts/bench-report.mjs turns them into test-results/bench.json,
# test-results/bench.md and docs/PERFORMANCE.md, and prints the table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
mkdir -p test-results
log=test-results/bench.log
: > "$log"
record() { grep '^BENCH' | tee -a "$log"; }

for bench in bench_vault bench_aead; do
  WASM_BINDGEN_TEST_TIMEOUT=900 wasm-pack test --headless --chrome --mode no-install \
    -- --profile shipped --test "$bench" -- --include-ignored --nocapture 2>&1 | record
done
cargo test --quiet --release --locked --test bench_aead -- --ignored --nocapture 2>&1 | record
scripts/build-pkg.sh >&2
node scripts/package-size.mjs | record
node scripts/bench-qr.mjs 5 | record
# History catch-up links two browser devices through a local network.
trap 'scripts/local-network.sh stop' EXIT
scripts/local-network.sh start 5
# Each size in a page of its own: wasm memory only grows, so a page's peak is one size's.
for size in 10k 100k; do
  PHANTOM_TEST_NODES="$(paste -sd, "$PHANTOM_CACHE/network/addresses")" \
  PHANTOM_TEST_WEBRTC_NODES="$(paste -sd, "$PHANTOM_CACHE/network/webrtc-addresses")" \
  WASM_BINDGEN_TEST_TIMEOUT=1800 wasm-pack test --headless --chrome --mode no-install \
    -- --profile shipped --test bench_history -- --include-ignored --nocapture "catch_up_of_${size}_" 2>&1 | record
done
scripts/local-network.sh stop
for bench in network messaging pairing simulation; do
  cargo bench --quiet -p phantom-node --bench "$bench" 2>&1 | record
done
# Fifty node processes, a third replaced while two devices exchange 1,000 messages.
cargo test --quiet --release --locked -p phantom-node --test churn -- --ignored --nocapture 2>&1 | record
# Twenty attacking clients against five nodes while two devices exchange 1,000 messages.
cargo test --quiet --release --locked -p phantom-node --test abuse -- --ignored --nocapture 2>&1 | record
echo >&2
node scripts/bench-report.mjs "$log"
