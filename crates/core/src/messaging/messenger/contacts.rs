//! Contacts: cards given and taken, and personas met through an introduction.

use super::*;

impl Messenger {
    /// The display name of the contact with this persona key, as its latest card gave it.
    pub fn contact_name(&self, persona_key: &[u8; 32]) -> Option<&str> {
        self.contacts
            .get(persona_key)
            .map(|c| c.display_name.as_str())
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

    /// Every contact: its persona key and display name, in key order.
    pub fn contacts(&self) -> impl Iterator<Item = ([u8; 32], &str)> {
        self.contacts
            .iter()
            .map(|(key, contact)| (*key, contact.display_name.as_str()))
    }

    /// The contact's roster as this device holds it, verified.
    pub fn contact_roster(&self, persona_key: &[u8; 32]) -> Option<&Roster> {
        self.contacts.get(persona_key).map(|c| &c.roster)
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

    pub(super) fn learn_contact(&mut self, card: &ContactCard) -> Result<[u8; 32], MessagingError> {
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

    /// A message from a persona that is not a contact is accepted only with an introduction
    /// whose roster, signed by that persona, lists the sending device.
    pub(super) fn accept_introduction(
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
}
