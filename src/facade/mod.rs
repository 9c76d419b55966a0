//! The JS facade: `SyncManager`, the seed's API, for the PWA and for embedders.
//!
//! It holds the sans-IO pairing machines and hands them the browser's clock and randomness;
//! bytes it returns go to a mailbox, bytes it is given came from one. Errors reach JS as
//! `Error` objects with a stable `code` (see [`error`]).
//!
//! ```js
//! const source = new SyncManager("Phone");
//! source.createPersona("Ada");
//! const invitation = source.generatePairingInvitation();   // { linkCode, svg, expiresAt }
//! const target = new SyncManager("Laptop");
//! const words = target.acceptInvitation(invitation.linkCode);
//! const choice = source.handleSyncRequest(target.pollTransmit().bytes);
//! source.approve(choice.candidates.findIndex(c => c.join(" ") === words.join(" ")));
//! target.decryptAndImportPersona(source.pollTransmit().bytes);
//! ```

pub mod error;

use rand_core::UnwrapErr;
use wasm_bindgen::prelude::*;

use crate::drivers::qr;
use crate::pairing::channel::{ChannelMessage, MessageKind};
use crate::pairing::invitation::{Capabilities, PairingInvitation};
use crate::pairing::state::SyncState;
use crate::pairing::{PairingEvent, SourcePairing, TargetPairing, Transmit};
use crate::persona::Persona;
use crate::wire::WireError;
use error::FacadeError;

type SystemRng = UnwrapErr<getrandom::SysRng>;

fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

enum Pairing {
    None,
    Source(SourcePairing),
    Target(TargetPairing),
}

/// One device's pairing and persona, as the seed's `SyncManager`.
#[wasm_bindgen]
pub struct SyncManager {
    device_name: String,
    persona: Option<Persona>,
    pairing: Pairing,
    rng: SystemRng,
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

/// Bytes to deliver to a mailbox (hex DHT key).
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
    #[wasm_bindgen(getter)]
    pub fn candidates(&self) -> js_sys::Array {
        self.candidates.clone()
    }
}

#[wasm_bindgen]
impl SyncManager {
    /// A device named `deviceName` ("Firefox on Laptop"), with no persona yet.
    #[wasm_bindgen(constructor)]
    pub fn new(device_name: String) -> Result<SyncManager, JsValue> {
        let mut probe = [0u8; 1];
        getrandom::fill(&mut probe).map_err(|e| {
            FacadeError::new("entropy_unavailable", format!("no secure randomness: {e}"))
        })?;
        Ok(Self {
            device_name,
            persona: None,
            pairing: Pairing::None,
            rng: UnwrapErr(getrandom::SysRng),
        })
    }

    /// Creates a new persona on this device (the source of later links).
    #[wasm_bindgen(js_name = createPersona)]
    pub fn create_persona(&mut self, display_name: String) -> Result<(), JsValue> {
        let persona =
            Persona::create(&display_name, now_secs(), &mut self.rng).map_err(FacadeError::from)?;
        self.persona = Some(persona);
        Ok(())
    }

    #[wasm_bindgen(getter, js_name = displayName)]
    pub fn display_name(&self) -> Option<String> {
        self.persona.as_ref().map(|p| p.display_name.clone())
    }

