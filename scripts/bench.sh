#!/usr/bin/env bash
# Runs the benchmarks (headless Chromium, release build) and prints their results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
WASM_BINDGEN_TEST_TIMEOUT=900 wasm-pack test --release --headless --chrome --mode no-install -- --test bench_vault -- --include-ignored --nocapture 2>&1 \
  | tee /dev/stderr | grep '^BENCH' || true
