//! Blocking I/O on a connection's socket, for the handlers that hold their connection for long:
//! a push body ([`BodyWriter`](crate::BodyWriter)), an upgraded connection
//! ([`Upgraded`](crate::Upgraded)) and a streamed request body.
//!
//! The connection lends its transport (plain or TLS) and the bytes it has read but not parsed
//! to a [`Wire`] for the length of one call into user code, and takes them back after it. The
//! socket stays registered with the worker but is switched to blocking mode with `SO_RCVTIMEO`
//! and `SO_SNDTIMEO` of [`SLICE`] for the loan (and back when it ends): a read or write waits
//! in the kernel, one system call per message as on a thread-per-connection server (a
//! non-blocking read, `poll(2)`, and a second read measured 0.77–0.93× of tungstenite on
//! threads in `cargo bench --bench load -- websocket_echo` at commit f41dded, 0.94–1.00× after), and
//! at most a slice at a time (should the switch fail, the wait is `poll(2)` on the socket, in
//! the same slices), so that between slices it can see:
//! - the timeout: no progress for `read_timeout` (reads) or `write_timeout` (writes) fails
//!   the call with `TimedOut` (a client that stopped reading blocks a writer, then ends it),
//!   as does waiting longer in all than a minimum data rate allows (the request body rate for
//!   streamed bodies' reads, the response rate for writes; only time spent waiting counts);
//! - the drain: once the proxy drains, the first read that would wait returns `WouldBlock`
//!   (once), so a loop blocked in `read` (a WebSocket's) learns of it and can end politely;
//! - the drain's deadline: past it, every call fails with `TimedOut` and the connection is
//!   closed when the user's code returns (the worker cannot close a connection whose callback
//!   is running).
//!
//! A thread blocked here is in the kernel's sleeping state, so the pool's monitor moves the
//! worker's other connections away within `busy_threshold`: holding a connection costs one
//! thread and delays nobody.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use socketnaut_core::Observer;

use crate::buf::ReadBuf;
use crate::rate::WaitBudget;
use crate::transport::Transport;

/// The longest wait between looks at the drain state.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// A connection's transport and unparsed input, lent for one call into user code.
pub(crate) struct Wire {
    pub(crate) transport: Transport,
    pub(crate) input: ReadBuf,
    pub(crate) observer: Option<Observer>,
    pub(crate) read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    /// The drain was reported by a `WouldBlock` already.
    drain_told: bool,
    /// Whether a read that would wait reports the drain (see the module docs).
    pub(crate) wake_on_drain: bool,
    /// The socket is in blocking mode with the slice as its timeouts.
    blocking: bool,
    /// A minimum rate over the time reads wait (`Timeouts::min_request_body_rate` for a
    /// streamed body, from its first read), and over the time writes wait
    /// (`Timeouts::min_response_rate`, from the first write that waits: what the kernel took
    /// before says nothing about the reader), so an event stream that writes rarely is never
    /// cut and a peer reading a byte a second is.
    pub(crate) reads: WaitBudget,
    pub(crate) writes: WaitBudget,
}

