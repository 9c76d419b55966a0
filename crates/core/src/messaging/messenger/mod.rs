//! The messaging state machine of one device: bytes in, events and [`Transmit`]s out.
//!
//! The driver fetches envelopes from [`Messenger::listening`] and hands each to
//! [`Messenger::receive`]; whatever a call returns as [`Transmit`]s it puts on the network.
//! Nothing here touches a network, a clock or storage.
//!
//! This module holds the state, ids, sealing and the dispatch of what arrives; the rest is
//! by concern: `contacts` (cards and introductions), `texts` (texts, read marks,
//! holes in a sender's stream), `roster_changes` (devices added, revoked or leaving,
//! rosters announced, forks, sealing keys), `history` (offers, blocks, direct-channel
//! signals) and `snapshot` (the stored state and its versions).
//!
//! ```
//! use phantom_core::mailbox::envelope::Envelope;
//! use phantom_core::messaging::{Messenger, MessagingEvent};
//! use phantom_core::persona::{DeviceKeys, Persona};
//! # let mut rng = phantom_core::testing::SeededRng::new(3);
//! let now = 1_700_000_000;
//! let ada = Persona::create("Ada", now, &mut rng)?;
//! let phone_keys = DeviceKeys::generate("Phone", now, &mut rng)?;
//! let mut phone = Messenger::create(&ada, &phone_keys, now, &mut rng)?;
//! phone.outbox_mut().take_envelopes(); // the roster it publishes
//!
//! // A laptop links: it is given the persona, without the authority, and the signed roster.
//! let laptop_keys = DeviceKeys::generate("Laptop", now, &mut rng)?;
//! let mut laptop = Messenger::join(&ada.for_linked_device(), &laptop_keys, phone.signed_roster())?;
//! phone.add_device(laptop.roster_entry(now), &mut rng)?;
//! assert_eq!(phone.roster().epoch, 2);
//!
//! // The driver puts each envelope; here they go straight to the laptop.
//! let mut events = Vec::new();
//! for transmit in phone.outbox_mut().take_envelopes() {
//!     let envelope = Envelope::new(transmit.bytes)?;
//!     events.extend(laptop.receive(transmit.mailbox.address(), &envelope, &mut rng)?);
//! }
//! assert!(events.contains(&MessagingEvent::RosterChanged { persona_key: ada.persona_key, epoch: 2 }));
//! assert!(laptop.roster().device(&laptop.device_id()).is_some(), "on the roster now");
//! assert!(!laptop.holds_authority(), "only the phone adds and removes devices");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use crate::history::direct::{DirectServer, DirectSignal, WantFrame};
use crate::history::export::DEFAULT_BLOCK_SIZE;
use crate::history::import::HistoryProgress;
use crate::history::transfer::{
    FinishedTransfer, HistoryOffer, HistoryReceiver, OutgoingTransfer, Received,
};
use crate::history::TransferId;
use crate::mailbox::envelope::{Envelope, EnvelopeId};
use crate::mailbox::keys::{MailboxKeys, MailboxSeed};
use crate::mailbox::{MailboxAddress, Transmit};
use crate::messaging::conversation_log::{ConversationLog, Position, BEFORE_ALL};
use crate::messaging::outbox::{HistoryPublication, Outbox, OutboxFormat};
use crate::messaging::sealed::{
    encrypt_content, ContactCard, Content, InboxItem, ReadState, SealedKey, SealedMessage, Text,
};
use crate::messaging::sealed_sender::{SealingSecret, SenderSealedMessage};
use crate::messaging::sessions::{DeviceSessions, Seal};
use crate::messaging::MessagingError;
use crate::persona::{
    ContactId, ConversationId, DeviceId, DeviceKeys, Message, MessageId, Persona, Sender,
    MAX_CONTACTS, MAX_CONVERSATIONS, MAX_DISPLAY_NAME_LEN,
};
use crate::roster::{Roster, RosterDevice, RosterError, SignedRoster, MAX_DEVICES, MAX_ROSTER_LEN};
use crate::vault::store::RawStore;
use crate::vault::{Vault, VaultError};
use crate::wire::{Reader, Writer};
use zeroize::Zeroizing;

mod contacts;
mod history;
mod roster_changes;
mod snapshot;
mod texts;

/// Longest text a device sends: with its seals and an introduction it fits one envelope.
pub const MAX_TEXT_LEN: usize = 32 * 1024;
/// Envelope ids remembered to ignore second copies; older copies fail Olm or dedupe by id.
pub const MAX_SEEN_ENVELOPES: usize = 20_000;

