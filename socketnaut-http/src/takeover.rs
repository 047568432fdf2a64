//! What a handler gets when it takes its connection over for long: a [`BodyWriter`] for a push
//! body, an [`Upgraded`] stream after `101 Switching Protocols`. Both wrap the connection's
//! lent transport (`wire`), so they block the way a plain socket would (with the write
//! timeout, and aware of the drain), on the worker thread the handler ran on.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Instant;

use crate::response::write_chunk;
use crate::wire::Wire;

/// Bytes a [`BodyWriter`] gathers before it sends them without being flushed.
const GATHER: usize = 16 * 1024;

/// Writes a push body (see [`Body::push`](crate::Body::push)): `write` gathers bytes,
/// [`flush`](Write::flush) sends them at once (one chunk) and waits until the socket took them.
pub struct BodyWriter {
    wire: Wire,
    chunked: bool,
    gathered: Vec<u8>,
    /// Content bytes sent.
    sent: u64,
}

impl fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter")
            .field("chunked", &self.chunked)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl BodyWriter {
    pub(crate) fn new(wire: Wire, chunked: bool) -> BodyWriter {
        BodyWriter {
            wire,
            chunked,
            gathered: Vec::new(),
            sent: 0,
        }
    }

    /// True once the service is draining: end the body soon (the connection is closed at
    /// [`drain_deadline`](Self::drain_deadline) whatever it does).
    pub fn is_draining(&self) -> bool {
        self.wire.is_draining()
    }

    /// When the drain ends by force (`None` before the drain). Past it, writes fail with
    /// `TimedOut`.
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.wire.drain_deadline()
    }

    /// Content bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Sends what was gathered, as one chunk when chunked.
    fn send(&mut self) -> io::Result<()> {
        if self.gathered.is_empty() {
            return Ok(());
        }
        let n = self.gathered.len();
        if self.chunked {
            let mut framed = Vec::with_capacity(n + 16);
            write_chunk(&mut framed, &self.gathered);
            self.wire.write_all(&framed)?;
        } else {
            self.wire.write_all(&self.gathered)?;
        }
        self.gathered.clear();
        self.sent += n as u64;
        Ok(())
    }

    /// After the user's code: on `Ok`, the rest and the last chunk go out. Gives the wire
    /// back, with the bytes sent.
    pub(crate) fn finish(mut self, result: io::Result<()>) -> (Wire, u64, io::Result<()>) {
        let result = result.and_then(|()| {
            self.send()?;
            if self.chunked {
                self.wire.write_all(b"0\r\n\r\n")?;
            }
            self.wire.flush()
        });
        (self.wire, self.sent, result)
    }
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.gathered.extend_from_slice(buf);
        if self.gathered.len() >= GATHER {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()?;
        self.wire.flush()
    }
}

/// A connection after `101 Switching Protocols` (see [`Body::upgrade`](crate::Body::upgrade)):
/// a blocking stream over the socket (plain or TLS) that first yields any bytes the client
/// sent after its request.
///
/// Reads wait for the peer for the service's body timeout, writes for its write timeout, and
/// both fail with `TimedOut` then. Once the service drains, the first read that would wait
/// returns `WouldBlock` instead (once), so a protocol loop blocked in `read` can see
/// [`is_draining`](Self::is_draining) and end politely (for a WebSocket, a close frame);
/// past the [`drain_deadline`](Self::drain_deadline) every call fails with `TimedOut`.
pub struct Upgraded {
    wire: Wire,
    sent: u64,
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded").finish_non_exhaustive()
    }
}

impl Upgraded {
    pub(crate) fn new(wire: Wire) -> Upgraded {
        Upgraded { wire, sent: 0 }
    }

    pub(crate) fn into_parts(self) -> (Wire, u64) {
        (self.wire, self.sent)
    }

    /// True once the service is draining.
    pub fn is_draining(&self) -> bool {
        self.wire.is_draining()
    }

    /// When the drain ends by force (`None` before the drain).
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.wire.drain_deadline()
    }

    /// How long a read waits for the peer before `TimedOut` (the service's body timeout by
    /// default): a protocol with its own keep-alive (WebSocket pings) may want longer.
    pub fn set_read_timeout(&mut self, timeout: std::time::Duration) {
        self.wire.read_timeout = timeout;
    }
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wire.read(buf)
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.wire.write(buf)?;
        self.sent += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.wire.flush()
    }
}
