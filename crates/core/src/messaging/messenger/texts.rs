//! Texts and read marks: sending to a contact (copied to the persona's other devices),
//! receiving in order with holes noticed, and read and dismissed marks shared between own
//! devices.

use super::*;

impl Messenger {
    pub(super) fn conversation_with(&mut self, peer: [u8; 32]) -> &mut ConversationLog {
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
            message_id: message.id,
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
        conversation_id: &ConversationId,
        rng: &mut impl CryptoRng,
    ) -> Result<bool, MessagingError> {
        let last = self.last_position(conversation_id)?;
        self.share_marks(conversation_id, last, BEFORE_ALL, rng)
    }

    /// Dismisses a conversation's notifications without reading it, on every own device;
    /// whether that changed anything.
    pub fn dismiss(
        &mut self,
        conversation_id: &ConversationId,
        rng: &mut impl CryptoRng,
    ) -> Result<bool, MessagingError> {
        let last = self.last_position(conversation_id)?;
        self.share_marks(conversation_id, BEFORE_ALL, last, rng)
    }

    pub(super) fn last_position(
        &self,
        conversation_id: &ConversationId,
    ) -> Result<Position, MessagingError> {
        self.conversations
            .get(conversation_id)
            .map(ConversationLog::last_position)
            .ok_or(MessagingError::UnknownConversation)
    }

    pub(super) fn share_marks(
        &mut self,
        conversation_id: &ConversationId,
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

    /// A text was written, or a message read, no earlier than the time it carries.
    pub(super) fn note_activity(&mut self, message: &SealedMessage, content: &Content) {
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

    pub(super) fn receive_text(
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
            id: text.message_id,
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
    pub(super) fn apply_marks(&mut self, state: &ReadState) -> Option<MessagingEvent> {
        let log = self.conversations.get_mut(&state.conversation_id)?;
        log.merge_marks(state.read_up_to, state.dismissed_up_to)
            .then(|| MessagingEvent::ReadStateChanged {
                conversation_id: state.conversation_id,
                unread: log.unread(),
            })
    }
}
