//! The host-to-host protocol of MPI worlds spread over several hosts (docs/mpi.md): frames on
//! TCP connections between hosts. A connection carries frames one way, from the host that
//! opened it; its first frame names that host. A frame is its length (u32, little-endian),
//! a kind byte, then either a postcard-encoded [`Control`] or a message: a fixed header and the
//! message's bytes, which the reader hands to the mailbox without copying them again.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use faasm_api::{CallId, CallRequest};
use faasm_runtime::Envelope;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A world is named by its rank 0's call id, unique in the deployment.
pub(crate) type WorldId = CallId;

/// Everything but the messages themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Control {
    /// The first frame of a connection: the peer address of the host that opened it.
    Hello { host: String },
    /// Rank 0's host to another: hold instances now for up to `count` ranks of `world` (of
    /// `size` ranks, run as `user`), without waiting for any.
    Reserve {
        world: WorldId,
        user: String,
        size: i32,
        count: usize,
    },
    /// The answer: how many it holds.
    Reserved { world: WorldId, granted: usize },
    /// Rank 0's host to a member: start the ranks it holds instances for. Every rank runs
    /// `call`; rank `r` runs on `hosts[r]` as call `ids[r]`.
    Start {
        world: WorldId,
        call: CallRequest,
        hosts: Vec<String>,
        ids: Vec<CallId>,
    },
    /// The world failed: from rank 0's host, stop its ranks here; from a member, fail it.
    Abort { world: WorldId, reason: String },
    /// Rank 0's host to a member: the world ended; drop what is still held for it.
    Release { world: WorldId },
    /// A member to rank 0's host: rank `rank` ended, with its error if it failed.
    RankDone {
        world: WorldId,
        rank: i32,
        error: Option<String>,
    },
}

/// One frame.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    Control(Control),
    /// An MPI message for rank `dest` of `world`.
    Message {
        world: WorldId,
        dest: i32,
        envelope: Envelope,
        data: Bytes,
    },
}

const CONTROL: u8 = 0;
const MESSAGE: u8 = 1;
/// Kind, world, destination, context, source, tag.
const MESSAGE_HEADER: usize = 1 + 8 + 4 + 4 + 4 + 4;

impl Frame {
    /// Bytes a message frame takes on the wire beyond its length prefix (0 for control
    /// frames, which are small and not counted against a link's room).
    pub fn message_bytes(&self) -> usize {
        match self {
            Frame::Control(_) => 0,
            Frame::Message { data, .. } => MESSAGE_HEADER + data.len(),
        }
    }

    /// Writes the frame (into a buffered writer: the caller flushes).
    pub async fn write(&self, out: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
        match self {
            Frame::Control(control) => {
                let body = postcard::to_stdvec(control).map_err(io::Error::other)?;
                out.write_u32_le(frame_len(1 + body.len())?).await?;
                out.write_u8(CONTROL).await?;
                out.write_all(&body).await
            }
            Frame::Message {
                world,
                dest,
                envelope,
                data,
            } => {
                let mut header = BytesMut::with_capacity(4 + MESSAGE_HEADER);
                header.put_u32_le(frame_len(self.message_bytes())?);
                header.put_u8(MESSAGE);
                header.put_u64_le(*world);
                header.put_i32_le(*dest);
                header.put_u32_le(envelope.context);
                header.put_i32_le(envelope.source);
                header.put_i32_le(envelope.tag);
                out.write_all(&header).await?;
                out.write_all(data).await
            }
        }
    }

    /// Reads the next frame; `None` when the connection ended between frames. A frame longer
    /// than `max_len` is an error (nothing that large is read into memory).
    pub async fn read(
        input: &mut (impl AsyncRead + Unpin),
        max_len: usize,
    ) -> io::Result<Option<Frame>> {
        let len = match input.read_u32_le().await {
            Ok(len) => len as usize,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(err) => return Err(err),
        };
        if len == 0 || len > max_len {
            return Err(invalid(format!(
                "a frame of {len} bytes (at most {max_len})"
            )));
        }
        // Read into uninitialised room: zeroing a large message first would cost a pass
        // over its memory.
        let mut body = BytesMut::with_capacity(len);
        let mut frame = (&mut *input).take(len as u64);
        while body.len() < len {
            if frame.read_buf(&mut body).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let mut body = body.freeze();
        match body.get_u8() {
            CONTROL => {
                let control = postcard::from_bytes(&body).map_err(|e| invalid(e.to_string()))?;
                Ok(Some(Frame::Control(control)))
            }
            MESSAGE if body.len() >= MESSAGE_HEADER - 1 => {
                let world = body.get_u64_le();
                let dest = body.get_i32_le();
                let envelope = Envelope {
                    context: body.get_u32_le(),
                    source: body.get_i32_le(),
                    tag: body.get_i32_le(),
                };
                Ok(Some(Frame::Message {
                    world,
                    dest,
                    envelope,
                    data: body,
                }))
            }
            kind => Err(invalid(format!("a frame of unknown kind {kind}"))),
        }
    }
}

fn frame_len(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| invalid(format!("a frame of {len} bytes")))
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(frames: Vec<Frame>, max_len: usize) -> io::Result<Vec<Frame>> {
        let mut wire = Vec::new();
        for frame in &frames {
            frame.write(&mut wire).await?;
        }
        let mut input = wire.as_slice();
        let mut read = Vec::new();
        while let Some(frame) = Frame::read(&mut input, max_len).await? {
            read.push(frame);
        }
        Ok(read)
    }

    #[tokio::test]
    async fn frames_come_back_as_they_went() {
        let start = Control::Start {
            world: 7,
            call: CallRequest {
                user: "u".into(),
                function: "f".into(),
                input: Bytes::from_static(b"in"),
                cmdline: vec!["-x".into()],
                python: false,
                mpi_world_size: Some(3),
            },
            hosts: vec!["a:1".into(), "b:2".into(), "b:2".into()],
            ids: vec![7, 8, 9],
        };
        let envelope = Envelope {
            context: 2,
            source: 1,
            tag: -5,
        };
        let data = Bytes::from(vec![9u8; 70_000]);
        let frames = vec![
            Frame::Control(start.clone()),
            Frame::Message {
                world: 7,
                dest: 2,
                envelope,
                data: data.clone(),
            },
        ];
        let read = round_trip(frames, 1 << 20).await.unwrap();
        assert!(matches!(&read[0], Frame::Control(c) if *c == start));
        match &read[1] {
            Frame::Message {
                world: 7,
                dest: 2,
                envelope: e,
                data: d,
            } => {
                assert_eq!(*e, envelope);
                assert_eq!(*d, data);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn refuses_frames_over_the_limit_and_garbage() {
        let big = Frame::Message {
            world: 1,
            dest: 0,
            envelope: Envelope {
                context: 0,
                source: 0,
                tag: 0,
            },
            data: Bytes::from(vec![0u8; 100]),
        };
        let err = round_trip(vec![big], 64).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut garbage: &[u8] = &[3, 0, 0, 0, 9, 9, 9];
        assert!(Frame::read(&mut garbage, 64).await.is_err());
        // A connection cut inside a frame is an error, not a clean end.
        let mut cut: &[u8] = &[10, 0, 0, 0, 0];
        assert!(Frame::read(&mut cut, 64).await.is_err());
    }
}
