//! Offering the persona's history to another of its devices (after a link, or again when
//! asked), and the order its writes must keep.
//!
//! The driver packs the history from its vault ([`OfferRequest::Pack`], with
//! [`export_from_vault`](crate::history::vault_export::export_from_vault)), since only it
//! reads the vault; the messenger then seals the offer and queues the manifest and the
//! blocks in its outbox. What follows is the order that loses nothing whenever the page
//! closes:
//! 1. the last block, if it was still being filled, joins the stored ones
//!    ([`OfferRequest::StoreBlock`]), so every block the outbox names is in the vault;
//! 2. the messenger's state is stored ([`OfferRequest::Save`]): from then on the outbox may
//!    send the offer, and a reload still holds it;
//! 3. only then are the blocks of the transfers it replaces deleted
//!    ([`OfferRequest::Delete`]): before that, a reload still offers one of those.
//!
//! One offer is prepared at a time.
//!
//! ```
//! use phantom_core::device::{OfferRequest, PersonaSync};
//! use phantom_core::messaging::Messenger;
//! use phantom_core::persona::{ContactId, DeviceKeys, Persona};
//! use phantom_core::testing::SeededRng;
//!
//! let mut rng = SeededRng::new(1);
//! let persona = Persona::create("Ada", 1, &mut rng)?;
//! let phone = Messenger::create(&persona, &DeviceKeys::generate("Phone", 1, &mut rng)?, 1, &mut rng)?;
//! let laptop_keys = DeviceKeys::generate("Laptop", 1, &mut rng)?;
//! let laptop = Messenger::join(&persona.for_linked_device(), &laptop_keys, phone.signed_roster())?;
//! let mut device = PersonaSync::new(phone);
//! device.messenger_mut().add_device(laptop.roster_entry(2), &mut rng)?;
//!
//! device.start_history_offer(&laptop.device_id(), &mut rng)?;
//! let mut asked = Vec::new();
//! while let Some(request) = device.poll_offer() {
//!     match request {
//!         // No messages yet: nothing to read from a vault.
//!         OfferRequest::Pack(plan) => {
//!             asked.push("pack");
//!             device.handle_offer_packed(plan.transfer, 0, &mut rng)?;
//!         }
//!         OfferRequest::StoreBlock { .. } => {
//!             asked.push("store");
//!             device.handle_offer_stored()?;
//!         }
//!         OfferRequest::Save(save) => {
//!             asked.push("save");
//!             device.handle_offer_saved(save.mark)?;
//!         }
//!         OfferRequest::Delete(_) => {
//!             asked.push("delete");
//!             device.handle_offer_stored()?;
//!         }
//!     }
//! }
//! assert_eq!(asked, ["pack", "save"], "an empty history: one block, no replaced transfer");
//! assert!(!device.is_offering());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rand_core::CryptoRng;

use super::{DeviceError, PersonaSync, Save};
use crate::history::transfer::OutgoingTransfer;
use crate::history::TransferId;
use crate::messaging::messenger::HistoryOfferPlan;
use crate::messaging::outbox::HistoryPublication;
use crate::persona::DeviceId;

/// What a history offer asks its driver to do next.
#[derive(Debug)]
pub enum OfferRequest {
    /// Pack the plan's conversations, then the rest of the vault, into its transfer,
    /// storing the blocks in the vault as they fill
    /// ([`export_from_vault`](crate::history::vault_export::export_from_vault)); answer
    /// with [`PersonaSync::handle_offer_packed`].
    Pack(Box<HistoryOfferPlan>),
    /// Store this block as block `index` of the transfer, beside the packed ones; answer
    /// with [`PersonaSync::handle_offer_stored`].
    StoreBlock {
        /// The transfer.
        transfer_id: TransferId,
        /// Its last block's index.
        index: u32,
        /// The block, sealed.
        block: Vec<u8>,
    },
    /// Store the messenger's state, the offer in its outbox; answer with
    /// [`PersonaSync::handle_offer_saved`].
    Save(Save),
    /// Delete the stored blocks of a transfer the new offer replaces; answer with
    /// [`PersonaSync::handle_offer_stored`].
    Delete(HistoryPublication),
}

