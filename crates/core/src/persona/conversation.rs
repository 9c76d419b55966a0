//! Conversations: their metadata and the key that protects them.
//!
//! ```
//! use phantom_core::mailbox::MailboxAddress;
//! use phantom_core::persona::{Conversation, ConversationId};
//! use phantom_core::secret::Secret;
//! use phantom_core::wire::WireRecord;
//!
//! let chat = Conversation {
//!     id: ConversationId::from_bytes([1; 16]),
//!     title: "Grace".into(),
//!     peer_mailbox: MailboxAddress::from_bytes([2; 32]),
//!     conversation_key: Secret::from_bytes([3; 32]),
//!     last_activity: 1_700_000_000,
//! };
//! assert_eq!(Conversation::decode(&chat.encode()?)?, chat);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use crate::mailbox::MailboxAddress;
use crate::secret::Secret;
use crate::wire::{Reader, WireError, WireRecord, Writer};

byte_id! {
    /// A conversation's id, the same on every device of the persona: derived from the two
    /// personas' keys ([`conversation_id`](crate::messaging::messenger::conversation_id)).
    ConversationId
}

/// The longest conversation title, in bytes of UTF-8.
pub const MAX_TITLE_LEN: usize = 128;

/// One conversation of the persona: what every device shows of it, and its key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Conversation {
    /// The conversation's id, the same on every device; messages name it as their
    /// `conversation_id`.
    pub id: ConversationId,
    /// The title shown for it: at most [`MAX_TITLE_LEN`] bytes, with no control or
    /// direction-changing characters.
    pub title: String,
    /// The mailbox of the persona on the other side, where its messages are sent.
    pub peer_mailbox: MailboxAddress,
    /// The secret key that protects the conversation.
    pub conversation_key: Secret<32>,
    /// When something last happened in it, in seconds since the Unix epoch.
    pub last_activity: u64,
}

impl WireRecord for Conversation {
    const MIN_LEN: usize = 16 + 4 + 32 + 32 + 8;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.id.as_bytes());
        w.put_display_text("title", &self.title, MAX_TITLE_LEN)?;
        w.put_bytes(self.peer_mailbox.as_bytes());
        w.put_bytes(self.conversation_key.expose());
        w.put_u64(self.last_activity);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            id: ConversationId::from_bytes(r.array("conversation_id")?),
            title: r.display_text("title", MAX_TITLE_LEN)?,
            peer_mailbox: MailboxAddress::from_bytes(r.array("peer_mailbox")?),
            conversation_key: r.secret("conversation_key")?,
            last_activity: r.u64("last_activity")?,
        })
    }
}