/// What an incoming envelope changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagingEvent {
    /// A new message in a conversation (a contact's, or one sent from another own device).
    Message {
        /// The conversation it belongs to ([`conversation_id`]).
        conversation_id: ConversationId,
        /// The message, to store in the vault and show.
        message: Message,
    },
    /// Another own device read or dismissed a conversation.
    ReadStateChanged {
        /// The conversation whose marks moved.
        conversation_id: ConversationId,
        /// How many of its messages are unread now.
        unread: usize,
    },
    /// A persona became a contact: its card came from another own device, or it introduced
    /// itself with a first text.
    ContactAdded {
        /// The contact's persona identity key.
        persona_key: [u8; 32],
        /// The name its card gives.
        display_name: String,
    },
    /// A newer roster of this persona or of a contact was accepted: its devices or its
    /// inbox changed.
    RosterChanged {
        /// Whose roster: this persona's or a contact's identity key.
        persona_key: [u8; 32],
        /// The epoch of the roster now held.
        epoch: u64,
    },
    /// Another device joined this persona ("new device linked").
    DeviceLinked {
        /// The new device's id.
        device_id: DeviceId,
        /// Its name, as its roster entry gives it.
        name: String,
        /// When it was added, in Unix seconds, as its roster entry gives it.
        added_at: u64,
    },
    /// This device is no longer on its persona's roster.
    DeviceRevoked,
    /// A persona's key signed two different rosters for one epoch (on the device holding
    /// the authority: a newer one it did not sign): someone else holds the key. Until a
    /// newer roster settles it, nothing is sealed to a device that only one of them lists.
    RosterDisputed {
        /// The persona whose key signed both: this one or a contact.
        persona_key: [u8; 32],
        /// The epoch of the rival roster, the one not held.
        epoch: u64,
    },
    /// Another own device offered this one the persona's history.
    HistoryOffered {
        /// The offered transfer's id.
        transfer_id: TransferId,
    },
    /// The new device asks for a direct channel for a transfer this device offered it: `sdp`
    /// is its WebRTC offer, to answer with [`Messenger::accept_direct`].
    DirectRequested {
        /// The transfer this device offered to it.
        transfer_id: TransferId,
        /// The id of the new device asking.
        device_id: DeviceId,
        /// The new device's WebRTC offer (SDP).
        sdp: String,
    },
    /// The source device answered this device's [`Messenger::request_direct`].
    DirectAccepted {
        /// The transfer this device is receiving.
        transfer_id: TransferId,
        /// The source device's WebRTC answer (SDP).
        sdp: String,
    },
    /// History arrived: a block's messages (older than anything seen live, possibly; the
    /// vault keeps those it does not hold yet) and how far the transfer is.
    HistoryImported {
        /// The block's messages, for the vault to store those it does not hold.
        messages: Vec<Message>,
        /// How far the transfer is.
        progress: HistoryProgress,
    },
    /// A text whose sender and id this device already holds, with another body or time:
    /// the one held stays; this copy is kept apart and shown as conflicting.
    ConflictingCopy {
        /// The conversation it belongs to.
        conversation_id: ConversationId,
        /// The conflicting copy, as it arrived.
        message: Message,
    },
    /// Texts of a conversation from one device that have not arrived (a node dropped them).
    Gap {
        /// The conversation the texts belong to.
        conversation_id: ConversationId,
        /// The Olm identity key of the device that sent them.
        sender_device: [u8; 32],
        /// Their sequence numbers in that device's stream: the first few, at most
        /// [`MAX_REPORTED_GAP`](crate::messaging::conversation_log::MAX_REPORTED_GAP).
        missing: Vec<u64>,
    },
}

struct ContactState {
    display_name: String,
    roster: Roster,
    /// The roster as its persona signed it, to hand on to own devices.
    signed: SignedRoster,
    /// Whether the contact has written to us, so it knows our roster and needs no introduction.
    knows_us: bool,
}

