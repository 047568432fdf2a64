//! PROXY protocol on an evented worker: a connection whose header has not fully arrived waits
//! here, registered for reading with a deadline of its own, before the server sees it. Its
//! token is its slab token with [`TAG`] set.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::evented::EventedLoop;
use super::{header_failed, header_timed_out};
use crate::connection::{Connection, ProxySocketAddressInfo};
use crate::pool::slab::TAG;
use crate::proxy_protocol::{HeaderReader, Progress};

/// An evented connection still sending its PROXY protocol header; its token is its slab
/// token with [`TAG`] set.
pub(super) struct PendingHeader {
    socket: mio::net::TcpStream,
    reader: HeaderReader,
    info: ProxySocketAddressInfo,
    id: u64,
    accepted_at: Instant,
    pub(super) deadline: Instant,
}

impl EventedLoop<'_> {
    /// PROXY protocol: reads the header before the server sees the connection. A balancer
    /// sends it with (or before) the client's first bytes, so it is usually complete at once
    /// and the connection goes straight to the server; otherwise it waits, registered for
    /// reading, until the rest arrives or `timeout` passes.
    pub(super) fn read_header(&mut self, conn: Connection, timeout: Duration) {
        let (id, accepted_at) = (conn.id(), conn.accepted_at());
        let (stream, info) = conn.into_parts();
        let mut pending = PendingHeader {
            socket: mio::net::TcpStream::from_std(stream),
            reader: HeaderReader::default(),
            info,
            id,
            accepted_at,
            deadline: self.now + timeout,
        };
        match pending.reader.advance(&pending.socket, info) {
            Ok(Progress::Done(info)) => {
                let stream = std::net::TcpStream::from(pending.socket);
                self.open(Connection::new(stream, info, id, accepted_at));
            }
            Ok(Progress::Pending) => {
                let deadline = pending.deadline;
                let token = self.headers.insert(pending);
                let entry = self.headers.get_mut(token).expect("just inserted");
                let registered = self.poll.registry().register(
                    &mut entry.socket,
                    Token(token | TAG),
                    Interest::READABLE,
                );
                match registered {
                    Ok(()) => self.timers.push(Reverse((deadline, token | TAG))),
                    Err(e) => {
                        self.headers.remove(token);
                        header_failed(self.agent, id, &e);
                    }
                }
            }
            Err(e) => header_failed(self.agent, id, &e),
        }
    }

    /// More bytes (or the deadline) for a connection still sending its PROXY header.
    pub(super) fn advance_header(&mut self, token: usize) {
        let Some(pending) = self.headers.get_mut(token) else {
            return;
        };
        let outcome = if self.now >= pending.deadline {
            Err(header_timed_out(
                self.config.proxy_header.unwrap_or_default(),
            ))
        } else {
            pending.reader.advance(&pending.socket, pending.info)
        };
        match outcome {
            Ok(Progress::Pending) => {}
            Ok(Progress::Done(info)) => {
                let mut pending = self.headers.remove(token).expect("present");
                self.note_stale_timer();
                if let Err(e) = self.poll.registry().deregister(&mut pending.socket) {
                    return header_failed(self.agent, pending.id, &e);
                }
                let stream = std::net::TcpStream::from(pending.socket);
                self.open(Connection::new(
                    stream,
                    info,
                    pending.id,
                    pending.accepted_at,
                ));
            }
            Err(e) => {
                let pending = self.headers.remove(token).expect("present");
                self.note_stale_timer();
                header_failed(self.agent, pending.id, &e);
            }
        }
    }
}
