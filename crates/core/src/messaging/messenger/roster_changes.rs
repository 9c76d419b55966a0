//! Changes to who reads: devices added, revoked or leaving, the authority that signs
//! rosters, rosters announced and published, forks seen and settled, sealing keys signed in.

use super::*;

impl Messenger {
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
            .filter(|(_, log)| log.dismissed_up_to() != BEFORE_ALL)
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
    pub(super) fn install_and_announce(
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
    pub(super) fn add_sealing_key(
        &mut self,
        device_id: DeviceId,
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

    /// Removes a device from the roster (epoch + 1) and moves the persona to a new inbox the
    /// removed device is never told; contacts and the remaining devices get the new roster.
    pub fn revoke_device(
        &mut self,
        device_id: &DeviceId,
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
    pub(super) fn sign_and_install(
        &mut self,
        next: Roster,
    ) -> Result<(Roster, SignedRoster), MessagingError> {
        let identity = self.identity.as_ref().ok_or(MessagingError::NotAuthority)?;
        let signed = next.sign(identity)?;
        self.told_again.clear();
        Ok((
            std::mem::replace(&mut self.roster, next),
            std::mem::replace(&mut self.signed_roster, signed),
        ))
    }

    pub(super) fn remove_device(
        &mut self,
        device_id: &DeviceId,
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

    /// The roster to the profile mailbox, to each contact's inbox, and to the own devices
    /// through `own_inbox` (where they listen now).
    pub(super) fn announce_roster(
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
    pub(super) fn tell_again(
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
    pub(super) fn publish_roster(&self) -> Result<Transmit, MessagingError> {
        let identity = self.identity.as_ref().ok_or(MessagingError::NotAuthority)?;
        let item = InboxItem::PublishedRoster(self.roster.withheld().sign(identity)?);
        Ok(Transmit {
            mailbox: MailboxKeys::signed_by(identity, &self.roster.profile_read),
            bytes: item.encode()?,
        })
    }

    pub(super) fn own_other_devices(&self) -> Vec<RosterDevice> {
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
    pub(super) fn undisputed(
        &self,
        persona_key: &[u8; 32],
        devices: &[RosterDevice],
    ) -> Vec<RosterDevice> {
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
    pub(super) fn dispute(
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

    /// A roster read from a profile mailbox. The mailbox keeps every version published, so
    /// one older than the roster held is history, not news: it changes nothing, silently.
    pub(super) fn apply_published_roster(
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

    /// Another own device asked to leave: the device holding the authority takes it off
    /// the roster. A device can only ask for itself, so a hostile one gains nothing.
    pub(super) fn apply_leave(
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

    pub(super) fn apply_sender_roster(
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
    pub(super) fn apply_roster(
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
