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

/// Why the messenger refused a call, or an envelope it was handed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessagingError {
    /// Bytes that do not decode: an envelope, its content or a stored snapshot.
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    /// A roster that does not verify or may not replace the one held, or a device change
    /// the roster does not allow.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// An Olm session could not seal a key to a device, or open one sealed to this device.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A history transfer's offer, manifest or block was refused.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// The persona key is not one of this persona's contacts.
    #[error("no such contact")]
    UnknownContact,
    /// A published roster was read from a mailbox other than its persona's profile
    /// mailbox: anyone can put one in an inbox, so it is believed only there.
    #[error("a published roster read outside its persona's profile mailbox")]
    RosterOutOfPlace,
    /// No conversation with this id is held on this device.
    #[error("no such conversation")]
    UnknownConversation,
    /// A message from a persona that is not a contact and carries no introduction (its
    /// card) to accept it by.
    #[error("a message from a persona that is not a contact and did not introduce itself")]
    UnknownSender,
    /// The sending device's Olm key is on none of the sender's roster's devices.
    #[error("the sending device is not on its persona's roster")]
    UnknownSenderDevice,
    /// The message holds no seal (or sealed-sender header) for this device.
    #[error("the message is not sealed to this device")]
    NotForThisDevice,
    /// The seal opened, but the key in it does not decrypt the message's body: a seal
    /// moved onto another body, or a corrupted one.
    #[error("the sealed key does not open the message's content")]
    ContentUndecryptable,
    /// Content that only the persona's own devices send (read marks, contact cards,
    /// history offers, direct-channel signals, leaving, sealing keys) came from a contact.
    #[error("only the persona's own devices may send this")]
    NotFromOwnDevice,
    /// A contact's text names another persona as its recipient.
    #[error("the text is addressed to another persona")]
    MisaddressedText,
    /// This device is off its persona's roster (revoked, or it left): it may no longer
    /// send texts or change the roster.
    #[error("this device was removed from its persona's roster")]
    Revoked,
    /// A device asked to revoke itself; [`Messenger::leave`] unlinks it.
    #[error("a device cannot revoke itself; unlink it instead")]
    RevokeSelf,
    /// The contact card is this persona's own.
    #[error("a persona cannot be its own contact")]
    OwnPersona,
    /// The text is longer than [`messenger::MAX_TEXT_LEN`].
    #[error("the text is {len} bytes; at most {max}")]
    TextTooLong {
        /// The text's length, in bytes (UTF-8).
        len: usize,
        /// The longest text allowed, in bytes.
        max: usize,
    },
    /// History arrived, or a direct channel was asked for, while no history transfer to
    /// this device is under way.
    #[error("no history transfer is waiting for this device")]
    NoHistoryTransfer,
    /// A transfer id this device did not offer, or offered to another device; or a direct
    /// channel answer for a transfer this device is not receiving.
    #[error("this device offered no such history transfer to that device")]
    UnknownTransfer,
    /// The outbox already holds as many envelopes as it may; a person's new send waits
    /// until some have left.
    #[error("{max} sends already wait for the network; connect before sending more")]
    OutboxFull {
        /// The most envelopes that may wait ([`outbox::MAX_WAITING_SENDS`]).
        max: usize,
    },
    /// Only the device holding the persona's authority (its identity key) may do this.
    #[error("only the device holding the persona's authority adds and removes devices")]
    NotAuthority,
    /// The contact's persona key signed two different rosters for one epoch and no device
    /// is on both: a text has no device to go to until a newer roster settles it.
    #[error(
        "two different device lists are signed by this persona's key, and no device is on both"
    )]
    RosterDisputed,
    /// There is no dispute over this persona's roster to settle.
    #[error("no second device list disputes this persona's")]
    NotDisputed,
    /// This device holds its persona's latest roster only as published, the inbox withheld
    /// (the sealed copy has not arrived yet): a contact card made now would carry no inbox
    /// to write to.
    #[error("this device has not yet received its persona's new inbox")]
    InboxNotYetKnown,
}

impl MessagingError {
    /// A stable, machine-readable code for this error (a wrapped error gives its own).
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
