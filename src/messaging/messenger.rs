//! The messaging state machine of one device: bytes in, events and [`Transmit`]s out.
//!
//! The driver fetches envelopes from [`Messenger::listening`] and hands each to
//! [`Messenger::receive`]; whatever a call returns as [`Transmit`]s it puts on the network.
//! Nothing here touches a network, a clock or storage.

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
use crate::mailbox::envelope::{Envelope, EnvelopeId};
use crate::mailbox::keys::{MailboxKeys, MailboxSeed};
use crate::mailbox::{MailboxAddress, Transmit};
use crate::messaging::conversation_log::{ConversationLog, Position};
use crate::messaging::outbox::{HistoryPublication, Outbox, OutboxFormat};
use crate::messaging::sealed::{
    encrypt_content, ContactCard, Content, InboxItem, ReadState, SealedKey, SealedMessage, Text,
};
use crate::messaging::sealed_sender::{SealingSecret, SenderSealedMessage};
use crate::messaging::sessions::{DeviceSessions, Seal};
use crate::messaging::MessagingError;
use crate::persona::{
    DeviceKeys, Message, MessageId, Persona, Sender, MAX_CONTACTS, MAX_CONVERSATIONS,
    MAX_DISPLAY_NAME_LEN,
};
use crate::roster::{Roster, RosterDevice, SignedRoster, MAX_DEVICES, MAX_ROSTER_LEN};
use crate::vault::store::RawStore;
use crate::vault::{Vault, VaultError};
use crate::wire::{Reader, Writer};
use zeroize::Zeroizing;

/// Longest text a device sends: with its seals and an introduction it fits one envelope.
pub const MAX_TEXT_LEN: usize = 32 * 1024;
/// Envelope ids remembered to ignore second copies; older copies fail Olm or dedupe by id.
pub const MAX_SEEN_ENVELOPES: usize = 20_000;
/// Messages read from the vault at a time when conversations are restored.
const RESTORE_PAGE: u32 = 1000;
const STATE_MAGIC: &[u8; 2] = b"MS";
/// Version 2 added the outbox, version 3 when the other devices were last active, version
/// 4 the disputed rosters, version 5 the inboxes of rosters held in their published form,
/// version 6 the keys of each waiting envelope's mailbox; older snapshots restore with what
/// they lack unknown.
const STATE_FORMAT_VERSION: u8 = 6;
const STATE_FORMAT_WITHOUT_OUTBOX: u8 = 1;
const STATE_FORMAT_WITHOUT_ACTIVITY: u8 = 2;
const STATE_FORMAT_WITHOUT_DISPUTES: u8 = 3;
const STATE_FORMAT_WITHOUT_INBOXES: u8 = 4;
const STATE_FORMAT_WITHOUT_MAILBOX_KEYS: u8 = 5;
const MAX_SESSIONS_PICKLE_LEN: usize = 16 * 1024 * 1024;

/// What an incoming envelope changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagingEvent {
    /// A new message in a conversation (a contact's, or one sent from another own device).
    Message {
        conversation_id: [u8; 16],
        message: Message,
    },
    /// Another own device read or dismissed a conversation.
    ReadStateChanged {
        conversation_id: [u8; 16],
        unread: usize,
    },
    ContactAdded {
        persona_key: [u8; 32],
        display_name: String,
    },
    RosterChanged {
        persona_key: [u8; 32],
        epoch: u64,
    },
    /// Another device joined this persona ("new device linked").
    DeviceLinked {
        device_id: [u8; 16],
        name: String,
        added_at: u64,
    },
    /// This device is no longer on its persona's roster.
    DeviceRevoked,
    /// A persona's key signed two different rosters for one epoch (on the device holding
    /// the authority: a newer one it did not sign): someone else holds the key. Until a
    /// newer roster settles it, nothing is sealed to a device that only one of them lists.
    RosterDisputed {
        persona_key: [u8; 32],
        epoch: u64,
    },
    /// Another own device offered this one the persona's history.
    HistoryOffered {
        transfer_id: [u8; 16],
    },
    /// The new device asks for a direct channel for a transfer this device offered it: `sdp`
    /// is its WebRTC offer, to answer with [`Messenger::accept_direct`].
    DirectRequested {
        transfer_id: [u8; 16],
        device_id: [u8; 16],
        sdp: String,
    },
    /// The source device answered this device's [`Messenger::request_direct`].
    DirectAccepted {
        transfer_id: [u8; 16],
        sdp: String,
    },
    /// History arrived: a block's messages (older than anything seen live, possibly; the
    /// vault keeps those it does not hold yet) and how far the transfer is.
    HistoryImported {
        messages: Vec<Message>,
        progress: HistoryProgress,
    },
    /// A text whose sender and id this device already holds, with another body or time:
    /// the one held stays; this copy is kept apart and shown as conflicting.
    ConflictingCopy {
        conversation_id: [u8; 16],
        message: Message,
    },
    /// Texts of a conversation from one device that have not arrived (a node dropped them).
    Gap {
        conversation_id: [u8; 16],
        sender_device: [u8; 32],
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
    device_id: [u8; 16],
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
    conversations: BTreeMap<[u8; 16], ConversationLog>,
    seen_envelopes: HashSet<EnvelopeId>,
    seen_order: VecDeque<EnvelopeId>,
    revoked: bool,
    /// A history transfer offered to this device, until it is complete.
    history: Option<IncomingHistory>,
    /// Transfers this device offered since it started, by id: the device each is for and
    /// its blocks for a direct channel. Not in the snapshot: after a restart the new device
    /// still has the mailbox.
    serving: HashMap<[u8; 16], ([u8; 16], Arc<DirectServer>)>,
    /// What this device must still send, saved with every snapshot.
    outbox: Outbox,
    /// Per own device (by id), the latest time (ms, its clock) it is known to have been in
    /// use: a text it sent, or a message it marked read.
    last_active: BTreeMap<[u8; 16], u64>,
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
    source: [u8; 16],
}

/// A history offer being prepared ([`Messenger::begin_history_offer`]).
pub struct HistoryOfferPlan {
    pub device_id: [u8; 16],
    pub transfer: OutgoingTransfer,
    /// Conversations to pack in this order, each with its latest messages, newest first.
    pub conversations: Vec<([u8; 16], Vec<Message>)>,
}

