//! Fault injection, for tests of what the brief says nodes may do: a node started with
//! `--fault` answers wrongly on purpose — replaying, reordering, altering or dropping
//! envelopes, holding its answers back, or, as a hostile node, each of these in turn — so
//! tests can show that readers lose nothing because of it. Asked for a mailbox's nodes, a
//! dropping node names none and a corrupting one gives every node a false address.

use std::time::Duration;

use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::protocol::{MailboxResponse, NodeRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Every envelope twice.
    Replay,
    /// Envelopes newest first.
    Reorder,
    /// Every envelope with its middle byte flipped: inside the sealed part, where only
    /// the reader's authentication can tell.
    Corrupt,
    /// No envelopes, while claiming to hold them.
    Drop,
    /// Every answer, fetches and stores alike, held back for [`DELAY`].
    Delay,
    /// Each answer misbehaves in the next way of [`HOSTILE_TURNS`].
    Hostile,
}

/// How long a delaying node holds each answer back.
pub const DELAY: Duration = Duration::from_millis(1500);

/// A hostile node's answers, in turn.
pub const HOSTILE_TURNS: [Fault; 6] = [
    Fault::Replay,
    Fault::Reorder,
    Fault::Corrupt,
    Fault::Drop,
    Fault::Delay,
    Fault::None,
];

impl Fault {
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "replay" => Fault::Replay,
            "reorder" => Fault::Reorder,
            "corrupt" => Fault::Corrupt,
            "drop" => Fault::Drop,
            "delay" => Fault::Delay,
            "hostile" => Fault::Hostile,
            other => {
                return Err(format!(
                    "unknown fault {other} (replay, reorder, corrupt, drop, delay, hostile)"
                ))
            }
        })
    }

    /// The fault of a node's `turn`-th answer: a hostile node takes the next in turn.
    pub fn for_answer(self, turn: usize) -> Fault {
        match self {
            Fault::Hostile => HOSTILE_TURNS[turn % HOSTILE_TURNS.len()],
            other => other,
        }
    }

    /// How long this node holds an answer back.
    pub fn hold(self) -> Duration {
        if self == Fault::Delay {
            DELAY
        } else {
            Duration::ZERO
        }
    }

    /// What this node answers instead of `response`.
    pub fn apply(self, response: MailboxResponse) -> MailboxResponse {
        let (mut items, last_seq) = match response {
            MailboxResponse::Envelopes { items, last_seq } => (items, last_seq),
            MailboxResponse::Nodes { nodes } => return self.apply_to_nodes(nodes),
            other => return other,
        };
        match self {
            Fault::None | Fault::Delay | Fault::Hostile => {}
            Fault::Replay => items = items.iter().chain(items.iter()).cloned().collect(),
            Fault::Reorder => items.reverse(),
            Fault::Corrupt => {
                for item in &mut items {
                    let mut bytes = item.envelope.as_bytes().to_vec();
                    let middle = bytes.len() / 2;
                    if let Some(byte) = bytes.get_mut(middle) {
                        *byte ^= 0xff;
                    }
                    if let Ok(altered) = Envelope::new(bytes) {
                        item.envelope = altered;
                    }
                }
            }
            Fault::Drop => items.clear(),
        }
        MailboxResponse::Envelopes { items, last_seq }
    }

    fn apply_to_nodes(self, nodes: Vec<NodeRecord>) -> MailboxResponse {
        let nodes = match self {
            Fault::Drop => Vec::new(),
            Fault::Corrupt => nodes
                .into_iter()
                .map(|node| NodeRecord {
                    peer: node.peer,
                    addresses: vec![UNREACHABLE_ADDRESS.to_vec()],
                })
                .collect(),
            _ => nodes,
        };
        MailboxResponse::Nodes { nodes }
    }
}

/// `/ip4/192.0.2.1/tcp/9`: an address in TEST-NET-1, which no one answers.
const UNREACHABLE_ADDRESS: [u8; 8] = [0x04, 192, 0, 2, 1, 0x06, 0, 9];
