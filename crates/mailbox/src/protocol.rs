//! The mailbox protocol between a device and a DHT node, over libp2p request-response
//! (protocol name [`PROTOCOL_NAME`]). Each request and response is one frame; the codec is
//! sans-IO so nodes, the browser client and tests share it.
//!
//! - `Put { mailbox, stamp, envelope }` → `Stored { seq, duplicate }`: the node's sequence
//!   number for the envelope in that mailbox (the same envelope twice keeps its first
//!   number). The mailbox travels as its two public [keys](crate::keys), and the
//!   stamp proves the writer's key let this envelope in.
//! - `Fetch { mailbox, issued_at, authorization, after, limit, wait_ms }` →
//!   `Envelopes { items, last_seq }`: envelopes numbered above `after`, oldest first, each
//!   with its stamp; the authorization proves the reader's key asked this node. With
//!   `wait_ms > 0` and nothing new, the node holds the answer until an envelope arrives or
//!   the wait ends: a live push without polling.
//! - `FindNodes { mailbox }` → `Nodes { nodes }`: the nodes closest to the mailbox that the
//!   asked node found (itself among them when it is one), each with its addresses. Devices
//!   find a mailbox's nodes this way rather than running Kademlia themselves.
//! - Anything a node will not do is `Refused { reason }`.
//!
//! ```
//! use phantom_mailbox::{envelope::Envelope, keys::MailboxKeys};
//! use phantom_mailbox::protocol::MailboxRequest;
//!
//! let keys = MailboxKeys::shared(&[1; 32]);
//! let envelope = Envelope::new(vec![7; 10])?;
//! let put = MailboxRequest::Put {
//!     mailbox: *keys.public(),
//!     stamp: keys.stamp(&envelope.id(), 1_700_000_000)?,
//!     envelope,
//! };
//! assert_eq!(MailboxRequest::decode(&put.encode())?, put);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::envelope::{Envelope, MAX_ENVELOPE_LEN};
use crate::keys::{MailboxPublicKeys, PutStamp};
use crate::wire::{Reader, WireError, Writer};
use crate::MailboxAddress;

/// The name libp2p negotiates the protocol under; it ends in [`PROTOCOL_VERSION`].
pub const PROTOCOL_NAME: &str = "/phantom-sync/mailbox/2";
/// The version byte after each frame's magic; a frame of another version is refused.
pub const PROTOCOL_VERSION: u8 = 2;
const MAGIC: &[u8; 2] = b"PM";
/// The most envelopes one `Fetch` returns.
pub const MAX_FETCH: u32 = 256;
/// About the most envelope bytes one `Fetch` returns (one envelope more at most): a
/// mailbox of history blocks is read over several fetches, each answer well inside
/// [`MAX_FRAME_LEN`] and inside what a browser's WebSocket buffers (1 MiB).
pub const MAX_FETCH_BYTES: usize = 768 * 1024;
/// The longest a node holds a `Fetch` open.
pub const MAX_WAIT_MS: u32 = 30_000;
/// The largest frame either side reads: a full fetch answer.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;
/// The largest request frame a node reads: a `Put` of the largest envelope (magic,
/// version, kind, mailbox keys, stamp, envelope length, envelope).
pub const MAX_REQUEST_LEN: usize =
    MAGIC.len() + 1 + 1 + MailboxPublicKeys::LEN + PutStamp::LEN + 4 + MAX_ENVELOPE_LEN;
/// How far a stamp's `written_at` may be ahead of a node's clock, and a fetch's `issued_at`
/// from it either way: clocks differ, and a device stamps with its own.
pub const MAX_CLOCK_SKEW_SECS: u64 = 24 * 3600;
/// The most nodes one `Nodes` answer names (Kademlia's bucket size).
pub const MAX_NODES: usize = 20;
/// The most addresses given for one node.
pub const MAX_NODE_ADDRESSES: usize = 8;
/// The longest peer id, in bytes (an inlined Ed25519 key is 38).
pub const MAX_PEER_ID_LEN: usize = 64;
/// The longest address, in bytes (a WebRTC-direct address with its certificate hash and
/// peer id is under 100).
pub const MAX_ADDRESS_LEN: usize = 256;

