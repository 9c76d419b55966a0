//! What travels in a persona's inbox: content encrypted once, its key sealed per device.
//!
//! A [`SealedMessage`] names the sending persona and device, carries one Olm [`Seal`] per
//! recipient device, and the [`Content`] encrypted with XChaCha20-Poly1305 under a fresh
//! key. Each seal holds that key and a digest of the encrypted body, so a seal cannot be
//! moved onto another body. Sent to devices that all have sealing keys, the sender and
//! the seals travel inside headers ([`InboxItem::SenderSealed`],
//! [`crate::messaging::sealed_sender`]). A roster published for anyone to find travels as
//! a [`InboxItem::PublishedRoster`].
//!
//! ```
//! use phantom_core::messaging::conversation_log::BEFORE_ALL;
//! use phantom_core::messaging::sealed::{Content, ReadState};
//! use phantom_core::persona::{ConversationId, MessageId};
//!
//! let read = Content::ReadState(ReadState {
//!     conversation_id: ConversationId::from_bytes([1; 16]),
//!     read_up_to: (1_700_000_000_000, MessageId::from_bytes([2; 16])),
//!     dismissed_up_to: BEFORE_ALL,
//! });
//! assert_eq!(Content::decode(&read.encode()?)?, read);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use phantom_aead::{Payload, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::history::direct::DirectSignal;
use crate::history::transfer::HistoryOffer;
use crate::mailbox::envelope::MAX_ENVELOPE_LEN;
use crate::messaging::conversation_log::Position;
use crate::messaging::sealed_sender::{SenderSealedMessage, MAX_HEADER_LEN};
use crate::messaging::sessions::{Seal, MAX_OLM_MESSAGE_LEN};
use crate::persona::message::MAX_BODY_LEN;
use crate::persona::{ConversationId, MessageId, MAX_DISPLAY_NAME_LEN};
use crate::roster::{SignedRoster, MAX_DEVICES, MAX_ROSTER_LEN};
use crate::wire::{Reader, WireError, Writer};

/// The version of the inbox item, content and contact card encodings.
pub const INBOX_FORMAT_VERSION: u8 = 1;
const INBOX_MAGIC: &[u8; 2] = b"PI";
const CONTENT_MAGIC: &[u8; 2] = b"PC";
/// A message reaches at most the recipient's devices and the sender's own.
pub const MAX_SEALS: usize = 2 * MAX_DEVICES;
const SEAL_PLAINTEXT_LEN: usize = 64;

const KIND_SEALED: u8 = 1;
const KIND_PUBLISHED_ROSTER: u8 = 2;
const KIND_SENDER_SEALED: u8 = 3;

const CONTENT_TEXT: u8 = 1;
const CONTENT_READ_STATE: u8 = 2;
const CONTENT_ROSTER: u8 = 3;
const CONTENT_CONTACT_CARD: u8 = 4;
const CONTENT_HISTORY_OFFER: u8 = 5;
const CONTENT_DIRECT_REQUEST: u8 = 6;
const CONTENT_DIRECT_ACCEPT: u8 = 7;
const CONTENT_LEAVE: u8 = 8;
const CONTENT_SEALING_KEY: u8 = 9;

/// An envelope's bytes, as read from an inbox or a profile mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxItem {
    /// Sent to devices some of which have no sealing key yet: sender and recipients in the
    /// clear.
    Sealed(SealedMessage),
    /// A persona's signed roster with its inbox withheld, as published in its profile
    /// mailbox; believed only when read there.
    PublishedRoster(SignedRoster),
    /// Sent to devices that all have sealing keys: sender and seals hidden in one header
    /// per recipient device.
    SenderSealed(SenderSealedMessage),
}

/// A message to a set of devices: its [`Content`] encrypted once, and the key to it sealed
/// to each device with Olm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMessage {
    /// The sending persona's identity key.
    pub sender_persona: [u8; 32],
    /// The sending device's Olm identity key.
    pub sender_device: [u8; 32],
    /// One seal of the content key per recipient device, at most [`MAX_SEALS`].
    pub seals: Vec<Seal>,
    /// The XChaCha20-Poly1305 nonce `body` is encrypted with.
    pub nonce: [u8; 24],
    /// The encrypted content, bound to the sending persona and device.
    pub body: Vec<u8>,
}

