//! What JS reads from the messaging half: events and rows as Rust types. Their TypeScript
//! declarations are generated from these definitions (tsify) into `pkg/phantom_sync.d.ts`,
//! so `syncMessages()` is typed `Promise<SyncEvent[]>` and a TypeScript user can `switch`
//! on `event.type`; the values cross as plain JS values (see [`to_js`]). Ids and keys are hex;
//! times are milliseconds since the Unix epoch unless a name says otherwise. The pairing's
//! strings are unions of their literals (`PairingState`, `FailureReason`,
//! `PairingOutcome`), written out below next to the Rust names they list.

use crate::tagged::{Token, Tokens};
use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

/// The pairing's names as TypeScript unions: `SyncState::name`, `FailureReason::code`, and
/// what `SyncManager.receive` reports. Declarations only: nothing of it is in the wasm.
#[wasm_bindgen(typescript_custom_section)]
const PAIRING_TYPES: &str = r#"
/** Where a link stands: `SyncManager.state`. */
export type PairingState = "idle" | "inviting" | "negotiating" | "awaiting_approval" | "transferring" | "completed" | "failed" | "cancelled";
/** Why a link failed: `SyncManager.failureReason`. */
export type FailureReason = "invitation_expired" | "words_rejected" | "peer_cancelled" | "import_failed" | "invitation_used" | "network_lost" | "device_rejected";
/** What a message from the other device meant: `SyncManager.receive`. */
export type PairingOutcome = "request_received" | "code_scanned" | "persona_imported" | "link_completed" | "aborted" | "turned_away";
"#;

/// One thing a sync changed, told apart by `type`.
#[derive(Debug, Serialize, Tsify)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum SyncEvent {
    /// A message arrived, from a contact or from another device of this persona.
    Message(MessageView),
    /// A conversation's unread count changed (it was read here or on another device).
    ReadState {
        conversation_id: String,
        unread: u32,
    },
    /// A contact was added (on another device of this persona, or from a card).
    ContactAdded {
        persona_key: String,
        display_name: String,
    },
    /// A persona's device list changed: a device joined or was removed.
    RosterChanged { persona_key: String, epoch: u64 },
    /// A new device of this persona.
    DeviceLinked {
        device_id: String,
        name: String,
        /// Unix seconds.
        added_at: u64,
    },
    /// This device was taken off the persona's roster: nothing reaches it any more.
    Revoked,
    /// A persona's key signed two different device lists (see `rosterDisputed`).
    RosterDisputed { persona_key: String, epoch: u64 },
    /// Another device of this persona offers it the history.
    HistoryOffered { transfer_id: String },
    /// A block of history was stored.
    HistoryProgress(HistoryProgressView),
    /// A copy of a message with other words, kept apart (see `conflicts`).
    Conflict { conversation_id: String, id: String },
    /// The other device asks for a direct history channel.
    HistoryChannelRequested { transfer_id: String },
    /// The other device accepted the direct history channel.
    HistoryChannelAccepted { transfer_id: String },
    /// The direct channel could not be set up or used; the mailbox carries the history.
    HistoryChannelFailed { code: String, message: String },
    /// Messages are missing in a conversation; every mailbox is read again by itself.
    Gap {
        conversation_id: String,
        missing: Vec<u64>,
    },
    /// An envelope refused with its typed error; nothing stored changed.
    Refused { code: String, message: String },
}

/// A message as the conversation shows it.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub sender: SenderKind,
    /// "Me", the other device's name, or the contact's.
    pub sender_name: String,
    pub sent_at: u64,
    pub body: String,
}

/// Who wrote a message.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    /// This device.
    Me,
    /// Another device of this persona.
    OwnDevice,
    /// The contact.
    Contact,
}