/// Blocking mode with the slice as timeouts (`on`), or back to non-blocking.
fn set_blocking(transport: &mut Transport, on: bool) -> io::Result<()> {
    let socket = socket2::SockRef::from(&*transport.socket());
    let slice = on.then_some(SLICE);
    socket.set_read_timeout(slice)?;
    socket.set_write_timeout(slice)?;
    socket.set_nonblocking(!on)
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

/// For a call beginning at `start`: the rate's limit, and the sooner of it and the timeout.
fn until(start: Instant, limit: Option<Instant>, timeout: Duration) -> (Option<Instant>, Instant) {
    let timeout = start + timeout;
    (limit, limit.map_or(timeout, |l| l.min(timeout)))
}

/// A write waiting at `now` is over: past the rate's `limit`, or the write timeout (`until`).
fn write_timed_out(now: Instant, limit: Option<Instant>, until: Instant) -> io::Result<()> {
    if limit.is_some_and(|l| now >= l) {
        return Err(timed_out("the peer read below the minimum data rate"));
    }
    if now >= until {
        return Err(timed_out("the peer read nothing within the write timeout"));
    }
    Ok(())
}

impl Wire {
    pub(crate) fn new(
        mut transport: Transport,
        input: ReadBuf,
        observer: Option<Observer>,
    ) -> Wire {
        let blocking = set_blocking(&mut transport, true).is_ok();
        Wire {
            blocking,
            transport,
            input,
            observer,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            drain_told: false,
            wake_on_drain: true,
            reads: WaitBudget::default(),
            writes: WaitBudget::default(),
        }
    }

    /// The transport (non-blocking again) and the unparsed input, back to the connection.
    pub(crate) fn into_parts(mut self) -> (Transport, ReadBuf) {
        if self.blocking && set_blocking(&mut self.transport, false).is_err() {
            // A socket left blocking would stall the worker's loop: make it fail instead.
            let _ = self.transport.socket().shutdown(std::net::Shutdown::Both);
        }
        (self.transport, self.input)
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.observer.as_ref().is_some_and(Observer::is_draining)
    }

    pub(crate) fn drain_deadline(&self) -> Option<Instant> {
        self.observer.as_ref().and_then(Observer::drain_deadline)
    }

    /// `Err(TimedOut)` once the drain's deadline has passed.
    fn check_deadline(&self, now: Instant) -> io::Result<()> {
        match self.drain_deadline() {
            Some(d) if now >= d => Err(timed_out("the service's drain deadline passed")),
            _ => Ok(()),
        }
    }

    /// A non-blocking socket waits in `poll`; a blocking one already waited in the call.
    fn wait_unless_blocking(&mut self, flags: PollFlags, until: Instant) -> io::Result<()> {
        if self.blocking {
            return Ok(());
        }
        self.wait(flags, until)
    }

    /// Waits until the socket is ready for `flags`, for at most one slice and `until`.
    fn wait(&mut self, flags: PollFlags, until: Instant) -> io::Result<()> {
        let now = Instant::now();
        let slice = until.saturating_duration_since(now).min(SLICE);
        let ms = u16::try_from(slice.as_millis().max(1)).unwrap_or(u16::MAX);
        let socket = self.transport.socket();
        let mut fds = [PollFd::new(socket.as_fd(), flags)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    /// Reads what has arrived, first any bytes read before the lending; blocks (see the module
    /// docs) while nothing has.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.input.is_empty() {
            let n = buf.len().min(self.input.len());
            buf[..n].copy_from_slice(&self.input.bytes()[..n]);
            self.input.consume(n);
            self.reads.moved(n);
            return Ok(n);
        }
        let notice = self.wake_on_drain;
        self.read_with(|t, _| t.read(buf), notice)
    }

    /// Reads more from the socket into `input` (blocking as `read` does); `Ok(0)` at the
    /// peer's end.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        self.read_with(
            |t, input| {
                let n = t.read(input.spare())?;
                input.commit(n);
                Ok(n)
            },
            false,
        )
    }

    /// Runs the socket read `op` until it gives bytes (or the end), waiting between tries, up
    /// to the read timeout, the drain deadline and what is left of the read budget; with
    /// `notice`, the drain's `WouldBlock` once.
    fn read_with(
        &mut self,
        mut op: impl FnMut(&mut Transport, &mut ReadBuf) -> io::Result<usize>,
        notice: bool,
    ) -> io::Result<usize> {
        let start = Instant::now();
        let (limit, until) = until(start, self.reads.limit(start), self.read_timeout);
        let result = loop {
            let now = Instant::now();
            self.check_deadline(now)?;
            match op(&mut self.transport, &mut self.input) {
                Ok(n) => {
                    self.reads.moved(n);
                    break Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
            if notice && !self.drain_told && self.is_draining() {
                self.drain_told = true;
                break Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the service is draining",
                ));
            }
            if limit.is_some_and(|l| now >= l) {
                break Err(timed_out("the peer sent below the minimum data rate"));
            }
            if now >= until {
                break Err(timed_out("no bytes from the peer within the read timeout"));
            }
            self.wait_unless_blocking(PollFlags::POLLIN, until)?;
        };
        self.reads.spent(start.elapsed());
        result
    }

    /// Writes some of `buf`, blocking while the socket takes nothing.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = Instant::now();
        let (limit, until) = until(start, self.writes.limit(start), self.write_timeout);
        let result = loop {
            let now = Instant::now();
            self.check_deadline(now)?;
            match self.transport.write(buf) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.writes.moved(n);
                    break Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writes.would_wait(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
            if let Err(e) = write_timed_out(now, limit, until) {
                break Err(e);
            }
            self.wait_unless_blocking(PollFlags::POLLOUT, until)?;
        };
        self.writes.spent(start.elapsed());
        result
    }

    /// Writes all of `buf`.
    pub(crate) fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf)?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Until everything written is on the socket (with TLS, the session's records too).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let start = Instant::now();
        let (limit, until) = until(start, self.writes.limit(start), self.write_timeout);
        let result = loop {
            if let Err(e) = self.transport.flush() {
                break Err(e);
            }
            if !self.transport.has_buffered_output() {
                break Ok(());
            }
            let now = Instant::now();
            self.check_deadline(now)?;
            if let Err(e) = write_timed_out(now, limit, until) {
                break Err(e);
            }
            self.wait_unless_blocking(PollFlags::POLLOUT, until)?;
        };
        self.writes.spent(start.elapsed());
        result
    }
}
