//! The JS facade: `SyncManager`, the seed's API, for the PWA and for embedders.
//!
//! A `SyncManager` is one device profile: its own IndexedDB vault and WebCrypto device key.
//! It holds the sans-IO pairing machines and hands them the browser's clock and randomness;
//! bytes it returns go to a mailbox, bytes it is given came from one. Errors reach JS as
//! `Error` objects with a stable `code` (see [`error`]).
//!
//! ```js
//! const phone = await SyncManager.open("phone", "Phone");
//! await phone.createPersona("Ada");
//! const invitation = phone.generatePairingInvitation();      // { linkCode, svg, expiresAt }
//! const laptop = await SyncManager.open("laptop", "Laptop");
//! const words = laptop.acceptInvitation(invitation.linkCode);
//! const choice = phone.handleSyncRequest(laptop.pollTransmit().bytes);
//! phone.approve(choice.candidates.findIndex(c => c.join(" ") === words.join(" ")));
//! await laptop.decryptAndImportPersona(phone.pollTransmit().bytes);
//! ```

mod direct;
pub mod error;
#[cfg(feature = "fixtures")]
mod fixtures;
mod messaging;
mod offer;
pub mod views;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use rand_core::UnwrapErr;
use wasm_bindgen::prelude::*;

use crate::device::{Approval, Device, DeviceError, PinCheck};
use crate::drivers::indexeddb::IndexedDbStore;
use crate::drivers::qr;
use crate::drivers::webcrypto::WebCryptoKeyring;
use crate::mailbox::envelope::Envelope;
use crate::mailbox::transport::MailboxTransport;
use crate::network::client::{connect_browser, MailboxClient};
use crate::network::Replication;
use crate::pairing::channel::{ChannelMessage, MessageKind};
use crate::pairing::invitation::{Capabilities, PairingInvitation};
use crate::pairing::messages::PersonaPayload;
use crate::pairing::state::SyncState;
use crate::pairing::{Pairing, PairingEvent, Resumable, SourcePairing, Transmit};
use crate::persona::{DeviceKeys, Persona, RecoveryCode};
use crate::roster::RosterDevice;
use crate::vault::store::StoreError;
use crate::vault::unlock::PinParams;
use crate::vault::writer::SingleWriter;
use crate::vault::{pending, schema, MessageWrites, Vault};
use error::FacadeError;

/// A profile's IndexedDB, written by this manager only until another opens the profile.
type DeviceStore = Rc<SingleWriter<IndexedDbStore>>;

/// The ways to catch up on history a browser offers, in the codes it shows.
const CAPABILITIES: Capabilities =
    Capabilities(Capabilities::HISTORY_WEBRTC.0 | Capabilities::HISTORY_MAILBOX.0);

/// A code to show: its link code, its QR code and its expiry.
fn invitation_view(invitation: &PairingInvitation) -> Result<InvitationView, FacadeError> {
    let link_code = invitation.to_link_code();
    Ok(InvitationView {
        svg: qr::render_svg(&link_code)?,
        link_code,
        expires_at: invitation.expires_at as f64,
    })
}

/// A camera frame as the scan screen sees it: the codes read, or where a code not read
/// yet lies.
fn look_at_frame(width: u32, height: u32, rgba: &[u8]) -> Result<views::FrameView, FacadeError> {
    let reading = qr::read_rgba(width, height, rgba)?;
    Ok(views::FrameView {
        codes: reading.texts,
        seen_at: reading
            .unread
            .as_ref()
            .map(|seen| seen.corners.iter().flat_map(|&(x, y)| [x, y]).collect()),
        hint: reading.unread.map(|seen| seen.hint().code()),
    })
}

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// The IndexedDB database that holds a profile's vault.
fn database_name(profile: &str) -> String {
    format!("phantom-sync/{profile}")
}

/// One device: its vault, its persona once unlocked, and a pairing in progress.
#[wasm_bindgen]
pub struct SyncManager {
    profile: String,
    device_name: RefCell<String>,
    store: DeviceStore,
    /// This browser's key for the profile; `None` when a vault exists but its key is gone.
    keyring: Option<WebCryptoKeyring>,
    /// True while a received persona is being written, when other messages must wait.
    importing: Cell<bool>,
    /// True while a PIN is tried (unlocking or approving): a second try at once is
    /// refused, so tries are counted one after another.
    trying_pin: Cell<bool>,
    /// Held by one flush from its snapshot to its last put: a second flush (the screen's
    /// and the pairing loop's meet right after a code is read) would otherwise store a
    /// snapshot without the messages the first has taken out and not yet put, and a
    /// reload then would never send them.
    flush_turn: Cell<bool>,
    /// Whether this profile holds a vault, unlocked or not.
    vault_exists: Cell<bool>,
    vault: RefCell<Option<Rc<Vault<DeviceStore>>>>,
    persona: RefCell<Option<Persona>>,
    /// The mailbox network, once connected.
    network: RefCell<Option<MailboxClient>>,
    /// This device: its pairing, and its persona's sync once a persona is here.
    device: RefCell<Device>,
    /// Why a pairing interrupted by a reload could not be picked up again.
    resume_error: RefCell<Option<&'static str>>,
    /// History over direct WebRTC channels, both ways.
    direct: RefCell<direct::DirectLinks>,
    /// Envelopes that failed to open or verify since this manager opened.
    refused: Cell<u32>,
}

