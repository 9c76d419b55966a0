#!/usr/bin/env bash
# The layering, checked on the dependency graph (the compiler enforces the rest: a crate
# cannot name one it does not depend on). The sans-IO crates pull in nothing that does
# I/O, on either target; a DHT node links none of a device's cryptography.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

forbid() { # crate, target flag ("" for native), crates it must not depend on (a regex)
  local found
  found="$(cargo tree --locked -p "$1" -e normal --prefix none ${2:+--target "$2"} \
    | awk '{print $1}' | grep -xE "$3" | sort -u | tr '\n' ' ' || true)"
  if [ -n "$found" ]; then
    echo "layering broken: $1${2:+ ($2)} depends on $found" >&2
    exit 1
  fi
}

io='libp2p.*|web-sys|js-sys|wasm-bindgen-futures|tokio.*|web-time|futures.*|redb'
for target in "" wasm32-unknown-unknown; do
  forbid phantom-mailbox "$target" "$io|vodozemac|hpke|argon2|phantom-core"
  forbid phantom-core "$target" "$io|phantom-network|phantom-sync"
  forbid phantom-network "$target" "vodozemac|hpke|argon2|phantom-core|phantom-sync"
done
forbid phantom-node "" "vodozemac|hpke|argon2|phantom-core|phantom-sync|web-sys"
echo "layers: phantom-mailbox and phantom-core do no I/O; phantom-node links no device cryptography"
