//! The mailbox protocol's framing on a libp2p stream: a big-endian `u32` length, then the
//! frame of [`mailbox::protocol`](crate::mailbox::protocol). A frame longer than
//! [`MAX_FRAME_LEN`] is refused before anything is allocated for it.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use crate::mailbox::protocol::{MailboxRequest, MailboxResponse, MAX_FRAME_LEN, PROTOCOL_NAME};

/// The mailbox protocol's name on the wire.
pub const MAILBOX_PROTOCOL: StreamProtocol = StreamProtocol::new(PROTOCOL_NAME);

/// Reads and writes mailbox frames for `libp2p::request_response`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailboxCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {length}-byte frame is over the {MAX_FRAME_LEN}-byte limit"),
        ));
    }
    let mut frame = vec![0u8; length];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let length = u32::try_from(frame.len())
        .ok()
        .filter(|len| *len as usize <= MAX_FRAME_LEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.close().await
}

fn invalid(error: crate::wire::WireError) -> io::Error {
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
        MailboxRequest::decode(&read_frame(io).await?).map_err(invalid)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<MailboxResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        MailboxResponse::decode(&read_frame(io).await?).map_err(invalid)
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