/// An invitation ready to show: the QR as SVG and the same payload as a link code.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug)]
pub struct InvitationView {
    #[wasm_bindgen(js_name = linkCode)]
    pub link_code: String,
    pub svg: String,
    /// Unix seconds.
    #[wasm_bindgen(js_name = expiresAt)]
    pub expires_at: f64,
}

/// Bytes to deliver to a mailbox (its address in hex).
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug)]
pub struct TransmitView {
    pub mailbox: String,
    pub bytes: Vec<u8>,
}

/// What the source shows after a request: who asks, and the triples to pick from.
#[wasm_bindgen]
#[derive(Debug)]
pub struct WordChoiceView {
    device_name: String,
    candidates: js_sys::Array,
}

#[wasm_bindgen]
impl WordChoiceView {
    #[wasm_bindgen(getter, js_name = deviceName)]
    pub fn device_name(&self) -> String {
        self.device_name.clone()
    }

    /// An array of word triples (arrays of three strings).
    #[wasm_bindgen(getter, unchecked_return_type = "string[][]")]
    pub fn candidates(&self) -> js_sys::Array {
        self.candidates.clone()
    }
}

#[wasm_bindgen]
impl SyncManager {
    /// Opens device profile `profile` — its own vault — as `deviceName`. A vault without a
    /// PIN unlocks at once with this browser's device key; with a PIN, call `unlock(pin)`.
    pub async fn open(profile: String, device_name: String) -> Result<SyncManager, JsValue> {
        let mut probe = [0u8; 1];
        getrandom::fill(&mut probe).map_err(|e| {
            FacadeError::new("entropy_unavailable", format!("no secure randomness: {e}"))
        })?;
        let database = IndexedDbStore::open(&database_name(&profile))
            .await
            .map_err(FacadeError::from)?;
        // From here on, a manager that opened this profile before writes nothing.
        let store = Rc::new(
            SingleWriter::claim(database, &mut rng())
                .await
                .map_err(FacadeError::from)?,
        );
        let vault_exists = schema::stored_version(&*store)
            .await
            .map_err(FacadeError::from)?
            .is_some();
        let keyring = if vault_exists {
            // Never replace the key of an existing vault: a missing key is reported on unlock.
            WebCryptoKeyring::load(&profile).await.ok()
        } else {
            Some(
                WebCryptoKeyring::load_or_create(&profile)
                    .await
                    .map_err(FacadeError::from)?,
            )
        };
        let manager = SyncManager {
            profile,
            device_name: RefCell::new(device_name),
            store,
            keyring,
            importing: Cell::new(false),
            trying_pin: Cell::new(false),
            flush_turn: Cell::new(false),
            vault_exists: Cell::new(vault_exists),
            vault: RefCell::new(None),
            persona: RefCell::new(None),
            network: RefCell::new(None),
            device: RefCell::default(),
            direct: RefCell::new(direct::DirectLinks::default()),
            refused: Cell::new(0),
            resume_error: RefCell::new(None),
        };
        let needs_pin = manager.vault_exists.get()
            && Vault::needs_pin(&manager.store)
                .await
                .map_err(FacadeError::from)?;
        if manager.vault_exists.get() && !needs_pin && manager.keyring.is_some() {
            manager.unlock(None).await?;
        }
        manager.resume_target_pairing().await?;
        Ok(manager)
    }

    /// Deletes a profile's vault and its device key from this browser. Use `unlink` on a
    /// device that should also leave its persona's roster.
    #[wasm_bindgen(js_name = deleteProfile)]
    pub async fn delete_profile(profile: String) -> Result<(), JsValue> {
        IndexedDbStore::delete(&database_name(&profile))
            .await
            .map_err(FacadeError::from)?;
        WebCryptoKeyring::delete(&profile)
            .await
            .map_err(|e| FacadeError::from(e).into())
    }

    /// Unlinks this device: it leaves the persona's roster (the other devices and the
    /// contacts are told through the network, so this needs `connectNetwork`), then its
    /// vault and device key are deleted. The persona's only device, or one already
    /// revoked, just deletes them. Nothing is deleted when telling the others fails.
    pub async fn unlink(&self) -> Result<(), JsValue> {
        if self.device.borrow().sync().is_some() {
            let connected = self.network.borrow().is_some();
            self.sync_mut()?
                .start_unlink(connected, &mut rng())
                .map_err(FacadeError::from)?;
            let told = self.drive_unlink().await;
            if told.is_err() {
                if let Ok(mut sync) = self.sync_mut() {
                    sync.abandon_unlink();
                }
            }
            told?;
        }
        self.lock();
        *self.network.borrow_mut() = None;
        self.vault_exists.set(false);
        Self::delete_profile(self.profile.clone()).await
    }

