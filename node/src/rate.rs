//! Per-peer rate limiting: a token bucket per peer, refilled continuously.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

/// Buckets hold up to ten seconds' worth of requests.
const BURST_SECONDS: f64 = 10.0;
/// Peers tracked at once; the oldest-refilled are forgotten first.
const MAX_TRACKED_PEERS: usize = 10_000;

pub struct RateLimiter {
    per_sec: f64,
    buckets: HashMap<PeerId, (f64, Instant)>,
}

impl RateLimiter {
    pub fn new(requests_per_sec: u32) -> Self {
        Self {
            per_sec: f64::from(requests_per_sec.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for `peer`; false when its bucket is empty.
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        let capacity = self.per_sec * BURST_SECONDS;
        if self.buckets.len() >= MAX_TRACKED_PEERS && !self.buckets.contains_key(&peer) {
            if let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(p, _)| *p)
            {
                self.buckets.remove(&oldest);
            }
        }
        let (tokens, last) = self.buckets.entry(peer).or_insert((capacity, now));
        let refilled =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(capacity);
        *last = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }
}
