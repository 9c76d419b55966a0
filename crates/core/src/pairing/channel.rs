//! The pairing channel: HPKE (RFC 9180) from the new device to the source, and the framed,
//! sealed messages both devices exchange over it.
//!
//! The target runs HPKE `SetupBaseS` with suite DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305 against the source key in the invitation, with `info` = the label
//! `phantom-sync pairing v1` followed by the 98 invitation bytes. The KEM binds both public
//! keys (`enc` and the source key), `info` binds the invitation id and the pairing mailbox.
//! From the HPKE exporter both sides take one key and one base nonce *per direction*, the
//! words, and the reply mailbox. Every message carries its sequence number; the nonce is the
//! direction's base nonce XOR that number, so no nonce repeats, and each number is accepted
//! once, so a replay is refused.
//!
//! ```
//! use phantom_core::pairing::channel::{MessageKind, PairingChannel, InvitationKeyPair};
//! use phantom_core::pairing::invitation::*;
//! use phantom_core::mailbox::keys::MailboxSeed;
//! # let mut rng = phantom_core::testing::SeededRng::new(3);
//!
//! let source_keys = InvitationKeyPair::generate(&mut rng);
//! let invitation = PairingInvitation {
//!     intent: Intent::LinkDevice,
//!     id: InvitationId::random(&mut rng),
//!     public_key: source_keys.public_key(),
//!     mailbox: MailboxSeed::random(&mut rng),
//!     expires_at: 1_700_000_120,
//!     capabilities: Capabilities::default(),
//! };
//! let mut target = PairingChannel::initiate(&invitation, &mut rng)?;
//! let message = target.seal(MessageKind::SyncRequest, b"hello")?;
//!
//! let mut source = PairingChannel::accept(&source_keys, &invitation, &message)?;
//! assert_eq!(&source.open(&message)?[..], b"hello");
//! assert_eq!(source.words(), target.words());
//! # Ok::<(), phantom_core::pairing::channel::ChannelError>(())
//! ```

use core::convert::Infallible;
use core::fmt;

use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use phantom_aead::{ChaCha20Poly1305, Payload};
use rand_core::{CryptoRng, TryCryptoRng, TryRng};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::mailbox::keys::MailboxSeed;
use crate::pairing::invitation::{Intent, InvitationId, PairingInvitation};
use crate::pairing::words::{AuthWords, EXPORTER_LEN};
use crate::secret::Secret;
use crate::wire::{Reader, WireError, Writer};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// The frame format version every channel message carries after its `PS` magic.
pub const CHANNEL_VERSION: u8 = 1;
const CHANNEL_MAGIC: &[u8; 2] = b"PS";
const INFO_LABEL: &[u8] = b"phantom-sync pairing v1";
/// Each direction may send this many messages; a pairing needs a handful.
pub const MAX_MESSAGES_PER_DIRECTION: u64 = 64;
const TAG_LEN: usize = 16;

/// Exporter labels (RFC 9180 §5.3), one per derived value.
mod label {
    pub const TARGET_TO_SOURCE_KEY: &[u8] = b"phantom-sync t2s key";
    pub const TARGET_TO_SOURCE_NONCE: &[u8] = b"phantom-sync t2s nonce";
    pub const SOURCE_TO_TARGET_KEY: &[u8] = b"phantom-sync s2t key";
    pub const SOURCE_TO_TARGET_NONCE: &[u8] = b"phantom-sync s2t nonce";
    pub const WORDS: &[u8] = b"phantom-sync words";
    pub const REPLY_MAILBOX: &[u8] = b"phantom-sync reply mailbox";
}