/// What a device asks a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRequest {
    /// Store an envelope; answered with `Stored`.
    Put {
        /// The mailbox's two public keys, which the node hashes to its address.
        mailbox: MailboxPublicKeys,
        /// The writer key's signature letting the envelope in ([`crate::keys::verify_put`]).
        stamp: PutStamp,
        /// The sealed bytes to store.
        envelope: Envelope,
    },
    /// Read what the node holds in a mailbox; answered with `Envelopes`.
    Fetch {
        /// The mailbox's two public keys, which the node hashes to its address.
        mailbox: MailboxPublicKeys,
        /// When the reader signed the authorization (seconds since the Unix epoch).
        issued_at: u64,
        /// The reader key's signature for the node asked ([`crate::keys::verify_fetch`]).
        authorization: [u8; 64],
        /// Only envelopes numbered above this are returned: 0 for all, else how far the
        /// reader got at this node (each node numbers envelopes on its own).
        after: u64,
        /// The most envelopes to return; decoding caps it at [`MAX_FETCH`].
        limit: u32,
        /// How long the node may hold the answer while it has nothing new, in
        /// milliseconds; decoding caps it at [`MAX_WAIT_MS`].
        wait_ms: u32,
    },
    /// Name the nodes closest to a mailbox; answered with `Nodes`.
    FindNodes {
        /// The mailbox's address: finding where it lives needs none of its keys.
        mailbox: MailboxAddress,
    },
}

/// A node as a `Nodes` answer names it: its libp2p peer id and multiaddresses, in their
/// binary forms (the network layer parses them; this module has no libp2p types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The peer id's bytes; a `Nodes` answer leaves out a node whose id is longer than
    /// [`MAX_PEER_ID_LEN`].
    pub peer: Vec<u8>,
    /// Multiaddresses' bytes; at most [`MAX_NODE_ADDRESSES`] of them travel, each at most
    /// [`MAX_ADDRESS_LEN`] long.
    pub addresses: Vec<Vec<u8>>,
}

/// An envelope with the number a node gave it, and the stamp it was put with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    /// The node's own number for the envelope in its mailbox; higher is newer. Another
    /// node numbers the same envelope otherwise.
    pub seq: u64,
    /// The stamp the envelope was put with, so the reader can check it or pass it on.
    pub stamp: PutStamp,
    /// The sealed bytes.
    pub envelope: Envelope,
}

/// Why a node refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The envelope is larger than the node lets a mailbox hold.
    TooLarge,
    /// The device sent too many requests lately; it may try again later.
    RateLimited,
    /// The request breaks the protocol.
    Malformed,
    /// The node could not serve the request now (a storage failure, or too many puts in
    /// hand); another of the mailbox's nodes may.
    Unavailable,
    /// The stamp or the authorization does not verify for the mailbox's keys.
    Unauthorized,
    /// Its `written_at` or `issued_at` is too far from the node's clock.
    OutOfTime,
}

impl Refusal {
    /// A stable, machine-readable code for this refusal.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::TooLarge => "envelope_too_large",
            Refusal::RateLimited => "rate_limited",
            Refusal::Malformed => "malformed_request",
            Refusal::Unavailable => "node_unavailable",
            Refusal::Unauthorized => "mailbox_unauthorized",
            Refusal::OutOfTime => "clock_out_of_range",
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Refusal::TooLarge => 1,
            Refusal::RateLimited => 3,
            Refusal::Malformed => 4,
            Refusal::Unavailable => 5,
            Refusal::Unauthorized => 6,
            Refusal::OutOfTime => 7,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, WireError> {
        Ok(match byte {
            1 => Refusal::TooLarge,
            3 => Refusal::RateLimited,
            4 => Refusal::Malformed,
            5 => Refusal::Unavailable,
            6 => Refusal::Unauthorized,
            7 => Refusal::OutOfTime,
            other => {
                return Err(WireError::InvalidValue {
                    field: "refusal",
                    value: other.into(),
                })
            }
        })
    }
}