/// What [`Messenger::finish_history_offer`] made. The manifest and the sealed offer are in
/// the outbox, and the blocks queued behind them.
#[derive(Debug)]
pub struct OfferedHistory {
    pub publication: HistoryPublication,
    /// A transfer offered to the same device earlier whose blocks were still waiting: it
    /// is dropped, and its stored blocks can go.
    pub replaced: Option<HistoryPublication>,
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
pub fn conversation_id(a: &[u8; 32], b: &[u8; 32]) -> [u8; 16] {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    short_id(b"phantom-sync conversation v1", &[low, high])
}

/// How a contact appears as a message's sender.
pub fn contact_id(persona_key: &[u8; 32]) -> [u8; 16] {
    short_id(b"phantom-sync contact id v1", &[persona_key])
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
    /// given must be signed by the persona. Its [`Messenger::roster_entry`] goes to a device
    /// already on the roster, which adds it ([`Messenger::add_device`]).
    pub fn join(
        persona: &Persona,
        device: &DeviceKeys,
        signed: &SignedRoster,
    ) -> Result<Self, MessagingError> {
        let roster = signed.verify(&persona.persona_key)?;
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
            outbox: Outbox::default(),
            last_active: BTreeMap::new(),
            disputes: BTreeMap::new(),
            told_again: BTreeSet::new(),
        }
    }

    pub fn persona_key(&self) -> [u8; 32] {
        self.persona_key
    }