/// A persona and its devices as another persona hands them on: a contact's card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCard {
    /// The name the persona goes by, at most [`MAX_DISPLAY_NAME_LEN`] bytes.
    pub display_name: String,
    /// Its roster, signed by its persona key: the devices to seal to and the inbox to
    /// write to.
    pub roster: SignedRoster,
}

/// A text message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The message's random id, the same on every device that holds it.
    pub message_id: MessageId,
    /// The persona the text is written to; the conversation is the pair of personas.
    pub recipient: [u8; 32],
    /// When it was sent, in ms since the Unix epoch by the sender's clock: with the id, its
    /// place in the conversation.
    pub sent_at_ms: u64,
    /// The sending device's count of texts in this conversation: 1, 2, 3 … — a hole is a
    /// message some node dropped.
    pub sequence: u64,
    /// The text itself: a device sends at most
    /// [`MAX_TEXT_LEN`](crate::messaging::messenger::MAX_TEXT_LEN) bytes.
    pub body: String,
    /// The sender introduces itself until the recipient has answered.
    pub introduction: Option<ContactCard>,
}

/// How far a conversation was read, and its notifications dismissed, on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    /// The conversation the marks are for.
    pub conversation_id: ConversationId,
    /// (sent_at_ms, message id) of the last message read.
    pub read_up_to: Position,
    /// (sent_at_ms, message id) of the last message whose notification was dismissed.
    pub dismissed_up_to: Position,
}

/// What a sealed message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A text of a conversation.
    Text(Text),
    /// For the persona's own devices only.
    ReadState(ReadState),
    /// The sender persona's new roster.
    Roster(SignedRoster),
    /// A contact the sender persona added, for its own other devices.
    ContactCard(ContactCard),
    /// Where the persona's history waits for a newly linked device, and its key.
    HistoryOffer(HistoryOffer),
    /// The new device's WebRTC offer for a direct history channel, to the source device.
    DirectRequest(DirectSignal),
    /// The source device's WebRTC answer to it.
    DirectAccept(DirectSignal),
    /// The sending device asks the device holding the authority to take it off the roster.
    Leave,
    /// The sending device's sealing key, for the device holding the authority to sign into
    /// the roster (the device was linked before devices had sealing keys).
    SealingKey([u8; 32]),
}

/// The key a seal carries, and the digest of the body it opens.
pub struct SealedKey {
    /// The XChaCha20-Poly1305 key the content is encrypted with, fresh for each message.
    pub content_key: Zeroizing<[u8; 32]>,
    /// The [`body_digest`] of the encrypted body: a seal opens that body only.
    pub body_digest: [u8; 32],
}

impl SealedKey {
    /// The key and digest as the 64 bytes an Olm seal encrypts; zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SEAL_PLAINTEXT_LEN]> {
        let mut bytes = Zeroizing::new([0u8; SEAL_PLAINTEXT_LEN]);
        bytes[..32].copy_from_slice(self.content_key.as_ref());
        bytes[32..].copy_from_slice(&self.body_digest);
        bytes
    }

    /// The key and digest from an opened seal; anything but 64 bytes is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let key = Zeroizing::new(r.array::<32>("content_key")?);
        let body_digest = r.array("body_digest")?;
        r.finish()?;
        Ok(Self {
            content_key: key,
            body_digest,
        })
    }
}

/// Content encrypted under a fresh key, before the key is sealed to each device.
pub struct EncryptedBody {
    /// The fresh content key, and the digest of `body`, to seal to each device.
    pub key: SealedKey,
    /// The nonce `body` is encrypted with.
    pub nonce: [u8; 24],
    /// The encrypted content.
    pub body: Vec<u8>,
}

fn body_aad(sender_persona: &[u8; 32], sender_device: &[u8; 32]) -> Vec<u8> {
    [
        b"phantom-sync content v1".as_slice(),
        sender_persona,
        sender_device,
    ]
    .concat()
}