/// History catch-up so far, after one more block was stored.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct HistoryProgressView {
    /// `"direct"` (a WebRTC channel to the other device) or `"mailbox"`.
    pub via: &'static str,
    /// Messages of this block this device did not hold yet.
    pub imported: u32,
    pub blocks_done: u64,
    pub blocks_total: u64,
    pub messages_done: u64,
    pub messages_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub bytes_per_second: f64,
    /// At the rate so far; absent until a rate is known.
    #[tsify(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_remaining: Option<f64>,
    pub complete: bool,
}

/// A contact, for `contacts()`.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub persona_key: String,
    pub display_name: String,
    pub conversation_id: String,
}

/// A conversation, for `conversations()`, the most recent first.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub conversation_id: String,
    pub peer_key: String,
    pub title: String,
    pub unread: u32,
    /// Unread messages not yet notified or dismissed.
    pub notifying: u32,
    #[tsify(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_body: Option<String>,
    /// 0 for a conversation with no message yet.
    pub last_at: u64,
    /// The contact's key signed two different device lists (see `rosterDisputed`).
    pub disputed: bool,
}

/// A device of this persona, for `devices()`.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    /// Unix seconds.
    pub added_at: u64,
    pub this_device: bool,
    /// When it was last heard from, if it was.
    #[tsify(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active: Option<u64>,
}

/// What the QR reader made of one camera frame, for `lookAtFrame()`.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct FrameView {
    /// The texts of the codes read (link codes, contact cards, any QR code in view).
    pub codes: Vec<String>,
    /// Where a code seen but not read lies: x, y of its four corners in frame pixels,
    /// clockwise from top-left.
    #[tsify(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<Vec<f32>>,
    /// For a code seen but not read: `"move_closer"` or `"hold_still"`.
    #[tsify(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
}

/// What waits in the outbox, for `outboxSize()`.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OutboxSizeView {
    pub envelopes: u32,
    pub history_blocks: u32,
}

/// How the network treated this device since it connected, for `networkStats()`.
#[derive(Debug, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatsView {
    /// Envelopes a write quorum of nodes stored.
    pub stored: u64,
    /// Puts that must be tried again.
    pub not_stored: u64,
    /// Envelopes read for the first time.
    pub fetched: u64,
    /// Copies dropped: from several nodes, replayed, or read again.
    pub duplicates: u64,
    /// Envelopes sent back to nodes that lacked them.
    pub repaired: u64,
    /// Envelopes refused as altered or unreadable since the manager opened.
    pub refused: u32,
}

/// `value` as a plain JS value (absent options left out). Serializing these types cannot
/// fail: their only map keys are field names.
pub(super) fn to_js(value: &impl Serialize) -> JsValue {
    crate::tagged::to_vec(value)
        .ok()
        .and_then(|bytes| js_value(&mut Tokens::new(&bytes)))
        .unwrap_or(JsValue::UNDEFINED)
}

/// The next value of `tokens`, built as JS: maps become plain objects.
fn js_value(tokens: &mut Tokens<'_>) -> Option<JsValue> {
    Some(match tokens.next_token().ok()? {
        Token::Null => JsValue::NULL,
        Token::Bool(value) => JsValue::from_bool(value),
        Token::Unsigned(value) => JsValue::from_f64(value as f64),
        Token::Negative(value) => JsValue::from_f64(value as f64),
        Token::Float(value) => JsValue::from_f64(value),
        Token::String(text) => JsValue::from_str(text),
        Token::Sequence(count) => {
            let array = js_sys::Array::new();
            for _ in 0..count {
                array.push(&js_value(tokens)?);
            }
            array.into()
        }
        Token::Map(count) => {
            let object = js_sys::Object::new();
            for _ in 0..count {
                let key = js_value(tokens)?;
                js_sys::Reflect::set(&object, &key, &js_value(tokens)?).ok()?;
            }
            object.into()
        }
    })
}

/// A JS array of `rows`.
pub(super) fn to_js_array<T: Serialize>(rows: impl IntoIterator<Item = T>) -> js_sys::Array {
    rows.into_iter().map(|row| to_js(&row)).collect()
}
