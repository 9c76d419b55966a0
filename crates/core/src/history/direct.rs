//! History over a direct data channel between the two devices, beside the mailbox path.
//!
//! The new device opens the channel: its WebRTC offer and the source's answer travel sealed
//! to each other's device ([`DirectSignal`], content kinds 6 and 7), so the DTLS
//! fingerprints in them are as authentic as any sealed message. On the open channel the new
//! device says what it already holds ([`WantFrame`]); the source ([`DirectServer`])
//! answers with the manifest if it is wanted and the missing blocks, one per channel
//! message and at most [`MAX_ANSWER_FRAMES`], then an [`end_of_answer`]; the envelopes are
//! byte for byte those of the history mailbox — the new device's
//! [`HistoryReceiver`](crate::history::transfer::HistoryReceiver) knows each by its hash
//! whichever path brought it. After an end of answer with blocks still missing (more to
//! come, or one arrived damaged) the new device, once it has stored what came, sends
//! another want: the answers pace the source to the new device's storage. A channel that
//! closes half-way is opened again with a new want. Either way nothing that arrived is
//! sent twice.
//!
//! ```
//! use phantom_core::history::direct::{DirectServer, WantFrame};
//! use phantom_core::history::transfer::{offer_history, HistoryReceiver, Received};
//! use phantom_core::persona::{ContactId, ConversationId, Message, MessageId, Sender};
//! # let mut rng = phantom_core::testing::SeededRng::new(5);
//! let grace = ConversationId::from_bytes([7; 16]);
//! let chat: Vec<Message> = (0..60u8)
//!     .map(|n| Message {
//!         id: MessageId::from_bytes([n; 16]),
//!         conversation_id: grace,
//!         sender: Sender::Contact(ContactId::from_bytes([1; 16])),
//!         sent_at_ms: 1_000 + u64::from(n),
//!         body: "hi".repeat(30),
//!     })
//!     .collect();
//! // Frame 0 is the manifest, frame i + 1 block i: the source reads them where it keeps them.
//! let (offer, envelopes) = offer_history(vec![(grace, chat)], 1024, &mut rng)?;
//! let server = DirectServer::new(envelopes[0].clone())?;
//! let mut receiver = HistoryReceiver::new(&offer);
//!
//! // A first channel carries the manifest and two blocks, then closes.
//! let want = WantFrame::decode(&receiver.want(offer.transfer_id, None).encode()?)?;
//! for frame in server.frames_for(&want)?.into_iter().take(3) {
//!     receiver.accept(&envelopes[frame])?;
//! }
//! // The second one is asked only for what is missing.
//! let want = receiver.want(offer.transfer_id, None);
//! let rest = server.frames_for(&want)?;
//! assert_eq!(rest.len(), server.blocks() - 2);
//! for frame in rest {
//!     receiver.accept(&envelopes[frame])?;
//! }
//! assert!(receiver.is_complete());
//! # Ok::<(), phantom_core::history::HistoryError>(())
//! ```

use crate::history::manifest::{Manifest, MAX_BLOCKS};
use crate::history::HistoryError;
use crate::history::TransferId;
use crate::persona::ConversationId;
use crate::wire::{Reader, WireError, Writer};

/// The longest session description a signal may carry.
pub const MAX_SDP_LEN: usize = 16 * 1024;
/// The data channel's label, the same on both sides.
pub const CHANNEL_LABEL: &str = "phantom-sync history v1";

const WANT_MAGIC: &[u8; 2] = b"PW";
const WANT_FORMAT_VERSION: u8 = 2;
const END_MAGIC: &[u8; 2] = b"PD";
const END_FORMAT_VERSION: u8 = 1;

/// What the source sends after the last envelope of an answer to a want: the new device
/// sends a new want if something it needs did not arrive whole.
pub fn end_of_answer(transfer_id: &TransferId) -> Vec<u8> {
    [
        END_MAGIC.as_slice(),
        &[END_FORMAT_VERSION],
        transfer_id.as_bytes(),
    ]
    .concat()
}

/// Whether `frame` is the end of an answer for `transfer_id`.
pub fn is_end_of_answer(frame: &[u8], transfer_id: &TransferId) -> bool {
    frame == end_of_answer(transfer_id).as_slice()
}

/// A WebRTC session description for one transfer's channel: the new device's offer, or the
/// source's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectSignal {
    /// The transfer the channel is for.
    pub transfer_id: TransferId,
    /// The session description (SDP) as the browser gave it, at most [`MAX_SDP_LEN`] bytes.
    pub sdp: String,
}