/// SHA-256 over a nonce and an encrypted body: what ties a seal to the body it opens.
pub fn body_digest(nonce: &[u8; 24], body: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(nonce)
        .chain_update(body)
        .finalize()
        .into()
}

/// Encrypts `content` once for every recipient device.
pub fn encrypt_content(
    content: &Content,
    sender_persona: &[u8; 32],
    sender_device: &[u8; 32],
    rng: &mut impl CryptoRng,
) -> Result<EncryptedBody, WireError> {
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut());
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let plaintext = content.encode()?;
    let body = XChaCha20Poly1305::new(&phantom_aead::Key::from(*content_key))
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &body_aad(sender_persona, sender_device),
            },
        )
        .map_err(|_| WireError::InvalidValue {
            field: "content",
            value: plaintext.len() as u64,
        })?;
    Ok(EncryptedBody {
        key: SealedKey {
            content_key,
            body_digest: body_digest(&nonce, &body),
        },
        nonce,
        body,
    })
}

impl SealedMessage {
    /// The content, with the key this device's seal gave; `None` if the key does not open it.
    pub fn decrypt(&self, key: &SealedKey) -> Option<Zeroizing<Vec<u8>>> {
        if body_digest(&self.nonce, &self.body) != key.body_digest {
            return None;
        }
        XChaCha20Poly1305::new(&phantom_aead::Key::from(*key.content_key))
            .decrypt(
                &XNonce::from(self.nonce),
                Payload {
                    msg: &self.body,
                    aad: &body_aad(&self.sender_persona, &self.sender_device),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }

    /// The seal addressed to the device with this Olm identity key, if there is one.
    pub fn seal_for(&self, device: &[u8; 32]) -> Option<&Seal> {
        self.seals.iter().find(|seal| &seal.recipient == device)
    }
}

impl InboxItem {
    /// The envelope bytes of this item. Fails if a part is past its limit: more than
    /// [`MAX_SEALS`] seals or headers, or a seal, header or body too long.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_bytes(INBOX_MAGIC);
        w.put_u8(INBOX_FORMAT_VERSION);
        match self {
            InboxItem::Sealed(message) => {
                w.put_u8(KIND_SEALED);
                w.put_bytes(&message.sender_persona);
                w.put_bytes(&message.sender_device);
                w.put_count("seals", message.seals.len(), MAX_SEALS)?;
                for seal in &message.seals {
                    w.put_bytes(&seal.recipient);
                    w.put_u8(seal.message_type);
                    w.put_var_bytes("seal", &seal.ciphertext, MAX_OLM_MESSAGE_LEN)?;
                }
                w.put_bytes(&message.nonce);
                w.put_var_bytes("body", &message.body, MAX_ENVELOPE_LEN)?;
            }
            InboxItem::PublishedRoster(roster) => {
                w.put_u8(KIND_PUBLISHED_ROSTER);
                w.put_var_bytes("roster", &roster.encode(), MAX_ROSTER_LEN)?;
            }
            InboxItem::SenderSealed(message) => {
                w.put_u8(KIND_SENDER_SEALED);
                w.put_bytes(&message.ephemeral);
                w.put_count("headers", message.headers.len(), MAX_SEALS)?;
                for header in &message.headers {
                    w.put_var_bytes("header", header, MAX_HEADER_LEN)?;
                }
                w.put_bytes(&message.nonce);
                w.put_var_bytes("body", &message.body, MAX_ENVELOPE_LEN)?;
            }
        }
        Ok(w.into_bytes())
    }

    /// Reads an envelope's bytes: an inbox item of this version, with nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(INBOX_MAGIC, INBOX_FORMAT_VERSION)?;
        let item = match r.u8("inbox_kind")? {
            KIND_SEALED => {
                let sender_persona = r.array("sender_persona")?;
                let sender_device = r.array("sender_device")?;
                let count = r.count("seals", MAX_SEALS, 32 + 1 + 4)?;
                let mut seals = Vec::with_capacity(count);
                for _ in 0..count {
                    seals.push(Seal {
                        recipient: r.array("seal_recipient")?,
                        message_type: r.u8("seal_type")?,
                        ciphertext: r.var_bytes("seal", MAX_OLM_MESSAGE_LEN)?.to_vec(),
                    });
                }
                InboxItem::Sealed(SealedMessage {
                    sender_persona,
                    sender_device,
                    seals,
                    nonce: r.array("nonce")?,
                    body: r.var_bytes("body", MAX_ENVELOPE_LEN)?.to_vec(),
                })
            }
            KIND_PUBLISHED_ROSTER => {
                let bytes = r.var_bytes("roster", MAX_ROSTER_LEN)?;
                InboxItem::PublishedRoster(signed_roster(bytes)?)
            }
            KIND_SENDER_SEALED => {
                let ephemeral = r.array("ephemeral")?;
                let count = r.count("headers", MAX_SEALS, 4)?;
                let mut headers = Vec::with_capacity(count);
                for _ in 0..count {
                    headers.push(r.var_bytes("header", MAX_HEADER_LEN)?.to_vec());
                }
                InboxItem::SenderSealed(SenderSealedMessage {
                    ephemeral,
                    headers,
                    nonce: r.array("nonce")?,
                    body: r.var_bytes("body", MAX_ENVELOPE_LEN)?.to_vec(),
                })
            }
            other => {
                return Err(WireError::InvalidValue {
                    field: "inbox_kind",
                    value: other.into(),
                })
            }
        };
        r.finish()?;
        Ok(item)
    }
}