/// Why a channel could not be set up or a message not opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// The frame or stored channel state is malformed, or a plaintext is too long for its
    /// message kind.
    #[error("malformed channel message: {0}")]
    Wire(#[from] WireError),
    /// The invitation's source key or the request's `enc` is not a usable X25519 key (one
    /// whose shared secret is all zero, for instance), so HPKE could not be set up.
    #[error("a public key is not a usable X25519 key")]
    InvalidPublicKey,
    /// The AEAD tag did not verify. The sequence number is not used up and nothing
    /// changes, so a forged message cannot block the real one.
    #[error(
        "the message failed authentication: it was tampered with or sealed for another channel"
    )]
    Tampered,
    /// A message with this sequence number was already accepted in this direction.
    #[error("message {seq} was already received: a replay")]
    Replay {
        /// The sequence number seen again.
        seq: u64,
    },
    /// The sequence number is [`MAX_MESSAGES_PER_DIRECTION`] or more (also when this end
    /// has sealed that many), or a source got a `SyncRequest` whose number is not 0.
    #[error("message number {seq} is out of range for a pairing")]
    SequenceOutOfRange {
        /// The sequence number refused.
        seq: u64,
    },
    /// The message's invitation id is not the one this channel was set up for.
    #[error("the message belongs to a different invitation")]
    WrongInvitation,
    /// The device that showed the code was asked to set up a channel from a message other
    /// than the one that opens a channel for its intent (a `SyncRequest` for a code the
    /// source shows, a `Hello` for one a new device shows), the only kinds that carry the
    /// HPKE `enc`.
    #[error("only the first message of the scanning device can open a pairing channel")]
    NotARequest,
}

impl ChannelError {
    /// A stable, machine-readable code, the same in Rust and JS.
    pub fn code(&self) -> &'static str {
        match self {
            ChannelError::Wire(inner) => inner.code(),
            ChannelError::InvalidPublicKey => "invalid_public_key",
            ChannelError::Tampered => "tampered",
            ChannelError::Replay { .. } => "replay",
            ChannelError::SequenceOutOfRange { .. } => "sequence_out_of_range",
            ChannelError::WrongInvitation => "wrong_invitation",
            ChannelError::NotARequest => "not_a_request",
        }
    }
}

/// The kind of a channel message, and so its direction and size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Target → source, answering the source's code: who is asking (carries the HPKE
    /// `enc`).
    SyncRequest,
    /// Source → target: the sealed persona, sent only after approval.
    PersonaPayload,
    /// Either way: the pairing stops, with a reason.
    Abort,
    /// Target → source: the persona was imported.
    ImportAck,
    /// Source → target, answering the new device's code: which device scanned it
    /// (carries the HPKE `enc`).
    Hello,
    /// Target → source, after a `Hello`: who is asking, as a `SyncRequest` says it.
    LinkRequest,
}

impl MessageKind {
    /// The frame's `kind` byte: 2 `SyncRequest`, 3 `PersonaPayload`, 4 `Abort`,
    /// 5 `ImportAck`, 6 `Hello`, 7 `LinkRequest`.
    pub fn to_byte(self) -> u8 {
        match self {
            MessageKind::SyncRequest => 2,
            MessageKind::PersonaPayload => 3,
            MessageKind::Abort => 4,
            MessageKind::ImportAck => 5,
            MessageKind::Hello => 6,
            MessageKind::LinkRequest => 7,
        }
    }

    /// Whether the frame carries the HPKE `enc`: the scanning device's first message does.
    pub fn carries_enc(self) -> bool {
        matches!(self, MessageKind::SyncRequest | MessageKind::Hello)
    }

    /// The scanning device's first message for a code of `intent`, which carries `enc`.
    pub fn opening(intent: Intent) -> Self {
        if intent.is_shown_by_source() {
            MessageKind::SyncRequest
        } else {
            MessageKind::Hello
        }
    }

    fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            2 => Ok(MessageKind::SyncRequest),
            3 => Ok(MessageKind::PersonaPayload),
            4 => Ok(MessageKind::Abort),
            5 => Ok(MessageKind::ImportAck),
            6 => Ok(MessageKind::Hello),
            7 => Ok(MessageKind::LinkRequest),
            other => Err(WireError::InvalidValue {
                field: "message_kind",
                value: other.into(),
            }),
        }
    }

    /// The largest ciphertext a message of this kind may carry.
    pub fn max_ciphertext_len(self) -> usize {
        match self {
            MessageKind::SyncRequest | MessageKind::LinkRequest => 1024,
            MessageKind::PersonaPayload => 4 * 1024 * 1024,
            MessageKind::Abort | MessageKind::Hello => 256,
            MessageKind::ImportAck => 320,
        }
    }
}

