//! Messaging across a persona's devices: the roster decides who reads, vodozemac Olm
//! sessions carry each message's key to each device, and every device of a persona reads
//! the same inbox.
//!
//! - [`sessions`]: this device's Olm account and pairwise sessions.
//! - [`sealed`]: the inbox format — content encrypted once, its key sealed per device.
//! - [`sealed_sender`]: the sender and recipients of a message, hidden inside headers.
//! - [`conversation_log`]: ordering by (sender time, id), dedupe by id, read marks, gaps.
//! - [`messenger`]: the sans-IO state machine of one device.
//! - [`outbox`]: what it must still send, stored with the state change that made it.
//! - [`reading`]: where it is in each mailbox it reads, and when it reads one again.
//!
//! ```
//! use phantom_core::mailbox::envelope::Envelope;
//! use phantom_core::messaging::{Messenger, MessagingEvent};
//! use phantom_core::persona::{DeviceKeys, Persona};
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let ada = Persona::create("Ada", 1_700_000_000, &mut rng)?;
//! let mut ada = Messenger::create(&ada, &DeviceKeys::generate("Phone", 0, &mut rng)?, 0, &mut rng)?;
//! let bob = Persona::create("Bob", 1_700_000_000, &mut rng)?;
//! let mut bob = Messenger::create(&bob, &DeviceKeys::generate("Laptop", 0, &mut rng)?, 0, &mut rng)?;
//!
//! ada.add_contact(&bob.contact_card()?, &mut rng)?;
//! ada.outbox_mut().take_envelopes(); // the roster Ada publishes: not for Bob
//! ada.send_text(&bob.persona_key(), "hello", 1_000, &mut rng)?;
//! // A driver puts each envelope, then says `envelope_sent`; here it goes straight to Bob.
//! let transmits = ada.outbox_mut().take_envelopes();
//! let envelope = Envelope::new(transmits[0].bytes.clone())?;
//! // Where it was read counts: a roster is believed only from its persona's profile mailbox.
//! let events = bob.receive(transmits[0].mailbox.address(), &envelope, &mut rng)?;
//! assert!(matches!(&events[1], MessagingEvent::Message { message, .. } if message.body == "hello"));
//! assert!(bob.receive(transmits[0].mailbox.address(), &envelope, &mut rng)?.is_empty(), "a second copy changes nothing");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod conversation_log;
pub mod messenger;
pub mod outbox;
pub mod reading;
pub mod sealed;
pub mod sealed_sender;
pub mod sessions;

use thiserror::Error;

pub use messenger::{MessagingEvent, Messenger};

use crate::roster::RosterError;
use crate::wire::WireError;
use sessions::SessionError;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessagingError {
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    #[error(transparent)]
    Roster(#[from] RosterError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    #[error("no such contact")]
    UnknownContact,
    #[error("a published roster read outside its persona's profile mailbox")]
    RosterOutOfPlace,
    #[error("no such conversation")]
    UnknownConversation,
    #[error("a message from a persona that is not a contact and did not introduce itself")]
    UnknownSender,
    #[error("the sending device is not on its persona's roster")]
    UnknownSenderDevice,
    #[error("the message is not sealed to this device")]
    NotForThisDevice,
    #[error("the sealed key does not open the message's content")]
    ContentUndecryptable,
    #[error("only the persona's own devices may send this")]
    NotFromOwnDevice,
    #[error("the text is addressed to another persona")]
    MisaddressedText,
    #[error("this device was removed from its persona's roster")]
    Revoked,
    #[error("a device cannot revoke itself; unlink it instead")]
    RevokeSelf,
    #[error("a persona cannot be its own contact")]
    OwnPersona,
    #[error("the text is {len} bytes; at most {max}")]
    TextTooLong { len: usize, max: usize },
    #[error("no history transfer is waiting for this device")]
    NoHistoryTransfer,
    #[error("this device offered no such history transfer to that device")]
    UnknownTransfer,
    #[error("{max} sends already wait for the network; connect before sending more")]
    OutboxFull { max: usize },
    #[error("only the device holding the persona's authority adds and removes devices")]
    NotAuthority,
    #[error(
        "two different device lists are signed by this persona's key, and no device is on both"
    )]
    RosterDisputed,
    #[error("no second device list disputes this persona's")]
    NotDisputed,
    #[error("this device has not yet received its persona's new inbox")]
    InboxNotYetKnown,
}

impl MessagingError {
    pub fn code(&self) -> &'static str {
        match self {
            MessagingError::Wire(inner) => inner.code(),
            MessagingError::Roster(inner) => inner.code(),
            MessagingError::Session(inner) => inner.code(),
            MessagingError::History(inner) => inner.code(),
            MessagingError::UnknownContact => "unknown_contact",
            MessagingError::UnknownConversation => "unknown_conversation",
            MessagingError::UnknownSender => "unknown_sender",
            MessagingError::UnknownSenderDevice => "unknown_sender_device",
            MessagingError::NotForThisDevice => "not_for_this_device",
            MessagingError::ContentUndecryptable => "content_undecryptable",
            MessagingError::NotFromOwnDevice => "not_from_own_device",
            MessagingError::MisaddressedText => "misaddressed_text",
            MessagingError::Revoked => "device_revoked",
            MessagingError::RosterOutOfPlace => "roster_out_of_place",
            MessagingError::RevokeSelf => "revoke_self",
            MessagingError::OwnPersona => "own_persona",
            MessagingError::TextTooLong { .. } => "text_too_long",
            MessagingError::NoHistoryTransfer => "no_history_transfer",
            MessagingError::UnknownTransfer => "unknown_transfer",
            MessagingError::OutboxFull { .. } => "outbox_full",
            MessagingError::NotAuthority => "not_authority",
            MessagingError::RosterDisputed => "roster_disputed",
            MessagingError::NotDisputed => "not_disputed",
            MessagingError::InboxNotYetKnown => "inbox_not_yet_known",
        }
    }
}
