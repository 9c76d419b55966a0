//! Contacts: the other personas this persona talks to.
//!
//! ```
//! use phantom_core::mailbox::MailboxAddress;
//! use phantom_core::persona::{Contact, ContactId};
//! use phantom_core::wire::WireRecord;
//!
//! let grace = Contact {
//!     id: ContactId::from_bytes([1; 16]),
//!     display_name: "Grace".into(),
//!     mailbox: MailboxAddress::from_bytes([2; 32]),
//!     identity_key: [3; 32],
//!     added_at: 1_700_000_000,
//! };
//! assert_eq!(Contact::decode(&grace.encode()?)?, grace);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use crate::mailbox::MailboxAddress;
use crate::wire::{Reader, WireError, WireRecord, Writer};

byte_id! {
    /// A contact's id, the same on every device of the persona: derived from the
    /// contact's persona key ([`contact_id`](crate::messaging::messenger::contact_id)).
    ContactId
}

/// The longest contact name, in bytes of UTF-8.
pub const MAX_CONTACT_NAME_LEN: usize = 64;

/// Another persona this persona talks to, as every device of the persona knows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Contact {
    /// The contact's id, the same on every device of the persona; a contact's messages
    /// name it as their sender ([`Sender::Contact`](crate::persona::Sender::Contact)).
    pub id: ContactId,
    /// The name shown for the contact: at most [`MAX_CONTACT_NAME_LEN`] bytes, with no
    /// control or direction-changing characters.
    pub display_name: String,
    /// The contact's persona mailbox, where messages to it are sent.
    pub mailbox: MailboxAddress,
    /// The contact's persona identity key (Ed25519 public key).
    pub identity_key: [u8; 32],
    /// When the contact was added, in seconds since the Unix epoch.
    pub added_at: u64,
}

impl WireRecord for Contact {
    const MIN_LEN: usize = 16 + 4 + 32 + 32 + 8;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.id.as_bytes());
        w.put_display_text("contact_name", &self.display_name, MAX_CONTACT_NAME_LEN)?;
        w.put_bytes(self.mailbox.as_bytes());
        w.put_bytes(&self.identity_key);
        w.put_u64(self.added_at);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            id: ContactId::from_bytes(r.array("contact_id")?),
            display_name: r.display_text("contact_name", MAX_CONTACT_NAME_LEN)?,
            mailbox: MailboxAddress::from_bytes(r.array("contact_mailbox")?),
            identity_key: r.array("contact_identity_key")?,
            added_at: r.u64("added_at")?,
        })
    }
}
