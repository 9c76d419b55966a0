//! History over the mailbox network: the source puts the manifest and every block into a
//! fresh mailbox and seals an [`HistoryOffer`] — the mailbox, the key and the manifest's
//! hash — to the new device alone. The new device reads that mailbox in any order, any
//! number of times: [`HistoryReceiver`] knows each envelope by its hash.
//!
//! ```
//! use phantom_core::history::transfer::{offer_history, HistoryReceiver, Received};
//! use phantom_core::persona::{ContactId, ConversationId, Message, MessageId, Sender};
//! # let mut rng = phantom_core::testing::SeededRng::new(4);
//! let grace = ConversationId::from_bytes([7; 16]);
//! let chat: Vec<Message> = (0..50u8)
//!     .map(|n| Message {
//!         id: MessageId::from_bytes([n; 16]),
//!         conversation_id: grace,
//!         sender: Sender::Contact(ContactId::from_bytes([1; 16])),
//!         sent_at_ms: 1_000 + u64::from(n),
//!         body: "hi".into(),
//!     })
//!     .collect();
//! let (offer, envelopes) = offer_history(vec![(grace, chat)], 4096, &mut rng)?;
//! let mut receiver = HistoryReceiver::new(&offer);
//! let mut messages = 0;
//! for envelope in &envelopes {
//!     if let Received::Block(block) = receiver.accept(envelope)? {
//!         messages += block.len();
//!     }
//! }
//! assert_eq!(messages, 50);
//! assert!(receiver.is_complete());
//! # Ok::<(), phantom_core::history::HistoryError>(())
//! ```

use std::collections::HashMap;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use crate::history::direct::WantFrame;
use crate::history::export::HistoryExport;
use crate::history::import::{HistoryImport, HistoryProgress};
use crate::history::manifest::Manifest;
use crate::history::HistoryError;
use crate::history::TransferId;
use crate::mailbox::keys::MailboxSeed;
use crate::persona::{ConversationId, Message};
use crate::secret::Secret;
use crate::wire::{Reader, WireError, Writer};

/// What the new device needs to fetch and open a history transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryOffer {
    /// The transfer's id, random, bound into each block.
    pub transfer_id: TransferId,
    /// The fresh mailbox holding the manifest and blocks; its seed lets the holder read it.
    pub mailbox: MailboxSeed,
    /// The key every block is sealed with. Secret: it opens the whole history.
    pub key: Secret<32>,
    /// SHA-256 of the manifest's encoding: the manifest is known by it among the blocks.
    pub manifest_hash: [u8; 32],
}

impl HistoryOffer {
    /// Appends the transfer id, the mailbox seed, the key and the manifest hash: 112 bytes
    /// of fixed size.
    pub fn write(&self, w: &mut Writer) {
        w.put_bytes(self.transfer_id.as_bytes());
        w.put_bytes(self.mailbox.as_bytes());
        w.put_bytes(self.key.expose());
        w.put_bytes(&self.manifest_hash);
    }

    /// Reads what [`HistoryOffer::write`] wrote.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            transfer_id: TransferId::from_bytes(r.array("transfer_id")?),
            mailbox: MailboxSeed::from_bytes(r.array("history_mailbox")?),
            key: r.secret("history_key")?,
            manifest_hash: r.array("manifest_hash")?,
        })
    }
}

/// A history transfer being packed by the device that offers it, one message at a time:
/// blocks leave as they fill, so no more than a block's messages are held.
pub struct OutgoingTransfer {
    key: Secret<32>,
    transfer_id: TransferId,
    mailbox: MailboxSeed,
    export: HistoryExport,
}