fn signed_roster(bytes: &[u8]) -> Result<SignedRoster, WireError> {
    SignedRoster::decode(bytes).map_err(|_| WireError::InvalidValue {
        field: "roster",
        value: bytes.len() as u64,
    })
}

/// A contact card as text, for a QR code or a message: `PHCONTACT:` and base32.
pub const CONTACT_LINK_PREFIX: &str = "PHCONTACT:";
const CONTACT_CARD_MAGIC: &[u8; 2] = b"PK";

impl ContactCard {
    /// The card as text: [`CONTACT_LINK_PREFIX`] and base32, for a QR code or a message.
    /// Fails if the display name or the roster is not one a card can carry.
    pub fn to_link_code(&self) -> Result<String, WireError> {
        let mut w = Writer::new();
        w.put_bytes(CONTACT_CARD_MAGIC);
        w.put_u8(INBOX_FORMAT_VERSION);
        self.write(&mut w)?;
        Ok(format!(
            "{CONTACT_LINK_PREFIX}{}",
            crate::encoding::base32(w.as_bytes())
        ))
    }

    /// Reads a card as scanned or pasted: case, spaces, line breaks and dashes are ignored.
    pub fn from_link_code(text: &str) -> Result<Self, WireError> {
        let cleaned = crate::wire::clean_link_code(text);
        let body = cleaned
            .strip_prefix(CONTACT_LINK_PREFIX)
            .ok_or(WireError::BadMagic)?;
        let max = crate::encoding::base32_len(MAX_ROSTER_LEN + 128);
        if body.len() > max {
            return Err(WireError::FieldTooLong {
                field: "contact_card",
                len: body.len(),
                max,
            });
        }
        let bytes = crate::encoding::base32_decode(body).ok_or(WireError::InvalidValue {
            field: "contact_card",
            value: body.len() as u64,
        })?;
        let mut r = Reader::new(&bytes);
        r.magic_and_version(CONTACT_CARD_MAGIC, INBOX_FORMAT_VERSION)?;
        let card = Self::read(&mut r)?;
        r.finish()?;
        Ok(card)
    }

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_display_text("display_name", &self.display_name, MAX_DISPLAY_NAME_LEN)?;
        w.put_var_bytes("roster", &self.roster.encode(), MAX_ROSTER_LEN)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            display_name: r.display_text("display_name", MAX_DISPLAY_NAME_LEN)?,
            roster: signed_roster(r.var_bytes("roster", MAX_ROSTER_LEN)?)?,
        })
    }
}

