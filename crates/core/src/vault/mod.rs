//! The vault: this device's encrypted copy of the persona — the seed's "SQLCipher DB".
//!
//! Layers, from the top: [`Vault`] (typed records: persona, device keys, contacts,
//! conversations, messages, sync cursors) → [`cipher`] (every value sealed, every key a
//! keyed hash) → [`store`] (a [`RawStore`]: IndexedDB in the browser, memory in native
//! tests). The passphrase that keys the cipher is kept wrapped ([`unlock`]).
//!
//! ```
//! use phantom_core::persona::{DeviceKeys, Persona};
//! use phantom_core::vault::store::MemoryStore;
//! use phantom_core::vault::unlock::MemoryKeyring;
//! use phantom_core::vault::Vault;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let persona = Persona::create("Ada", 1_700_000_000, &mut rng)?;
//! let device = DeviceKeys::generate("Laptop", 1_700_000_000, &mut rng)?;
//! let keyring = MemoryKeyring::generate(&mut rng);
//! pollster::block_on(async {
//!     let vault = Vault::import(MemoryStore::new(), &persona, device, &keyring, &mut rng).await?;
//!     let store = vault.lock();
//!     let vault = Vault::unlock(store, &keyring, None, 1_700_000_100).await?;
//!     assert_eq!(vault.persona().await?.fingerprint(), persona.fingerprint());
//!     Ok::<(), phantom_core::vault::VaultError>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cipher;
pub mod pending;
pub mod schema;
pub mod store;
pub mod unlock;
pub mod writer;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::history::TransferId;
use crate::mailbox::MailboxAddress;
use crate::persona::{
    Contact, Conversation, ConversationId, DeviceKeys, Fingerprint, Message, MessageId, Persona,
    PersonaError, SyncCursor,
};
use crate::secret::Secret;
use crate::wire::{WireError, WireRecord};
use cipher::{CipherError, VaultCipher, KEY_CHECK_ID, LOOKUP_KEY_LEN};
use schema::SchemaError;
use store::{RawStore, StoreError, StoreName, WriteOp};
use unlock::{DeviceKeyring, PinAttempts, PinParams, UnlockError, UnlockMethod, UnlockRecord};

const UNLOCK_ID: &[u8] = b"unlock";
const PIN_ATTEMPTS_ID: &[u8] = b"pin_attempts";
const PERSONA_ID: &[u8] = b"persona";
const DEVICE_ID: &[u8] = b"device";
/// This device's Olm account, sessions and messaging state, beside its keys.
const MESSAGING_ID: &[u8] = b"messaging";

/// Why the vault could not be opened, read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VaultError {
    /// The storage underneath failed; a failed write kept nothing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The vault's schema is newer than this build, damaged, or not one it migrates.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A stored record does not open: moved, altered or not a vault record.
    #[error(transparent)]
    Record(#[from] CipherError),
    /// Unwrapping or wrapping the passphrase failed: a PIN needed, wrong or too short, the
    /// device key missing or rejected.
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    /// A record opens but does not decode, or a value to store does not encode (a field
    /// too long).
    #[error("a stored record is malformed: {0}")]
    Wire(#[from] WireError),
    /// The stored persona opens but does not decode, or the persona to store does not
    /// encode.
    #[error("a stored persona is malformed: {0}")]
    Persona(#[from] PersonaError),
    /// The store holds no vault: nothing was imported on this device, or it was deleted.
    #[error("there is no vault on this device yet")]
    NoVault,
    /// The passphrase is not this vault's: its key check does not open.
    #[error("this key does not open the vault")]
    WrongKey,
    /// The persona given is not the one the vault holds (another fingerprint).
    #[error("this device already holds a different persona; unlink it first")]
    DifferentPersona,
    /// A record every vault has is not there (`"persona"`, `"device"`, `"key check"`,
    /// `"unlock record"`): the store was damaged or edited.
    #[error("the vault is missing its {0} record")]
    Missing(&'static str),
}

impl VaultError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::Store(inner) => inner.code(),
            VaultError::Schema(inner) => inner.code(),
            VaultError::Record(inner) => inner.code(),
            VaultError::Unlock(inner) => inner.code(),
            VaultError::Wire(inner) => inner.code(),
            VaultError::Persona(inner) => inner.code(),
            VaultError::NoVault => "no_vault",
            VaultError::WrongKey => "wrong_key",
            VaultError::DifferentPersona => "different_persona",
            VaultError::Missing(_) => "record_missing",
        }
    }
}

