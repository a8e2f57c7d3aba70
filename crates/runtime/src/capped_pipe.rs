//! Captured stdout: an in-memory pipe that keeps the first `capacity` bytes and then drops the
//! rest, remembering that it did. Unlike wasmtime-wasi's `MemoryOutputPipe` it never fails a
//! write, so a guest that prints forever runs into its timeout, not a write error.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Clone)]
pub(crate) struct CappedPipe {
    capacity: usize,
    /// Whether the guest is told that this is a terminal (`isatty`): WASI reports it as a
    /// character device that cannot seek, and C stdio then line-buffers it.
    terminal: bool,
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    bytes: BytesMut,
    truncated: bool,
}

impl CappedPipe {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            terminal: false,
            inner: Arc::default(),
        }
    }

    /// The same pipe, reported to the guest as a terminal or not.
    pub fn terminal(&self, terminal: bool) -> Self {
        Self {
            terminal,
            ..self.clone()
        }
    }

    fn push(&self, data: &[u8]) {
        let mut captured = self.inner.lock();
        let room = self.capacity.saturating_sub(captured.bytes.len());
        if data.len() > room {
            captured.truncated = true;
        }
        captured
            .bytes
            .extend_from_slice(&data[..data.len().min(room)]);
    }

    /// What was captured, with a marker line if anything was dropped.
    pub fn contents(&self) -> Bytes {
        let mut captured = self.inner.lock();
        let mut bytes = std::mem::take(&mut captured.bytes);
        if captured.truncated {
            bytes.extend_from_slice(
                format!("\n[stdout truncated after {} bytes]\n", self.capacity).as_bytes(),
            );
        }
        bytes.freeze()
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        self.terminal
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// How much a guest may write per `check_write`; writes are always accepted.
const WRITE_BUDGET: usize = 64 * 1024;

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_marks_truncation() {
        let pipe = CappedPipe::new(5);
        pipe.push(b"hel");
        assert_eq!(&pipe.clone().contents()[..], b"hel");
        let pipe = CappedPipe::new(5);
        pipe.push(b"hello world");
        pipe.push(b"more");
        assert_eq!(
            &pipe.contents()[..],
            b"hello\n[stdout truncated after 5 bytes]\n"
        );
    }
}
