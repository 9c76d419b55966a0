//! The mailbox protocol's framing on a libp2p stream: a big-endian `u32` length, then the
//! frame of [`mailbox::protocol`](phantom_mailbox::protocol).
//!
//! Nothing is allocated for what a peer only announces. A request longer than
//! [`MAX_REQUEST_LEN`] (a response: [`MAX_FRAME_LEN`]) is refused from its length alone, and a
//! frame is read as its bytes arrive, so memory follows what was sent, not what was claimed.
//! A node also shares one [`ReadBudget`] among every stream it reads: the bytes of requests
//! still being read, from all peers together, stay under it.
//!
//! ```
//! use phantom_network::codec::ReadBudget;
//!
//! let budget = ReadBudget::new(100);
//! let held = budget.take(60).expect("60 of 100");
//! assert!(budget.take(60).is_none(), "only 40 left");
//! drop(held);
//! assert!(budget.take(60).is_some(), "given back when the read ends");
//! ```

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use phantom_mailbox::protocol::{
    MailboxRequest, MailboxResponse, MAX_FRAME_LEN, MAX_REQUEST_LEN, PROTOCOL_NAME,
};

/// The mailbox protocol's name on the wire.
pub const MAILBOX_PROTOCOL: StreamProtocol = StreamProtocol::new(PROTOCOL_NAME);

/// Reads and writes mailbox frames for `libp2p::request_response`; with a [`ReadBudget`]
/// (nodes), the requests being read share it.
#[derive(Debug, Clone, Default)]
pub struct MailboxCodec {
    budget: Option<ReadBudget>,
}

impl MailboxCodec {
    /// A codec whose request reads, on every connection it is cloned to, hold at most
    /// `budget` bytes together.
    pub fn with_budget(budget: ReadBudget) -> Self {
        Self {
            budget: Some(budget),
        }
    }
}

/// Bytes that reads in progress may hold at once, shared by clones.
#[derive(Debug, Clone)]
pub struct ReadBudget {
    left: Arc<AtomicUsize>,
}

impl ReadBudget {
    /// A budget of `bytes`, shared by every clone.
    pub fn new(bytes: usize) -> Self {
        Self {
            left: Arc::new(AtomicUsize::new(bytes)),
        }
    }

    /// Holds `bytes` of the budget until the answer is dropped; `None` when fewer are left.
    pub fn take(&self, bytes: usize) -> Option<Held> {
        let mut held = Held {
            budget: self.clone(),
            bytes: 0,
        };
        held.grow(bytes).then_some(held)
    }
}

/// A part of a [`ReadBudget`], given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: ReadBudget,
    bytes: usize,
}

impl Held {
    /// Holds `more` bytes besides; false, and nothing more held, when fewer are left.
    pub fn grow(&mut self, more: usize) -> bool {
        let taken = self
            .budget
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(more)
            })
            .is_ok();
        if taken {
            self.bytes += more;
        }
        taken
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.left.fetch_add(self.bytes, Ordering::AcqRel);
    }
}

/// A reader that takes from a budget each byte it reads, failing the read when the budget
/// is spent.
struct Metered<'a, T> {
    inner: &'a mut T,
    held: Held,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let read = match Pin::new(&mut *this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(read)) => read,
            other => return other,
        };
        if this.held.grow(read) {
            Poll::Ready(Ok(read))
        } else {
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "the node is reading too many requests at once",
            )))
        }
    }
}

fn too_long(length: usize, limit: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a {length}-byte frame is over the {limit}-byte limit"),
    )
}

async fn read_length<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<usize> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > limit {
        return Err(too_long(length, limit));
    }
    Ok(length)
}

/// Reads the `length` bytes of a frame as they come: the buffer grows with the bytes read.
async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, length: usize) -> io::Result<Vec<u8>> {
    let mut frame = Vec::new();
    io.take(length as u64).read_to_end(&mut frame).await?;
    if frame.len() < length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(frame)
}