    /// This device's name, as its roster entry and a link request show it.
    #[wasm_bindgen(getter, js_name = deviceName)]
    pub fn device_name(&self) -> String {
        self.device_name.borrow().clone()
    }

    /// Renames this device; only before it holds a persona or starts a link, since the
    /// name then travels in its roster entry.
    #[wasm_bindgen(js_name = setDeviceName)]
    pub fn set_device_name(&self, name: &str) -> Result<(), JsValue> {
        if self.vault_exists.get() || !matches!(self.device.borrow().pairing(), Pairing::Idle) {
            return Err(FacadeError::new(
                "persona_exists",
                "this device's name is fixed once it holds a persona or starts a link",
            )
            .into());
        }
        let name = DeviceKeys::checked_name(name).map_err(FacadeError::from)?;
        if name.is_empty() {
            return Err(FacadeError::new("invalid_device_name", "give this device a name").into());
        }
        *self.device_name.borrow_mut() = name.to_owned();
        Ok(())
    }

    #[wasm_bindgen(getter)]
    pub fn profile(&self) -> String {
        self.profile.clone()
    }

    /// True once the profile was opened again elsewhere (another tab or window, or a later
    /// `open` in this page): this manager then writes and sends nothing more, and its
    /// persona is closed here. Calls fail with `open_elsewhere`.
    #[wasm_bindgen(getter, js_name = openElsewhere)]
    pub fn open_elsewhere(&self) -> bool {
        self.store.superseded()
    }

    /// True while a vault exists on this device but is not unlocked.
    #[wasm_bindgen(getter)]
    pub fn locked(&self) -> bool {
        self.vault_exists.get() && self.vault.borrow().is_none()
    }

    /// Opens the vault; `pin` is needed only when one was set.
    pub async fn unlock(&self, pin: Option<String>) -> Result<(), JsValue> {
        let vault = self.try_pin(pin.as_deref()).await?;
        let persona = vault.persona().await.map_err(FacadeError::from)?;
        *self.vault.borrow_mut() = Some(Rc::new(vault));
        *self.persona.borrow_mut() = Some(persona);
        Ok(self.load_messenger().await?)
    }

    /// Forgets the keys and the persona until the next `unlock`.
    pub fn lock(&self) {
        self.vault.borrow_mut().take();
        self.persona.borrow_mut().take();
        self.device.borrow_mut().lock();
    }

    /// Sets a PIN that unlocking will ask for, or removes it. The PIN's Argon2id cost is
    /// measured on this device first and chosen for about a second of unlocking here
    /// (never below the floor, `PinParams.FLOOR`).
    #[wasm_bindgen(js_name = setPin)]
    pub async fn set_pin(&self, pin: Option<String>) -> Result<(), JsValue> {
        let vault = self.unlocked_vault()?;
        let pin = match pin.as_deref() {
            Some(pin) => Some((
                pin,
                PinParams::calibrate(js_sys::Date::now).map_err(FacadeError::from)?,
            )),
            None => None,
        };
        vault
            .set_pin(self.keyring()?, pin, &mut rng())
            .await
            .map_err(|e| FacadeError::from(e).into())
    }

    /// Creates a new persona on this device (the source of later links) and stores it.
    #[wasm_bindgen(js_name = createPersona)]
    pub async fn create_persona(&self, display_name: String) -> Result<(), JsValue> {
        if self.vault_exists.get() {
            return Err(
                FacadeError::new("persona_exists", "this device already holds a persona").into(),
            );
        }
        let persona =
            Persona::create(&display_name, now_secs(), &mut rng()).map_err(FacadeError::from)?;
        self.store_persona(&persona, self.device_keys()?).await?;
        Ok(self.start_messaging().await?)
    }

    /// Whether this device adds and removes the persona's devices (it created the persona,
    /// or took the authority with the recovery code).
    #[wasm_bindgen(getter, js_name = holdsAuthority)]
    pub fn holds_authority(&self) -> bool {
        self.persona
            .borrow()
            .as_ref()
            .is_some_and(|p| p.authority.is_some())
    }

    /// The 24 words that move the authority to another device, on the device holding it.
    #[wasm_bindgen(getter, js_name = recoveryCode)]
    pub fn recovery_code(&self) -> Option<String> {
        self.persona
            .borrow()
            .as_ref()
            .and_then(Persona::recovery_code)
            .map(|code| code.to_string())
    }

    /// Makes this device the one that adds and removes devices, from the persona's recovery
    /// code (`recovery_checksum`, `recovery_unknown_word`, `recovery_word_count`,
    /// `recovery_code_of_another_persona`).
    #[wasm_bindgen(js_name = takeAuthority)]
    pub async fn take_authority(&self, code: String) -> Result<(), JsValue> {
        let code = RecoveryCode::parse(&code).map_err(FacadeError::from)?;
        let mut persona = self.current_persona()?;
        persona.take_authority(&code).map_err(FacadeError::from)?;
        self.unlocked_vault()?
            .put_persona(&persona, &mut rng())
            .await
            .map_err(FacadeError::from)?;
        self.with_messenger(|m| m.take_authority(&persona))?;
        *self.persona.borrow_mut() = Some(persona);
        Ok(())
    }