impl OutgoingTransfer {
    /// A transfer with a random id, key and mailbox, sealing blocks of at most
    /// `block_size` bytes ([`DEFAULT_BLOCK_SIZE`](crate::history::export::DEFAULT_BLOCK_SIZE)
    /// fits both paths).
    pub fn new(block_size: usize, rng: &mut impl CryptoRng) -> Self {
        let key = Secret::generate(rng);
        let transfer_id = TransferId::random(rng);
        let export = HistoryExport::new(&key, block_size, transfer_id);
        Self {
            key,
            transfer_id,
            mailbox: MailboxSeed::random(rng),
            export,
        }
    }

    /// The transfer's random id: where the source stores the blocks, and what a want names.
    pub fn transfer_id(&self) -> TransferId {
        self.transfer_id
    }

    /// Adds a message (a conversation's go in together); returns the block it completed.
    pub fn push(
        &mut self,
        conversation_id: ConversationId,
        message: &Message,
        rng: &mut impl CryptoRng,
    ) -> Result<Option<Vec<u8>>, HistoryError> {
        self.export.push(conversation_id, message, rng)
    }

    /// Seals the block being filled, if it holds anything.
    pub fn flush(&mut self, rng: &mut impl CryptoRng) -> Result<Option<Vec<u8>>, HistoryError> {
        self.export.flush(rng)
    }

    /// Seals the last block and lists every block in the manifest.
    pub fn finish(self, rng: &mut impl CryptoRng) -> Result<FinishedTransfer, HistoryError> {
        let (manifest, unsealed) = self.export.finish(rng)?;
        let manifest = manifest.encode()?;
        let offer = HistoryOffer {
            transfer_id: self.transfer_id,
            mailbox: self.mailbox,
            key: self.key,
            manifest_hash: Sha256::digest(&manifest).into(),
        };
        Ok(FinishedTransfer {
            offer,
            manifest,
            unsealed,
        })
    }
}

/// A packed transfer: the offer for the new device and the manifest envelope.
#[derive(Debug)]
pub struct FinishedTransfer {
    /// What to seal to the new device.
    pub offer: HistoryOffer,
    /// The encoded manifest: the first envelope of the history mailbox, frame 0 of the
    /// direct path; its SHA-256 is [`HistoryOffer::manifest_hash`].
    pub manifest: Vec<u8>,
    /// The last block, if it was still being filled when the transfer finished.
    pub unsealed: Option<Vec<u8>>,
}

/// Packs whole conversations held in memory (the most recent conversation first, each
/// newest message first): the offer, and the envelopes for its mailbox, manifest first.
pub fn offer_history(
    conversations: Vec<(ConversationId, Vec<Message>)>,
    block_size: usize,
    rng: &mut impl CryptoRng,
) -> Result<(HistoryOffer, Vec<Vec<u8>>), HistoryError> {
    let mut transfer = OutgoingTransfer::new(block_size, rng);
    let mut blocks = Vec::new();
    for (id, messages) in conversations {
        for message in messages.iter().rev() {
            blocks.extend(transfer.push(id, message, rng)?);
        }
    }
    let finished = transfer.finish(rng)?;
    blocks.extend(finished.unsealed);
    let envelopes = std::iter::once(finished.manifest).chain(blocks).collect();
    Ok((finished.offer, envelopes))
}

/// The most a manifest (or its record of received blocks) takes: one mailbox envelope.
const MAX_MANIFEST_LEN: usize = crate::mailbox::envelope::MAX_ENVELOPE_LEN;

fn block_indices(manifest: &Manifest) -> HashMap<[u8; 32], usize> {
    manifest
        .blocks
        .iter()
        .enumerate()
        .map(|(index, block)| (block.hash, index))
        .collect()
}

/// What one envelope of the history mailbox was.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// The manifest: the blocks can be opened from now on.
    Manifest,
    /// A block's messages, to import.
    Block(Vec<Message>),
    /// A block already imported, a block that came before its manifest (read the mailbox
    /// again), or an envelope that belongs to nothing here.
    Nothing,
}

