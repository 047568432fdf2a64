//! Moving bytes: reading into the input buffer (to `WouldBlock`, a short read, or the input
//! cap) and flushing the output buffer (to `WouldBlock`), with the progress and rate
//! bookkeeping the timers need.

use std::io;
use std::time::Instant;

use super::{HttpConn, State, IN_HIGH};
use crate::buf;
use crate::metrics::Timed;

impl HttpConn {
    /// Output not yet on the socket: ours, and (with TLS) any the session still holds.
    pub(super) fn pending_output(&self) -> usize {
        self.output.len() - self.written + usize::from(self.transport.has_buffered_output())
    }

    /// Reads until `WouldBlock`, EOF, a short read (unless the peer has shut down its side,
    /// `to_eof`), or the input cap. `Err` means the connection is dead.
    pub(super) fn read(&mut self, now: Instant, to_eof: bool) -> io::Result<()> {
        // Remembered: a read paused at the input cap resumes later without a new event, and
        // must still run to the EOF that event announced.
        self.peer_shut |= to_eof;
        let to_eof = self.peer_shut;
        self.read_paused = false;
        while !self.read_closed {
            if self.input.len() >= IN_HIGH {
                self.read_paused = true;
                return Ok(());
            }
            let spare = self.input.spare();
            let room = spare.len();
            match self.transport.read(spare) {
                Ok(0) => self.read_closed = true,
                Ok(n) => {
                    self.input.commit(n);
                    self.progress = now;
                    if let Some(at) = self.accepted.take() {
                        let took = now.saturating_duration_since(at);
                        self.handle.count(|c| c.time(Timed::FirstByte, took));
                    }
                    if matches!(self.state, State::Lingering { .. }) {
                        self.input.consume(n); // discarded: the response is final
                    }
                    if n < room && !to_eof && self.transport.short_read_drains() {
                        // A short read drained the socket: bytes arriving later raise a new
                        // edge, so the read that would only say WouldBlock is skipped.
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.input.release_if_empty();
        Ok(())
    }

    /// Writes pending output until `WouldBlock`. `Err` means the connection is dead.
    ///
    /// The response rate is measured from the first write that would block: what the kernel
    /// takes at once says nothing about the reader, what it takes after says how fast the
    /// peer reads.
    pub(super) fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.transport.flush()?;
        let had_output = self.pending_output() > 0;
        while self.written < self.output.len() {
            match self.transport.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    self.progress = now;
                    self.write_rate.add(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_rate.start(now);
                    self.access_flushed(self.written);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.transport.has_buffered_output() {
            self.write_rate.start(now);
        } else {
            self.write_rate.stop();
        }
        // Everything of ours is out: the wait for the next request starts now (the idle and
        // header timers never run while a response is still being written), and the buffer
        // goes back to the pool until the next response.
        self.access_flushed(self.written);
        self.written = 0;
        if let State::Head { since } = &mut self.state {
            if had_output {
                *since = now;
            }
        }
        if matches!(self.state, State::Stream { .. }) {
            self.output.clear(); // the next chunk follows at once
        } else if self.output.capacity() > 0 {
            buf::give_write(std::mem::take(&mut self.output));
        }
        Ok(())
    }

    pub(super) fn out(&mut self) -> &mut Vec<u8> {
        if self.output.capacity() == 0 {
            self.output = buf::take_write();
        }
        &mut self.output
    }
}