    #[wasm_bindgen(getter, js_name = displayName)]
    pub fn display_name(&self) -> Option<String> {
        self.persona
            .borrow()
            .as_ref()
            .map(|p| p.display_name.clone())
    }

    /// The persona fingerprint, the same on every device of the persona.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> Option<String> {
        self.persona
            .borrow()
            .as_ref()
            .map(|p| p.fingerprint().to_string())
    }

    #[wasm_bindgen(getter, js_name = conversationCount)]
    pub fn conversation_count(&self) -> u32 {
        self.persona
            .borrow()
            .as_ref()
            .map_or(0, |p| p.conversations.len() as u32)
    }

    /// The pairing state: `idle`, `inviting`, `negotiating`, `awaiting_approval`,
    /// `transferring`, `completed`, `failed` or `cancelled`.
    #[wasm_bindgen(getter, unchecked_return_type = "PairingState")]
    pub fn state(&self) -> String {
        self.sync_state().name().to_owned()
    }

    /// Why a pairing interrupted by a page reload could not be resumed (its stored state
    /// no longer opens with this browser's device key), if that happened at `open`.
    #[wasm_bindgen(getter, js_name = resumeError)]
    pub fn resume_error(&self) -> Option<String> {
        self.resume_error.borrow().map(str::to_owned)
    }

    /// Why the pairing failed, when `state` is `failed`.
    #[wasm_bindgen(getter, js_name = failureReason, unchecked_return_type = "FailureReason | undefined")]
    pub fn failure_reason(&self) -> Option<String> {
        let reason = self.device.borrow().pairing().failure_reason();
        reason.map(|reason| reason.code().to_owned())
    }

    /// Source, step 1: a fresh invitation; call again to rotate the QR code.
    #[wasm_bindgen(js_name = generatePairingInvitation)]
    pub fn generate_pairing_invitation(&self) -> Result<InvitationView, JsValue> {
        let invitation = self
            .device_here()?
            .show_invitation(CAPABILITIES, now_secs(), &mut rng())
            .map_err(FacadeError::from)?;
        Ok(invitation_view(&invitation)?)
    }

    /// New device, step 1 the other way round: a code for the phone that holds the
    /// persona to scan; call again to rotate it. The phone's answer arrives as
    /// `code_scanned` (read `scannedBy` and `words`).
    #[wasm_bindgen(js_name = generateDeviceCode)]
    pub fn generate_device_code(&self) -> Result<InvitationView, JsValue> {
        self.not_linked()?;
        let code = self
            .device
            .borrow_mut()
            .pairing_mut()
            .show_code(
                &self.device_name.borrow(),
                CAPABILITIES,
                now_secs(),
                &mut rng(),
            )
            .map_err(FacadeError::from)?;
        Ok(invitation_view(&code)?)
    }

    /// Source, step 2 the other way round: answers a new device's code, scanned or pasted.
    /// The device's request then arrives as `request_received`.
    #[wasm_bindgen(js_name = answerDeviceCode)]
    pub fn answer_device_code(&self, link_code: &str) -> Result<(), JsValue> {
        let code = PairingInvitation::from_link_code(link_code).map_err(FacadeError::from)?;
        let name = self.device_name.borrow().clone();
        self.device_here()?
            .scan_code(&code, &name, now_secs(), &mut rng())
            .map_err(FacadeError::from)?;
        Ok(())
    }

    /// New device: the phone that scanned this device's code, by the name it gave.
    #[wasm_bindgen(getter, js_name = scannedBy)]
    pub fn scanned_by(&self) -> Option<String> {
        self.device
            .borrow()
            .pairing()
            .scanned_by()
            .map(str::to_owned)
    }

    /// Target: reads a link code from camera pixels (`ImageData` RGBA). Returns `undefined`
    /// when the frame shows no readable code, so a scanner can simply try the next frame.
    #[wasm_bindgen(js_name = scanFrame)]
    pub fn scan_frame(width: u32, height: u32, rgba: &[u8]) -> Result<Option<String>, JsValue> {
        Ok(look_at_frame(width, height, rgba)?
            .codes
            .into_iter()
            .find(|text| PairingInvitation::from_link_code(text).is_ok()))
    }

    /// Reads a camera frame for a scan screen: the texts of every QR code read (a link
    /// code, a contact card or anything else) or, when none was, where a code not read
    /// yet lies and whether to move closer or hold still.
    #[wasm_bindgen(js_name = lookAtFrame, unchecked_return_type = "FrameView")]
    pub fn look_at_frame(width: u32, height: u32, rgba: &[u8]) -> Result<JsValue, JsValue> {
        Ok(views::to_js(&look_at_frame(width, height, rgba)?))
    }

    /// Target, step 2: answers a scanned or pasted link code; returns the three words to show.
    #[wasm_bindgen(js_name = acceptInvitation)]
    pub fn accept_invitation(&self, link_code: &str) -> Result<Vec<String>, JsValue> {
        self.not_linked()?;
        let invitation = PairingInvitation::from_link_code(link_code).map_err(FacadeError::from)?;
        let words = self
            .device
            .borrow_mut()
            .pairing_mut()
            .accept_invitation(
                &invitation,
                &self.device_name.borrow(),
                now_secs(),
                &mut rng(),
            )
            .map_err(FacadeError::from)?;
        Ok(words.words().iter().map(|w| (*w).to_owned()).collect())
    }

    /// Whether the pairing's messages are still to be read: while a link is under way and,
    /// on a new device that confirmed, until the roster naming it arrives, since the other
    /// device may still refuse its keys.
    #[wasm_bindgen(getter, js_name = pairingActive)]
    pub fn pairing_active(&self) -> bool {
        self.device.borrow().is_pairing_active()
    }

    /// Target: the words this device shows, once it has scanned.
    #[wasm_bindgen(getter)]
    pub fn words(&self) -> Option<Vec<String>> {
        let words = self.device.borrow().pairing().words()?;
        Some(words.words().iter().map(|w| (*w).to_owned()).collect())
    }

    /// Source, step 3: a `SyncRequest` arrived; returns who asks and the words to pick from.
    #[wasm_bindgen(js_name = handleSyncRequest)]
    pub async fn handle_sync_request(&self, request: Vec<u8>) -> Result<WordChoiceView, JsValue> {
        expect_kind(&request, MessageKind::SyncRequest)?;
        self.receive(request).await?;
        self.word_choice()
            .ok_or_else(|| FacadeError::new("unexpected_message", "not a sync request").into())
    }

    /// Source: the names of devices that answered the accepted code after the first one
    /// (someone else saw it); the person should be warned.
    #[wasm_bindgen(getter, js_name = turnedAway)]
    pub fn turned_away(&self) -> Vec<String> {
        self.device.borrow().pairing().turned_away().to_vec()
    }

    /// Source: who asks to link and the word triples to pick from, once a request arrived.
    #[wasm_bindgen(getter, js_name = wordChoice)]
    pub fn word_choice(&self) -> Option<WordChoiceView> {
        let device = self.device.borrow();
        let (request, choice) = device.pairing().word_choice()?;
        let candidates = choice
            .candidates()
            .iter()
            .map(|words| {
                words
                    .words()
                    .iter()
                    .map(|w| JsValue::from_str(w))
                    .collect::<js_sys::Array>()
            })
            .collect();
        Some(WordChoiceView {
            device_name: request.device_name.clone(),
            candidates,
        })
    }

    /// Source, step 4: the user picked candidate `index`; the persona is sealed only if right.
    /// Where a PIN protects this device, it is asked again (`pin`) before any secret leaves
    /// (`pin_required`, `wrong_pin`).
    pub async fn approve(&self, index: usize, pin: Option<String>) -> Result<(), JsValue> {
        self.approve_with(Approval::Candidate(index), pin).await
    }

    /// Source, step 4 with typed words (and the PIN, as for `approve`).
    #[wasm_bindgen(js_name = approveTyped)]
    pub async fn approve_typed(&self, words: String, pin: Option<String>) -> Result<(), JsValue> {
        self.approve_with(Approval::Typed(&words), pin).await
    }

    /// True when approving a link asks for this device's PIN.
    #[wasm_bindgen(js_name = approvalNeedsPin)]
    pub async fn approval_needs_pin(&self) -> Result<bool, JsValue> {
        Ok(Vault::needs_pin(&self.store)
            .await
            .map_err(FacadeError::from)?)
    }

    /// Source: none of the candidates matches the other device.
    pub fn reject(&self) -> Result<(), JsValue> {
        let mut device = self.device.borrow_mut();
        let rejected = device
            .pairing_mut()
            .source_mut("reject")
            .and_then(SourcePairing::reject);
        Ok(rejected.map_err(FacadeError::from)?)
    }

    /// Either side stops the pairing (and tells the other device at the next flush).
    pub async fn cancel(&self) -> Result<(), JsValue> {
        let cancelled = self.device.borrow_mut().pairing_mut().cancel();
        cancelled.map_err(FacadeError::from)?;
        Ok(self.persist_target_pairing().await?)
    }

    /// Target, step 4: opens the persona payload and stores it in this device's vault in
    /// one atomic write; returns its fingerprint.
    #[wasm_bindgen(js_name = decryptAndImportPersona)]
    pub async fn decrypt_and_import_persona(&self, payload: Vec<u8>) -> Result<String, JsValue> {
        expect_kind(&payload, MessageKind::PersonaPayload)?;
        self.receive(payload).await?;
        self.fingerprint()
            .ok_or_else(|| FacadeError::new("unexpected_message", "no persona imported").into())
    }

    /// Any message from the other device; returns what it meant: `request_received`
    /// (source: read `wordChoice`), `code_scanned` (new device: read `scannedBy` and
    /// `words`), `persona_imported` (target), `link_completed` (source), `turned_away`
    /// or `aborted` (read `failureReason`).
    #[wasm_bindgen(unchecked_return_type = "PairingOutcome")]
    pub async fn receive(&self, bytes: Vec<u8>) -> Result<String, JsValue> {
        if self.importing.get() {
            return Err(FacadeError::new(
                "busy",
                "the persona is being stored; deliver this again after",
            )
            .into());
        }
        let received = self
            .device_here()?
            .receive_pairing(&bytes, now_secs(), &mut rng());
        let event = received.map_err(FacadeError::from)?;
        let meaning = match event {
            PairingEvent::RequestReceived { .. } => "request_received",
            PairingEvent::CodeScanned { .. } => "code_scanned",
            PairingEvent::PersonaReceived(payload) => {
                self.import_persona(*payload).await?;
                "persona_imported"
            }
            PairingEvent::LinkCompleted(device) => {
                self.linked_device_added(&device.device_id).await?;
                "link_completed"
            }
            PairingEvent::Aborted(_) => "aborted",
            PairingEvent::TurnedAway { .. } => "turned_away",
        };
        self.persist_target_pairing().await?;
        Ok(meaning.to_owned())
    }

    /// Joins the mailbox network through these nodes (multiaddrs with `/p2p/`: `/ws` or
    /// `/webrtc-direct` ones); from then on `flushToNetwork` and `pollNetwork` carry the
    /// pairing's messages. `replicationFactor` (k, default 3) nodes hold each mailbox and
    /// `writeQuorum` (w, default 2) of them must store each message.
    #[wasm_bindgen(js_name = connectNetwork)]
    pub fn connect_network(
        &self,
        addresses: Vec<String>,
        replication_factor: Option<u32>,
        write_quorum: Option<u32>,
    ) -> Result<(), JsValue> {
        let bootstrap = addresses
            .iter()
            .map(|a| a.parse::<libp2p::Multiaddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| FacadeError::new("invalid_address", e.to_string()))?;
        let defaults = Replication::default();
        let replication = Replication::new(
            replication_factor.map_or(defaults.factor().get(), |k| k as usize),
            write_quorum.map_or(defaults.write_quorum(), |w| w as usize),
        )
        .map_err(|e| FacadeError::new(e.code(), e.to_string()))?;
        let client = connect_browser(&bootstrap, replication)
            .map_err(|e| FacadeError::new(e.code(), e.to_string()))?;
        *self.network.borrow_mut() = Some(client);
        Ok(())
    }

    /// Puts every pending message — the pairing's and the messaging outbox — into its
    /// mailbox on the network (a quorum of the nodes holding it must store it); returns how
    /// many were sent.
    #[wasm_bindgen(js_name = flushToNetwork)]
    pub async fn flush_to_network(&self) -> Result<u32, JsValue> {
        let network = self.connected()?;
        let _turn = Turn::wait(&self.flush_turn).await;
        // Stored before they leave: a reload while they travel resumes with them. With
        // nothing new to send (a driver calling this on every step) nothing is written.
        let resumable = self.device.borrow().pairing().has_resumable_transmits();
        if resumable {
            self.persist_target_pairing().await?;
        }
        let mut sent = 0;
        while let Some(transmit) = self.next_transmit() {
            let envelope = Envelope::new(transmit.bytes.clone()).map_err(FacadeError::from)?;
            if let Err(error) = MailboxTransport::put(&network, &transmit.mailbox, envelope).await {
                self.device
                    .borrow_mut()
                    .pairing_mut()
                    .transmit_failed(transmit);
                return Err(FacadeError::new(error.code(), error.to_string()).into());
            }
            sent += 1;
        }
        if self.device.borrow().sync().is_some() {
            sent += self.flush_messaging(&network).await?;
        }
        if resumable {
            self.persist_target_pairing().await?;
        }
        Ok(sent)
    }

    /// New messages on the mailboxes this device listens on, waiting up to `waitMs` for
    /// one; pass each to `receive`.
    #[wasm_bindgen(js_name = pollNetwork, unchecked_return_type = "Uint8Array[]")]
    pub async fn poll_network(&self, wait_ms: u32) -> Result<js_sys::Array, JsValue> {
        let polled = self.poll_pairing_mailboxes(wait_ms).await;
        self.step_ended(polled.is_ok());
        polled
    }

    /// Milliseconds until this device has something to do that no call brings: a failed
    /// network step to try again (`pollNetwork` and `syncMessages` wait less and less
    /// often while failures go on) or a pairing step's deadline. `undefined` when nothing
    /// is ahead (a deadline already past is the next `pollNetwork`'s to act on); an app's
    /// loop sleeps this long instead of a fixed time.
    #[wasm_bindgen(getter, js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        let now = now_ms();
        let due = self.device.borrow().poll_timeout(now)?;
        Some(due.saturating_sub(now) as f64)
    }

    /// Whether a link is in progress (neither idle nor over), in either role.
    #[wasm_bindgen(getter, js_name = linkInProgress)]
    pub fn link_in_progress(&self) -> bool {
        self.device.borrow().pairing().is_in_progress()
    }

    /// Whether this device is the new one of a link (in progress or ended): its screens
    /// follow the link rather than offer to create a persona.
    #[wasm_bindgen(getter)]
    pub fn joining(&self) -> bool {
        self.device.borrow().pairing().is_joining()
    }
}

