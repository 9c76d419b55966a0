//! The messenger's state as the vault stores it, and the device again from it: one
//! encoding with a version, older versions still read.

use super::*;

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

impl Messenger {
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
            w.put_bytes(id.as_bytes());
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
                w.put_bytes(history.source.as_bytes());
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
            w.put_bytes(device_id.as_bytes());
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
            let id = ConversationId::from_bytes(r.array("conversation_id")?);
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
            let source = DeviceId::from_bytes(r.array("history_source")?);
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
                let device_id = DeviceId::from_bytes(r.array("device_id")?);
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
        conversation_id: &ConversationId,
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
}