/// One device of a persona, able to message the persona's contacts and its own devices.
pub struct Messenger {
    /// The persona identity signing key, on the one device that holds the authority to
    /// change the roster.
    identity: Option<SigningKey>,
    persona_key: [u8; 32],
    display_name: String,
    device_id: DeviceId,
    device_name: String,
    sessions: DeviceSessions,
    /// Opens the headers of messages sealed to this device by sealed sender.
    sealing: SealingSecret,
    roster: Roster,
    /// `roster` as the authority signed it: what this device hands on.
    signed_roster: SignedRoster,
    /// The inbox before the last revocation, read until contacts have moved.
    previous_inbox: Option<MailboxSeed>,
    contacts: BTreeMap<[u8; 32], ContactState>,
    conversations: BTreeMap<ConversationId, ConversationLog>,
    seen_envelopes: HashSet<EnvelopeId>,
    seen_order: VecDeque<EnvelopeId>,
    revoked: bool,
    /// A history transfer offered to this device, until it is complete.
    history: Option<IncomingHistory>,
    /// Transfers this device offered since it started, by id: the device each is for and
    /// its blocks for a direct channel. Not in the snapshot: after a restart the new device
    /// still has the mailbox.
    serving: HashMap<TransferId, (DeviceId, Arc<DirectServer>)>,
    /// The latest transfer offered to each device (by id) since this device started: the
    /// one whose stored blocks the next offer to that device replaces.
    offered: HashMap<DeviceId, HistoryPublication>,
    /// What this device must still send, saved with every snapshot.
    outbox: Outbox,
    /// Per own device (by id), the latest time (ms, its clock) it is known to have been in
    /// use: a text it sent, or a message it marked read.
    last_active: BTreeMap<DeviceId, u64>,
    /// Per persona (this one or a contact), a roster its key signed that disputes the one
    /// held, until a newer roster settles it.
    disputes: BTreeMap<[u8; 32], Dispute>,
    /// Contacts (by persona key) and own devices (by device key) sealed the roster again
    /// since the inbox last moved ([`Messenger::receive`]).
    told_again: BTreeSet<[u8; 32]>,
}

/// A second roster signed by a persona's key, which the roster held does not explain.
struct Dispute {
    rival: Roster,
    signed: SignedRoster,
}

struct IncomingHistory {
    offer: HistoryOffer,
    receiver: HistoryReceiver,
    /// The own device that offered it, the one to ask for a direct channel.
    source: DeviceId,
}

/// A history offer being prepared ([`Messenger::begin_history_offer`]).
pub struct HistoryOfferPlan {
    /// The own device the history is for.
    pub device_id: DeviceId,
    /// The transfer to pack the conversations and the rest of the vault into, then hand to
    /// [`Messenger::finish_history_offer`].
    pub transfer: OutgoingTransfer,
    /// Conversations to pack in this order, each with its latest messages, newest first.
    pub conversations: Vec<(ConversationId, Vec<Message>)>,
}

impl core::fmt::Debug for HistoryOfferPlan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The latest messages are the persona's own: counted, never shown.
        f.debug_struct("HistoryOfferPlan")
            .field("device_id", &self.device_id)
            .field("conversations", &self.conversations.len())
            .finish_non_exhaustive()
    }
}

/// What [`Messenger::finish_history_offer`] made. The manifest and the sealed offer are in
/// the outbox, and the blocks queued behind them.
#[derive(Debug)]
pub struct OfferedHistory {
    /// The transfer's blocks to put in its mailbox, queued in the outbox after its
    /// manifest and offer.
    pub publication: HistoryPublication,
    /// Transfers offered to the same device before, which this one replaces: their
    /// stored blocks can go. The one offered earlier since this device started, and one
    /// a reload left waiting in the outbox, each once.
    pub superseded: Vec<HistoryPublication>,
    /// The last block, if it was still being filled: it is block `publication.blocks - 1`,
    /// to store with the others.
    pub unsealed: Option<Vec<u8>>,
}

impl core::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Messenger")
            .field("device_name", &self.device_name)
            .field("epoch", &self.roster.epoch)
            .field("contacts", &self.contacts.len())
            .field("conversations", &self.conversations.len())
            .finish_non_exhaustive()
    }
}

/// Where a persona's signed roster is published: its identity key writes there, and
/// whoever holds one of its rosters (`profile_read`) reads it.
pub fn profile_keys(roster: &Roster) -> MailboxKeys {
    MailboxKeys::reader(roster.persona_key, &roster.profile_read)
}

/// The conversation between two personas: the same id on both sides.
pub fn conversation_id(a: &[u8; 32], b: &[u8; 32]) -> ConversationId {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    ConversationId::from_bytes(short_id(b"phantom-sync conversation v1", &[low, high]))
}

/// How a contact appears as a message's sender.
pub fn contact_id(persona_key: &[u8; 32]) -> ContactId {
    ContactId::from_bytes(short_id(b"phantom-sync contact id v1", &[persona_key]))
}