/// The new device's side of one transfer.
pub struct HistoryReceiver {
    key: Secret<32>,
    manifest_hash: [u8; 32],
    import: Option<HistoryImport>,
    by_hash: HashMap<[u8; 32], usize>,
}

impl HistoryReceiver {
    /// A receiver for the transfer `offer` describes, before any envelope arrived.
    pub fn new(offer: &HistoryOffer) -> Self {
        Self {
            key: offer.key.clone(),
            manifest_hash: offer.manifest_hash,
            import: None,
            by_hash: HashMap::new(),
        }
    }

    /// Takes one envelope of the history mailbox or the direct channel, in any order and
    /// any number of times; see [`Received`] for what it was. Fails when the manifest does
    /// not decode or a block of the manifest does not check out ([`HistoryImport::accept`]).
    pub fn accept(&mut self, envelope: &[u8]) -> Result<Received, HistoryError> {
        let hash: [u8; 32] = Sha256::digest(envelope).into();
        if hash == self.manifest_hash {
            if self.import.is_none() {
                let manifest = Manifest::decode(envelope)?;
                self.by_hash = block_indices(&manifest);
                self.import = Some(HistoryImport::new(manifest, self.key.clone()));
            }
            return Ok(Received::Manifest);
        }
        let (Some(import), Some(index)) = (self.import.as_mut(), self.by_hash.get(&hash)) else {
            return Ok(Received::Nothing);
        };
        if import.has(*index) {
            return Ok(Received::Nothing);
        }
        Ok(Received::Block(import.accept(*index, envelope)?))
    }

    /// Whether the manifest is here: until it is, a block cannot be recognised and is passed
    /// over, so whatever came before it must be read again.
    pub fn manifest_known(&self) -> bool {
        self.import.is_some()
    }

    /// What to ask a direct channel for: the manifest unless it is here, and every block not
    /// yet imported, conversation `first`'s before the others.
    pub fn want(&self, transfer_id: TransferId, first: Option<ConversationId>) -> WantFrame {
        WantFrame {
            transfer_id,
            first,
            manifest_known: self.manifest_known(),
            received: self
                .import
                .as_ref()
                .map(|import| {
                    (0..import.manifest().blocks.len())
                        .filter(|index| import.has(*index))
                        .filter_map(|index| u32::try_from(index).ok())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Where the transfer waits and what arrived, to pick it up after a restart.
    pub fn save(&self, w: &mut Writer) -> Result<(), HistoryError> {
        match &self.import {
            Some(import) => {
                w.put_u8(1);
                w.put_var_bytes("manifest", &import.manifest().encode()?, MAX_MANIFEST_LEN)?;
                w.put_var_bytes("received", &import.received_state()?, MAX_MANIFEST_LEN)?;
            }
            None => w.put_u8(0),
        }
        Ok(())
    }

    /// Reads what [`HistoryReceiver::save`] wrote, for the same `offer`: blocks recorded as
    /// received are not taken again.
    pub fn restore(offer: &HistoryOffer, r: &mut Reader<'_>) -> Result<Self, HistoryError> {
        let mut receiver = Self::new(offer);
        if r.u8("manifest_present")? != 0 {
            let manifest = Manifest::decode(r.var_bytes("manifest", MAX_MANIFEST_LEN)?)?;
            let received = r.var_bytes("received", MAX_MANIFEST_LEN)?;
            receiver.by_hash = block_indices(&manifest);
            receiver.import = Some(HistoryImport::resume(
                manifest,
                offer.key.clone(),
                received,
            )?);
        }
        Ok(receiver)
    }

    /// Whether the manifest arrived and every block it lists is in.
    pub fn is_complete(&self) -> bool {
        self.import.as_ref().is_some_and(HistoryImport::is_complete)
    }

    /// How far the import has come; `None` until the manifest arrived.
    pub fn progress(&self) -> Option<HistoryProgress> {
        self.import.as_ref().map(HistoryImport::progress)
    }
}