/// What a node answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxResponse {
    /// The node holds the envelope of a `Put`.
    Stored {
        /// The node's number for the envelope in the mailbox.
        seq: u64,
        /// Whether the node held the envelope already; `seq` is then its first number.
        duplicate: bool,
    },
    /// The answer to a `Fetch`.
    Envelopes {
        /// Envelopes numbered above the fetch's `after`, oldest first: at most its `limit`,
        /// and about [`MAX_FETCH_BYTES`] at most.
        items: Vec<StoredEnvelope>,
        /// The node's latest number in the mailbox: above the last item's when more wait.
        last_seq: u64,
    },
    /// The node will not do what was asked.
    Refused {
        /// What the node objected to.
        reason: Refusal,
    },
    /// Written cut to what a reader takes: at most [`MAX_NODES`] nodes, each with at most
    /// [`MAX_NODE_ADDRESSES`] addresses; over-long peer ids and addresses are left out.
    Nodes {
        /// The nodes closest to the mailbox, closest first.
        nodes: Vec<NodeRecord>,
    },
}

impl MailboxRequest {
    /// The mailbox the request is about.
    pub fn mailbox(&self) -> MailboxAddress {
        match self {
            MailboxRequest::Put { mailbox, .. } | MailboxRequest::Fetch { mailbox, .. } => {
                mailbox.address()
            }
            MailboxRequest::FindNodes { mailbox } => *mailbox,
        }
    }

    /// The request's frame: magic, version, kind, then its fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header();
        match self {
            MailboxRequest::Put {
                mailbox,
                stamp,
                envelope,
            } => {
                w.put_u8(1);
                mailbox.write(&mut w);
                stamp.write(&mut w);
                put_envelope(&mut w, envelope);
            }
            MailboxRequest::Fetch {
                mailbox,
                issued_at,
                authorization,
                after,
                limit,
                wait_ms,
            } => {
                w.put_u8(2);
                mailbox.write(&mut w);
                w.put_u64(*issued_at);
                w.put_bytes(authorization);
                w.put_u64(*after);
                w.put_u32(*limit);
                w.put_u32(*wait_ms);
            }
            MailboxRequest::FindNodes { mailbox } => {
                w.put_u8(3);
                w.put_bytes(mailbox.as_bytes());
            }
        }
        w.into_bytes()
    }

    /// Reads a frame [`MailboxRequest::encode`] wrote. A fetch's `limit` and `wait_ms` above
    /// their maxima are capped, not refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(MAGIC, PROTOCOL_VERSION)?;
        let request = match r.u8("request_kind")? {
            1 => MailboxRequest::Put {
                mailbox: MailboxPublicKeys::read(&mut r)?,
                stamp: PutStamp::read(&mut r)?,
                envelope: read_envelope(&mut r)?,
            },
            2 => MailboxRequest::Fetch {
                mailbox: MailboxPublicKeys::read(&mut r)?,
                issued_at: r.u64("issued_at")?,
                authorization: r.array("authorization")?,
                after: r.u64("after")?,
                limit: r.u32("limit")?.min(MAX_FETCH),
                wait_ms: r.u32("wait_ms")?.min(MAX_WAIT_MS),
            },
            3 => MailboxRequest::FindNodes {
                mailbox: MailboxAddress::from_bytes(r.array("mailbox")?),
            },
            other => {
                return Err(WireError::InvalidValue {
                    field: "request_kind",
                    value: other.into(),
                })
            }
        };
        r.finish()?;
        Ok(request)
    }
}