/// One framed message on the pairing channel, as it travels through a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    /// What the message carries, which fixes its direction and its largest ciphertext.
    pub kind: MessageKind,
    /// The invitation answered; it names the channel the message belongs to.
    pub invitation_id: InvitationId,
    /// The message's number in its direction, from 0 up to 63; each is accepted once,
    /// and it picks the nonce.
    pub seq: u64,
    /// The target's HPKE encapsulated key; present exactly on a `SyncRequest`.
    pub encapsulated_key: Option<[u8; 32]>,
    /// The sealed plaintext followed by its 16-byte Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

impl ChannelMessage {
    /// Everything before the ciphertext; it is the AEAD's associated data.
    pub fn header(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put_bytes(CHANNEL_MAGIC);
        w.put_u8(CHANNEL_VERSION);
        w.put_u8(self.kind.to_byte());
        w.put_bytes(self.invitation_id.as_bytes());
        w.put_u64(self.seq);
        if let Some(enc) = &self.encapsulated_key {
            w.put_bytes(enc);
        }
        w.into_bytes()
    }

    /// The frame as it travels: the header, then the ciphertext with its `u32` length.
    /// Fails if the ciphertext is longer than its kind allows.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_bytes(&self.header());
        w.put_var_bytes(
            "ciphertext",
            &self.ciphertext,
            self.kind.max_ciphertext_len(),
        )?;
        Ok(w.into_bytes())
    }

    /// The kind of a framed message, read without decoding the rest.
    pub fn peek_kind(bytes: &[u8]) -> Result<MessageKind, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(CHANNEL_MAGIC, CHANNEL_VERSION)?;
        MessageKind::from_byte(r.u8("message_kind")?)
    }

    /// Reads a frame, refusing an unknown magic, version or kind, a ciphertext longer
    /// than its kind allows and trailing bytes. It authenticates nothing: that is
    /// [`PairingChannel::open`]'s work.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(CHANNEL_MAGIC, CHANNEL_VERSION)?;
        let kind = MessageKind::from_byte(r.u8("message_kind")?)?;
        let invitation_id = InvitationId::from_bytes(r.array("invitation_id")?);
        let seq = r.u64("seq")?;
        let encapsulated_key = if kind.carries_enc() {
            Some(r.array("encapsulated_key")?)
        } else {
            None
        };
        let ciphertext = r
            .var_bytes("ciphertext", kind.max_ciphertext_len())?
            .to_vec();
        r.finish()?;
        Ok(Self {
            kind,
            invitation_id,
            seq,
            encapsulated_key,
            ciphertext,
        })
    }
}

/// The source's ephemeral HPKE key pair for one invitation.
pub struct InvitationKeyPair {
    private: <Kem as hpke::Kem>::PrivateKey,
    public: [u8; 32],
}

impl InvitationKeyPair {
    /// A fresh random key pair; the source makes one for each invitation.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let (private, public) = Kem::gen_keypair_with_rng(rng);
        Self::from_parts(private, &public)
    }

    /// RFC 9180 `DeriveKeyPair(ikm)`; used by the test vectors.
    pub fn derive(ikm: &[u8; 32]) -> Self {
        let (private, public) = Kem::derive_keypair(ikm);
        Self::from_parts(private, &public)
    }

    fn from_parts(
        private: <Kem as hpke::Kem>::PrivateKey,
        public: &<Kem as hpke::Kem>::PublicKey,
    ) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&public.to_bytes());
        Self {
            private,
            public: bytes,
        }
    }

    /// The X25519 public key, which the invitation carries as `public_key`.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Debug for InvitationKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvitationKeyPair")
            .field("public", &crate::encoding::hex(&self.public))
            .field("private", &"redacted")
            .finish()
    }
}

/// Which end of the channel this is, whichever of the two showed the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRole {
    /// The source, which holds the persona.
    Source,
    /// The target, the new device.
    Target,
}

impl ChannelRole {
    /// The role of the device that shows codes of `intent`.
    fn showing(intent: Intent) -> Self {
        if intent.is_shown_by_source() {
            ChannelRole::Source
        } else {
            ChannelRole::Target
        }
    }

    /// The role of the device that scans codes of `intent`.
    fn scanning(intent: Intent) -> Self {
        match Self::showing(intent) {
            ChannelRole::Source => ChannelRole::Target,
            ChannelRole::Target => ChannelRole::Source,
        }
    }
}

