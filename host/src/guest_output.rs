//! A rule's stdout and stderr: kept in memory up to a byte limit, with the
//! rest dropped (never refused, so that a chatty rule does not fail on a
//! write), and handed to the host's log after each evaluation.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a guest may write in one call: a large, constant permit, as the
/// stream never blocks.
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

/// One captured stream.
#[derive(Debug, Clone)]
pub struct GuestOutput {
    limit: usize,
    captured: Arc<Mutex<Captured>>,
}

impl GuestOutput {
    /// A stream keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            captured: Arc::default(),
        }
    }

    fn keep(&self, bytes: &[u8]) {
        let mut captured = self
            .captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = self.limit.saturating_sub(captured.bytes.len());
        let kept = bytes.len().min(room);
        captured.bytes.extend_from_slice(&bytes[..kept]);
        captured.dropped += bytes.len() - kept;
    }

    /// What was written, as lossy UTF-8, and how many bytes were dropped.
    pub fn take(&self) -> Option<(String, usize)> {
        let mut captured = self
            .captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Captured { bytes, dropped } = std::mem::take(&mut *captured);
        if bytes.is_empty() && dropped == 0 {
            return None;
        }
        Some((String::from_utf8_lossy(&bytes).into_owned(), dropped))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.keep(buf);
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
    fn keeps_up_to_the_limit_and_counts_the_rest() {
        let output = GuestOutput::new(5);
        output.keep(b"hello, world");
        assert_eq!(output.take(), Some(("hello".to_owned(), 7)));
        assert_eq!(output.take(), None, "take empties the stream");
    }
}