impl MailboxResponse {
    /// The response's frame: magic, version, kind, then its fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header();
        match self {
            MailboxResponse::Stored { seq, duplicate } => {
                w.put_u8(1);
                w.put_u64(*seq);
                w.put_u8(u8::from(*duplicate));
            }
            MailboxResponse::Envelopes { items, last_seq } => {
                w.put_u8(2);
                w.put_u64(*last_seq);
                w.put_u32(items.len() as u32);
                for item in items {
                    w.put_u64(item.seq);
                    item.stamp.write(&mut w);
                    put_envelope(&mut w, &item.envelope);
                }
            }
            MailboxResponse::Refused { reason } => {
                w.put_u8(3);
                w.put_u8(reason.to_byte());
            }
            MailboxResponse::Nodes { nodes } => {
                w.put_u8(4);
                let nodes: Vec<&NodeRecord> = nodes
                    .iter()
                    .filter(|node| node.peer.len() <= MAX_PEER_ID_LEN)
                    .take(MAX_NODES)
                    .collect();
                w.put_u32(nodes.len() as u32);
                for node in nodes {
                    put_short_bytes(&mut w, &node.peer);
                    let addresses: Vec<&Vec<u8>> = node
                        .addresses
                        .iter()
                        .filter(|address| address.len() <= MAX_ADDRESS_LEN)
                        .take(MAX_NODE_ADDRESSES)
                        .collect();
                    w.put_u32(addresses.len() as u32);
                    for address in addresses {
                        put_short_bytes(&mut w, address);
                    }
                }
            }
        }
        w.into_bytes()
    }

    /// Reads a frame [`MailboxResponse::encode`] wrote. A count above its maximum is refused
    /// before anything is allocated for it.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(MAGIC, PROTOCOL_VERSION)?;
        let response = match r.u8("response_kind")? {
            1 => MailboxResponse::Stored {
                seq: r.u64("seq")?,
                duplicate: match r.u8("duplicate")? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(WireError::InvalidValue {
                            field: "duplicate",
                            value: other.into(),
                        })
                    }
                },
            },
            2 => {
                let last_seq = r.u64("last_seq")?;
                let count = r.count("envelopes", MAX_FETCH as usize, 8 + PutStamp::LEN + 4)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(StoredEnvelope {
                        seq: r.u64("seq")?,
                        stamp: PutStamp::read(&mut r)?,
                        envelope: read_envelope(&mut r)?,
                    });
                }
                MailboxResponse::Envelopes { items, last_seq }
            }
            3 => MailboxResponse::Refused {
                reason: Refusal::from_byte(r.u8("refusal")?)?,
            },
            4 => {
                let count = r.count("nodes", MAX_NODES, 4 + 4)?;
                let mut nodes = Vec::with_capacity(count);
                for _ in 0..count {
                    let peer = r.var_bytes("peer", MAX_PEER_ID_LEN)?.to_vec();
                    let count = r.count("addresses", MAX_NODE_ADDRESSES, 4)?;
                    let mut addresses = Vec::with_capacity(count);
                    for _ in 0..count {
                        addresses.push(r.var_bytes("address", MAX_ADDRESS_LEN)?.to_vec());
                    }
                    nodes.push(NodeRecord { peer, addresses });
                }
                MailboxResponse::Nodes { nodes }
            }
            other => {
                return Err(WireError::InvalidValue {
                    field: "response_kind",
                    value: other.into(),
                })
            }
        };
        r.finish()?;
        Ok(response)
    }
}

fn header() -> Writer {
    let mut w = Writer::new();
    w.put_bytes(MAGIC);
    w.put_u8(PROTOCOL_VERSION);
    w
}

fn put_envelope(w: &mut Writer, envelope: &Envelope) {
    w.put_u32(envelope.len() as u32);
    w.put_bytes(envelope.as_bytes());
}

/// A `u32` length and the bytes, for fields whose bound the caller already applied.
fn put_short_bytes(w: &mut Writer, bytes: &[u8]) {
    w.put_u32(bytes.len() as u32);
    w.put_bytes(bytes);
}

fn read_envelope(r: &mut Reader<'_>) -> Result<Envelope, WireError> {
    Envelope::new(r.var_bytes("envelope", MAX_ENVELOPE_LEN)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_answer_is_written_cut_to_what_a_reader_takes() {
        let node = |peer_len: usize| NodeRecord {
            peer: vec![1; peer_len],
            addresses: vec![vec![2; MAX_ADDRESS_LEN + 1], vec![3; 10], vec![4; 10]]
                .into_iter()
                .cycle()
                .take(MAX_NODE_ADDRESSES * 2)
                .collect(),
        };
        let mut nodes = vec![node(MAX_PEER_ID_LEN + 1)];
        nodes.extend((0..MAX_NODES + 5).map(|_| node(38)));
        let written = MailboxResponse::Nodes { nodes }.encode();
        let Ok(MailboxResponse::Nodes { nodes }) = MailboxResponse::decode(&written) else {
            panic!("a cut answer still reads");
        };
        assert_eq!(nodes.len(), MAX_NODES);
        assert!(nodes.iter().all(|node| node.peer.len() == 38));
        assert!(nodes
            .iter()
            .all(|node| node.addresses.len() == MAX_NODE_ADDRESSES
                && node.addresses.iter().all(|a| a.len() == 10)));
    }

    #[test]
    fn an_answer_naming_too_many_nodes_is_refused_before_allocation() {
        let mut w = header();
        w.put_u8(4);
        w.put_u32(u32::MAX);
        assert!(matches!(
            MailboxResponse::decode(&w.into_bytes()),
            Err(WireError::FieldTooLong { field: "nodes", .. })
        ));
    }
}