impl DirectSignal {
    /// Appends the transfer id, then the SDP as a length-prefixed string; fails if the SDP
    /// is longer than [`MAX_SDP_LEN`].
    pub fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.transfer_id.as_bytes());
        w.put_string("sdp", &self.sdp, MAX_SDP_LEN)
    }

    /// Reads what [`DirectSignal::write`] wrote; refuses an SDP longer than [`MAX_SDP_LEN`].
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            transfer_id: TransferId::from_bytes(r.array("transfer_id")?),
            sdp: r.string("sdp", MAX_SDP_LEN)?,
        })
    }
}

/// What the new device asks for on a channel: the transfer, whether it holds the
/// manifest, the blocks (manifest indices) it imported, and the conversation whose blocks
/// it wants before the others, if one is open on its screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantFrame {
    /// The transfer asked about; the source refuses a want for another one.
    pub transfer_id: TransferId,
    /// Whether the new device holds the manifest already, so it is not sent again.
    pub manifest_known: bool,
    /// Manifest indices of the blocks already imported, at most [`MAX_BLOCKS`] of them.
    pub received: Vec<u32>,
    /// The conversation whose missing blocks come before the others, if any.
    pub first: Option<ConversationId>,
}

impl WantFrame {
    /// The frame as sent on the channel: magic `PW`, version, transfer id, the manifest
    /// flag, the received indices (a `u32` count, then each `u32`), then the conversation
    /// wanted first behind a presence byte. Fails with more than [`MAX_BLOCKS`] indices.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_bytes(WANT_MAGIC);
        w.put_u8(WANT_FORMAT_VERSION);
        w.put_bytes(self.transfer_id.as_bytes());
        w.put_u8(u8::from(self.manifest_known));
        w.put_count("received", self.received.len(), MAX_BLOCKS)?;
        for index in &self.received {
            w.put_u32(*index);
        }
        match &self.first {
            Some(conversation_id) => {
                w.put_u8(1);
                w.put_bytes(conversation_id.as_bytes());
            }
            None => w.put_u8(0),
        }
        Ok(w.into_bytes())
    }

    /// Reads what [`WantFrame::encode`] wrote; refuses another magic or version, a flag
    /// byte other than 0 or 1, and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(WANT_MAGIC, WANT_FORMAT_VERSION)?;
        let transfer_id = TransferId::from_bytes(r.array("transfer_id")?);
        let manifest_known = match r.u8("manifest_known")? {
            0 => false,
            1 => true,
            other => {
                return Err(WireError::InvalidValue {
                    field: "manifest_known",
                    value: other.into(),
                })
            }
        };
        let count = r.count("received", MAX_BLOCKS, 4)?;
        let received = (0..count)
            .map(|_| r.u32("received_index"))
            .collect::<Result<_, _>>()?;
        let first = match r.u8("first_present")? {
            0 => None,
            1 => Some(ConversationId::from_bytes(r.array("first_conversation")?)),
            other => {
                return Err(WireError::InvalidValue {
                    field: "first_present",
                    value: other.into(),
                })
            }
        };
        r.finish()?;
        Ok(Self {
            transfer_id,
            manifest_known,
            received,
            first,
        })
    }
}

/// Which of a transfer's envelopes a frame is: 0 the manifest, `i + 1` block `i`.
pub type FrameIndex = usize;

/// Frames one answer carries at most; the new device asks again for the rest once it has
/// stored them, so neither side ever holds more of the history than this.
pub const MAX_ANSWER_FRAMES: usize = 32;

/// The source's side of one transfer's direct path: which of the envelopes it put in the
/// history mailbox a want lacks. It keeps the manifest; the blocks stay where the source
/// stored them.
#[derive(Debug)]
pub struct DirectServer {
    transfer_id: TransferId,
    manifest: Vec<u8>,
    /// Each block's conversation, in manifest order.
    conversations: Vec<ConversationId>,
}

impl DirectServer {
    /// A transfer's server from its manifest envelope.
    pub fn new(manifest: Vec<u8>) -> Result<Self, HistoryError> {
        let decoded = Manifest::decode(&manifest)?;
        Ok(Self {
            transfer_id: decoded.transfer_id,
            conversations: decoded
                .blocks
                .iter()
                .map(|block| block.conversation_id)
                .collect(),
            manifest,
        })
    }

    /// The transfer this server answers wants for.
    pub fn transfer_id(&self) -> TransferId {
        self.transfer_id
    }

    /// How many blocks the manifest lists.
    pub fn blocks(&self) -> usize {
        self.conversations.len()
    }

