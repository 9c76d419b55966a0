//! # phantom-mailbox
//!
//! What a device and a DHT node agree on, and nothing more: the [wire] codec, the sealed
//! [envelope]s a mailbox holds, the [keys] that write to a mailbox and read it, the
//! [protocol] devices speak to nodes, and the [replica] rules for a mailbox kept on several
//! nodes. `phantom-node` depends on this crate and on `phantom-network` only, so a node
//! links none of a device's cryptography (Olm, HPKE, Argon2).
//!
//! Mailboxes: where sealed [envelopes](envelope) wait on the DHT for a device to fetch them,
//! and the [protocol] devices speak to the nodes that hold them.
//!
//! A mailbox is named by its 32-byte address, the hash of the two public [keys] that write
//! to it and read it (nodes look it up on the DHT under another hash of the address, its
//! DHT key). A pairing mailbox is fresh for each invitation; the reply mailbox of a pairing
//! is derived from the pairing channel, so only the two devices in it know where the other
//! one listens.
//!
//! ```
//! use phantom_mailbox::MailboxAddress;
//!
//! let mailbox = MailboxAddress::from_bytes([0xab; 32]);
//! assert!(mailbox.to_hex().starts_with("abab"));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod encoding;
pub mod envelope;
pub mod keys;
pub mod protocol;
pub mod replica;
pub mod secret;
pub mod testing;
pub mod transport;
pub mod wire;

use core::fmt;

use crate::keys::MailboxKeys;

/// Bytes a sans-IO state machine asks its driver to put into a mailbox, with the keys that
/// let it write there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The mailbox to put into; its writer key stamps the put.
    pub mailbox: MailboxKeys,
    /// Sealed bytes, put as one [`Envelope`](envelope::Envelope).
    pub bytes: Vec<u8>,
}

/// A mailbox's 32-byte address, `address(W, R)` of `docs/PROTOCOL.md` §7 (not its DHT key,
/// which hashes the address again).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxAddress([u8; 32]);

impl MailboxAddress {
    /// The length of an address in bytes.
    pub const LEN: usize = 32;

    /// An address from its bytes, as read off the wire or out of a link.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The address's bytes, as the wire carries them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters: how logs and people see an address.
    pub fn to_hex(&self) -> String {
        crate::encoding::hex(&self.0)
    }
}

impl fmt::Debug for MailboxAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxAddress({})", self.to_hex())
    }
}