/// The key, base nonce and sequence state of one direction.
struct DirectionKeys {
    /// Kept beside its cipher so a target's pairing can outlive a page reload.
    key: Secret<32>,
    cipher: ChaCha20Poly1305,
    base_nonce: Secret<12>,
    /// Sending: the next number to use.
    next_seq: u64,
    /// Receiving: a bit per number already accepted.
    accepted: u64,
}

impl DirectionKeys {
    fn new(key: Secret<32>, base_nonce: Secret<12>, next_seq: u64, accepted: u64) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&phantom_aead::Key::from(*key.expose())),
            key,
            base_nonce,
            next_seq,
            accepted,
        }
    }

    fn write(&self, w: &mut Writer) {
        w.put_bytes(self.key.expose());
        w.put_bytes(self.base_nonce.expose());
        w.put_u64(self.next_seq);
        w.put_u64(self.accepted);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let key = r.secret("direction_key")?;
        let mut nonce = Zeroizing::new(r.array::<12>("base_nonce")?);
        let base_nonce = Secret::from_bytes(core::mem::take(&mut *nonce));
        Ok(Self::new(
            key,
            base_nonce,
            r.u64("next_seq")?,
            r.u64("accepted")?,
        ))
    }

    fn nonce(&self, seq: u64) -> phantom_aead::Nonce {
        let mut nonce = *self.base_nonce.expose();
        for (byte, seq_byte) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *byte ^= seq_byte;
        }
        phantom_aead::Nonce::from(nonce)
    }
}

/// An established pairing channel.
pub struct PairingChannel {
    role: ChannelRole,
    invitation_id: InvitationId,
    encapsulated_key: [u8; 32],
    send: DirectionKeys,
    receive: DirectionKeys,
    words: AuthWords,
    reply_mailbox: MailboxSeed,
}