    /// The manifest envelope, frame 0.
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// What to send for `want`, in order and at most [`MAX_ANSWER_FRAMES`]: the manifest
    /// unless it is known, then the blocks not received — those of the conversation it
    /// wants first before the others, each in manifest order. A want for another transfer
    /// is refused.
    pub fn frames_for(&self, want: &WantFrame) -> Result<Vec<FrameIndex>, HistoryError> {
        if want.transfer_id != self.transfer_id {
            return Err(HistoryError::WrongTransfer);
        }
        let mut received = vec![false; self.blocks()];
        for index in &want.received {
            let slot = received
                .get_mut(*index as usize)
                .ok_or(HistoryError::UnknownBlock {
                    index: *index as usize,
                })?;
            *slot = true;
        }
        let manifest = (!want.manifest_known).then_some(0);
        let missing = || {
            received
                .iter()
                .zip(&self.conversations)
                .enumerate()
                .filter(|(_, (arrived, _))| !**arrived)
        };
        let wanted_first =
            |conversation: &ConversationId| want.first.as_ref() == Some(conversation);
        let first = missing().filter(|(_, (_, c))| wanted_first(c));
        let rest = missing().filter(|(_, (_, c))| !wanted_first(c));
        Ok(manifest
            .into_iter()
            .chain(first.chain(rest).map(|(index, _)| index + 1))
            .take(MAX_ANSWER_FRAMES)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_want_frame_round_trips_and_refuses_bad_bytes() {
        let want = WantFrame {
            transfer_id: TransferId::from_bytes([3; 16]),
            manifest_known: true,
            received: vec![0, 2, 5],
            first: Some(crate::persona::ConversationId::from_bytes([4; 16])),
        };
        let bytes = want.encode().expect("encodes");
        assert_eq!(WantFrame::decode(&bytes).expect("decodes"), want);
        let mut bad = bytes.clone();
        bad[19] = 7;
        assert!(WantFrame::decode(&bad).is_err());
        assert!(WantFrame::decode(&bytes[..bytes.len() - 1]).is_err());
        let none = WantFrame {
            first: None,
            ..want
        };
        let bytes = none.encode().expect("encodes");
        assert_eq!(WantFrame::decode(&bytes).expect("decodes"), none);
    }

    /// A server for a manifest whose blocks belong to these conversations.
    fn server(conversations: &[u8]) -> DirectServer {
        let manifest = Manifest {
            transfer_id: TransferId::from_bytes([1; 16]),
            blocks: conversations
                .iter()
                .map(|c| crate::history::manifest::BlockEntry {
                    hash: [0; 32],
                    conversation_id: crate::persona::ConversationId::from_bytes([*c; 16]),
                    first_ms: 0,
                    last_ms: 0,
                    messages: 1,
                    bytes: 1,
                })
                .collect(),
        };
        DirectServer::new(manifest.encode().expect("encodes")).expect("a server")
    }

    #[test]
    fn a_server_sends_what_is_missing_and_refuses_others() {
        let server = server(&[7, 7, 7]);
        let want = |manifest_known, received: Vec<u32>| WantFrame {
            transfer_id: TransferId::from_bytes([1; 16]),
            manifest_known,
            received,
            first: None,
        };
        assert_eq!(
            server.frames_for(&want(false, vec![])),
            Ok(vec![0, 1, 2, 3])
        );
        assert_eq!(server.frames_for(&want(true, vec![1])), Ok(vec![1, 3]));
        assert_eq!(
            server.frames_for(&want(true, vec![3])),
            Err(HistoryError::UnknownBlock { index: 3 })
        );
        let other = WantFrame {
            transfer_id: TransferId::from_bytes([2; 16]),
            ..want(true, vec![])
        };
        assert_eq!(server.frames_for(&other), Err(HistoryError::WrongTransfer));
        let long = super::tests::server(&[7; 100]);
        let first = long.frames_for(&want(false, vec![])).expect("frames");
        assert_eq!(first.len(), MAX_ANSWER_FRAMES, "an answer is bounded");
        assert_eq!(first.first(), Some(&0), "the manifest first");
    }

    #[test]
    fn the_conversation_wanted_first_comes_first() {
        let server = server(&[1, 1, 2, 1, 2, 3]);
        let want = |received: Vec<u32>, first: Option<u8>| WantFrame {
            transfer_id: TransferId::from_bytes([1; 16]),
            manifest_known: true,
            received,
            first: first.map(|c| crate::persona::ConversationId::from_bytes([c; 16])),
        };
        assert_eq!(
            server.frames_for(&want(vec![], None)),
            Ok(vec![1, 2, 3, 4, 5, 6])
        );
        assert_eq!(
            server.frames_for(&want(vec![], Some(2))),
            Ok(vec![3, 5, 1, 2, 4, 6])
        );
        assert_eq!(
            server.frames_for(&want(vec![2], Some(2))),
            Ok(vec![5, 1, 2, 4, 6])
        );
        assert_eq!(
            server.frames_for(&want(vec![], Some(9))),
            Ok(vec![1, 2, 3, 4, 5, 6])
        );
    }
}