impl SyncManager {
    /// Counts a network step's outcome for [`SyncManager::poll_timeout`].
    fn step_ended(&self, succeeded: bool) {
        self.device
            .borrow_mut()
            .handle_step_ended(succeeded, now_ms());
    }

    async fn poll_pairing_mailboxes(&self, wait_ms: u32) -> Result<js_sys::Array, JsValue> {
        let network = self.connected()?;
        self.check_timeouts()?;
        let wait = Duration::from_millis(wait_ms.into());
        let fetches = self.device.borrow().pairing_fetches(now_secs(), wait);
        let messages = js_sys::Array::new();
        if fetches.is_empty() {
            sleep_ms(wait_ms).await;
            return Ok(messages);
        }
        for fetch in fetches {
            let mut cursor = fetch.cursor;
            let fetched =
                MailboxTransport::fetch(&network, &fetch.mailbox, &mut cursor, fetch.wait)
                    .await
                    .map_err(|e| FacadeError::new(e.code(), e.to_string()))?;
            // Only a read that succeeded moves the device's cursor, as in a sync round.
            self.device
                .borrow_mut()
                .handle_pairing_fetched(fetch.mailbox.address(), cursor);
            for envelope in fetched {
                messages.push(&js_sys::Uint8Array::from(envelope.as_bytes()));
            }
        }
        Ok(messages)
    }
}