/// Where the offer being prepared is.
#[derive(Debug, Default)]
pub(super) enum Offering {
    #[default]
    Idle,
    /// The plan waits to be asked for (`Some`), then to be packed.
    Packing {
        device_id: DeviceId,
        plan: Option<Box<HistoryOfferPlan>>,
    },
    /// The writes after the packing, asked for in this order; `awaiting` the answer to
    /// the one asked.
    Writing {
        /// The last block, still to store: its transfer, index and bytes.
        last_block: Option<(TransferId, u32, Vec<u8>)>,
        /// The state is still to store.
        save: bool,
        /// Transfers the offer replaces, whose blocks go once the state is stored.
        replaced: Vec<HistoryPublication>,
        awaiting: Option<Awaited>,
    },
}

/// The kind of write asked for, to match its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Awaited {
    /// A block stored or deleted.
    Blocks,
    /// The messenger's state.
    Save,
}

impl PersonaSync {
    /// Begins offering this device's history to `device_id`, another device on the
    /// persona's roster; its [`OfferRequest`]s come from [`PersonaSync::poll_offer`].
    pub fn start_history_offer(
        &mut self,
        device_id: &DeviceId,
        rng: &mut impl CryptoRng,
    ) -> Result<(), DeviceError> {
        if self.is_offering() {
            return Err(DeviceError::OfferUnderWay);
        }
        let plan = self.messenger.begin_history_offer(device_id, rng)?;
        self.offer = Offering::Packing {
            device_id: plan.device_id,
            plan: Some(Box::new(plan)),
        };
        Ok(())
    }

    /// Whether an offer is being prepared.
    pub fn is_offering(&self) -> bool {
        !matches!(self.offer, Offering::Idle)
    }

    /// The offer's next step; `None` once it is done (or while a step awaits its answer).
    pub fn poll_offer(&mut self) -> Option<OfferRequest> {
        match &mut self.offer {
            Offering::Idle => None,
            Offering::Packing { plan, .. } => plan.take().map(OfferRequest::Pack),
            Offering::Writing {
                last_block,
                save,
                replaced,
                awaiting,
            } => {
                if awaiting.is_some() {
                    return None;
                }
                if let Some((transfer_id, index, block)) = last_block.take() {
                    *awaiting = Some(Awaited::Blocks);
                    return Some(OfferRequest::StoreBlock {
                        transfer_id,
                        index,
                        block,
                    });
                }
                if std::mem::take(save) {
                    *awaiting = Some(Awaited::Save);
                    // Taken now, not when the offer was sealed: it holds whatever changed
                    // while the block was stored.
                    return match self.messenger.snapshot() {
                        Ok(state) => Some(OfferRequest::Save(Save::state_only(
                            state,
                            self.messenger.outbox().mark(),
                        ))),
                        // As in a flush: the offer stays in memory, and the next save
                        // stores it; the replaced transfers' blocks stay until then.
                        Err(_) => {
                            self.offer = Offering::Idle;
                            None
                        }
                    };
                }
                match replaced.pop() {
                    Some(publication) => {
                        *awaiting = Some(Awaited::Blocks);
                        Some(OfferRequest::Delete(publication))
                    }
                    None => {
                        self.offer = Offering::Idle;
                        None
                    }
                }
            }
        }
    }

    /// The [`OfferRequest::Pack`] is done: `transfer` holds the history, its first
    /// `stored` blocks in the vault. The offer is sealed and queued.
    pub fn handle_offer_packed(
        &mut self,
        transfer: OutgoingTransfer,
        stored: u32,
        rng: &mut impl CryptoRng,
    ) -> Result<(), DeviceError> {
        let Offering::Packing {
            device_id,
            plan: None,
        } = self.offer
        else {
            return Err(DeviceError::NoSuchRequest);
        };
        let offered = self
            .messenger
            .finish_history_offer(&device_id, transfer, rng);
        let offered = match offered {
            Ok(offered) => offered,
            Err(error) => {
                self.offer = Offering::Idle;
                return Err(error.into());
            }
        };
        let transfer_id = offered.publication.transfer_id;
        self.offer = Offering::Writing {
            last_block: offered.unsealed.map(|block| (transfer_id, stored, block)),
            save: true,
            replaced: offered.superseded,
            awaiting: None,
        };
        Ok(())
    }

