#!/usr/bin/env bash
# Fuzzes every decoder that takes outside bytes (fuzz/fuzz_targets/, cargo-fuzz and
# libFuzzer), each target for a fixed time, one after another, and prints a Markdown
# table: executions, rate, corpus size, crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET (default 600)] [TARGET ...]
#
# A crash leaves its input in fuzz/artifacts/TARGET/ and the run's log in
# fuzz/results/TARGET.log; the fix keeps the input as a regression test beside the
# decoder's other tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PHANTOM_CACHE="${PHANTOM_CACHE:-$HOME/.cache/phantom-sync}"

fuzz_version=0.13.1
fuzz_root="$PHANTOM_CACHE/cargo-fuzz-$fuzz_version"
if [ ! -x "$fuzz_root/bin/cargo-fuzz" ]; then
  echo "[fuzz] installing cargo-fuzz $fuzz_version" >&2
  cargo install --quiet --locked --root "$fuzz_root" cargo-fuzz --version "$fuzz_version"
fi
export PATH="$fuzz_root/bin:$PATH"

# libFuzzer's instrumentation takes compiler flags only nightly accepts; without a
# nightly toolchain, the stable compiler is allowed to take them.
if rustup toolchain list | grep -q '^nightly'; then
  fuzz() { cargo +nightly fuzz "$@"; }
else
  export RUSTC_BOOTSTRAP=1
  fuzz() { cargo fuzz "$@"; }
fi

seconds="${1:-600}"
shift || true
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(fuzz list); fi

results="${FUZZ_RESULTS:-fuzz/results}"
mkdir -p "$results"
fuzz build -O >&2
node fuzz/seeds.mjs >&2
table="$results/latest.md"
{
  echo "Fuzzed on $(date -u +%F) for ${seconds} s per target; $(nproc) cores, $(uname -m)."
  echo
  echo "| target | seconds | executions | executions/s | corpus | crashes |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} > "$table"
failed=0
for target in "${targets[@]}"; do
  echo "[fuzz] $target for ${seconds} s" >&2
  mkdir -p "fuzz/corpus/$target"
  log="$results/$target.log"
  crashes=0
  if ! fuzz run -O "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 > "$log" 2>&1; then
    crashes=1
    failed=1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  corpus="$(find "fuzz/corpus/$target" -type f | wc -l)"
  echo "| \`$target\` | $seconds | ${runs:-?} | $(( ${runs:-0} / seconds )) | $corpus | $crashes |" >> "$table"
done
cat "$table"
exit "$failed"
