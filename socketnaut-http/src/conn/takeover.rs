//! The connection's side of the handlers that hold it: push bodies and upgrades (the queued
//! output — the response head, and any responses before it — goes out through the lent
//! transport, `crate::wire`, then the user's code runs with it, then the connection takes it
//! back and goes on after a push body that ended well, or closes after an upgrade or a push
//! body cut short), and streamed request bodies (lent for the handler's call, `crate::stream`).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::StatusCode;
use socketnaut_core::ConnContext;

use super::{HttpConn, State};
use crate::body::{PushFn, UpgradeFn};
use crate::decode::{Decoder, Framing};
use crate::parse::Head;
use crate::rate::WaitBudget;
use crate::stream::{self, Slot, Source};
use crate::takeover::{BodyWriter, Upgraded};
use crate::wire::Wire;
use crate::TARGET;

/// Runs user code that holds the connection; a panic is counted and becomes an error.
fn run_user(
    cx: &ConnContext<'_>,
    what: &str,
    f: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        cx.agent().count_panic();
        let msg = crate::error::panic_text(&*p);
        log::error!(target: TARGET, "{what} panicked: {msg}; closing");
        Err(io::Error::other(format!("{what} panicked")))
    })
}

impl HttpConn {
    /// The transport and the unparsed input, lent for a call into user code.
    pub(super) fn lend(&mut self) -> Wire {
        let observer = Some(self.handle.observer.clone());
        let input = std::mem::take(&mut self.input);
        let mut wire = Wire::new(self.transport.lend(), input, observer);
        wire.read_timeout = self.config.timeouts.body;
        wire.write_timeout = self.config.timeouts.write;
        wire.writes = WaitBudget::new(self.config.timeouts.min_response_rate, true);
        wire
    }

    pub(super) fn restore(&mut self, wire: Wire) {
        (self.transport, self.input) = wire.into_parts();
    }

    /// Sends the queued output through the wire, blocking (with the write timeout).
    fn send_queued(&mut self, wire: &mut Wire) -> io::Result<()> {
        wire.write_all(&self.output[self.written..])?;
        wire.flush()?;
        self.written = self.output.len();
        self.access_flushed(self.written);
        self.output.clear();
        self.written = 0;
        Ok(())
    }

    /// A push body: the head, then the user's writing.
    pub(super) fn run_push(
        &mut self,
        write: PushFn,
        status: StatusCode,
        (chunked, keep_alive): (bool, bool),
        cx: &ConnContext<'_>,
    ) {
        let mut wire = self.lend();
        let head = self.send_queued(&mut wire);
        let mut writer = BodyWriter::new(wire, chunked);
        let result = head.and_then(|()| run_user(cx, "a push body", || write(&mut writer)));
        let (wire, sent, result) = writer.finish(result);
        self.restore(wire);
        let keep = result.is_ok() && keep_alive;
        self.after_takeover(status, sent, result, keep);
    }

    /// An upgrade: the 101, then the user's protocol; the connection closes after it.
    pub(super) fn run_upgrade(&mut self, run: UpgradeFn, status: StatusCode, cx: &ConnContext<'_>) {
        let mut wire = self.lend();
        let head = self.send_queued(&mut wire);
        let mut upgraded = Upgraded::new(wire);
        let result =
            head.and_then(|()| run_user(cx, "an upgraded connection", || run(&mut upgraded)));
        let (wire, sent) = upgraded.into_parts();
        self.restore(wire);
        // Whatever the client sent is the other protocol's, never a request.
        let n = self.input.len();
        self.input.consume(n);
        self.after_takeover(status, sent, result, false);
        if matches!(self.state, State::Closing) {
            self.unread_request_bytes = false;
        }
    }

    /// Logs the response and moves on: the next request, a close, or (after an error, when
    /// the message may be cut short) an abrupt close.
    fn after_takeover(
        &mut self,
        status: StatusCode,
        sent: u64,
        result: io::Result<()>,
        keep: bool,
    ) {
        let now = Instant::now();
        self.progress = now;
        self.access_streamed(usize::try_from(sent).unwrap_or(usize::MAX));
        self.access_queued(status, None, now, false);
        if let Err(e) = result {
            log::debug!(target: TARGET, "{}: {e}; closing", self.info.remote.socket_addr());
            self.output.truncate(self.written);
            self.access_flushed(self.output.len());
            self.state = State::Lingering { until: now };
            return;
        }
        self.access_flushed(self.output.len());
        self.state = if keep {
            State::Head { since: now }
        } else {
            State::Closing
        };
    }
}

impl HttpConn {
    /// A streamed request body's source: the lent transport, and the body's framing.
    pub(super) fn lend_source(&mut self, head: &Head) -> Slot {
        let owe_continue = head.expect_continue && self.input.is_empty();
        let length = match head.framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let mut wire = self.lend();
        wire.wake_on_drain = false;
        wire.reads = WaitBudget::new(self.config.timeouts.min_request_body_rate, false);
        let limits = &self.config.limits;
        let decoder = Decoder::new(head.framing, limits.max_chunk_metadata);
        let max = limits.max_body as u64;
        let source = Source::new(wire, decoder, length, max, owe_continue);
        Arc::new(Mutex::new(Some(source)))
    }

    /// After the handler: the transport back, what is left of the body dropped if it is
    /// short. Returns whether the connection can go on, and the body bytes read.
    pub(super) fn take_back_source(&mut self, slot: &Slot) -> (bool, u64) {
        let mut source = stream::lock(slot)
            .take()
            .expect("only the connection takes it");
        let keep = source.discard_rest();
        let read = source.delivered();
        self.restore(source.wire);
        self.progress = Instant::now();
        (keep, read)
    }
}