async fn read_request_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    budget: Option<&ReadBudget>,
) -> io::Result<Vec<u8>> {
    let length = read_length(io, MAX_REQUEST_LEN).await?;
    match budget {
        None => read_body(io, length).await,
        Some(budget) => {
            let mut metered = Metered {
                inner: io,
                held: budget.take(0).ok_or(io::ErrorKind::OutOfMemory)?,
            };
            read_body(&mut metered, length).await
        }
    }
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let length = u32::try_from(frame.len())
        .ok()
        .filter(|len| *len as usize <= MAX_FRAME_LEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    // One write, so the length and the frame leave in one packet.
    let mut framed = Vec::with_capacity(4 + frame.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(frame);
    io.write_all(&framed).await?;
    io.close().await
}

fn invalid(error: phantom_mailbox::wire::WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl libp2p::request_response::Codec for MailboxCodec {
    type Protocol = StreamProtocol;
    type Request = MailboxRequest;
    type Response = MailboxResponse;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<MailboxRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_request_frame(io, self.budget.as_ref()).await?;
        MailboxRequest::decode(&frame).map_err(invalid)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<MailboxResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let length = read_length(io, MAX_FRAME_LEN).await?;
        MailboxResponse::decode(&read_body(io, length).await?).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: MailboxRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: MailboxResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;
    use phantom_mailbox::envelope::{Envelope, MAX_ENVELOPE_LEN};
    use phantom_mailbox::keys::{MailboxPublicKeys, PutStamp};

    fn largest_put() -> Vec<u8> {
        MailboxRequest::Put {
            mailbox: MailboxPublicKeys {
                writer: [1; 32],
                reader: [1; 32],
            },
            stamp: PutStamp {
                written_at: 0,
                signature: [0; 64],
            },
            envelope: Envelope::new(vec![0; MAX_ENVELOPE_LEN])
                .unwrap_or_else(|_| unreachable!("at the limit")),
        }
        .encode()
    }

    fn framed(length: usize, body: &[u8]) -> Cursor<Vec<u8>> {
        let mut bytes = (length as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        Cursor::new(bytes)
    }

    fn read_request(
        codec: &mut MailboxCodec,
        io: &mut Cursor<Vec<u8>>,
    ) -> io::Result<MailboxRequest> {
        block_on(codec.read_request(&MAILBOX_PROTOCOL, io))
    }

    #[test]
    fn the_largest_request_is_a_put_of_the_largest_envelope() {
        let put = largest_put();
        assert_eq!(put.len(), MAX_REQUEST_LEN);
        let mut codec = MailboxCodec::default();
        assert!(read_request(&mut codec, &mut framed(put.len(), &put)).is_ok());
    }

    #[test]
    fn a_request_announced_longer_than_any_request_is_refused_from_its_length() {
        let put = largest_put();
        let mut io = framed(MAX_REQUEST_LEN + 1, &put);
        let error = read_request(&mut MailboxCodec::default(), &mut io)
            .err()
            .map(|e| e.kind());
        assert_eq!(error, Some(io::ErrorKind::InvalidData));
        assert_eq!(io.position(), 4, "nothing past the length was read");
    }

    /// A peer announcing the largest request and sending a few bytes gets a buffer the size
    /// of what it sent, then an error when the stream ends.
    #[test]
    fn a_frame_cut_short_fails_after_holding_only_what_arrived() {
        let budget = ReadBudget::new(1_000);
        let mut codec = MailboxCodec::with_budget(budget.clone());
        let mut io = framed(MAX_REQUEST_LEN, &[7; 600]);
        let error = read_request(&mut codec, &mut io).err().map(|e| e.kind());
        assert_eq!(error, Some(io::ErrorKind::UnexpectedEof));
        assert!(budget.take(1_000).is_some(), "the budget is whole again");
    }

    #[test]
    fn reads_beyond_the_shared_budget_fail_and_give_it_back() {
        let budget = ReadBudget::new(MAX_REQUEST_LEN);
        let held_elsewhere = budget.take(MAX_REQUEST_LEN / 2);
        let put = largest_put();
        let error = read_request(
            &mut MailboxCodec::with_budget(budget.clone()),
            &mut framed(put.len(), &put),
        )
        .err()
        .map(|e| e.kind());
        assert_eq!(error, Some(io::ErrorKind::OutOfMemory));
        drop(held_elsewhere);
        assert!(
            read_request(
                &mut MailboxCodec::with_budget(budget),
                &mut framed(put.len(), &put)
            )
            .is_ok(),
            "with the budget free again, the same request is read"
        );
    }

    #[test]
    fn responses_may_be_as_long_as_a_full_fetch() {
        let response = MailboxResponse::Refused {
            reason: phantom_mailbox::protocol::Refusal::Unavailable,
        }
        .encode();
        let mut io = framed(response.len(), &response);
        let read = block_on(MailboxCodec::default().read_response(&MAILBOX_PROTOCOL, &mut io));
        assert!(read.is_ok());
        let mut io = framed(MAX_FRAME_LEN + 1, &response);
        let read = block_on(MailboxCodec::default().read_response(&MAILBOX_PROTOCOL, &mut io));
        assert_eq!(
            read.err().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData)
        );
    }
}