/// An unlocked vault over a store.
pub struct Vault<S: RawStore> {
    store: S,
    passphrase: Secret<32>,
    cipher: VaultCipher,
}

impl<S: RawStore> Vault<S> {
    /// Stores a persona on this device, or merges it again into the vault that already holds
    /// it, in one atomic write: a crash leaves the previous state. Messages are never
    /// touched, and device keys already here are kept.
    ///
    /// A new vault is keyed by a passphrase of this device's own, made here and wrapped by
    /// the device key: the persona's `database_passphrase`, which every linked device
    /// receives, opens no device's vault. A re-import opens the vault with the device key
    /// (`pin_required` when a PIN protects it).
    pub async fn import(
        store: S,
        persona: &Persona,
        device: DeviceKeys,
        keyring: &impl DeviceKeyring,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, VaultError> {
        let found = schema::stored_version(&store).await?;
        let passphrase = match found {
            Some(_) => {
                let record = store
                    .get(StoreName::Meta, UNLOCK_ID)
                    .await?
                    .ok_or(VaultError::Missing("unlock record"))?;
                unlock::recover(&UnlockRecord::decode(&record)?, keyring, None).await?
            }
            None => Secret::generate(rng),
        };
        let cipher = VaultCipher::derive(&passphrase);
        let existing = match found {
            Some(found) => {
                // Nothing is written before the key is known to be this vault's.
                let check = store
                    .get(StoreName::Meta, KEY_CHECK_ID)
                    .await?
                    .ok_or(VaultError::Missing("key check"))?;
                if !cipher.verify_key_check(&check) {
                    return Err(VaultError::WrongKey);
                }
                schema::migrate(&store, found).await?;
                true
            }
            None => false,
        };
        let vault = Self {
            store,
            passphrase,
            cipher,
        };
        if existing && vault.persona_core().await?.fingerprint() != persona.fingerprint() {
            return Err(VaultError::DifferentPersona);
        }
        let mut ops = vec![vault.sealed(
            StoreName::Persona,
            PERSONA_ID,
            &persona.core().encode()?,
            rng,
        )];
        // A re-import keeps this device's keys and however the user protects the vault.
        if !existing {
            let unlock = unlock::protect(&vault.passphrase, keyring, None, rng).await?;
            ops.extend([
                schema::version_op(),
                WriteOp::put(StoreName::Meta, KEY_CHECK_ID, &vault.cipher.key_check(rng)),
                WriteOp::put(StoreName::Meta, UNLOCK_ID, &unlock.encode()?),
                vault.sealed(StoreName::Device, DEVICE_ID, &device.encode()?, rng),
            ]);
        }
        for contact in &persona.contacts {
            ops.push(vault.sealed(
                StoreName::Contacts,
                contact.id.as_bytes(),
                &contact.encode()?,
                rng,
            ));
        }
        for conversation in &persona.conversations {
            ops.push(vault.sealed(
                StoreName::Conversations,
                conversation.id.as_bytes(),
                &conversation.encode()?,
                rng,
            ));
        }
        vault.store.write(ops).await?;
        Ok(vault)
    }

    /// Opens the vault with its passphrase.
    pub async fn open(store: S, passphrase: Secret<32>) -> Result<Self, VaultError> {
        let found = schema::stored_version(&store)
            .await?
            .ok_or(VaultError::NoVault)?;
        if found > schema::SCHEMA_VERSION {
            return Err(SchemaError::Newer { found }.into());
        }
        let cipher = VaultCipher::derive(&passphrase);
        let check = store
            .get(StoreName::Meta, KEY_CHECK_ID)
            .await?
            .ok_or(VaultError::Missing("key check"))?;
        if !cipher.verify_key_check(&check) {
            return Err(VaultError::WrongKey);
        }
        // Nothing is written before the key is known to be this vault's.
        schema::migrate(&store, found).await?;
        Ok(Self {
            store,
            passphrase,
            cipher,
        })
    }

    /// Unwraps the passphrase with this device's key (and the PIN, if one is set) and opens.
    /// Wrong PINs are counted in the store; each one doubles the wait before the next try.
    pub async fn unlock(
        store: S,
        keyring: &impl DeviceKeyring,
        pin: Option<&str>,
        now: u64,
    ) -> Result<Self, VaultError> {
        let record = store
            .get(StoreName::Meta, UNLOCK_ID)
            .await?
            .ok_or(VaultError::NoVault)?;
        let record = UnlockRecord::decode(&record)?;
        let UnlockMethod::Pin { salt, counted, .. } = record.method else {
            let passphrase = unlock::recover(&record, keyring, None).await?;
            return Self::open(store, passphrase).await;
        };
        let pin = pin.ok_or(UnlockError::PinRequired)?;
        let stored = store.get(StoreName::Meta, PIN_ATTEMPTS_ID).await?;
        let read = match (stored, counted) {
            (Some(sealed), true) => unlock::open_attempts(keyring, &salt, &sealed).await,
            // Deleted: as if the count had been edited.
            (None, true) => None,
            (Some(bytes), false) => PinAttempts::decode(&bytes).ok(),
            (None, false) => Some(PinAttempts::default()),
        };
        let count = |attempts: PinAttempts| async move {
            let bytes = if counted {
                unlock::seal_attempts(keyring, &salt, &attempts).await?
            } else {
                attempts.encode()?.to_vec()
            };
            Ok::<_, VaultError>(WriteOp::put(StoreName::Meta, PIN_ATTEMPTS_ID, &bytes))
        };
        let mut attempts = match read {
            Some(attempts) => attempts,
            None => {
                // Stored, so the longest wait runs from the first time it is seen.
                let damaged = PinAttempts::damaged(now);
                store.write(vec![count(damaged).await?]).await?;
                damaged
            }
        };
        if attempts.not_before > now.saturating_add(unlock::MAX_PIN_BACKOFF_SECS) {
            attempts.not_before = now.saturating_add(unlock::MAX_PIN_BACKOFF_SECS);
        }
        attempts.check(now)?;
        // Counted as wrong before the PIN is tried: a page closed during the try, or a
        // second try started meanwhile, finds the count already raised.
        let wrong = attempts.record_failure(now);
        store.write(vec![count(attempts).await?]).await?;
        let passphrase = match unlock::recover(&record, keyring, Some(pin)).await {
            Err(UnlockError::WrongPin { .. }) => return Err(wrong.into()),
            other => other?,
        };
        store
            .write(vec![count(PinAttempts::default()).await?])
            .await?;
        Self::open(store, passphrase).await
    }

    /// Whether opening this store asks for a PIN (readable while locked).
    pub async fn needs_pin(store: &S) -> Result<bool, VaultError> {
        let record = store
            .get(StoreName::Meta, UNLOCK_ID)
            .await?
            .ok_or(VaultError::NoVault)?;
        Ok(UnlockRecord::decode(&record)?.needs_pin())
    }

    /// Sets (`Some`) or removes (`None`) the PIN that unlocking asks for.
    pub async fn set_pin(
        &self,
        keyring: &impl DeviceKeyring,
        pin: Option<(&str, PinParams)>,
        rng: &mut impl CryptoRng,
    ) -> Result<(), VaultError> {
        let record = unlock::protect(&self.passphrase, keyring, pin, rng).await?;
        // A PIN starts with a sealed count of none: from now on a missing count is an edit.
        let attempts = match &record.method {
            UnlockMethod::Pin { salt, .. } => WriteOp::put(
                StoreName::Meta,
                PIN_ATTEMPTS_ID,
                &unlock::seal_attempts(keyring, salt, &PinAttempts::default()).await?,
            ),
            UnlockMethod::DeviceKey => WriteOp::Delete {
                store: StoreName::Meta,
                key: PIN_ATTEMPTS_ID.to_vec(),
            },
        };
        self.store
            .write(vec![
                WriteOp::put(StoreName::Meta, UNLOCK_ID, &record.encode()?),
                attempts,
            ])
            .await?;
        Ok(())
    }

    /// Forgets the keys; the store stays as it is.
    pub fn lock(self) -> S {
        self.store
    }

    /// The store underneath, for drivers that report on it.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The fingerprint of the persona stored.
    pub async fn fingerprint(&self) -> Result<Fingerprint, VaultError> {
        Ok(self.persona_core().await?.fingerprint())
    }

    /// The persona with its contacts and conversations.
    pub async fn persona(&self) -> Result<Persona, VaultError> {
        let mut persona = self.persona_core().await?;
        persona.contacts = self.all(StoreName::Contacts, &[]).await?;
        persona.conversations = self.all(StoreName::Conversations, &[]).await?;
        Ok(persona)
    }

    async fn persona_core(&self) -> Result<Persona, VaultError> {
        let bytes = self
            .read(StoreName::Persona, PERSONA_ID)
            .await?
            .ok_or(VaultError::Missing("persona"))?;
        Ok(Persona::decode(&bytes)?)
    }

    /// Replaces the stored persona with `persona` — the same one, now holding the authority
    /// (its contacts and conversations are stored apart and stay).
    pub async fn put_persona(
        &self,
        persona: &Persona,
        rng: &mut impl CryptoRng,
    ) -> Result<(), VaultError> {
        if self.fingerprint().await? != persona.fingerprint() {
            return Err(VaultError::DifferentPersona);
        }
        let record = self.sealed(
            StoreName::Persona,
            PERSONA_ID,
            &persona.core().encode()?,
            rng,
        );
        Ok(self.store.write(vec![record]).await?)
    }

    /// This device's own keys.
    pub async fn device(&self) -> Result<DeviceKeys, VaultError> {
        let bytes = self
            .read(StoreName::Device, DEVICE_ID)
            .await?
            .ok_or(VaultError::Missing("device"))?;
        Ok(DeviceKeys::decode(&bytes)?)
    }

    /// Stores `contact`, over any contact stored with the same id.
    pub async fn put_contact(
        &self,
        contact: &Contact,
        rng: &mut impl CryptoRng,
    ) -> Result<(), VaultError> {
        let op = self.sealed(
            StoreName::Contacts,
            contact.id.as_bytes(),
            &contact.encode()?,
            rng,
        );
        Ok(self.store.write(vec![op]).await?)
    }

    /// Stores `conversation`, over any conversation stored with the same id.
    pub async fn put_conversation(
        &self,
        conversation: &Conversation,
        rng: &mut impl CryptoRng,
    ) -> Result<(), VaultError> {
        let op = self.sealed(
            StoreName::Conversations,
            conversation.id.as_bytes(),
            &conversation.encode()?,
            rng,
        );
        Ok(self.store.write(vec![op]).await?)
    }

    /// Stores this device's messaging state (a [`crate::messaging::Messenger::snapshot`])
    /// and the messages it just sent, received or imported; for each live message, then
    /// each history message, whether it was new.
    ///
    /// History goes first, in writes of its own: a message whose identity is not held is
    /// inserted; one held with other words is replaced by the history's (the persona's own
    /// record) and the held copy kept as conflicting. Each step can be done again, so a
    /// crash before the state is stored — the history block then arrives again — loses
    /// nothing. Then the state, the live messages (a copy already held stays) and the
    /// conflicting copies go in one atomic write.
    pub async fn save_messaging(
        &self,
        state: &[u8],
        messages: MessageWrites<'_>,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<bool>, VaultError> {
        let mut history_new = Vec::new();
        if !messages.history.is_empty() {
            let inserts = self.message_ops(messages.history, rng)?;
            history_new = self.store.write_new(inserts).await?;
            let mut replacements = Vec::new();
            for (message, new) in messages.history.iter().zip(&history_new) {
                if *new {
                    continue;
                }
                let held = self
                    .message(&message.conversation_id, message.identity())
                    .await?;
                if let Some(held) = held.filter(|held| held != message) {
                    replacements.extend(
                        self.message_ops(std::slice::from_ref(message), rng)?
                            .into_iter()
                            .map(WriteOp::into_put),
                    );
                    replacements.push(self.conflict_op(&held, rng)?);
                }
            }
            if !replacements.is_empty() {
                self.store.write(replacements).await?;
            }
        }
        let mut ops = vec![self.sealed(StoreName::Device, MESSAGING_ID, state, rng)];
        ops.extend(self.message_ops(messages.live, rng)?);
        for message in messages.conflicting {
            ops.push(self.conflict_op(message, rng)?);
        }
        // The live messages' inserts come first.
        let mut new = self.store.write_new(ops).await?;
        new.truncate(messages.live.len());
        new.extend(history_new);
        Ok(new)
    }

    /// A conflicting copy, kept apart from its conversation's messages.
    fn conflict_op(
        &self,
        message: &Message,
        rng: &mut impl CryptoRng,
    ) -> Result<WriteOp, VaultError> {
        let prefix = self.lookup(b"conflicts:", message.conversation_id.as_bytes());
        let encoded = message.encode()?;
        let mut logical = identity_key(message.identity());
        logical.extend_from_slice(&Sha256::digest(&encoded));
        let mut key = prefix.to_vec();
        key.extend_from_slice(&self.lookup(b"conflict:", &logical));
        Ok(WriteOp::Insert {
            value: self.cipher.seal(StoreName::Messages, &key, &encoded, rng),
            store: StoreName::Messages,
            key,
        })
    }

    /// Copies that conflicted with a message of the conversation this device holds: the
    /// same sender and id with another body or time ([`MessageWrites::conflicting`]).
    pub async fn conflicts(
        &self,
        conversation_id: &ConversationId,
    ) -> Result<Vec<Message>, VaultError> {
        let prefix = self.lookup(b"conflicts:", conversation_id.as_bytes());
        self.all(StoreName::Messages, &prefix).await
    }

    /// This device's messaging state, if it has one yet.
    pub async fn messaging_state(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, VaultError> {
        self.read(StoreName::Device, MESSAGING_ID).await
    }

    /// Stores messages in one atomic write; a message already stored (same id) stays, so
    /// writing twice keeps one copy. For each message, whether it was new.
    pub async fn put_messages(
        &self,
        messages: &[Message],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<bool>, VaultError> {
        let ops = self.message_ops(messages, rng)?;
        Ok(self.store.write_new(ops).await?)
    }

    /// Inserts of `messages`: a message whose identity is held stays as it is.
    fn message_ops(
        &self,
        messages: &[Message],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<WriteOp>, VaultError> {
        let mut ops = Vec::with_capacity(messages.len());
        // Batches usually hold runs of one conversation: hash its id once per run.
        let mut prefix: Option<(ConversationId, [u8; LOOKUP_KEY_LEN])> = None;
        for message in messages {
            let conversation_prefix = match prefix {
                Some((id, hashed)) if id == message.conversation_id => hashed,
                _ => {
                    let hashed = self.conversation_prefix(&message.conversation_id);
                    prefix = Some((message.conversation_id, hashed));
                    hashed
                }
            };
            let key = self.message_key(&conversation_prefix, message.identity());
            let value = self
                .cipher
                .seal(StoreName::Messages, &key, &message.encode()?, rng);
            ops.push(WriteOp::Insert {
                store: StoreName::Messages,
                key,
                value,
            });
        }
        Ok(ops)
    }

    /// A conversation's messages in conversation order.
    pub async fn messages(
        &self,
        conversation_id: &ConversationId,
    ) -> Result<Vec<Message>, VaultError> {
        let prefix = self.conversation_prefix(conversation_id);
        let mut messages: Vec<Message> = self.all(StoreName::Messages, &prefix).await?;
        messages.sort_by_key(Message::order_key);
        Ok(messages)
    }

    /// A conversation's messages `page_size` at a time, in storage order (not conversation
    /// order): a conversation of any length read with bounded memory.
    pub fn message_pages(
        &self,
        conversation_id: &ConversationId,
        page_size: u32,
    ) -> MessagePages<'_, S> {
        MessagePages {
            vault: self,
            prefix: self.conversation_prefix(conversation_id),
            page_size,
            after: None,
            done: false,
        }
    }

    /// Up to `limit` of a conversation's messages from before message `before` (the latest
    /// when `None`), in conversation order; `None` if `before` is not stored here.
    pub async fn latest_messages(
        &self,
        conversation_id: &ConversationId,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Option<Vec<Message>>, VaultError> {
        let before = match before {
            Some(id) => match self.message(conversation_id, (false, *id)).await? {
                Some(message) => Some(message.order_key()),
                None => match self.message(conversation_id, (true, *id)).await? {
                    Some(message) => Some(message.order_key()),
                    None => return Ok(None),
                },
            },
            None => None,
        };
        let mut latest = std::collections::BTreeMap::new();
        let mut pages = self.message_pages(conversation_id, LATEST_PAGE);
        while let Some(page) = pages.next().await? {
            for message in page {
                let at = message.order_key();
                if before.is_some_and(|before| at >= before) {
                    continue;
                }
                latest.insert((at, message.identity().0), message);
                if latest.len() > limit {
                    latest.pop_first();
                }
            }
        }
        Ok(Some(latest.into_values().collect()))
    }

    /// One message of a conversation, if it is stored.
    /// The message of a conversation with this [`Message::identity`].
    pub async fn message(
        &self,
        conversation_id: &ConversationId,
        identity: (bool, MessageId),
    ) -> Result<Option<Message>, VaultError> {
        let prefix = self.conversation_prefix(conversation_id);
        let mut keys = vec![self.message_key(&prefix, identity)];
        if identity.0 {
            // A contact's message stored before contacts' messages had keys of their own.
            keys.push(self.message_key(&prefix, (false, identity.1)));
        }
        for key in keys {
            if let Some(record) = self.store.get(StoreName::Messages, &key).await? {
                let message =
                    Message::decode(&self.cipher.open(StoreName::Messages, &key, &record)?)?;
                if message.identity() == identity {
                    return Ok(Some(message));
                }
            }
        }
        Ok(None)
    }

    /// How many messages a conversation holds.
    pub async fn count_messages(
        &self,
        conversation_id: &ConversationId,
    ) -> Result<u32, VaultError> {
        let prefix = self.conversation_prefix(conversation_id);
        Ok(self
            .store
            .count_prefix(StoreName::Messages, &prefix)
            .await?)
    }

    /// Stores blocks of a history transfer this device offers, from block `first` on.
    pub async fn put_history_blocks(
        &self,
        transfer_id: &TransferId,
        first: u32,
        blocks: &[Vec<u8>],
        rng: &mut impl CryptoRng,
    ) -> Result<(), VaultError> {
        let ops = (first..)
            .zip(blocks)
            .map(|(index, block)| {
                self.sealed(
                    StoreName::History,
                    &history_block_id(transfer_id, index),
                    block,
                    rng,
                )
            })
            .collect();
        Ok(self.store.write(ops).await?)
    }

    /// Block `index` of a history transfer this device offers.
    pub async fn history_block(
        &self,
        transfer_id: &TransferId,
        index: u32,
    ) -> Result<Option<Vec<u8>>, VaultError> {
        let block = self
            .read(StoreName::History, &history_block_id(transfer_id, index))
            .await?;
        Ok(block.map(|block| block.to_vec()))
    }

    /// Forgets the first `blocks` blocks of a history transfer.
    pub async fn delete_history(
        &self,
        transfer_id: &TransferId,
        blocks: u32,
    ) -> Result<(), VaultError> {
        let ops = (0..blocks)
            .map(|index| WriteOp::Delete {
                store: StoreName::History,
                key: self
                    .cipher
                    .lookup_key(StoreName::History, &history_block_id(transfer_id, index))
                    .to_vec(),
            })
            .collect();
        Ok(self.store.write(ops).await?)
    }

    /// Stores `cursor`, over the cursor stored for the same mailbox.
    pub async fn put_cursor(
        &self,
        cursor: &SyncCursor,
        rng: &mut impl CryptoRng,
    ) -> Result<(), VaultError> {
        let op = self.sealed(
            StoreName::Cursors,
            cursor.mailbox.as_bytes(),
            &cursor.encode()?,
            rng,
        );
        Ok(self.store.write(vec![op]).await?)
    }

    /// The cursor stored for `mailbox`, if there is one.
    pub async fn cursor(&self, mailbox: &MailboxAddress) -> Result<Option<SyncCursor>, VaultError> {
        match self.read(StoreName::Cursors, mailbox.as_bytes()).await? {
            Some(bytes) => Ok(Some(SyncCursor::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn conversation_prefix(&self, conversation_id: &ConversationId) -> [u8; LOOKUP_KEY_LEN] {
        self.lookup(b"conversation:", conversation_id.as_bytes())
    }

    /// The lookup key of `kind` ‖ `value` in the messages store.
    fn lookup(&self, kind: &[u8], value: &[u8]) -> [u8; LOOKUP_KEY_LEN] {
        self.cipher
            .lookup_key(StoreName::Messages, &[kind, value].concat())
    }

    /// Messages are keyed by conversation, then [`Message::identity`], so a conversation
    /// is one range and a contact's message never takes the place of this persona's.
    fn message_key(
        &self,
        conversation_prefix: &[u8; LOOKUP_KEY_LEN],
        identity: (bool, MessageId),
    ) -> Vec<u8> {
        let mut key = conversation_prefix.to_vec();
        key.extend_from_slice(&self.lookup(b"message:", &identity_key(identity)));
        key
    }

    fn sealed(
        &self,
        store: StoreName,
        logical_key: &[u8],
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> WriteOp {
        let key = self.cipher.lookup_key(store, logical_key).to_vec();
        WriteOp::Put {
            value: self.cipher.seal(store, &key, plaintext, rng),
            store,
            key,
        }
    }

    async fn read(
        &self,
        store: StoreName,
        logical_key: &[u8],
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, VaultError> {
        let key = self.cipher.lookup_key(store, logical_key);
        match self.store.get(store, &key).await? {
            Some(record) => Ok(Some(self.cipher.open(store, &key, &record)?)),
            None => Ok(None),
        }
    }

    async fn all<T: WireRecord>(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<T>, VaultError> {
        let records = self.store.scan_prefix(store, prefix).await?;
        records
            .iter()
            .map(|(key, record)| Ok(T::decode(&self.cipher.open(store, key, record)?)?))
            .collect()
    }
}

/// Messages read at a time while looking for the latest ones.
const LATEST_PAGE: u32 = 1000;

/// A message identity as its key has it: the id, then `2` when a contact wrote it (this
/// persona's messages keep the key of the id alone, which every message had before).
fn identity_key((by_contact, id): (bool, MessageId)) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    if by_contact {
        key.push(2);
    }
    key
}

/// The messages one [`Vault::save_messaging`] stores with the messaging state.
#[derive(Debug, Default, Clone, Copy)]
pub struct MessageWrites<'a> {
    /// Sent or received live: a message whose identity is held already is not stored again
    /// (the answer says which were new).
    pub live: &'a [Message],
    /// From the persona's own history: stored over a different copy held with the same
    /// identity, which is kept as conflicting (the answer says which were new).
    pub history: &'a [Message],
    /// Copies that conflicted with a message held ([`Vault::conflicts`]).
    pub conflicting: &'a [Message],
}

/// A conversation read a page at a time ([`Vault::message_pages`]).
pub struct MessagePages<'v, S: RawStore> {
    vault: &'v Vault<S>,
    prefix: [u8; LOOKUP_KEY_LEN],
    page_size: u32,
    /// The last key read: the next page starts after it.
    after: Option<Vec<u8>>,
    done: bool,
}

impl<S: RawStore> MessagePages<'_, S> {
    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<Message>>, VaultError> {
        if self.done {
            return Ok(None);
        }
        let records = self
            .vault
            .store
            .scan_prefix_page(
                StoreName::Messages,
                &self.prefix,
                self.after.as_deref(),
                self.page_size,
            )
            .await?;
        self.done = (records.len() as u32) < self.page_size;
        self.after = records.last().map(|(key, _)| key.clone());
        if records.is_empty() {
            return Ok(None);
        }
        let messages = records
            .iter()
            .map(|(key, record)| {
                Ok(Message::decode(&self.vault.cipher.open(
                    StoreName::Messages,
                    key,
                    record,
                )?)?)
            })
            .collect::<Result<_, VaultError>>()?;
        Ok(Some(messages))
    }
}

fn history_block_id(transfer_id: &TransferId, index: u32) -> Vec<u8> {
    [
        b"block:".as_slice(),
        transfer_id.as_bytes(),
        &index.to_be_bytes(),
    ]
    .concat()
}

impl<S: RawStore> core::fmt::Debug for Vault<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Vault(unlocked)")
    }
}