    pub fn device_id(&self) -> [u8; 16] {
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

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// When the own device `device_id` was last seen in use (ms), if it ever was.
    pub fn last_active(&self, device_id: &[u8; 16]) -> Option<u64> {
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

    /// Gives this device the authority (from a recovery code, [`Persona::take_authority`]).
    pub fn take_authority(&mut self, persona: &Persona) -> Result<(), MessagingError> {
        let identity = persona
            .authority_key()
            .ok_or(MessagingError::NotAuthority)?;
        if identity.verifying_key().to_bytes() != self.persona_key {
            return Err(crate::roster::RosterError::WrongPersona.into());
        }
        self.identity = Some(identity);
        Ok(())
    }

    pub fn contact_name(&self, persona_key: &[u8; 32]) -> Option<&str> {
        self.contacts
            .get(persona_key)
            .map(|c| c.display_name.as_str())
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// Everything this device knows but the messages (the vault stores those as records):
    /// its Olm account and sessions, rosters, contacts, read marks, streams, envelopes seen.
    /// Secret; zeroized on drop.
    pub fn snapshot(&self) -> Result<Zeroizing<Vec<u8>>, MessagingError> {
        let mut w = Writer::new();
        w.put_bytes(STATE_MAGIC);
        w.put_u8(STATE_FORMAT_VERSION);
        w.put_var_bytes(
            "sessions",
            &self.sessions.pickle()?,
            MAX_SESSIONS_PICKLE_LEN,
        )?;
        w.put_var_bytes("roster", &self.signed_roster.encode(), MAX_ROSTER_LEN)?;
        match self.previous_inbox {
            Some(inbox) => {
                w.put_u8(1);
                w.put_bytes(inbox.as_bytes());
            }
            None => w.put_u8(0),
        }
        w.put_u8(u8::from(self.revoked));
        w.put_count("contacts", self.contacts.len(), MAX_CONTACTS)?;
        for contact in self.contacts.values() {
            w.put_display_text("display_name", &contact.display_name, MAX_DISPLAY_NAME_LEN)?;
            w.put_var_bytes("roster", &contact.signed.encode(), MAX_ROSTER_LEN)?;
            w.put_u8(u8::from(contact.knows_us));
        }
        w.put_count("conversations", self.conversations.len(), MAX_CONVERSATIONS)?;
        for (id, log) in &self.conversations {
            w.put_bytes(id);
            log.write_state(&mut w)?;
        }
        w.put_count("seen", self.seen_order.len(), MAX_SEEN_ENVELOPES)?;
        for id in &self.seen_order {
            w.put_bytes(id.as_bytes());
        }
        match &self.history {
            Some(history) => {
                w.put_u8(1);
                history.offer.write(&mut w);
                w.put_bytes(&history.source);
                history.receiver.save(&mut w)?;
            }
            None => w.put_u8(0),
        }
        self.outbox.write(&mut w)?;
        // Only devices still on the roster: the list stays as short as the roster.
        let on_roster: Vec<_> = self
            .last_active
            .iter()
            .filter(|(id, _)| self.roster.devices.iter().any(|d| &d.device_id == *id))
            .collect();
        w.put_count("last_active", on_roster.len(), MAX_DEVICES)?;
        for (device_id, at_ms) in on_roster {
            w.put_bytes(device_id);
            w.put_u64(*at_ms);
        }
        w.put_count("disputes", self.disputes.len(), MAX_CONTACTS + 1)?;
        for dispute in self.disputes.values() {
            w.put_var_bytes("roster", &dispute.signed.encode(), MAX_ROSTER_LEN)?;
        }
        // The inboxes known, for rosters held as published (their own inbox withheld).
        w.put_bytes(self.roster.inbox.as_bytes());
        for contact in self.contacts.values() {
            w.put_bytes(contact.roster.inbox.as_bytes());
        }
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// This device again from a [`Messenger::snapshot`]; its conversations come back
    /// empty until [`Messenger::restore_messages`] hands each its messages.
    pub fn restore(
        persona: &Persona,
        device: &DeviceKeys,
        snapshot: &[u8],
    ) -> Result<Self, MessagingError> {
        let mut r = Reader::new(snapshot);
        // An older snapshot is read as such; anything else must be current.
        let version = match snapshot.get(STATE_MAGIC.len()) {
            Some(
                &older @ (STATE_FORMAT_WITHOUT_OUTBOX
                | STATE_FORMAT_WITHOUT_ACTIVITY
                | STATE_FORMAT_WITHOUT_DISPUTES
                | STATE_FORMAT_WITHOUT_INBOXES
                | STATE_FORMAT_WITHOUT_MAILBOX_KEYS),
            ) => older,
            _ => STATE_FORMAT_VERSION,
        };
        r.magic_and_version(STATE_MAGIC, version)?;
        let sessions =
            DeviceSessions::from_pickle(r.var_bytes("sessions", MAX_SESSIONS_PICKLE_LEN)?)?;
        let signed = SignedRoster::decode(r.var_bytes("roster", MAX_ROSTER_LEN)?)?;
        let roster = signed.verify(&persona.persona_key)?;
        let mut messenger = Self::with_roster(persona, device, sessions, signed, roster);
        messenger.previous_inbox = match r.u8("previous_inbox")? {
            0 => None,
            _ => Some(MailboxSeed::from_bytes(r.array("previous_inbox")?)),
        };
        messenger.revoked = r.u8("revoked")? != 0;
        let contacts = r.count("contacts", MAX_CONTACTS, 4 + 4 + 1)?;
        for _ in 0..contacts {
            let display_name = r.display_text("display_name", MAX_DISPLAY_NAME_LEN)?;
            let signed = SignedRoster::decode(r.var_bytes("roster", MAX_ROSTER_LEN)?)?;
            let knows_us = r.u8("knows_us")? != 0;
            let key = signed.claimed_persona()?;
            let roster = signed.verify(&key)?;
            messenger.contacts.insert(
                key,
                ContactState {
                    display_name,
                    roster,
                    signed,
                    knows_us,
                },
            );
        }
        let conversations = r.count("conversations", MAX_CONVERSATIONS, 16 + 32)?;
        for _ in 0..conversations {
            let id = r.array("conversation_id")?;
            messenger
                .conversations
                .insert(id, ConversationLog::read_state(&mut r)?);
        }
        let seen = r.count("seen", MAX_SEEN_ENVELOPES, 32)?;
        for _ in 0..seen {
            let id = EnvelopeId::from_bytes(r.array("seen")?);
            messenger.seen_envelopes.insert(id);
            messenger.seen_order.push_back(id);
        }
        if r.u8("history")? != 0 {
            let offer = HistoryOffer::read(&mut r)?;
            let source = r.array("history_source")?;
            let receiver = HistoryReceiver::restore(&offer, &mut r)?;
            messenger.history = Some(IncomingHistory {
                offer,
                receiver,
                source,
            });
        }
        if version != STATE_FORMAT_WITHOUT_OUTBOX {
            let format = if version == STATE_FORMAT_VERSION {
                OutboxFormat::Keys
            } else {
                OutboxFormat::Seeds
            };
            messenger.outbox = Outbox::read(&mut r, format)?;
        }
        if version >= STATE_FORMAT_WITHOUT_DISPUTES {
            for _ in 0..r.count("last_active", MAX_DEVICES, 16 + 8)? {
                let device_id = r.array("device_id")?;
                let at_ms = r.u64("last_active")?;
                messenger.last_active.insert(device_id, at_ms);
            }
        }
        if version >= STATE_FORMAT_WITHOUT_INBOXES {
            for _ in 0..r.count("disputes", MAX_CONTACTS + 1, 4)? {
                let signed = SignedRoster::decode(r.var_bytes("roster", MAX_ROSTER_LEN)?)?;
                let persona_key = signed.claimed_persona()?;
                let rival = signed.verify(&persona_key)?;
                messenger
                    .disputes
                    .insert(persona_key, Dispute { rival, signed });
            }
        }
        if version >= STATE_FORMAT_WITHOUT_MAILBOX_KEYS {
            let inbox = MailboxSeed::from_bytes(r.array("inbox")?);
            if messenger.roster.withholds_inbox() {
                messenger.roster.inbox = inbox;
            }
            for contact in messenger.contacts.values_mut() {
                let inbox = MailboxSeed::from_bytes(r.array("inbox")?);
                if contact.roster.withholds_inbox() {
                    contact.roster.inbox = inbox;
                }
            }
        }
        r.finish()?;
        Ok(messenger)
    }

    /// Counts every message the vault holds back into its conversation after a
    /// [`Messenger::restore`], a page at a time: only each conversation's latest stay.
    pub async fn restore_from_vault<S: RawStore>(
        &mut self,
        vault: &Vault<S>,
    ) -> Result<(), VaultError> {
        for (id, log) in &mut self.conversations {
            let mut pages = vault.message_pages(id, RESTORE_PAGE);
            while let Some(page) = pages.next().await? {
                for message in page {
                    log.insert(message);
                }
            }
        }
        Ok(())
    }

    /// Puts a conversation's stored messages back after a [`Messenger::restore`].
    pub fn restore_messages(
        &mut self,
        conversation_id: &[u8; 16],
        messages: Vec<Message>,
    ) -> Result<(), MessagingError> {
        let log = self
            .conversations
            .get_mut(conversation_id)
            .ok_or(MessagingError::UnknownConversation)?;
        for message in messages {
            log.insert(message);
        }
        Ok(())
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

    /// The card a contact adds this persona from (shown as a QR code or a link code).
    pub fn contact_card(&self) -> Result<ContactCard, MessagingError> {
        if self.signed_roster.withholds_inbox()? {
            return Err(MessagingError::InboxNotYetKnown);
        }
        Ok(ContactCard {
            display_name: self.display_name.clone(),
            roster: self.signed_roster.clone(),
        })
    }

    pub fn contacts(&self) -> impl Iterator<Item = ([u8; 32], &str)> {
        self.contacts
            .iter()
            .map(|(key, contact)| (*key, contact.display_name.as_str()))
    }

    pub fn contact_roster(&self, persona_key: &[u8; 32]) -> Option<&Roster> {
        self.contacts.get(persona_key).map(|c| &c.roster)
    }

    pub fn conversation(&self, conversation_id: &[u8; 16]) -> Option<&ConversationLog> {
        self.conversations.get(conversation_id)
    }

    pub fn conversations(&self) -> impl Iterator<Item = (&[u8; 16], &ConversationLog)> {
        self.conversations.iter()
    }

    /// Adds a contact from its card; this persona's other devices are told.
    pub fn add_contact(
        &mut self,
        card: &ContactCard,
        rng: &mut impl CryptoRng,
    ) -> Result<[u8; 32], MessagingError> {
        self.outbox.check_room()?;
        let persona_key = self.learn_contact(card)?;
        let own = self.own_other_devices();
        if let Some(bytes) = self.seal_to(&own, &Content::ContactCard(card.clone()), rng)? {
            self.outbox.push(Transmit {
                mailbox: self.roster.inbox.keys(),
                bytes,
            });
        }
        Ok(persona_key)
    }

    fn learn_contact(&mut self, card: &ContactCard) -> Result<[u8; 32], MessagingError> {
        let persona_key = card.roster.claimed_persona()?;
        if persona_key == self.persona_key {
            return Err(MessagingError::OwnPersona);
        }
        let roster = card.roster.verify(&persona_key)?;
        match self.contacts.get_mut(&persona_key) {
            Some(known) => {
                known.display_name = card.display_name.clone();
                match known.roster.check_update(&roster) {
                    Ok(()) => {
                        known.roster = roster;
                        known.signed = card.roster.clone();
                    }
                    Err(crate::roster::RosterError::EpochConflict { .. }) => {
                        self.dispute(persona_key, roster, &card.roster);
                    }
                    Err(_) => {}
                }
            }
            None => {
                self.contacts.insert(
                    persona_key,
                    ContactState {
                        display_name: card.display_name.clone(),
                        roster,
                        signed: card.roster.clone(),
                        knows_us: false,
                    },
                );
            }
        }
        self.conversation_with(persona_key);
        Ok(persona_key)
    }

    fn conversation_with(&mut self, peer: [u8; 32]) -> &mut ConversationLog {
        let id = conversation_id(&self.persona_key, &peer);
        self.conversations
            .entry(id)
            .or_insert_with(|| ConversationLog::new(peer))
    }

    /// Sends a text to a contact: one envelope, readable by each of the contact's devices
    /// and by this persona's other devices, put in both inboxes.
    pub fn send_text(
        &mut self,
        to: &[u8; 32],
        body: &str,
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Message, MessagingError> {
        if self.revoked {
            return Err(MessagingError::Revoked);
        }
        self.outbox.check_room()?;
        if body.len() > MAX_TEXT_LEN {
            return Err(MessagingError::TextTooLong {
                len: body.len(),
                max: MAX_TEXT_LEN,
            });
        }
        let contact = self
            .contacts
            .get(to)
            .ok_or(MessagingError::UnknownContact)?;
        let introduction = if contact.knows_us {
            None
        } else {
            Some(self.contact_card()?)
        };
        let contact_inbox = contact.roster.inbox;
        let mut recipients = self.undisputed(to, &contact.roster.devices);
        if recipients.is_empty() {
            return Err(MessagingError::RosterDisputed);
        }
        let own = self.own_other_devices();
        recipients.extend(own.iter().cloned());
        let log = self.conversation_with(*to);
        let sequence = log.next_sequence();
        let message = Message {
            id: MessageId::random(rng),
            conversation_id: conversation_id(&self.persona_key, to),
            sender: Sender::OwnDevice(self.device_id),
            sent_at_ms: now_ms,
            body: body.to_owned(),
        };
        let content = Content::Text(Text {
            message_id: *message.id.as_bytes(),
            recipient: *to,
            sent_at_ms: now_ms,
            sequence,
            body: body.to_owned(),
            introduction,
        });
        let bytes = self
            .seal_to(&recipients, &content, rng)?
            .ok_or(MessagingError::UnknownContact)?;
        let own_device_key = self.device_key();
        let log = self.conversation_with(*to);
        log.record_sequence(own_device_key, sequence);
        log.insert(message.clone());
        self.outbox.push(Transmit {
            mailbox: contact_inbox.keys(),
            bytes: bytes.clone(),
        });
        if !own.is_empty() {
            self.outbox.push(Transmit {
                mailbox: self.roster.inbox.keys(),
                bytes,
            });
        }
        Ok(message)
    }

    /// Marks a conversation read up to its last message, on every own device; whether
    /// that changed anything.
    pub fn mark_read(
        &mut self,
        conversation_id: &[u8; 16],
        rng: &mut impl CryptoRng,
    ) -> Result<bool, MessagingError> {
        let last = self.last_position(conversation_id)?;
        self.share_marks(conversation_id, last, (0, [0; 16]), rng)
    }

    /// Dismisses a conversation's notifications without reading it, on every own device;
    /// whether that changed anything.
    pub fn dismiss(
        &mut self,
        conversation_id: &[u8; 16],
        rng: &mut impl CryptoRng,
    ) -> Result<bool, MessagingError> {
        let last = self.last_position(conversation_id)?;
        self.share_marks(conversation_id, (0, [0; 16]), last, rng)
    }

    fn last_position(&self, conversation_id: &[u8; 16]) -> Result<Position, MessagingError> {
        self.conversations
            .get(conversation_id)
            .map(ConversationLog::last_position)
            .ok_or(MessagingError::UnknownConversation)
    }

    fn share_marks(
        &mut self,
        conversation_id: &[u8; 16],
        read_up_to: Position,
        dismissed_up_to: Position,
        rng: &mut impl CryptoRng,
    ) -> Result<bool, MessagingError> {
        let log = self
            .conversations
            .get_mut(conversation_id)
            .ok_or(MessagingError::UnknownConversation)?;
        if !log.merge_marks(read_up_to, dismissed_up_to) {
            return Ok(false);
        }
        let content = Content::ReadState(ReadState {
            conversation_id: *conversation_id,
            read_up_to: log.read_up_to(),
            dismissed_up_to: log.dismissed_up_to(),
        });
        let own = self.own_other_devices();
        if let Some(bytes) = self.seal_to(&own, &content, rng)? {
            self.outbox.push(Transmit {
                mailbox: self.roster.inbox.keys(),
                bytes,
            });
        }
        Ok(true)
    }

    /// Adds a device to the persona's roster (epoch + 1) and tells everyone: the roster is
    /// published, sent to every contact and every own device, and the new device gets a
    /// card for each contact and each conversation's read marks.
    pub fn add_device(
        &mut self,
        device: RosterDevice,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        if self.revoked {
            return Err(MessagingError::Revoked);
        }
        let next = self.roster.with_device(device.clone())?;
        let mut transmits = self.install_and_announce(next, rng)?;
        // Each contact's card, then each conversation's read marks: the history the new
        // device catches up on is only as unread as it is here.
        let cards = self.contacts.values().map(|contact| {
            Content::ContactCard(ContactCard {
                display_name: contact.display_name.clone(),
                roster: contact.signed.clone(),
            })
        });
        let marks = self
            .conversations
            .iter()
            .filter(|(_, log)| log.dismissed_up_to() != (0, [0; 16]))
            .map(|(id, log)| {
                Content::ReadState(ReadState {
                    conversation_id: *id,
                    read_up_to: log.read_up_to(),
                    dismissed_up_to: log.dismissed_up_to(),
                })
            });
        let contents: Vec<Content> = cards.chain(marks).collect();
        for content in contents {
            if let Some(bytes) = self.seal_to(std::slice::from_ref(&device), &content, rng)? {
                transmits.push(Transmit {
                    mailbox: self.roster.inbox.keys(),
                    bytes,
                });
            }
        }
        self.queue(transmits);
        Ok(())
    }

    /// Signs `next` with the authority, makes it the roster and announces it; the roster
    /// before stays if it cannot be announced.
    fn install_and_announce(
        &mut self,
        next: Roster,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Transmit>, MessagingError> {
        let previous = self.sign_and_install(next)?;
        let announced = self.announce_roster(self.roster.inbox, rng);
        if announced.is_err() {
            (self.roster, self.signed_roster) = previous;
        }
        announced
    }

    /// A device linked before devices had sealing keys is on the roster without one, and
    /// senders name themselves in the clear to its persona until it has one: this tells the
    /// device holding the authority (or, on that device, signs it in). Called once per
    /// start; returns whether it queued anything to send.
    pub fn announce_sealing_key(
        &mut self,
        rng: &mut impl CryptoRng,
    ) -> Result<bool, MessagingError> {
        let listed_without_key = self
            .roster
            .device(&self.device_id)
            .is_some_and(|entry| entry.sealing_key.is_none());
        if self.revoked || !listed_without_key {
            return Ok(false);
        }
        let key = self.sealing.public_key();
        if self.holds_authority() {
            self.add_sealing_key(self.device_id, key, rng)?;
            return Ok(true);
        }
        let own = self.own_other_devices();
        let inbox = self.roster.inbox;
        let Some(bytes) = self.seal_to(&own, &Content::SealingKey(key), rng)? else {
            return Ok(false);
        };
        self.queue(vec![Transmit {
            mailbox: inbox.keys(),
            bytes,
        }]);
        Ok(true)
    }

    /// On the device holding the authority: `device_id`'s sealing key signed into the
    /// roster, if it has none yet (a device's sealing key never changes).
    fn add_sealing_key(
        &mut self,
        device_id: [u8; 16],
        key: [u8; 32],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        let mut device = self
            .roster
            .device(&device_id)
            .cloned()
            .ok_or(crate::roster::RosterError::UnknownDevice)?;
        if device.sealing_key.is_some() {
            return Ok(Vec::new());
        }
        device.sealing_key = Some(key);
        device.check_keys()?;
        let next = self.roster.with_device(device)?;
        let transmits = self.install_and_announce(next, rng)?;
        self.queue(transmits);
        Ok(vec![MessagingEvent::RosterChanged {
            persona_key: self.persona_key,
            epoch: self.roster.epoch,
        }])
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

    /// Removes a device from the roster (epoch + 1) and moves the persona to a new inbox the
    /// removed device is never told; contacts and the remaining devices get the new roster.
    pub fn revoke_device(
        &mut self,
        device_id: &[u8; 16],
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        if self.revoked {
            return Err(MessagingError::Revoked);
        }
        if device_id == &self.device_id {
            return Err(MessagingError::RevokeSelf);
        }
        let transmits = self.remove_device(device_id, rng)?;
        self.queue(transmits);
        Ok(())
    }

    /// Whether [`Messenger::leave`] has anyone to tell: this device is still on the roster
    /// and is not the persona's last device.
    pub fn can_leave(&self) -> bool {
        // A new device whose link was refused is on no roster: it has nothing to leave.
        !self.revoked
            && self.roster.devices.len() > 1
            && self
                .roster
                .devices
                .iter()
                .any(|d| d.device_id == self.device_id)
    }

    /// Takes this device off its persona's roster (unlinking it): nothing sent from then on
    /// is sealed to it. The device holding the authority signs the roster without itself
    /// (the persona then needs the recovery code to add or remove devices); any other
    /// device asks it to ([`Content::Leave`]), and is off the roster once it did. The
    /// persona's last device cannot leave; delete its vault instead.
    pub fn leave(&mut self, rng: &mut impl CryptoRng) -> Result<(), MessagingError> {
        if self.revoked {
            return Err(MessagingError::Revoked);
        }
        let transmits = if self.holds_authority() {
            let own = self.device_id;
            self.remove_device(&own, rng)?
        } else {
            let own = self.own_other_devices();
            let inbox = self.roster.inbox;
            self.seal_to(&own, &Content::Leave, rng)?
                .map(|bytes| Transmit {
                    mailbox: inbox.keys(),
                    bytes,
                })
                .into_iter()
                .collect()
        };
        self.queue(transmits);
        self.revoked = true;
        Ok(())
    }

    /// Signs `next` with the authority and makes it the roster; returns the one before.
    fn sign_and_install(&mut self, next: Roster) -> Result<(Roster, SignedRoster), MessagingError> {
        let identity = self.identity.as_ref().ok_or(MessagingError::NotAuthority)?;
        let signed = next.sign(identity)?;
        self.told_again.clear();
        Ok((
            std::mem::replace(&mut self.roster, next),
            std::mem::replace(&mut self.signed_roster, signed),
        ))
    }

    fn remove_device(
        &mut self,
        device_id: &[u8; 16],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Transmit>, MessagingError> {
        let old_inbox = self.roster.inbox;
        let removed = self
            .roster
            .device(device_id)
            .map(|d| d.identity_key)
            .ok_or(crate::roster::RosterError::UnknownDevice)?;
        let next = self
            .roster
            .without_device(device_id, MailboxSeed::random(rng))?;
        let previous = self.sign_and_install(next)?;
        match self.announce_roster(old_inbox, rng) {
            Ok(transmits) => {
                self.sessions.forget(&removed);
                self.previous_inbox = Some(old_inbox);
                Ok(transmits)
            }
            Err(error) => {
                (self.roster, self.signed_roster) = previous;
                Err(error)
            }
        }
    }

    /// Starts offering this device's history to another device of the persona: the
    /// transfer to pack, and every conversation with messages — the most recent first —
    /// with its latest messages, newest first. Pack them and the rest of the vault with
    /// [`export_from_vault`](crate::history::vault_export::export_from_vault), then
    /// [`Messenger::finish_history_offer`].
    pub fn begin_history_offer(
        &self,
        device_id: &[u8; 16],
        rng: &mut impl CryptoRng,
    ) -> Result<HistoryOfferPlan, MessagingError> {
        if self.roster.device(device_id).is_none() || device_id == &self.device_id {
            return Err(crate::roster::RosterError::UnknownDevice.into());
        }
        let mut conversations: Vec<([u8; 16], Vec<Message>)> = self
            .conversations
            .iter()
            .map(|(id, log)| {
                (
                    *id,
                    log.recent_messages().rev().cloned().collect::<Vec<_>>(),
                )
            })
            .filter(|(_, latest)| !latest.is_empty())
            .collect();
        conversations.sort_by_key(|(_, latest)| {
            std::cmp::Reverse(latest.first().map_or(0, |m| m.sent_at_ms))
        });
        Ok(HistoryOfferPlan {
            device_id: *device_id,
            transfer: OutgoingTransfer::new(DEFAULT_BLOCK_SIZE, rng),
            conversations,
        })
    }

    /// Offers a packed transfer to its device: the manifest goes to the transfer's mailbox
    /// and the offer, sealed to that device alone, to the persona's inbox. The stored blocks
    /// are for the caller to put in the mailbox after the manifest
    /// ([`OfferedHistory::publication`]) and to serve on a direct channel.
    pub fn finish_history_offer(
        &mut self,
        device_id: &[u8; 16],
        transfer: OutgoingTransfer,
        rng: &mut impl CryptoRng,
    ) -> Result<OfferedHistory, MessagingError> {
        let FinishedTransfer {
            offer,
            manifest,
            unsealed,
        } = transfer.finish(rng)?;
        let manifest_transmit = Transmit {
            mailbox: offer.mailbox.keys(),
            bytes: manifest.clone(),
        };
        let server = DirectServer::new(manifest)?;
        let publication = HistoryPublication {
            transfer_id: offer.transfer_id,
            mailbox: offer.mailbox,
            blocks: u32::try_from(server.blocks()).unwrap_or(u32::MAX),
        };
        let sealed_offer =
            self.seal_to_own_device(device_id, &Content::HistoryOffer(offer), rng)?;
        self.outbox.push(manifest_transmit);
        self.queue(sealed_offer);
        let replaced = self.outbox.publish(*device_id, publication);
        self.serving
            .insert(publication.transfer_id, (*device_id, Arc::new(server)));
        Ok(OfferedHistory {
            publication,
            replaced,
            unsealed,
        })
    }

    fn incomplete_history(&self) -> Option<&IncomingHistory> {
        self.history
            .as_ref()
            .filter(|history| !history.receiver.is_complete())
    }

    /// Where the history offered to this device waits, until all of it arrived.
    pub fn history_mailbox(&self) -> Option<MailboxKeys> {
        self.incomplete_history()
            .map(|history| history.offer.mailbox.keys())
    }

    /// Whether the manifest of the history still to come is here (see
    /// [`HistoryReceiver::manifest_known`]).
    pub fn history_manifest_known(&self) -> bool {
        self.incomplete_history()
            .is_some_and(|history| history.receiver.manifest_known())
    }

    /// Asks the device that offered the history for a direct channel: `sdp` is this
    /// device's WebRTC offer, sealed to that device alone.
    pub fn request_direct(
        &mut self,
        sdp: String,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        let history = self
            .incomplete_history()
            .ok_or(MessagingError::NoHistoryTransfer)?;
        let signal = DirectSignal {
            transfer_id: history.offer.transfer_id,
            sdp,
        };
        let source = history.source;
        let transmits = self.seal_to_own_device(&source, &Content::DirectRequest(signal), rng)?;
        self.queue(transmits);
        Ok(())
    }

    /// What a direct channel should carry to this device: everything it does not hold yet,
    /// conversation `first`'s history before the rest.
    pub fn direct_want(&self, first: Option<[u8; 16]>) -> Option<WantFrame> {
        self.incomplete_history()
            .map(|history| history.receiver.want(history.offer.transfer_id, first))
    }

    /// Answers a [`MessagingEvent::DirectRequested`]: `sdp` is this device's WebRTC answer.
    pub fn accept_direct(
        &mut self,
        transfer_id: &[u8; 16],
        sdp: String,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        let (device_id, _) = self
            .serving
            .get(transfer_id)
            .ok_or(MessagingError::UnknownTransfer)?;
        let device_id = *device_id;
        let signal = DirectSignal {
            transfer_id: *transfer_id,
            sdp,
        };
        let transmits = self.seal_to_own_device(&device_id, &Content::DirectAccept(signal), rng)?;
        self.queue(transmits);
        Ok(())
    }

    /// The blocks of a transfer this device offered, to serve on a direct channel.
    pub fn direct_server(&self, transfer_id: &[u8; 16]) -> Option<Arc<DirectServer>> {
        self.serving
            .get(transfer_id)
            .map(|(_, server)| Arc::clone(server))
    }

    fn seal_to_own_device(
        &mut self,
        device_id: &[u8; 16],
        content: &Content,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Transmit>, MessagingError> {
        let device = self
            .roster
            .device(device_id)
            .cloned()
            .ok_or(crate::roster::RosterError::UnknownDevice)?;
        let inbox = self.roster.inbox;
        Ok(self
            .seal_to(std::slice::from_ref(&device), content, rng)?
            .map(|bytes| Transmit {
                mailbox: inbox.keys(),
                bytes,
            })
            .into_iter()
            .collect())
    }

    /// A history envelope, read from [`Messenger::history_mailbox`] or from a direct
    /// channel: a block's messages count into their conversations, taking the place of any
    /// different copy held here, and come back for the vault, which stores them over what it
    /// holds ([`Vault::save_messaging`]); anything else changes nothing.
    pub fn receive_history(&mut self, bytes: &[u8]) -> Result<Vec<MessagingEvent>, MessagingError> {
        let history = self
            .history
            .as_mut()
            .ok_or(MessagingError::NoHistoryTransfer)?;
        let receiver = &mut history.receiver;
        let messages = match receiver.accept(bytes)? {
            Received::Block(messages) => messages,
            // A history of no blocks is complete with its manifest: say so, or the new
            // device waits for blocks that will never come.
            Received::Manifest if receiver.is_complete() => Vec::new(),
            Received::Manifest | Received::Nothing => return Ok(Vec::new()),
        };
        let progress = receiver.progress();
        for message in &messages {
            if let Some(log) = self.conversations.get_mut(&message.conversation_id) {
                log.prefer(message.clone());
            }
        }
        Ok(progress
            .map(|progress| MessagingEvent::HistoryImported { messages, progress })
            .into_iter()
            .collect())
    }

    /// The roster to the profile mailbox, to each contact's inbox, and to the own devices
    /// through `own_inbox` (where they listen now).
    fn announce_roster(
        &mut self,
        own_inbox: MailboxSeed,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Transmit>, MessagingError> {
        let content = Content::Roster(self.signed_roster.clone());
        let mut transmits = vec![self.publish_roster()?];
        let contacts: Vec<(MailboxSeed, Vec<RosterDevice>)> = self
            .contacts
            .iter()
            .map(|(key, c)| (c.roster.inbox, self.undisputed(key, &c.roster.devices)))
            .collect();
        for (inbox, devices) in contacts {
            // A contact whose own roster lists a key no session opens with cannot be told
            // anything; it must not keep the persona from telling everyone else.
            if let Ok(Some(bytes)) = self.seal_to(&devices, &content, rng) {
                transmits.push(Transmit {
                    mailbox: inbox.keys(),
                    bytes,
                });
            }
        }
        let own = self.own_other_devices();
        if let Some(bytes) = self.seal_to(&own, &content, rng)? {
            transmits.push(Transmit {
                mailbox: own_inbox.keys(),
                bytes,
            });
        }
        Ok(transmits)
    }

    /// Whoever still writes to the inbox before the last revocation — a contact, or another
    /// own device — missed the roster that moved it (every node dropped its copy): the
    /// roster is sealed to it again, once per roster, where it reads. Until then what it
    /// writes still arrives: the old inbox is still read.
    fn tell_again(
        &mut self,
        message: &SealedMessage,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        let (key, devices, inbox) = if message.sender_persona == self.persona_key {
            let Some(device) = self.roster.device_by_key(&message.sender_device) else {
                return Ok(());
            };
            let old_inbox = self.previous_inbox.unwrap_or(self.roster.inbox);
            (message.sender_device, vec![device.clone()], old_inbox)
        } else {
            let Some(state) = self.contacts.get(&message.sender_persona) else {
                return Ok(());
            };
            let devices = self.undisputed(&message.sender_persona, &state.roster.devices);
            (message.sender_persona, devices, state.roster.inbox)
        };
        // A device that holds the roster only as published has no inbox to tell.
        if self.told_again.contains(&key) || self.signed_roster.withholds_inbox()? {
            return Ok(());
        }
        let content = Content::Roster(self.signed_roster.clone());
        if let Some(bytes) = self.seal_to(&devices, &content, rng)? {
            self.outbox.push(Transmit {
                mailbox: inbox.keys(),
                bytes,
            });
        }
        self.told_again.insert(key);
        Ok(())
    }

    /// The roster for the profile mailbox, with its inbox withheld: whoever held a roster
    /// of the persona reads it there, a removed device too.
    fn publish_roster(&self) -> Result<Transmit, MessagingError> {
        let identity = self.identity.as_ref().ok_or(MessagingError::NotAuthority)?;
        let item = InboxItem::PublishedRoster(self.roster.withheld().sign(identity)?);
        Ok(Transmit {
            mailbox: MailboxKeys::signed_by(identity, &self.roster.profile_read),
            bytes: item.encode()?,
        })
    }

    fn own_other_devices(&self) -> Vec<RosterDevice> {
        let others: Vec<RosterDevice> = self
            .roster
            .devices
            .iter()
            .filter(|d| d.device_id != self.device_id)
            .cloned()
            .collect();
        self.undisputed(&self.persona_key, &others)
    }

    /// Of a persona's `devices`, those its disputed rosters agree on (all while none is).
    fn undisputed(&self, persona_key: &[u8; 32], devices: &[RosterDevice]) -> Vec<RosterDevice> {
        let rival = self.disputes.get(persona_key).map(|d| &d.rival);
        devices
            .iter()
            .filter(|d| rival.is_none_or(|rival| rival.device(&d.device_id) == Some(*d)))
            .cloned()
            .collect()
    }

    /// Whether a persona's (this one's or a contact's) roster is disputed: see
    /// [`MessagingEvent::RosterDisputed`].
    pub fn is_disputed(&self, persona_key: &[u8; 32]) -> bool {
        self.disputes.contains_key(persona_key)
    }

    /// On the device holding the authority: signs the roster it holds again, one epoch
    /// past both it and the rival, with a fresh inbox, and tells everyone — the rival
    /// roster's devices are off it. (Whoever else holds the key can do the same; a stolen
    /// recovery code is the persona.)
    pub fn settle_roster(&mut self, rng: &mut impl CryptoRng) -> Result<(), MessagingError> {
        let rival_epoch = self
            .disputes
            .get(&self.persona_key)
            .map(|d| d.rival.epoch)
            .ok_or(MessagingError::NotDisputed)?;
        let old_inbox = self.roster.inbox;
        let next = self.roster.after(rival_epoch, MailboxSeed::random(rng))?;
        let previous = self.sign_and_install(next)?;
        match self.announce_roster(old_inbox, rng) {
            Ok(transmits) => {
                self.previous_inbox = Some(old_inbox);
                self.disputes.remove(&self.persona_key);
                self.queue(transmits);
                Ok(())
            }
            Err(error) => {
                (self.roster, self.signed_roster) = previous;
                Err(error)
            }
        }
    }

    /// Records a rival roster of `persona_key`: reported once per epoch.
    fn dispute(
        &mut self,
        persona_key: [u8; 32],
        rival: Roster,
        signed: &SignedRoster,
    ) -> Vec<MessagingEvent> {
        let epoch = rival.epoch;
        let known = self
            .disputes
            .get(&persona_key)
            .is_some_and(|d| d.rival == rival);
        self.disputes.insert(
            persona_key,
            Dispute {
                rival,
                signed: signed.clone(),
            },
        );
        if known {
            Vec::new()
        } else {
            vec![MessagingEvent::RosterDisputed { persona_key, epoch }]
        }
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

    /// A roster read from a profile mailbox. The mailbox keeps every version published, so
    /// one older than the roster held is history, not news: it changes nothing, silently.
    fn apply_published_roster(
        &mut self,
        signed: &SignedRoster,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        match self.apply_roster(signed) {
            Err(MessagingError::Roster(crate::roster::RosterError::EpochRegressed { .. })) => {
                Ok(Vec::new())
            }
            other => other,
        }
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

    /// Another own device asked to leave: the device holding the authority takes it off
    /// the roster. A device can only ask for itself, so a hostile one gains nothing.
    fn apply_leave(
        &mut self,
        message: &SealedMessage,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        if !self.holds_authority() {
            return Ok(Vec::new());
        }
        let leaving = self.own_sender(message)?;
        let transmits = self.remove_device(&leaving, rng)?;
        self.queue(transmits);
        Ok(vec![MessagingEvent::RosterChanged {
            persona_key: self.persona_key,
            epoch: self.roster.epoch,
        }])
    }

    /// A text was written, or a message read, no earlier than the time it carries.
    fn note_activity(&mut self, message: &SealedMessage, content: &Content) {
        let at_ms = match content {
            Content::Text(text) => text.sent_at_ms,
            Content::ReadState(state) => state.read_up_to.0.max(state.dismissed_up_to.0),
            _ => return,
        };
        if let Ok(device_id) = self.own_sender(message) {
            let latest = self.last_active.entry(device_id).or_default();
            *latest = (*latest).max(at_ms);
        }
    }

    /// The id of the own device that sealed `message`.
    fn own_sender(&self, message: &SealedMessage) -> Result<[u8; 16], MessagingError> {
        self.roster
            .device_by_key(&message.sender_device)
            .map(|device| device.device_id)
            .ok_or(MessagingError::UnknownSenderDevice)
    }

    /// A message from a persona that is not a contact is accepted only with an introduction
    /// whose roster, signed by that persona, lists the sending device.
    fn accept_introduction(
        &mut self,
        message: &SealedMessage,
        content: &Content,
    ) -> Result<MessagingEvent, MessagingError> {
        let Content::Text(Text {
            introduction: Some(card),
            ..
        }) = content
        else {
            return Err(MessagingError::UnknownSender);
        };
        let roster = card.roster.verify(&message.sender_persona)?;
        if roster.device_by_key(&message.sender_device).is_none() {
            return Err(MessagingError::UnknownSenderDevice);
        }
        let persona_key = self.learn_contact(card)?;
        Ok(MessagingEvent::ContactAdded {
            persona_key,
            display_name: card.display_name.clone(),
        })
    }

    fn receive_text(
        &mut self,
        message: &SealedMessage,
        text: Text,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        let from_own = message.sender_persona == self.persona_key;
        let (peer, sender) = if from_own {
            let device = self
                .roster
                .device_by_key(&message.sender_device)
                .ok_or(MessagingError::UnknownSenderDevice)?;
            (text.recipient, Sender::OwnDevice(device.device_id))
        } else if text.recipient == self.persona_key {
            if let Some(contact) = self.contacts.get_mut(&message.sender_persona) {
                contact.knows_us = true;
            }
            (
                message.sender_persona,
                Sender::Contact(contact_id(&message.sender_persona)),
            )
        } else {
            return Err(MessagingError::MisaddressedText);
        };
        let conversation_id = conversation_id(&self.persona_key, &peer);
        let log = self.conversation_with(peer);
        let new_in_stream = log.record_sequence(message.sender_device, text.sequence);
        let received = Message {
            id: MessageId::from_bytes(text.message_id),
            conversation_id,
            sender,
            sent_at_ms: text.sent_at_ms,
            body: text.body,
        };
        if log.held(&received).is_some_and(|held| *held != received) {
            return Ok(vec![MessagingEvent::ConflictingCopy {
                conversation_id,
                message: received,
            }]);
        }
        if !log.insert(received.clone()) || !new_in_stream {
            return Ok(Vec::new());
        }
        let mut events = vec![MessagingEvent::Message {
            conversation_id,
            message: received,
        }];
        for (sender_device, missing) in log.gaps() {
            if sender_device == message.sender_device {
                events.push(MessagingEvent::Gap {
                    conversation_id,
                    sender_device,
                    missing,
                });
            }
        }
        Ok(events)
    }

    /// Read marks from another own device: merged by maximum, never sent on.
    fn apply_marks(&mut self, state: &ReadState) -> Option<MessagingEvent> {
        let log = self.conversations.get_mut(&state.conversation_id)?;
        log.merge_marks(state.read_up_to, state.dismissed_up_to)
            .then(|| MessagingEvent::ReadStateChanged {
                conversation_id: state.conversation_id,
                unread: log.unread(),
            })
    }

    fn apply_sender_roster(
        &mut self,
        message: &SealedMessage,
        signed: &SignedRoster,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        if signed.claimed_persona()? != message.sender_persona {
            return Err(crate::roster::RosterError::WrongPersona.into());
        }
        self.apply_roster(signed)
    }

    /// A newer roster of this persona or of a contact; an older one is refused.
    fn apply_roster(
        &mut self,
        signed: &SignedRoster,
    ) -> Result<Vec<MessagingEvent>, MessagingError> {
        let persona_key = signed.claimed_persona()?;
        let mut roster = signed.verify(&persona_key)?;
        let own = persona_key == self.persona_key;
        let (current, held) = if own {
            (&self.roster, &self.signed_roster)
        } else {
            let contact = self
                .contacts
                .get(&persona_key)
                .ok_or(MessagingError::UnknownContact)?;
            (&contact.roster, &contact.signed)
        };
        // The published copy brings the devices and the epoch; the inbox stays the one known
        // until the full roster, sealed, brings the new one.
        let inbox_only = if roster.withholds_inbox() {
            roster.inbox = current.inbox;
            false
        } else {
            roster.epoch == current.epoch
                && roster.devices == current.devices
                && held.withholds_inbox()?
        };
        if !inbox_only {
            match current.check_update(&roster) {
                Err(crate::roster::RosterError::EpochConflict { .. }) => {
                    return Ok(self.dispute(persona_key, roster, signed));
                }
                checked => checked?,
            }
        }
        // The full roster of the epoch held as published: it is now the one handed on (in
        // contact cards), and brings the inbox if it moved.
        if inbox_only {
            if own {
                if roster.inbox != self.roster.inbox {
                    self.told_again.clear();
                    self.previous_inbox = Some(self.roster.inbox);
                }
                self.roster = roster;
                self.signed_roster = signed.clone();
            } else if let Some(contact) = self.contacts.get_mut(&persona_key) {
                contact.roster = roster;
                contact.signed = signed.clone();
            }
            return Ok(Vec::new());
        }
        if current == &roster {
            return Ok(Vec::new());
        }
        // This device signs every roster of its persona: a newer one that still lists it
        // was signed by someone else holding the key. (One without it is a removal, say
        // by a device the recovery code moved the authority to.)
        if own && self.holds_authority() && roster.device(&self.device_id).is_some() {
            return Ok(self.dispute(persona_key, roster, signed));
        }
        if self
            .disputes
            .get(&persona_key)
            .is_some_and(|d| roster.epoch > d.rival.epoch)
        {
            self.disputes.remove(&persona_key);
        }
        let gone: Vec<[u8; 32]> = current
            .devices
            .iter()
            .filter(|d| roster.device_by_key(&d.identity_key).is_none())
            .map(|d| d.identity_key)
            .collect();
        for key in &gone {
            self.sessions.forget(key);
        }
        let epoch = roster.epoch;
        let mut events = vec![MessagingEvent::RosterChanged { persona_key, epoch }];
        if persona_key == self.persona_key {
            events.extend(
                roster
                    .devices
                    .iter()
                    .filter(|d| {
                        d.device_id != self.device_id && current.device(&d.device_id).is_none()
                    })
                    .map(|d| MessagingEvent::DeviceLinked {
                        device_id: d.device_id,
                        name: d.name.clone(),
                        added_at: d.added_at,
                    }),
            );
            if roster.inbox != self.roster.inbox {
                self.told_again.clear();
                self.previous_inbox = Some(self.roster.inbox);
            }
            let on_roster = roster.device(&self.device_id).is_some();
            let was_on_roster = self.roster.device(&self.device_id).is_some();
            self.roster = roster;
            self.signed_roster = signed.clone();
            if was_on_roster && !on_roster {
                self.revoked = true;
                events.push(MessagingEvent::DeviceRevoked);
            }
        } else if let Some(contact) = self.contacts.get_mut(&persona_key) {
            contact.roster = roster;
            contact.signed = signed.clone();
        }
        Ok(events)
    }
}