    /// The [`OfferRequest::StoreBlock`] or [`OfferRequest::Delete`] asked for is done.
    pub fn handle_offer_stored(&mut self) -> Result<(), DeviceError> {
        self.offer_step_answered(Awaited::Blocks)
    }

    /// The offer's [`OfferRequest::Save`] is stored: the outbox as it was then may leave.
    pub fn handle_offer_saved(&mut self, mark: u64) -> Result<(), DeviceError> {
        self.offer_step_answered(Awaited::Save)?;
        self.messenger.outbox_mut().persisted(mark);
        Ok(())
    }

    /// The driver could not finish the offer (the vault refused a write, say): it ends.
    /// Blocks of a replaced transfer not deleted yet stay until the next offer replaces
    /// it.
    pub fn abandon_offer(&mut self) {
        self.offer = Offering::Idle;
    }

    fn offer_step_answered(&mut self, answered: Awaited) -> Result<(), DeviceError> {
        match &mut self.offer {
            Offering::Writing { awaiting, .. } if *awaiting == Some(answered) => {
                *awaiting = None;
                Ok(())
            }
            _ => Err(DeviceError::NoSuchRequest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::FlushRequest;
    use crate::messaging::Messenger;
    use crate::persona::{ContactId, DeviceKeys, Message, MessageId, Persona, Sender};
    use crate::testing::SeededRng;

    /// The phone, with the laptop on its roster and everything so far stored; the laptop's
    /// device id.
    fn phone_and_laptop(rng: &mut SeededRng) -> (PersonaSync, DeviceId) {
        let persona = Persona::create("Ada", 1, rng).expect("a persona");
        let keys = |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 1, rng);
        let phone = Messenger::create(&persona, &keys("Phone", rng).expect("keys"), 1, rng)
            .expect("a messenger");
        let laptop = Messenger::join(
            &persona.for_linked_device(),
            &keys("Laptop", rng).expect("keys"),
            phone.signed_roster(),
        )
        .expect("joined");
        let mut device = PersonaSync::new(phone);
        device
            .messenger_mut()
            .add_device(laptop.roster_entry(2), rng)
            .expect("added");
        let outbox = device.messenger_mut().outbox_mut();
        outbox.persisted(outbox.mark());
        (device, laptop.device_id())
    }

    /// What a driver with an empty vault is asked, in order, up to (not including) the
    /// answer to `stop_before` (the page closing there), by name; the transfer offered.
    fn drive(
        device: &mut PersonaSync,
        stop_before: Option<&str>,
        rng: &mut SeededRng,
    ) -> (Vec<&'static str>, Option<TransferId>) {
        let mut asked = Vec::new();
        let mut offered = None;
        while let Some(request) = device.poll_offer() {
            let name = match &request {
                OfferRequest::Pack(_) => "pack",
                OfferRequest::StoreBlock { .. } => "store",
                OfferRequest::Save(_) => "save",
                OfferRequest::Delete(_) => "delete",
            };
            asked.push(name);
            if stop_before == Some(name) {
                device.abandon_offer();
                break;
            }
            match request {
                // The last block is still being filled: one message, no block sealed.
                OfferRequest::Pack(mut plan) => {
                    let message = Message {
                        id: MessageId::from_bytes([9; 16]),
                        conversation_id: crate::persona::ConversationId::from_bytes([7; 16]),
                        sender: Sender::Contact(ContactId::from_bytes([1; 16])),
                        sent_at_ms: 1,
                        body: "before the link".into(),
                    };
                    let sealed = plan
                        .transfer
                        .push(message.conversation_id, &message, rng)
                        .expect("packed");
                    assert!(sealed.is_none());
                    offered = Some(plan.transfer.transfer_id());
                    device.handle_offer_packed(plan.transfer, 0, rng)
                }
                OfferRequest::StoreBlock {
                    transfer_id, index, ..
                } => {
                    assert_eq!((Some(transfer_id), index), (offered, 0));
                    device.handle_offer_stored()
                }
                OfferRequest::Save(save) => device.handle_offer_saved(save.mark),
                OfferRequest::Delete(old) => {
                    assert_ne!(Some(old.transfer_id), offered, "only a replaced one");
                    device.handle_offer_stored()
                }
            }
            .expect("an answer to what was asked");
        }
        (asked, offered)
    }

    /// Whether a flush now puts anything that names `transfer` (its manifest or a block).
    fn flush_names(device: &mut PersonaSync, transfer: TransferId) -> bool {
        let mut named = false;
        assert!(device.start_flush());
        while let Some(request) = device.poll_transmit() {
            match request {
                FlushRequest::HistoryBlock { publication, .. } => {
                    named |= publication.transfer_id == transfer;
                    device.handle_transmitted()
                }
                FlushRequest::Envelope(_) => device.handle_transmitted(),
                FlushRequest::Save(save) => device.handle_flush_saved(save.mark),
            }
            .expect("answered");
        }
        named
    }

    #[test]
    fn a_replaced_transfer_is_deleted_only_after_the_new_offer_is_stored() {
        let mut rng = SeededRng::new(1);
        let (mut device, laptop) = phone_and_laptop(&mut rng);
        device
            .start_history_offer(&laptop, &mut rng)
            .expect("started");
        let (asked, _) = drive(&mut device, None, &mut rng);
        assert_eq!(asked, ["pack", "store", "save"], "nothing replaced yet");

        device
            .start_history_offer(&laptop, &mut rng)
            .expect("again");
        let (asked, _) = drive(&mut device, None, &mut rng);
        assert_eq!(asked, ["pack", "store", "save", "delete"]);
        assert!(!device.is_offering());
    }

    /// The accident: the page closes after the last block is stored, before the state
    /// is. Nothing of the new offer has left, and no block of the transfer it replaces
    /// was deleted: the stored state still offers that one, whole.
    #[test]
    fn a_page_closed_before_the_save_sent_nothing_and_deleted_nothing() {
        let mut rng = SeededRng::new(2);
        let (mut device, laptop) = phone_and_laptop(&mut rng);
        device
            .start_history_offer(&laptop, &mut rng)
            .expect("started");
        drive(&mut device, None, &mut rng);
        device
            .start_history_offer(&laptop, &mut rng)
            .expect("again");
        let (asked, second) = drive(&mut device, Some("save"), &mut rng);
        assert_eq!(asked, ["pack", "store", "save"], "no delete was asked");
        assert!(!device.is_offering());
        assert!(!flush_names(&mut device, second.expect("packed")));
    }

    #[test]
    fn one_offer_at_a_time_and_answers_to_nothing_are_refused() {
        let mut rng = SeededRng::new(3);
        let (mut device, laptop) = phone_and_laptop(&mut rng);
        assert!(matches!(
            device.handle_offer_stored(),
            Err(DeviceError::NoSuchRequest)
        ));
        device
            .start_history_offer(&laptop, &mut rng)
            .expect("started");
        assert!(matches!(
            device.start_history_offer(&laptop, &mut rng),
            Err(DeviceError::OfferUnderWay)
        ));
        let Some(OfferRequest::Pack(plan)) = device.poll_offer() else {
            panic!("the packing first");
        };
        assert!(device.poll_offer().is_none(), "it awaits the packing");
        assert!(matches!(
            device.handle_offer_saved(0),
            Err(DeviceError::NoSuchRequest)
        ));
        device
            .handle_offer_packed(plan.transfer, 0, &mut rng)
            .expect("packed");
        let Some(OfferRequest::Save(save)) = device.poll_offer() else {
            panic!("an empty history is stored whole: the state next");
        };
        assert!(
            matches!(
                device.handle_offer_stored(),
                Err(DeviceError::NoSuchRequest)
            ),
            "the state was asked for, not a block"
        );
        device.handle_offer_saved(save.mark).expect("saved");
    }

    #[test]
    fn an_offer_to_a_device_not_on_the_roster_is_refused() {
        let mut rng = SeededRng::new(4);
        let (mut device, _) = phone_and_laptop(&mut rng);
        assert!(device
            .start_history_offer(&DeviceId::from_bytes([3; 16]), &mut rng)
            .is_err());
        assert!(!device.is_offering());
    }
}