    /// The persona fingerprint, the same on every device of the persona.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> Option<String> {
        self.persona.as_ref().map(|p| p.fingerprint().to_string())
    }

    #[wasm_bindgen(getter, js_name = conversationCount)]
    pub fn conversation_count(&self) -> u32 {
        self.persona
            .as_ref()
            .map_or(0, |p| p.conversations.len() as u32)
    }

    /// The pairing state: `idle`, `inviting`, `negotiating`, `awaiting_approval`,
    /// `transferring`, `completed`, `failed` or `cancelled`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.sync_state().name().to_owned()
    }

    /// Why the pairing failed, when `state` is `failed`.
    #[wasm_bindgen(getter, js_name = failureReason)]
    pub fn failure_reason(&self) -> Option<String> {
        match self.sync_state() {
            SyncState::Failed(reason) => Some(reason.code().to_owned()),
            _ => None,
        }
    }

    /// Source, step 1: a fresh invitation; call again to rotate the QR code.
    #[wasm_bindgen(js_name = generatePairingInvitation)]
    pub fn generate_pairing_invitation(&mut self) -> Result<InvitationView, JsValue> {
        if self.persona.is_none() {
            return Err(FacadeError::new("no_persona", "create or link a persona first").into());
        }
        if !matches!(self.pairing, Pairing::Source(_)) {
            self.pairing = Pairing::Source(SourcePairing::with_capabilities(
                Capabilities::HISTORY_WEBRTC.union(Capabilities::HISTORY_MAILBOX),
            ));
        }
        let Pairing::Source(source) = &mut self.pairing else {
            return Err(FacadeError::new("illegal_transition", "not the source").into());
        };
        let invitation = source
            .generate_invitation(now_secs(), &mut self.rng)
            .map_err(FacadeError::from)?;
        let link_code = invitation.to_link_code();
        Ok(InvitationView {
            svg: qr::render_svg(&link_code).map_err(FacadeError::from)?,
            link_code,
            expires_at: invitation.expires_at as f64,
        })
    }

    /// Target: reads a link code from camera pixels (`ImageData` RGBA). Returns `undefined`
    /// when the frame shows no readable code, so a scanner can simply try the next frame.
    #[wasm_bindgen(js_name = scanFrame)]
    pub fn scan_frame(width: u32, height: u32, rgba: &[u8]) -> Result<Option<String>, JsValue> {
        match qr::decode_rgba(width, height, rgba) {
            Ok(texts) => Ok(texts
                .into_iter()
                .find(|text| PairingInvitation::from_link_code(text).is_ok())),
            Err(qr::QrError::NoCodeFound | qr::QrError::Unreadable) => Ok(None),
            Err(other) => Err(FacadeError::from(other).into()),
        }
    }

    /// Target, step 2: answers a scanned or pasted link code; returns the three words to show.
    #[wasm_bindgen(js_name = acceptInvitation)]
    pub fn accept_invitation(&mut self, link_code: &str) -> Result<Vec<String>, JsValue> {
        let invitation = PairingInvitation::from_link_code(link_code).map_err(FacadeError::from)?;
        let mut target = TargetPairing::new();
        let words = target
            .accept_invitation(&invitation, &self.device_name, now_secs(), &mut self.rng)
            .map_err(FacadeError::from)?;
        self.pairing = Pairing::Target(target);
        Ok(words.words().iter().map(|w| (*w).to_owned()).collect())
    }

    /// Target: the words this device shows, once it has scanned.
    #[wasm_bindgen(getter)]
    pub fn words(&self) -> Option<Vec<String>> {
        match &self.pairing {
            Pairing::Target(target) => target
                .words()
                .map(|w| w.words().iter().map(|w| (*w).to_owned()).collect()),
            _ => None,
        }
    }

    /// Source, step 3: a `SyncRequest` arrived; returns who asks and the words to pick from.
    #[wasm_bindgen(js_name = handleSyncRequest)]
    pub fn handle_sync_request(&mut self, request: &[u8]) -> Result<WordChoiceView, JsValue> {
        expect_kind(request, MessageKind::SyncRequest)?;
        self.receive(request)?;
        self.word_choice()
            .ok_or_else(|| FacadeError::new("unexpected_message", "not a sync request").into())
    }

    /// Source: who asks to link and the word triples to pick from, once a request arrived.
    #[wasm_bindgen(getter, js_name = wordChoice)]
    pub fn word_choice(&self) -> Option<WordChoiceView> {
        let Pairing::Source(source) = &self.pairing else {
            return None;
        };
        let (request, choice) = (source.request()?, source.word_choice()?);
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
    pub fn approve(&mut self, index: usize) -> Result<(), JsValue> {
        let persona = self.persona.clone();
        let source = self.source()?;
        let persona = persona.ok_or_else(|| FacadeError::new("no_persona", "no persona"))?;
        source
            .approve(index, &persona, now_secs())
            .map_err(|e| FacadeError::from(e).into())
    }

    /// Source, step 4 with typed words.
    #[wasm_bindgen(js_name = approveTyped)]
    pub fn approve_typed(&mut self, words: &str) -> Result<(), JsValue> {
        let persona = self.persona.clone();
        let source = self.source()?;
        let persona = persona.ok_or_else(|| FacadeError::new("no_persona", "no persona"))?;
        source
            .approve_typed(words, &persona, now_secs())
            .map_err(|e| FacadeError::from(e).into())
    }

    /// Source: none of the candidates matches the other device.
    pub fn reject(&mut self) -> Result<(), JsValue> {
        self.source()?
            .reject()
            .map_err(|e| FacadeError::from(e).into())
    }

    /// Either side stops the pairing (and tells the other device).
    pub fn cancel(&mut self) -> Result<(), JsValue> {
        let result = match &mut self.pairing {
            Pairing::Source(source) => source.cancel(),
            Pairing::Target(target) => target.cancel(),
            Pairing::None => Ok(()),
        };
        result.map_err(|e| FacadeError::from(e).into())
    }

    /// Target, step 4: opens the persona payload and imports it; returns its fingerprint.
    #[wasm_bindgen(js_name = decryptAndImportPersona)]
    pub fn decrypt_and_import_persona(&mut self, payload: &[u8]) -> Result<String, JsValue> {
        expect_kind(payload, MessageKind::PersonaPayload)?;
        self.receive(payload)?;
        self.fingerprint()
            .ok_or_else(|| FacadeError::new("unexpected_message", "no persona imported").into())
    }

    /// Any message from the other device; returns what it meant: `request_received`
    /// (source: read `wordChoice`), `persona_imported` (target), `link_completed` (source)
    /// or `aborted` (read `failureReason`).
    pub fn receive(&mut self, bytes: &[u8]) -> Result<String, JsValue> {
        let now = now_secs();
        let event = match &mut self.pairing {
            Pairing::Source(source) => source.receive(bytes, now, &mut self.rng),
            Pairing::Target(target) => target.receive(bytes),
            Pairing::None => {
                return Err(FacadeError::new("illegal_transition", "no pairing in progress").into())
            }
        }
        .map_err(FacadeError::from)?;
        Ok(match event {
            PairingEvent::RequestReceived { .. } => "request_received",
            PairingEvent::PersonaReceived(persona) => {
                self.import_persona(persona)?;
                "persona_imported"
            }
            PairingEvent::LinkCompleted => "link_completed",
            PairingEvent::Aborted(_) => "aborted",
        }
        .to_owned())
    }

    /// The next message to deliver, if any.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Option<TransmitView> {
        let transmit: Option<Transmit> = match &mut self.pairing {
            Pairing::Source(source) => source.poll_transmit(),
            Pairing::Target(target) => target.poll_transmit(),
            Pairing::None => None,
        };
        transmit.map(|t| TransmitView {
            mailbox: t.mailbox.to_hex(),
            bytes: t.bytes,
        })
    }
}