impl PairingChannel {
    /// The scanning device's side: encapsulate to the invitation's key. For a code the
    /// source shows this end is the target; for one a new device shows, the source.
    pub fn initiate(
        invitation: &PairingInvitation,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, ChannelError> {
        Self::initiate_with_rng(invitation, rng)
    }

    /// [`initiate`](Self::initiate) with the ephemeral key `DeriveKeyPair(ikm_e)` (test vectors).
    pub fn initiate_with_ikm(
        invitation: &PairingInvitation,
        ikm_e: &[u8; 32],
    ) -> Result<Self, ChannelError> {
        Self::initiate_with_rng(invitation, &mut FixedIkm(Some(*ikm_e)))
    }

    fn initiate_with_rng(
        invitation: &PairingInvitation,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, ChannelError> {
        let shown_key = <Kem as hpke::Kem>::PublicKey::from_bytes(&invitation.public_key)
            .map_err(|_| ChannelError::InvalidPublicKey)?;
        let (enc, context) = hpke::setup_sender_with_rng::<HpkeAead, Kdf, Kem>(
            &OpModeS::Base,
            &shown_key,
            &info(invitation),
            rng,
        )
        .map_err(|_| ChannelError::InvalidPublicKey)?;
        let mut encapsulated_key = [0u8; 32];
        encapsulated_key.copy_from_slice(&enc.to_bytes());
        let role = ChannelRole::scanning(invitation.intent);
        Self::from_exporter(role, invitation.id, encapsulated_key, |label, out| {
            context.export(label, out)
        })
    }

    /// The showing device's side: decapsulate the `enc` the scanning device's first
    /// message carries (a `SyncRequest`, or a `Hello` for a code a new device shows).
    pub fn accept(
        keys: &InvitationKeyPair,
        invitation: &PairingInvitation,
        request: &ChannelMessage,
    ) -> Result<Self, ChannelError> {
        if request.kind != MessageKind::opening(invitation.intent) {
            return Err(ChannelError::NotARequest);
        }
        if request.invitation_id != invitation.id {
            return Err(ChannelError::WrongInvitation);
        }
        let encapsulated_key = request.encapsulated_key.ok_or(ChannelError::NotARequest)?;
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&encapsulated_key)
            .map_err(|_| ChannelError::InvalidPublicKey)?;
        let context = hpke::setup_receiver::<HpkeAead, Kdf, Kem>(
            &OpModeR::Base,
            &keys.private,
            &enc,
            &info(invitation),
        )
        .map_err(|_| ChannelError::InvalidPublicKey)?;
        let role = ChannelRole::showing(invitation.intent);
        Self::from_exporter(role, invitation.id, encapsulated_key, |label, out| {
            context.export(label, out)
        })
    }

    fn from_exporter(
        role: ChannelRole,
        invitation_id: InvitationId,
        encapsulated_key: [u8; 32],
        export: impl Fn(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
    ) -> Result<Self, ChannelError> {
        let secret32 = |label: &[u8]| -> Result<Secret<32>, ChannelError> {
            let mut out = Zeroizing::new([0u8; 32]);
            export(label, out.as_mut()).map_err(|_| ChannelError::InvalidPublicKey)?;
            Ok(Secret::from_bytes(*out))
        };
        let secret12 = |label: &[u8]| -> Result<Secret<12>, ChannelError> {
            let mut out = Zeroizing::new([0u8; 12]);
            export(label, out.as_mut()).map_err(|_| ChannelError::InvalidPublicKey)?;
            Ok(Secret::from_bytes(*out))
        };
        let direction =
            |key: Secret<32>, base_nonce: Secret<12>| DirectionKeys::new(key, base_nonce, 0, 0);
        let to_source = direction(
            secret32(label::TARGET_TO_SOURCE_KEY)?,
            secret12(label::TARGET_TO_SOURCE_NONCE)?,
        );
        let to_target = direction(
            secret32(label::SOURCE_TO_TARGET_KEY)?,
            secret12(label::SOURCE_TO_TARGET_NONCE)?,
        );
        let mut word_bytes = [0u8; EXPORTER_LEN];
        export(label::WORDS, &mut word_bytes).map_err(|_| ChannelError::InvalidPublicKey)?;
        let mut mailbox = [0u8; 32];
        export(label::REPLY_MAILBOX, &mut mailbox).map_err(|_| ChannelError::InvalidPublicKey)?;
        let (send, receive) = match role {
            ChannelRole::Target => (to_source, to_target),
            ChannelRole::Source => (to_target, to_source),
        };
        Ok(Self {
            role,
            invitation_id,
            encapsulated_key,
            send,
            receive,
            words: AuthWords::from_exporter_bytes(word_bytes),
            reply_mailbox: MailboxSeed::from_bytes(mailbox),
        })
    }

    /// Which end of the channel this device holds.
    pub fn role(&self) -> ChannelRole {
        self.role
    }

    /// The channel's keys and counters, so a target's pairing can outlive a page reload.
    /// Secret: the driver stores it only wrapped by the device key.
    pub fn export_state(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.put_u8(match self.role {
            ChannelRole::Source => 1,
            ChannelRole::Target => 2,
        });
        w.put_bytes(self.invitation_id.as_bytes());
        w.put_bytes(&self.encapsulated_key);
        self.send.write(&mut w);
        self.receive.write(&mut w);
        for index in self.words.indices() {
            w.put_u16(index);
        }
        w.put_bytes(self.reply_mailbox.as_bytes());
        Zeroizing::new(w.into_bytes())
    }

    /// The channel [`export_state`](Self::export_state) saved, with its keys and counters
    /// as they were, so a message already accepted is still refused as a replay.
    pub fn import_state(bytes: &[u8]) -> Result<Self, ChannelError> {
        let mut r = Reader::new(bytes);
        let role = match r.u8("role")? {
            1 => ChannelRole::Source,
            2 => ChannelRole::Target,
            other => {
                return Err(WireError::InvalidValue {
                    field: "role",
                    value: other.into(),
                }
                .into())
            }
        };
        let channel = Self {
            role,
            invitation_id: InvitationId::from_bytes(r.array("invitation_id")?),
            encapsulated_key: r.array("encapsulated_key")?,
            send: DirectionKeys::read(&mut r)?,
            receive: DirectionKeys::read(&mut r)?,
            words: AuthWords::from_indices([r.u16("word")?, r.u16("word")?, r.u16("word")?])?,
            reply_mailbox: MailboxSeed::from_bytes(r.array("reply_mailbox")?),
        };
        r.finish()?;
        Ok(channel)
    }

    /// The words both devices show for this channel.
    pub fn words(&self) -> AuthWords {
        self.words
    }

    /// Where the scanning device listens for the other's messages.
    pub fn reply_mailbox(&self) -> MailboxSeed {
        self.reply_mailbox
    }

    /// Where the other end of the channel listens: the reply mailbox if this end showed
    /// `invitation`, the invitation's mailbox if it scanned it.
    pub fn peer_mailbox(&self, invitation: &PairingInvitation) -> MailboxSeed {
        if self.showed(invitation) {
            self.reply_mailbox
        } else {
            invitation.mailbox
        }
    }

    /// Where this end listens: the other of [`PairingChannel::peer_mailbox`].
    pub fn own_mailbox(&self, invitation: &PairingInvitation) -> MailboxSeed {
        if self.showed(invitation) {
            invitation.mailbox
        } else {
            self.reply_mailbox
        }
    }

    fn showed(&self, invitation: &PairingInvitation) -> bool {
        self.role == ChannelRole::showing(invitation.intent)
    }

    /// The scanning device's HPKE `enc`: identifies this channel.
    pub fn encapsulated_key(&self) -> &[u8; 32] {
        &self.encapsulated_key
    }

    /// Seals `plaintext` as the next message of this direction.
    pub fn seal(
        &mut self,
        kind: MessageKind,
        plaintext: &[u8],
    ) -> Result<ChannelMessage, ChannelError> {
        let seq = self.send.next_seq;
        if seq >= MAX_MESSAGES_PER_DIRECTION {
            return Err(ChannelError::SequenceOutOfRange { seq });
        }
        let max = kind.max_ciphertext_len();
        if plaintext.len() + TAG_LEN > max {
            return Err(WireError::FieldTooLong {
                field: "ciphertext",
                len: plaintext.len() + TAG_LEN,
                max,
            }
            .into());
        }
        let mut message = ChannelMessage {
            kind,
            invitation_id: self.invitation_id,
            seq,
            encapsulated_key: kind.carries_enc().then_some(self.encapsulated_key),
            ciphertext: Vec::new(),
        };
        let aad = message.header();
        message.ciphertext = self
            .send
            .cipher
            .encrypt(
                &self.send.nonce(seq),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| ChannelError::Tampered)?;
        self.send.next_seq += 1;
        Ok(message)
    }

    /// Opens a message from the other end; each sequence number is accepted once.
    pub fn open(&mut self, message: &ChannelMessage) -> Result<Zeroizing<Vec<u8>>, ChannelError> {
        if message.invitation_id != self.invitation_id {
            return Err(ChannelError::WrongInvitation);
        }
        let seq = message.seq;
        if seq >= MAX_MESSAGES_PER_DIRECTION {
            return Err(ChannelError::SequenceOutOfRange { seq });
        }
        if self.receive.accepted & (1 << seq) != 0 {
            return Err(ChannelError::Replay { seq });
        }
        let aad = message.header();
        let plaintext = self
            .receive
            .cipher
            .decrypt(
                &self.receive.nonce(seq),
                Payload {
                    msg: &message.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| ChannelError::Tampered)?;
        self.receive.accepted |= 1 << seq;
        Ok(Zeroizing::new(plaintext))
    }
}

impl fmt::Debug for PairingChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingChannel")
            .field("role", &self.role)
            .field("invitation_id", &self.invitation_id)
            .field("words", &self.words)
            .field("keys", &"redacted")
            .finish()
    }
}

/// HPKE's `info`: the label and the complete invitation.
fn info(invitation: &PairingInvitation) -> Vec<u8> {
    let mut info = INFO_LABEL.to_vec();
    info.extend_from_slice(&invitation.encode());
    info
}

/// Hands HPKE exactly the ephemeral key material a test vector chooses, so that
/// `skE = DeriveKeyPair(ikmE)` as in RFC 9180's vectors. Only test vectors use it; asked
/// for more, it gives zeros, which the vector tests would catch.
struct FixedIkm(Option<[u8; 32]>);

impl TryRng for FixedIkm {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let ikm = self.0.take().map(Zeroizing::new).unwrap_or_default();
        for (out, byte) in dst.iter_mut().zip(ikm.iter().chain(core::iter::repeat(&0))) {
            *out = *byte;
        }
        Ok(())
    }
}

impl TryCryptoRng for FixedIkm {}