/// The first 16 bytes of SHA-256 over a domain and keys.
fn short_id(domain: &[u8], keys: &[&[u8; 32]]) -> [u8; 16] {
    let digest = keys
        .iter()
        .fold(Sha256::new().chain_update(domain), |hash, key| {
            hash.chain_update(key)
        })
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

impl Messenger {
    /// The first device of a new persona: roster epoch 1, a fresh inbox, and the roster
    /// published for contacts.
    pub fn create(
        persona: &Persona,
        device: &DeviceKeys,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, MessagingError> {
        let identity = persona
            .authority_key()
            .ok_or(MessagingError::NotAuthority)?;
        let sessions = DeviceSessions::new();
        let sealing_key = SealingSecret::derive(&device.identity_seed).public_key();
        let entry = sessions.roster_device(device.device_id, &device.name, now, sealing_key);
        let mut profile_read = [0u8; 32];
        rng.fill_bytes(&mut profile_read);
        let roster = Roster::first(persona.persona_key, MailboxSeed::random(rng), profile_read)
            .with_device(entry)?;
        let signed = roster.sign(&identity)?;
        let mut messenger = Self::with_roster(persona, device, sessions, signed, roster);
        let publish = messenger.publish_roster()?;
        messenger.outbox.push(publish);
        Ok(messenger)
    }

    /// A new device of an existing persona, before it is on the roster: the roster it was
    /// given must be signed by the persona, list a device and hold the inbox
    /// ([`RosterError::Incomplete`]). Its [`Messenger::roster_entry`] goes to a device
    /// already on the roster, which adds it ([`Messenger::add_device`]).
    pub fn join(
        persona: &Persona,
        device: &DeviceKeys,
        signed: &SignedRoster,
    ) -> Result<Self, MessagingError> {
        let roster = signed.verify(&persona.persona_key)?;
        if roster.devices.is_empty() || roster.withholds_inbox() {
            return Err(RosterError::Incomplete.into());
        }
        Ok(Self::with_roster(
            persona,
            device,
            DeviceSessions::new(),
            signed.clone(),
            roster,
        ))
    }

    fn with_roster(
        persona: &Persona,
        device: &DeviceKeys,
        sessions: DeviceSessions,
        signed_roster: SignedRoster,
        roster: Roster,
    ) -> Self {
        Self {
            persona_key: persona.persona_key,
            identity: persona.authority_key(),
            display_name: persona.display_name.clone(),
            device_id: device.device_id,
            device_name: device.name.clone(),
            sessions,
            sealing: SealingSecret::derive(&device.identity_seed),
            roster,
            signed_roster,
            previous_inbox: None,
            contacts: BTreeMap::new(),
            conversations: BTreeMap::new(),
            seen_envelopes: HashSet::new(),
            seen_order: VecDeque::new(),
            revoked: false,
            history: None,
            serving: HashMap::new(),
            offered: HashMap::new(),
            outbox: Outbox::default(),
            last_active: BTreeMap::new(),
            disputes: BTreeMap::new(),
            told_again: BTreeSet::new(),
        }
    }

    /// The persona's identity key (Ed25519): who this device speaks for.
    pub fn persona_key(&self) -> [u8; 32] {
        self.persona_key
    }

    /// This device's id, as its roster entry lists it.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// This device's Olm identity key.
    pub fn device_key(&self) -> [u8; 32] {
        self.sessions.identity_key()
    }

    /// This device as a roster lists it.
    pub fn roster_entry(&self, now: u64) -> RosterDevice {
        self.sessions.roster_device(
            self.device_id,
            &self.device_name,
            now,
            self.sealing.public_key(),
        )
    }

    /// The persona's roster as this device holds it, verified.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// When the own device `device_id` was last seen in use (ms), if it ever was.
    pub fn last_active(&self, device_id: &DeviceId) -> Option<u64> {
        self.last_active.get(device_id).copied()
    }

    /// The persona's roster, signed: what a new device is given when it links.
    pub fn signed_roster(&self) -> &SignedRoster {
        &self.signed_roster
    }

    /// Whether this device holds the persona's authority: it alone adds and removes devices.
    pub fn holds_authority(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether this device is off its persona's roster (revoked, or it left): it then
    /// refuses to send texts or change the roster ([`MessagingError::Revoked`]).
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// The mailboxes to fetch: the persona inbox (and the one before a revocation), then
    /// the persona's profile mailbox, where a device taken off the roster — to which
    /// nothing is sealed any more — learns that it was, then each contact's: a roster
    /// change whose sealed announcement never arrived is read there at the next poll.
    pub fn listening(&self) -> Vec<MailboxKeys> {
        let mut mailboxes = vec![self.roster.inbox.keys()];
        mailboxes.extend(self.previous_inbox.map(|inbox| inbox.keys()));
        mailboxes.push(profile_keys(&self.roster));
        mailboxes.extend(self.contacts.values().map(|c| profile_keys(&c.roster)));
        mailboxes
    }

    /// The conversation with this id, if this device holds it.
    pub fn conversation(&self, conversation_id: &ConversationId) -> Option<&ConversationLog> {
        self.conversations.get(conversation_id)
    }

    /// Every conversation this device holds, by id (in id order).
    pub fn conversations(&self) -> impl Iterator<Item = (&ConversationId, &ConversationLog)> {
        self.conversations.iter()
    }

    fn queue(&mut self, transmits: Vec<Transmit>) {
        for transmit in transmits {
            self.outbox.push(transmit);
        }
    }

    /// What this device must still send.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The outbox, to take what leaves ([`Outbox::next_envelope`], then
    /// [`Outbox::envelope_sent`] once a write quorum stored it) and to say what was stored
    /// ([`Outbox::persisted`]).
    pub fn outbox_mut(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// The envelope bytes of `content` sealed to `devices`; `None` if there are none.
    fn seal_to(
        &mut self,
        devices: &[RosterDevice],
        content: &Content,
        rng: &mut impl CryptoRng,
    ) -> Result<Option<Vec<u8>>, MessagingError> {
        if devices.is_empty() {
            return Ok(None);
        }
        let sender_device = self.device_key();
        let encrypted = encrypt_content(content, &self.persona_key, &sender_device, rng)?;
        let key = encrypted.key.to_bytes();
        let mut seals = Vec::with_capacity(devices.len() + 1);
        for device in devices {
            seals.push(self.sessions.seal(device, key.as_ref())?);
        }
        let mut message = SealedMessage {
            sender_persona: self.persona_key,
            sender_device,
            seals,
            nonce: encrypted.nonce,
            body: encrypted.body,
        };
        let mut sealing_keys = Vec::with_capacity(devices.len() + 1);
        for device in devices {
            sealing_keys.extend(device.sealing_key);
        }
        let item = if sealing_keys.len() == devices.len() {
            // Copies come back through the persona's own inbox: a header naming this
            // device as the sender, with an empty seal, tells it the copy is its own.
            message.seals.push(Seal {
                recipient: sender_device,
                message_type: 0,
                ciphertext: Vec::new(),
            });
            sealing_keys.push(self.sealing.public_key());
            InboxItem::SenderSealed(SenderSealedMessage::seal(&message, &sealing_keys, rng)?)
        } else {
            InboxItem::Sealed(message)
        };
        let bytes = item.encode()?;
        Envelope::new(bytes.clone())?;
        Ok(Some(bytes))
    }

    /// Applies one envelope read from `mailbox`, an inbox or a profile mailbox. A second
    /// copy of an envelope, or a message seen before under another envelope, changes
    /// nothing. A published roster counts only from its own persona's profile mailbox
    /// (`roster_out_of_place` elsewhere), checked before the envelope counts as seen: a
    /// copy planted in an inbox cannot make the genuine one look seen. `rng` is for what an
    /// envelope makes this device send (the roster without a device that asked to leave).
    pub fn receive(
        &mut self,
        mailbox: MailboxAddress,
        envelope: &Envelope,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        let item = InboxItem::decode(envelope.as_bytes())?;
        if let InboxItem::PublishedRoster(signed) = &item {
            if mailbox != profile_keys(&signed.claimed()?).address() {
                return Err(MessagingError::RosterOutOfPlace);
            }
        }
        let id = envelope.id();
        if !self.seen_envelopes.insert(id) {
            return Ok(Vec::new());
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > MAX_SEEN_ENVELOPES {
            if let Some(oldest) = self.seen_order.pop_front() {
                self.seen_envelopes.remove(&oldest);
            }
        }
        let message = match item {
            InboxItem::PublishedRoster(signed) => return self.apply_published_roster(&signed),
            InboxItem::Sealed(message) => message,
            InboxItem::SenderSealed(sealed) => sealed
                .open(&self.sealing, &self.device_key())
                .ok_or(MessagingError::NotForThisDevice)?,
        };
        let events = self.receive_sealed(&message, rng)?;
        if self.previous_inbox.map(|inbox| inbox.address()) == Some(mailbox) {
            self.tell_again(&message, rng)?;
        }
        Ok(events)
    }

    fn receive_sealed(
        &mut self,
        message: &SealedMessage,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        let own_key = self.device_key();
        if message.sender_persona == self.persona_key && message.sender_device == own_key {
            return Ok(Vec::new());
        }
        let seal = message
            .seal_for(&own_key)
            .ok_or(MessagingError::NotForThisDevice)?;
        let sender_roster = if message.sender_persona == self.persona_key {
            Some(&self.roster)
        } else {
            self.contacts
                .get(&message.sender_persona)
                .map(|c| &c.roster)
        };
        if let Some(roster) = sender_roster {
            if roster.device_by_key(&message.sender_device).is_none() {
                return Err(MessagingError::UnknownSenderDevice);
            }
        }
        let known_sender = sender_roster.is_some();
        // The session moves on only for a seal whose content opens (see DeviceSessions::open).
        let plaintext = self.sessions.open(&message.sender_device, seal, |opened| {
            let key = SealedKey::from_bytes(opened)?;
            message
                .decrypt(&key)
                .ok_or(MessagingError::ContentUndecryptable)
        })?;
        let content = Content::decode(&plaintext)?;
        let mut events = Vec::new();
        if !known_sender {
            events.push(self.accept_introduction(message, &content)?);
        }
        let from_own = message.sender_persona == self.persona_key;
        if from_own {
            self.note_activity(message, &content);
        }
        match content {
            Content::Text(text) => events.extend(self.receive_text(message, text)?),
            Content::ReadState(state) if from_own => events.extend(self.apply_marks(&state)),
            Content::ContactCard(card) if from_own => {
                let known = self.contacts.contains_key(&card.roster.claimed_persona()?);
                let persona_key = self.learn_contact(&card)?;
                if !known {
                    events.push(MessagingEvent::ContactAdded {
                        persona_key,
                        display_name: card.display_name,
                    });
                }
            }
            Content::Roster(signed) => events.extend(self.apply_sender_roster(message, &signed)?),
            Content::HistoryOffer(offer) if from_own => {
                let source = self.own_sender(message)?;
                events.push(MessagingEvent::HistoryOffered {
                    transfer_id: offer.transfer_id,
                });
                let receiver = HistoryReceiver::new(&offer);
                self.history = Some(IncomingHistory {
                    offer,
                    receiver,
                    source,
                });
            }
            Content::DirectRequest(signal) if from_own => {
                let device_id = self.own_sender(message)?;
                let offered_to = self.serving.get(&signal.transfer_id).map(|(to, _)| *to);
                if offered_to != Some(device_id) {
                    return Err(MessagingError::UnknownTransfer);
                }
                events.push(MessagingEvent::DirectRequested {
                    transfer_id: signal.transfer_id,
                    device_id,
                    sdp: signal.sdp,
                });
            }
            Content::DirectAccept(signal) if from_own => {
                let device_id = self.own_sender(message)?;
                let expected = self
                    .incomplete_history()
                    .map(|h| (h.offer.transfer_id, h.source));
                if expected != Some((signal.transfer_id, device_id)) {
                    return Err(MessagingError::UnknownTransfer);
                }
                events.push(MessagingEvent::DirectAccepted {
                    transfer_id: signal.transfer_id,
                    sdp: signal.sdp,
                });
            }
            Content::Leave if from_own => events.extend(self.apply_leave(message, rng)?),
            Content::SealingKey(key) if from_own => {
                let device_id = self.own_sender(message)?;
                if self.holds_authority() {
                    events.extend(self.add_sealing_key(device_id, key, rng)?);
                }
            }
            Content::ReadState(_)
            | Content::Leave
            | Content::SealingKey(_)
            | Content::ContactCard(_)
            | Content::HistoryOffer(_)
            | Content::DirectRequest(_)
            | Content::DirectAccept(_) => return Err(MessagingError::NotFromOwnDevice),
        }
        Ok(events)
    }

    /// The id of the own device that sealed `message`.
    fn own_sender(&self, message: &SealedMessage) -> Result<DeviceId, MessagingError> {
        self.roster
            .device_by_key(&message.sender_device)
            .map(|device| device.device_id)
            .ok_or(MessagingError::UnknownSenderDevice)
    }
}
