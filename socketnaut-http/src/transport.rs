//! What an HTTP connection reads from and writes to: the non-blocking socket itself, or TLS
//! over it (rustls). Both look like a non-blocking stream to the connection: `Ok(0)` from `read`
//! is the end of the peer's data, and `WouldBlock` means "wait for the next event". So the HTTP
//! state machine, its limits and its timeouts are the same with and without TLS, and the
//! handshake is just the first reads and writes, on the connection's worker thread (never on
//! the acceptor): a slow handshake only ever waits for the socket, like a slow request.
//!
//! - Reading decrypts what is buffered, then pulls more records from the socket until it would
//!   block. Unlike a plain socket, a short plaintext read does not prove the socket drained
//!   (edge-triggered), so TLS reads always go on to `WouldBlock`.
//! - Writing hands plaintext to the session only once the session's previous records are on the
//!   socket, so at most one write's worth of records is buffered per connection; "output
//!   pending" includes records the session still holds, so a response is never cut off by a
//!   close and the write timeout covers it.
//! - A final response is followed by `close_notify`. A handshake that fails (plain HTTP to the
//!   TLS port, a bad ClientHello) sends the alert and closes; one that stalls is closed at the
//!   header timeout, like a slow request head.
//! - The crypto provider is ring (`default-features = false`): no cmake or NASM needed to build.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};
use socketnaut_core::mio::net::TcpStream;

pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<Tls>),
    /// Lent to a [`Wire`](crate::wire::Wire) for a call into user code: the connection's
    /// callback is running it, so nothing asks for the socket until it is back.
    Lent,
}

fn lent() -> io::Error {
    io::Error::other("the connection's transport is lent to a handler")
}

pub(crate) struct Tls {
    socket: TcpStream,
    session: ServerConnection,
}

impl Transport {
    pub(crate) fn new(socket: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Self> {
        Ok(match tls {
            None => Transport::Plain(socket),
            Some(config) => Transport::Tls(Box::new(Tls {
                socket,
                session: ServerConnection::new(config.clone()).map_err(io::Error::other)?,
            })),
        })
    }

    pub(crate) fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.socket,
            Transport::Lent => panic!("the connection's socket is lent to a handler"),
        }
    }

    /// The transport, leaving `Lent` in its place.
    pub(crate) fn lend(&mut self) -> Transport {
        std::mem::replace(self, Transport::Lent)
    }

    /// Whether a read shorter than the buffer proves the socket drained. True for a plain
    /// socket; with TLS one record may be decrypted while more wait in the socket, so reads go
    /// on to `WouldBlock` (the socket is edge-triggered).
    pub(crate) fn short_read_drains(&self) -> bool {
        !matches!(self, Transport::Tls(_))
    }

    /// Plaintext from the peer.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
            Transport::Lent => Err(lent()),
        }
    }

    /// Plaintext to the peer. With TLS, accepted bytes may still be in the session's buffer:
    /// see [`has_buffered_output`](Self::has_buffered_output).
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
            Transport::Lent => Err(lent()),
        }
    }

    /// Sends what the TLS session holds (handshake messages, alerts, encrypted records) as far
    /// as the socket takes it.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) | Transport::Lent => Ok(()),
            Transport::Tls(t) => t.write_tls(),
        }
    }

    /// With TLS, whether the handshake is still under way (an error now is a failed
    /// handshake).
    pub(crate) fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) | Transport::Lent => false,
            Transport::Tls(t) => t.session.is_handshaking(),
        }
    }

    /// Output accepted by `write` but not yet on the socket.
    pub(crate) fn has_buffered_output(&self) -> bool {
        match self {
            Transport::Plain(_) | Transport::Lent => false,
            Transport::Tls(t) => t.session.wants_write(),
        }
    }

    /// Ends our side: with TLS a `close_notify` alert first (best effort).
    pub(crate) fn shutdown_write(&mut self) {
        self.close_notify();
        if let Transport::Plain(s) = self {
            let _ = s.shutdown(std::net::Shutdown::Write);
        } else if let Transport::Tls(t) = self {
            let _ = t.socket.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Before a close: with TLS, a `close_notify` alert (best effort), so the peer can tell
    /// the end of the stream from a truncation.
    pub(crate) fn close_notify(&mut self) {
        if let Transport::Tls(t) = self {
            t.session.send_close_notify();
            let _ = t.write_tls();
        }
    }
}

impl Tls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer sent close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the socket without close_notify: the end, all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.session.read_tls(&mut self.socket) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = self.session.process_new_packets() {
                // Tell the peer why (the session queued an alert), then give up.
                let _ = self.write_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake replies go out as soon as they are ready.
            self.write_tls()?;
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Keep the session's buffer small: encrypt more only once the socket took the last.
        self.write_tls()?;
        if self.session.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.session.writer().write(buf)?;
        self.write_tls()?;
        Ok(n)
    }

    /// Writes TLS records until the session has none or the socket would block (`Ok` either
    /// way; `has_buffered_output` tells which).
    fn write_tls(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