impl Content {
    /// The content's bytes, before encryption: secret, so zeroized on drop.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        let mut w = Writer::new();
        w.put_bytes(CONTENT_MAGIC);
        w.put_u8(INBOX_FORMAT_VERSION);
        match self {
            Content::Text(text) => {
                w.put_u8(CONTENT_TEXT);
                w.put_bytes(text.message_id.as_bytes());
                w.put_bytes(&text.recipient);
                w.put_u64(text.sent_at_ms);
                w.put_u64(text.sequence);
                w.put_string("body", &text.body, MAX_BODY_LEN)?;
                match &text.introduction {
                    Some(card) => {
                        w.put_u8(1);
                        card.write(&mut w)?;
                    }
                    None => w.put_u8(0),
                }
            }
            Content::ReadState(state) => {
                w.put_u8(CONTENT_READ_STATE);
                w.put_bytes(state.conversation_id.as_bytes());
                w.put_u64(state.read_up_to.0);
                w.put_bytes(state.read_up_to.1.as_bytes());
                w.put_u64(state.dismissed_up_to.0);
                w.put_bytes(state.dismissed_up_to.1.as_bytes());
            }
            Content::Roster(roster) => {
                w.put_u8(CONTENT_ROSTER);
                w.put_var_bytes("roster", &roster.encode(), MAX_ROSTER_LEN)?;
            }
            Content::ContactCard(card) => {
                w.put_u8(CONTENT_CONTACT_CARD);
                card.write(&mut w)?;
            }
            Content::HistoryOffer(offer) => {
                w.put_u8(CONTENT_HISTORY_OFFER);
                offer.write(&mut w);
            }
            Content::DirectRequest(signal) => {
                w.put_u8(CONTENT_DIRECT_REQUEST);
                signal.write(&mut w)?;
            }
            Content::DirectAccept(signal) => {
                w.put_u8(CONTENT_DIRECT_ACCEPT);
                signal.write(&mut w)?;
            }
            Content::Leave => w.put_u8(CONTENT_LEAVE),
            Content::SealingKey(key) => {
                w.put_u8(CONTENT_SEALING_KEY);
                w.put_bytes(key);
            }
        }
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// Reads decrypted content: content of this version, with nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(CONTENT_MAGIC, INBOX_FORMAT_VERSION)?;
        let content = match r.u8("content_kind")? {
            CONTENT_TEXT => Content::Text(Text {
                message_id: MessageId::from_bytes(r.array("message_id")?),
                recipient: r.array("recipient")?,
                sent_at_ms: r.u64("sent_at_ms")?,
                sequence: r.u64("sequence")?,
                body: r.string("body", MAX_BODY_LEN)?,
                introduction: match r.u8("introduction")? {
                    0 => None,
                    1 => Some(ContactCard::read(&mut r)?),
                    other => {
                        return Err(WireError::InvalidValue {
                            field: "introduction",
                            value: other.into(),
                        })
                    }
                },
            }),
            CONTENT_READ_STATE => Content::ReadState(ReadState {
                conversation_id: ConversationId::from_bytes(r.array("conversation_id")?),
                read_up_to: (
                    r.u64("read_up_to_ms")?,
                    MessageId::from_bytes(r.array("read_up_to_id")?),
                ),
                dismissed_up_to: (
                    r.u64("dismissed_up_to_ms")?,
                    MessageId::from_bytes(r.array("dismissed_up_to_id")?),
                ),
            }),
            CONTENT_ROSTER => {
                Content::Roster(signed_roster(r.var_bytes("roster", MAX_ROSTER_LEN)?)?)
            }
            CONTENT_CONTACT_CARD => Content::ContactCard(ContactCard::read(&mut r)?),
            CONTENT_HISTORY_OFFER => Content::HistoryOffer(HistoryOffer::read(&mut r)?),
            CONTENT_DIRECT_REQUEST => Content::DirectRequest(DirectSignal::read(&mut r)?),
            CONTENT_DIRECT_ACCEPT => Content::DirectAccept(DirectSignal::read(&mut r)?),
            CONTENT_LEAVE => Content::Leave,
            CONTENT_SEALING_KEY => Content::SealingKey(r.array("sealing_key")?),
            other => {
                return Err(WireError::InvalidValue {
                    field: "content_kind",
                    value: other.into(),
                })
            }
        };
        r.finish()?;
        Ok(content)
    }
}
