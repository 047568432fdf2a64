//! Streamed request bodies ([`Http::stream_request_bodies`](crate::Http::stream_request_bodies)):
//! the handler runs once the head has arrived, and its request's [`Body`](crate::Body) reads
//! from the connection as the handler reads it.
//!
//! - The connection lends its transport and unparsed input (`wire`) to a [`Source`] that the
//!   body shares with it ([`Slot`]) for the handler's call, and takes them back when the
//!   handler returns; a body read after that fails with a clear error (bodies stream while
//!   their handler runs).
//! - The limit is the handler's, per request (`Body::set_limit`, `Limits::max_body` until it
//!   says otherwise), checked against the `Content-Length` before anything is read and against
//!   the bytes as they come for a chunked body.
//! - `100 Continue` goes out on the first read, so a handler that refuses a request from its
//!   head alone (401, 413) never has the client send the body.
//! - Memory: a length-delimited body is read straight into the handler's buffer; a chunked one
//!   through one read buffer. A streaming upload costs O(buffer), not O(body).
//! - Reads wait for the client for the body timeout at a time and, with
//!   `Timeouts::min_request_body_rate`, for no longer in all than the rate allows for the
//!   bytes received (after its grace), so a client dribbling bytes cannot hold the handler's
//!   thread: the read fails with `TimedOut`. Only time spent waiting counts.
//! - After the handler: an unread remainder up to [`DISCARD`] is read and dropped (within the
//!   body timeout) so the connection can serve its next request; a longer one, a body whose
//!   client was never told to send it (`Expect: 100-continue` and no read), or a framing error
//!   closes the connection after the response. The remainder is never parsed as a request.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use http::HeaderMap;

use crate::decode::Decoder;
use crate::error::{self, Reject};
use crate::wire::Wire;

/// The error inside the `InvalidData` I/O error of a streamed request body over its limit
/// ([`Body::set_limit`](crate::Body::set_limit)); answer 413 (an
/// [`HttpError`](crate::HttpError) made from the I/O error does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyTooLarge {
    /// The limit it went over.
    pub limit: u64,
}

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body is over its limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for BodyTooLarge {}

/// The most a small read of a length-delimited body reads ahead.
const READ_AHEAD: usize = 64 * 1024;

/// The most of an unread body the server reads and drops to keep the connection.
pub(crate) const DISCARD: u64 = 1024 * 1024;

/// Shared by the connection and the request's body for the handler's call.
pub(crate) type Slot = Arc<Mutex<Option<Source>>>;

pub(crate) fn lock(slot: &Slot) -> MutexGuard<'_, Option<Source>> {
    // A panic while reading (in our code, not the handler's) leaves a consistent source.
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a streamed body comes from.
pub(crate) struct Source {
    pub(crate) wire: Wire,
    decoder: Decoder,
    /// The `Content-Length`, if the body has one.
    length: Option<u64>,
    limit: u64,
    /// Body bytes handed to the handler.
    delivered: u64,
    /// Decoded (chunked) bytes, or (length-delimited) bytes read ahead for a small read, not
    /// yet handed out, from `at`.
    decoded: Vec<u8>,
    at: usize,
    /// `100 Continue` is owed on the first read.
    pub(crate) owe_continue: bool,
    done: bool,
    /// A framing error or the limit: nothing more is read, and the connection closes.
    failed: bool,
    trailers: Option<HeaderMap>,
}

fn invalid(r: Reject) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, r.reason)
}

impl Source {
    pub(crate) fn new(
        wire: Wire,
        decoder: Decoder,
        length: Option<u64>,
        limit: u64,
        owe_continue: bool,
    ) -> Source {
        Source {
            wire,
            decoder,
            length,
            limit,
            delivered: 0,
            decoded: Vec::new(),
            at: 0,
            owe_continue,
            done: length == Some(0),
            failed: false,
            trailers: None,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Body bytes handed to the handler.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    pub(crate) fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    fn too_large(&mut self) -> io::Error {
        self.failed = true;
        let limit = self.limit;
        io::Error::new(io::ErrorKind::InvalidData, BodyTooLarge { limit })
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the request body failed before",
            ));
        }
        if self.length.is_some_and(|n| n > self.limit) {
            return Err(self.too_large());
        }
        if self.at < self.decoded.len() {
            let n = buf.len().min(self.decoded.len() - self.at);
            buf[..n].copy_from_slice(&self.decoded[self.at..self.at + n]);
            self.at += n;
            self.delivered += n as u64;
            return Ok(n);
        }
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.owe_continue {
            self.owe_continue = false;
            self.wire.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.wire.flush()?;
        }
        loop {
            if let Decoder::Length { .. } = self.decoder {
                return self.read_length(buf);
            }
            if !self.wire.input.is_empty() && self.decode_chunked()? {
                return self.read(buf);
            }
            if self.wire.fill()? == 0 {
                return Err(eof());
            }
        }
    }

    /// A length-delimited body: straight into the handler's buffer (from what was read past
    /// the head first) when it is large; a small one (`io::copy`'s 8 KiB) is served from a
    /// read of up to `READ_AHEAD`, so a large body costs one system call per 64 KiB.
    fn read_length(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Decoder::Length { remaining } = &mut self.decoder else {
            unreachable!("called for a length")
        };
        let direct = buf.len() >= READ_AHEAD / 2;
        let room = if direct { buf.len() } else { READ_AHEAD };
        let want = usize::try_from(*remaining).unwrap_or(usize::MAX).min(room);
        let n = if direct {
            self.wire.read(&mut buf[..want])?
        } else {
            // Re-zeroes only what the last read left short of `READ_AHEAD`.
            self.decoded.resize(READ_AHEAD, 0);
            self.at = 0;
            let n = self.wire.read(&mut self.decoded[..want])?;
            self.decoded.truncate(n);
            n
        };
        if n == 0 {
            return Err(eof());
        }
        *remaining -= n as u64;
        self.done = *remaining == 0;
        if !direct {
            return self.read(buf);
        }
        self.delivered += n as u64;
        Ok(n)
    }

    /// Decodes what has arrived of a chunked body into `decoded`; `true` when that gave
    /// bytes or the end.
    fn decode_chunked(&mut self) -> io::Result<bool> {
        self.decoded.clear();
        self.at = 0;
        let room = self.limit.saturating_sub(self.delivered);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        let input = self.wire.input.bytes();
        let p = match self.decoder.decode(input, &mut self.decoded, room) {
            Ok(p) => p,
            Err(r) if r == error::BODY_TOO_LARGE => return Err(self.too_large()),
            Err(r) => {
                self.failed = true;
                return Err(invalid(r));
            }
        };
        self.wire.input.consume(p.consumed);
        if p.done {
            self.done = true;
            self.trailers = self.decoder.take_trailers();
        }
        Ok(!self.decoded.is_empty() || self.done)
    }

    /// After the handler: reads and drops what is left of the body, up to [`DISCARD`].
    /// `true` when the connection can serve its next request.
    pub(crate) fn discard_rest(&mut self) -> bool {
        if self.done {
            return true;
        }
        if self.failed
            || self.owe_continue
            || self.length.is_some_and(|n| n - self.delivered > DISCARD)
        {
            return false;
        }
        let budget = self.delivered + DISCARD;
        self.limit = budget;
        let mut sink = vec![0u8; 16 * 1024];
        loop {
            match self.read(&mut sink) {
                Ok(0) => return self.done,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the client closed the connection before the body's end",
    )
}