#[wasm_bindgen]
impl SyncManager {
    /// The next message to deliver, if any.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&self) -> Option<TransmitView> {
        self.next_transmit().map(|t| TransmitView {
            mailbox: t.mailbox.address().to_hex(),
            bytes: t.bytes,
        })
    }
}

impl core::fmt::Debug for SyncManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncManager")
            .field("profile", &self.profile)
            .field("device_name", &self.device_name.borrow())
            .field("persona", &self.persona.borrow())
            .field("state", &self.sync_state())
            .finish_non_exhaustive()
    }
}

impl SyncManager {
    fn next_transmit(&self) -> Option<Transmit> {
        self.device.borrow_mut().pairing_mut().poll_transmit()
    }

    fn connected(&self) -> Result<MailboxClient, FacadeError> {
        self.network
            .borrow()
            .clone()
            .ok_or_else(|| FacadeError::new("not_connected", "call connectNetwork first"))
    }

    fn sync_state(&self) -> SyncState {
        self.device.borrow().pairing().state()
    }

    fn keyring(&self) -> Result<&WebCryptoKeyring, FacadeError> {
        self.keyring
            .as_ref()
            .ok_or_else(|| FacadeError::from(crate::vault::unlock::UnlockError::DeviceKeyMissing))
    }

