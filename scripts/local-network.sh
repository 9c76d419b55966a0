#!/usr/bin/env bash
# Starts (or stops) a local DHT network: phantom-node processes on 127.0.0.1 with
# deterministic identities (seeds 1..N) and fixed ports, each listening on TCP (nodes),
# WebSocket and WebRTC-direct (browsers). The browser addresses go to
# $PHANTOM_NETWORK/addresses (WebSocket) and $PHANTOM_NETWORK/webrtc-addresses, one a line.
#   scripts/local-network.sh start [N]     (default 5)
#   scripts/local-network.sh stop
# Expects scripts/bootstrap.sh to have been sourced (CARGO_TARGET_DIR, PHANTOM_CACHE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
network="${PHANTOM_NETWORK:-$PHANTOM_CACHE/network}"
base_port="${PHANTOM_BASE_PORT:-47100}"

stop() {
  if [ -f "$network/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$network/pids"
    rm -f "$network/pids"
  fi
}

start() {
  local count="${1:-5}"
  stop
  cargo build --quiet -p phantom-node
  local binary="${CARGO_TARGET_DIR:-target}/debug/phantom-node"
  rm -rf "$network" && mkdir -p "$network"
  : > "$network/addresses"
  : > "$network/webrtc-addresses"
  local bootstrap=()
  for seed in $(seq 1 "$count"); do
    local tcp=$((base_port + 3 * seed)) ws=$((base_port + 3 * seed + 1)) udp=$((base_port + 3 * seed + 2))
    "$binary" --seed "$seed" --data "$network/node$seed" \
      --listen "/ip4/127.0.0.1/tcp/$tcp" --listen "/ip4/127.0.0.1/tcp/$ws/ws" \
      --listen "/ip4/127.0.0.1/udp/$udp/webrtc-direct" \
      "${bootstrap[@]}" > "$network/node$seed.log" 2>&1 &
    echo $! >> "$network/pids"
    for _ in $(seq 1 100); do
      grep -q "^LISTEN .*/ws/" "$network/node$seed.log" \
        && grep -q "^LISTEN .*/webrtc-direct/" "$network/node$seed.log" && break
      sleep 0.1
    done
    local tcp_address ws_address webrtc_address
    tcp_address=$(grep -m1 "^LISTEN /ip4/127.0.0.1/tcp/$tcp/p2p/" "$network/node$seed.log" | cut -d' ' -f2)
    ws_address=$(grep -m1 "^LISTEN .*/ws/" "$network/node$seed.log" | cut -d' ' -f2)
    webrtc_address=$(grep -m1 "^LISTEN .*/webrtc-direct/" "$network/node$seed.log" | cut -d' ' -f2)
    [ -n "$tcp_address" ] && [ -n "$ws_address" ] && [ -n "$webrtc_address" ] || { echo "node $seed did not start" >&2; cat "$network/node$seed.log" >&2; exit 1; }
    bootstrap+=(--bootstrap "$tcp_address")
    echo "$ws_address" >> "$network/addresses"
    echo "$webrtc_address" >> "$network/webrtc-addresses"
  done
  echo "local network: $count nodes; addresses in $network/addresses" >&2
}

case "${1:-}" in
  start) start "${2:-5}" ;;
  stop) stop ;;
  *) echo "usage: $0 start [N] | stop" >&2; exit 2 ;;
esac
