//! Streamed response bodies: a reader of unknown length (chunked, or close-delimited for
//! HTTP/1.0), a reader of known length (`Content-Length`), and a file, pulled as the socket
//! drains (`State::Stream`). A file on a plain-TCP connection goes to the socket with
//! `sendfile(2)`, never through user space, once everything queued before it is out; over TLS
//! it is read into the output buffer like any reader.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::time::Instant;

use http::StatusCode;

use super::{HttpConn, State, Stop};
use crate::response::write_chunk;
use crate::transport::Transport;
use crate::TARGET;

/// The most one `sendfile` call sends.
const SENDFILE_MAX: usize = 1 << 20;

/// What a streamed response body comes from.
pub(crate) enum Outgoing {
    Reader {
        reader: Box<dyn Read + Send>,
        chunked: bool,
        /// For a body of known length: the bytes still owed.
        left: Option<u64>,
    },
    File {
        file: File,
        offset: u64,
        left: u64,
    },
}

impl Outgoing {
    /// Whether this body goes to `transport` with `sendfile` (a file over plain TCP), which
    /// waits until the output queued before it is on the socket.
    pub(super) fn is_sendfile(&self, transport: &Transport) -> bool {
        matches!(self, Outgoing::File { .. }) && matches!(transport, Transport::Plain(_))
    }
}

/// What one pull did.
enum Pulled {
    /// This many content bytes went to the output (or, `sendfile`, the socket).
    Bytes(usize),
    /// The body ended (after this many).
    End(usize),
    /// The socket takes no more for now (`sendfile`).
    Full,
    /// The body cannot be completed: a read error, or a source shorter than its length.
    Broken(io::Error),
}

impl HttpConn {
    pub(super) fn begin_stream(&mut self, body: Outgoing, status: StatusCode, keep_alive: bool) {
        self.access.stream_status = Some(status);
        self.state = State::Stream { body, keep_alive };
    }

    /// Moves the next piece of a streamed body to the output (or the socket).
    pub(super) fn pull_stream(&mut self, now: Instant) -> Option<Stop> {
        let pending = self.pending_output();
        let State::Stream { body, keep_alive } = &mut self.state else {
            return None;
        };
        let keep_alive = *keep_alive;
        let sendfile = body.is_sendfile(&self.transport);
        let pulled = match body {
            // Once the socket took what is queued (`step` comes back only then).
            _ if sendfile && pending > 0 => return Some(Stop::Output),
            Outgoing::File { file, offset, left } if sendfile => {
                let Transport::Plain(socket) = &self.transport else {
                    unreachable!("plain")
                };
                send_file(socket, file, offset, left)
            }
            Outgoing::File { file, offset, left } => {
                read_file(file, offset, left, &mut self.output)
            }
            Outgoing::Reader {
                reader,
                chunked,
                left,
            } => read_body(reader, *chunked, left, &mut self.output),
        };
        match pulled {
            Pulled::Bytes(n) => {
                self.progress = now;
                self.access_streamed(n);
                None
            }
            Pulled::Full => Some(Stop::Socket),
            Pulled::End(n) => {
                self.access_streamed(n);
                if let Some(status) = self.access.stream_status {
                    self.access_queued(status, None, now, false);
                }
                self.state = if keep_alive {
                    State::Head { since: now }
                } else {
                    State::Closing
                };
                None
            }
            Pulled::Broken(e) => {
                // The head is out: the only honest signal left is an abrupt close.
                log::warn!(target: TARGET, "response body failed: {e}; closing");
                self.output.truncate(self.written);
                self.state = State::Lingering { until: now };
                None
            }
        }
    }
}

fn short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the body ended before its Content-Length",
    )
}

/// One chunk from a reader.
fn read_body(
    reader: &mut Box<dyn Read + Send>,
    chunked: bool,
    left: &mut Option<u64>,
    out: &mut Vec<u8>,
) -> Pulled {
    let mut chunk = [0u8; 16 * 1024];
    let want = left.map_or(chunk.len(), |l| {
        chunk.len().min(usize::try_from(l).unwrap_or(usize::MAX))
    });
    if want == 0 {
        return Pulled::End(0);
    }
    let n = loop {
        match reader.read(&mut chunk[..want]) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Pulled::Broken(e),
        }
    };
    if n == 0 && left.is_some() {
        return Pulled::Broken(short());
    }
    if chunked {
        write_chunk(out, &chunk[..n]); // an empty chunk is the last one
    } else {
        out.extend_from_slice(&chunk[..n]);
    }
    match left {
        None if n == 0 => Pulled::End(0),
        Some(l) => {
            *l -= n as u64;
            if *l == 0 {
                Pulled::End(n)
            } else {
                Pulled::Bytes(n)
            }
        }
        None => Pulled::Bytes(n),
    }
}

/// Part of a file into the output (TLS).
fn read_file(file: &File, offset: &mut u64, left: &mut u64, out: &mut Vec<u8>) -> Pulled {
    let mut chunk = [0u8; 16 * 1024];
    let want = chunk
        .len()
        .min(usize::try_from(*left).unwrap_or(usize::MAX));
    if want == 0 {
        return Pulled::End(0);
    }
    match file.read_at(&mut chunk[..want], *offset) {
        Ok(0) => Pulled::Broken(short()),
        Ok(n) => {
            out.extend_from_slice(&chunk[..n]);
            *offset += n as u64;
            *left -= n as u64;
            if *left == 0 {
                Pulled::End(n)
            } else {
                Pulled::Bytes(n)
            }
        }
        Err(e) => Pulled::Broken(e),
    }
}

/// Part of a file straight to the socket, until it would block.
fn send_file(
    socket: &socketnaut_core::mio::net::TcpStream,
    file: &File,
    offset: &mut u64,
    left: &mut u64,
) -> Pulled {
    let mut sent = 0;
    while *left > 0 {
        let count = SENDFILE_MAX.min(usize::try_from(*left).unwrap_or(usize::MAX));
        let mut off = i64::try_from(*offset).unwrap_or(i64::MAX);
        match nix::sys::sendfile::sendfile(socket, file, Some(&mut off), count) {
            Ok(0) => return Pulled::Broken(short()),
            Ok(n) => {
                *offset += n as u64;
                *left -= n as u64;
                sent += n;
            }
            Err(nix::errno::Errno::EAGAIN) if sent > 0 => return Pulled::Bytes(sent),
            Err(nix::errno::Errno::EAGAIN) => return Pulled::Full,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Pulled::Broken(e.into()),
        }
    }
    Pulled::End(sent)
}
