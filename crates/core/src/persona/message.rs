//! Messages of a conversation, ordered by (sender timestamp, id) and deduplicated by who
//! wrote them and id ([`Message::identity`]).
//!
//! ```
//! use phantom_core::persona::{ContactId, ConversationId, Message, MessageId, Sender};
//! use phantom_core::wire::WireRecord;
//!
//! let hello = Message {
//!     id: MessageId::from_bytes([1; 16]),
//!     conversation_id: ConversationId::from_bytes([2; 16]),
//!     sender: Sender::Contact(ContactId::from_bytes([3; 16])),
//!     sent_at_ms: 1_700_000_000_000,
//!     body: "hello".into(),
//! };
//! assert_eq!(Message::decode(&hello.encode()?)?, hello);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use core::fmt;

use rand_core::CryptoRng;

use super::{ContactId, ConversationId, DeviceId};
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// The longest message body, in bytes of UTF-8 (64 KiB).
pub const MAX_BODY_LEN: usize = 64 * 1024;

byte_id! {
    /// A message's UUID (random, version 4): the same on every device, so copies dedupe.
    MessageId
}

impl MessageId {
    /// A fresh random id, with the version (4) and variant bits of a UUID set.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sender {
    /// One of this persona's devices.
    OwnDevice(DeviceId),
    /// A contact, by contact id.
    Contact(ContactId),
}

/// One message of a conversation, as every device of the persona stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The id the sender gave it; with who wrote it, it makes the [`Message::identity`].
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// Who wrote it: one of this persona's devices, or a contact.
    pub sender: Sender,
    /// The sender's clock, milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// The text, at most [`MAX_BODY_LEN`] bytes.
    pub body: String,
}

impl Message {
    /// The conversation order: sender time, then id to break ties the same way everywhere.
    pub fn order_key(&self) -> (u64, MessageId) {
        (self.sent_at_ms, self.id)
    }

    /// What copies of a message share: whether the contact wrote it (rather than this
    /// persona), and its id. A contact that reuses an id of this persona's writes a message
    /// of its own; the same identity with another body is a conflicting copy.
    pub fn identity(&self) -> (bool, MessageId) {
        (matches!(self.sender, Sender::Contact(_)), self.id)
    }
}

/// Message content never reaches a log: only its length is shown.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("sender", &self.sender)
            .field("sent_at_ms", &self.sent_at_ms)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl WireRecord for Message {
    const MIN_LEN: usize = 16 + 16 + 1 + 16 + 8 + 4;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.id.as_bytes());
        w.put_bytes(self.conversation_id.as_bytes());
        let (tag, id) = match self.sender {
            Sender::OwnDevice(id) => (1, *id.as_bytes()),
            Sender::Contact(id) => (2, *id.as_bytes()),
        };
        w.put_u8(tag);
        w.put_bytes(&id);
        w.put_u64(self.sent_at_ms);
        w.put_string("body", &self.body, MAX_BODY_LEN)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let id = MessageId::from_bytes(r.array("message_id")?);
        let conversation_id = ConversationId::from_bytes(r.array("conversation_id")?);
        let sender = match r.u8("sender_kind")? {
            1 => Sender::OwnDevice(DeviceId::from_bytes(r.array("sender_id")?)),
            2 => Sender::Contact(ContactId::from_bytes(r.array("sender_id")?)),
            other => {
                return Err(WireError::InvalidValue {
                    field: "sender_kind",
                    value: other.into(),
                })
            }
        };
        Ok(Self {
            id,
            conversation_id,
            sender,
            sent_at_ms: r.u64("sent_at_ms")?,
            body: r.string("body", MAX_BODY_LEN)?,
        })
    }
}
