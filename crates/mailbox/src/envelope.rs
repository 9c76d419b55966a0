//! Envelopes: the sealed, opaque bytes a mailbox holds. Nodes see only their length and
//! their id — a content hash — so a node that alters one is caught by the id.
//!
//! ```
//! use phantom_mailbox::envelope::Envelope;
//!
//! let envelope = Envelope::new(b"sealed bytes".to_vec())?;
//! assert_eq!(envelope.id(), Envelope::new(b"sealed bytes".to_vec())?.id());
//! # Ok::<(), phantom_mailbox::wire::WireError>(())
//! ```

use core::fmt;

use sha2::{Digest, Sha256};

use crate::wire::WireError;

/// The largest envelope a node stores: a 64 KiB history block with room for its sealing.
pub const MAX_ENVELOPE_LEN: usize = 80 * 1024;
const ID_DOMAIN: &[u8] = b"phantom-sync envelope v1";

/// `SHA-256("phantom-sync envelope v1" ‖ bytes)`: the same envelope has the same id everywhere.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeId([u8; 32]);

impl EnvelopeId {
    /// An id as read off the wire; nothing checks that an envelope hashes to it.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The id's bytes, as the wire and signed messages carry them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeId({})", crate::encoding::hex(&self.0[..8]))
    }
}

/// Sealed bytes addressed to a mailbox.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    bytes: Vec<u8>,
}

impl Envelope {
    /// Wraps sealed bytes; [`WireError::FieldTooLong`] when they are longer than
    /// [`MAX_ENVELOPE_LEN`], which no node would store.
    pub fn new(bytes: Vec<u8>) -> Result<Self, WireError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(WireError::FieldTooLong {
                field: "envelope",
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        Ok(Self { bytes })
    }

    /// The content hash that names the envelope, hashed anew on each call.
    pub fn id(&self) -> EnvelopeId {
        let digest = Sha256::new()
            .chain_update(ID_DOMAIN)
            .chain_update(&self.bytes)
            .finalize();
        let mut id = [0u8; 32];
        id.copy_from_slice(&digest);
        EnvelopeId(id)
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The sealed bytes, without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The length of the sealed bytes, at most [`MAX_ENVELOPE_LEN`].
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the envelope holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Envelope({:?}, {} bytes)", self.id(), self.bytes.len())
    }
}