impl core::fmt::Debug for SyncManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncManager")
            .field("device_name", &self.device_name)
            .field("persona", &self.persona)
            .field("state", &self.sync_state())
            .finish_non_exhaustive()
    }
}

impl SyncManager {
    fn sync_state(&self) -> SyncState {
        match &self.pairing {
            Pairing::Source(source) => source.state(),
            Pairing::Target(target) => target.state(),
            Pairing::None => SyncState::Idle,
        }
    }

    fn source(&mut self) -> Result<&mut SourcePairing, FacadeError> {
        match &mut self.pairing {
            Pairing::Source(source) => Ok(source),
            _ => Err(not_the_source()),
        }
    }

    /// Keeps the received persona; the vault will store it here.
    fn import_persona(&mut self, persona: Persona) -> Result<(), FacadeError> {
        let Pairing::Target(target) = &mut self.pairing else {
            return Err(FacadeError::new("illegal_transition", "not the target"));
        };
        target.confirm_import(persona.fingerprint())?;
        self.persona = Some(persona);
        Ok(())
    }
}

fn not_the_source() -> FacadeError {
    FacadeError::new(
        "illegal_transition",
        "this device is not showing an invitation",
    )
}

/// Refuses bytes of another message kind before they touch the state machine.
fn expect_kind(bytes: &[u8], kind: MessageKind) -> Result<(), FacadeError> {
    let found = ChannelMessage::peek_kind(bytes)
        .map_err(|e: WireError| FacadeError::new(e.code(), e.to_string()))?;
    if found == kind {
        Ok(())
    } else {
        Err(FacadeError::new(
            "unexpected_message",
            format!("expected a {kind:?}, got a {found:?}"),
        ))
    }
}
