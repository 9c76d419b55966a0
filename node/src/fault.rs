//! Fault injection, for tests of what the brief says nodes may do: a node started with
//! `--fault` answers fetches wrongly on purpose — replaying, reordering, altering or
//! dropping envelopes — so tests can show that readers lose nothing because of it.

use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::protocol::MailboxResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Every envelope twice.
    Replay,
    /// Envelopes newest first.
    Reorder,
    /// Every envelope with its first byte flipped.
    Corrupt,
    /// No envelopes, while claiming to hold them.
    Drop,
}

impl Fault {
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "replay" => Fault::Replay,
            "reorder" => Fault::Reorder,
            "corrupt" => Fault::Corrupt,
            "drop" => Fault::Drop,
            other => {
                return Err(format!(
                    "unknown fault {other} (replay, reorder, corrupt, drop)"
                ))
            }
        })
    }

    /// What this node answers instead of `response`.
    pub fn apply(self, response: MailboxResponse) -> MailboxResponse {
        let MailboxResponse::Envelopes {
            mut items,
            last_seq,
        } = response
        else {
            return response;
        };
        match self {
            Fault::None => {}
            Fault::Replay => items = items.iter().chain(items.iter()).cloned().collect(),
            Fault::Reorder => items.reverse(),
            Fault::Corrupt => {
                for item in &mut items {
                    let mut bytes = item.envelope.as_bytes().to_vec();
                    if let Some(first) = bytes.first_mut() {
                        *first ^= 0xff;
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
}