    fn unlocked_vault(&self) -> Result<Rc<Vault<DeviceStore>>, FacadeError> {
        if self.open_elsewhere() {
            return Err(self.step_aside());
        }
        self.vault
            .borrow()
            .clone()
            .ok_or_else(|| FacadeError::new("vault_locked", "unlock the vault first"))
    }

    /// This tab's device, unless another manager opened the profile since.
    /// Refuses to link a device that already holds a persona.
    fn not_linked(&self) -> Result<(), FacadeError> {
        if self.vault_exists.get() {
            return Err(FacadeError::new(
                "persona_exists",
                "this device is already linked to a persona",
            ));
        }
        Ok(())
    }

    fn device_here(&self) -> Result<std::cell::RefMut<'_, Device>, FacadeError> {
        if self.open_elsewhere() {
            return Err(self.step_aside());
        }
        Ok(self.device.borrow_mut())
    }

    /// Another manager opened the profile since (`open_elsewhere`): this one's state in
    /// memory may be ahead of what is stored, so its persona closes here and nothing goes on.
    #[cold]
    fn step_aside(&self) -> FacadeError {
        self.lock();
        *self.network.borrow_mut() = None;
        StoreError::Superseded.into()
    }

    fn current_persona(&self) -> Result<Persona, FacadeError> {
        self.persona
            .borrow()
            .clone()
            .ok_or_else(|| DeviceError::NoPersona.into())
    }

    /// Keeps the target's pairing, wrapped by the device key, for as long as a reload
    /// could interrupt it; forgets it once nothing is left to resume.
    async fn persist_target_pairing(&self) -> Result<(), FacadeError> {
        let snapshot = self.device.borrow().pairing().snapshot()?;
        match snapshot {
            Resumable::Untouched => {}
            Resumable::Keep(bytes) => pending::save(&self.store, self.keyring()?, &bytes).await?,
            Resumable::Forget => pending::forget(&self.store).await?,
        }
        Ok(())
    }

    /// A pairing a reload interrupted, picked up where it stopped. One that cannot be read
    /// any more (its device key is gone) is dropped and reported by `resumeError`.
    async fn resume_target_pairing(&self) -> Result<(), FacadeError> {
        let loaded = match self.keyring() {
            Ok(keyring) => pending::load(&self.store, keyring)
                .await
                .map_err(FacadeError::from),
            Err(error) => Err(error),
        };
        let resumed = match loaded {
            Ok(None) => return Ok(()),
            Ok(Some(snapshot)) => Pairing::resume(&snapshot).map_err(FacadeError::from),
            Err(error) => Err(error),
        };
        match resumed {
            Ok(pairing) => {
                *self.device.borrow_mut().pairing_mut() = pairing;
                self.check_timeouts()?;
            }
            Err(error) => {
                *self.resume_error.borrow_mut() = Some(error.code());
                pending::forget(&self.store).await?;
            }
        }
        Ok(())
    }

    /// A step that waited past its deadline ends in its typed state (`failureReason`).
    fn check_timeouts(&self) -> Result<(), FacadeError> {
        self.device
            .borrow_mut()
            .pairing_mut()
            .handle_timeout(now_secs())?;
        Ok(())
    }

    /// What approving knows of the PIN ([`PinCheck`]): one entered is proved by opening
    /// the vault with it, counting wrong PINs as unlocking does.
    async fn check_pin(&self, pin: Option<String>) -> Result<PinCheck, FacadeError> {
        if !Vault::needs_pin(&self.store).await? {
            return Ok(PinCheck::NotSet);
        }
        let Some(pin) = pin else {
            return Ok(PinCheck::Missing);
        };
        self.try_pin(Some(&pin)).await?;
        Ok(PinCheck::Entered)
    }

    /// Opens the vault with `pin`, one try at a time (`busy` while another runs).
    async fn try_pin(&self, pin: Option<&str>) -> Result<Vault<DeviceStore>, FacadeError> {
        if self.trying_pin.replace(true) {
            return Err(FacadeError::new(
                "busy",
                "a PIN is being checked; wait for its answer",
            ));
        }
        let opened = match self.keyring() {
            Ok(keyring) => Vault::unlock(Rc::clone(&self.store), keyring, pin, now_secs())
                .await
                .map_err(FacadeError::from),
            Err(error) => Err(error),
        };
        self.trying_pin.set(false);
        opened
    }

    /// Source: approves with the words the person confirmed, after the PIN where one is set.
    async fn approve_with(
        &self,
        approval: Approval<'_>,
        pin: Option<String>,
    ) -> Result<(), JsValue> {
        let pin = self.check_pin(pin).await?;
        let persona = self.current_persona()?;
        let approved = self
            .device_here()?
            .approve(approval, pin, &persona, now_secs());
        Ok(approved.map_err(FacadeError::from)?)
    }

    /// Fresh keys for this device, under its name.
    fn device_keys(&self) -> Result<DeviceKeys, FacadeError> {
        let name = self.device_name.borrow().clone();
        Ok(DeviceKeys::generate(&name, now_secs(), &mut rng())?)
    }

    /// Stores a persona with this device's keys, protected by this browser's device key.
    async fn store_persona(&self, persona: &Persona, device: DeviceKeys) -> Result<(), JsValue> {
        let vault = Vault::import(
            Rc::clone(&self.store),
            persona,
            device,
            self.keyring()?,
            &mut rng(),
        )
        .await
        .map_err(FacadeError::from)?;
        *self.vault.borrow_mut() = Some(Rc::new(vault));
        *self.persona.borrow_mut() = Some(persona.clone());
        self.vault_exists.set(true);
        Ok(())
    }

    /// Target: this device joins the roster the persona came with, then the persona goes
    /// into the vault, before the source hears "done"; either failing fails the link.
    async fn import_persona(&self, payload: PersonaPayload) -> Result<(), JsValue> {
        self.importing.set(true);
        let stored = self.join_and_store(&payload).await;
        self.importing.set(false);
        let mut device = self.device.borrow_mut();
        match stored {
            Ok(entry) => Ok(device.confirm_join(entry).map_err(FacadeError::from)?),
            Err(error) => {
                device.fail_join().map_err(FacadeError::from)?;
                Err(error)
            }
        }
    }

    async fn join_and_store(&self, payload: &PersonaPayload) -> Result<RosterDevice, JsValue> {
        let keys = self.device_keys()?;
        let entry = self
            .device
            .borrow_mut()
            .join(payload, &keys, now_secs())
            .map_err(FacadeError::from)?;
        self.store_persona(&payload.persona, keys).await?;
        self.save_messaging(MessageWrites::default()).await?;
        Ok(entry)
    }
}

/// A turn at something one caller at a time may do, given back when dropped (on an early
/// return too). Waiting polls: turns are short and rare, and a queue of wakers would cost
/// the package more than it saves.
struct Turn<'a>(&'a Cell<bool>);

impl<'a> Turn<'a> {
    async fn wait(taken: &'a Cell<bool>) -> Self {
        while taken.replace(true) {
            sleep_ms(10).await;
        }
        Turn(taken)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Waits `ms` milliseconds on the page's (or worker's) timer.
async fn sleep_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(set_timeout) => {
                let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from(ms));
            }
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Refuses bytes of another message kind before they touch the state machine.
fn expect_kind(bytes: &[u8], kind: MessageKind) -> Result<(), FacadeError> {
    let found = ChannelMessage::peek_kind(bytes)?;
    if found == kind {
        Ok(())
    } else {
        Err(FacadeError::new(
            "unexpected_message",
            format!("expected a {kind:?}, got a {found:?}"),
        ))
    }
}
