//! One HTTP/1.1 connection on an evented worker: the state machine that reads requests, calls
//! the handler, and writes responses in order as the socket allows. Its I/O is in `bytes`, its
//! timers in `timers`.
//!
//! States: `Head { since }` (waiting for a request head; idle when nothing is buffered) →
//! `Body` (decoding by length or chunked) → the handler runs (`dispatch`) → back to `Head`, or
//! `Stream` (a reader body sent as the socket drains), or `Closing` (a final response queued) →
//! `Lingering` (write side shut, the client's bytes drained for up to 2 s, only when unread
//! request bytes could turn the close into a reset that destroys the response) → closed.
//!
//! - Parsing: the head is copied once into a `Bytes`; the URI and header values are slices of
//!   it, so a request costs one allocation for its head however many fields it has (plus the
//!   `HeaderMap`'s own). `parse` is the only module that names httparse; with `grammar` (the
//!   ABNF rules as pure functions) it applies the limits and the request-target, `Host` and
//!   framing rules, mapping every failure to one status (`error`). After any framing error the
//!   server answers with `Connection: close` and closes: it never resynchronises. The crate's
//!   `acceptance` module lists what is accepted and rejected, and why.
//! - Responses: `response::plan` decides, from the request and the handler's response alone,
//!   the framing (length, chunked, none), whether content is sent (never to `HEAD`, 204, 304)
//!   and whether the connection stays open; a pure, table-tested function.
//! - Pipelining: requests are handled in order; parsing pauses while more than 64 KiB of
//!   responses wait for the socket, and reading pauses at 64 KiB of unparsed input, so a client
//!   that does not read costs memory bounded per connection and never blocks the worker's other
//!   connections. `process` says why it stopped ([`Stop`]); while it stopped for output and the
//!   socket keeps taking it, `step` runs it again, because no event will come for input that is
//!   already buffered (the bug that once left requests beyond the first 64 KiB unanswered).
//! - Buffers come from small per-thread pools (`buf`) and go back as soon as a connection waits
//!   for a request or its body, so an idle keep-alive connection holds no buffer (659 bytes of
//!   RSS each, `cargo bench --bench load -- idle_memory`, 2026-12-01; 802 once the HTTP
//!   figures and the access log's state joined the connection, 2026-12-02); one that has sent part of
//!   a head keeps only what arrived, copied into an allocation of its size (886 bytes of RSS for
//!   a 57-byte partial head, `-- partial_head_memory`, where a pooled 16 KiB buffer had cost
//!   about 8.9 KB, as measured in the issue that asked for it); a head claiming a body reserves
//!   nothing and holds no read buffer while it waits (1,174 bytes of RSS for a head claiming
//!   1 MiB, where a reservation of the claimed length had been made).
//! - Timers (`timers`): while a response is being written only the write timeout and the
//!   minimum response rate apply (the wait for the next request starts once the response is
//!   out); otherwise the deadline is the absolute header deadline (from when the connection
//!   began waiting, so dribbled bytes cannot extend it), the keep-alive idle deadline, or the
//!   body deadline (no progress for `body`, or below the minimum body rate after its grace). A
//!   rate is a pure deadline, `start + max(grace, bytes / rate)` (`rate`): each byte moves it
//!   later, a dribble cannot keep up with it. The response rate is measured from the first write
//!   that would block, so the burst the kernel's buffers absorb does not count as reading.

mod access;
mod bytes;
mod outgoing;
mod takeover;
mod timers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Version};
use socketnaut_core::{ConnContext, ConnEvent, EventedConnection, ProxySocketAddressInfo, Step};

use crate::body::{Body, Kind};
use crate::buf::ReadBuf;
use crate::config::ServiceConfig;
use crate::decode::{Decoder, Framing};
use crate::dispatch::{self, Reply};
use crate::error::{self, Reject};
use crate::metrics::{Timed, WorkerHandle};
use crate::parse::{parse_head, Head, Parsed};
use crate::rate::Meter;
use crate::response::{write_head, BodyFraming};
use crate::transport::Transport;
use crate::TARGET;
use outgoing::Outgoing;

/// Stop parsing pipelined requests while this much output waits for the socket.
const OUT_HIGH: usize = 64 * 1024;
/// Pull more from a streamed body while less than this waits.
const OUT_LOW: usize = 16 * 1024;
/// Stop reading while this much unparsed input is buffered.
const IN_HIGH: usize = 64 * 1024;
/// How long to drain the client's bytes after the final response before closing.
const LINGER: Duration = Duration::from_secs(2);

// The request head is held inline, not boxed: every request passes through `Body`, and a box
// would cost an allocation per request; the price is a few hundred bytes per connection.
#[allow(clippy::large_enum_variant)]
enum State {
    Head {
        /// When the connection began waiting for this request (open, or last response).
        since: Instant,
    },
    Body {
        head: Head,
        decoder: Decoder,
        body: Vec<u8>,
    },
    Stream {
        body: Outgoing,
        keep_alive: bool,
    },
    Closing,
    Lingering {
        until: Instant,
    },
}

/// Why [`HttpConn::process`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// It needs more bytes from the peer.
    Input,
    /// Output is over its high-water mark: it goes on once the socket takes some.
    Output,
    /// A final response is queued; nothing more will be read as requests.
    Final,
    /// A file goes straight to the socket, which takes no more for now: the next writable
    /// event goes on.
    Socket,
}

pub(crate) struct HttpConn {
    transport: Transport,
    info: ProxySocketAddressInfo,
    config: Arc<ServiceConfig>,
    /// The worker's handle (its counters; handed on to every request).
    handle: Arc<WorkerHandle>,
    state: State,
    input: ReadBuf,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    read_closed: bool,
    /// Reading stopped at `IN_HIGH`; resume once input is consumed (no edge will come).
    read_paused: bool,
    /// A request was rejected before it was read in full: the peer may still be sending.
    unread_request_bytes: bool,
    /// An event said the peer shut down its side: reads go on to EOF.
    peer_shut: bool,
    /// Last time reading or writing made progress (body and write timeouts).
    progress: Instant,
    /// Request body bytes since the body began (the minimum request body rate).
    body_rate: Meter,
    /// Bytes written since output last stalled (the minimum response rate).
    write_rate: Meter,
    /// The access log's state (empty when it is off).
    access: access::Access,
    /// The worker serving the connection now (for the access log).
    worker: usize,
    /// When the connection was accepted, until its first request byte arrives (the
    /// first-byte histogram).
    accepted: Option<Instant>,
}

impl HttpConn {
    pub(crate) fn new(
        transport: Transport,
        info: ProxySocketAddressInfo,
        config: Arc<ServiceConfig>,
        handle: Arc<WorkerHandle>,
        accepted: Instant,
        now: Instant,
    ) -> HttpConn {
        HttpConn {
            transport,
            info,
            config,
            handle,
            state: State::Head { since: now },
            input: ReadBuf::default(),
            output: Vec::new(),
            written: 0,
            read_closed: false,
            read_paused: false,
            unread_request_bytes: false,
            peer_shut: false,
            progress: now,
            body_rate: Meter::default(),
            write_rate: Meter::default(),
            access: access::Access::default(),
            worker: 0,
            accepted: Some(accepted),
        }
    }

    fn is_idle(&self) -> bool {
        matches!(self.state, State::Head { .. }) && self.input.is_empty()
    }

    /// Whether the unparsed input is a `HEAD` request, for a rejection before the head was
    /// parsed (its response must carry no content either).
    fn head_in_input(&self) -> bool {
        let bytes = self.input.bytes();
        let start = bytes
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(bytes.len());
        bytes[start..].starts_with(b"HEAD ")
    }

    /// Advances the state machine as far as buffered input and output space allow.
    fn process(&mut self, cx: &ConnContext<'_>) -> Stop {
        loop {
            let stop = match self.state {
                State::Head { .. } => self.next_head(cx),
                State::Body { .. } => self.next_body(cx),
                State::Stream { .. } if self.pending_output() > OUT_LOW => Some(Stop::Output),
                State::Stream { .. } => self.pull_stream(cx.now()),
                State::Closing | State::Lingering { .. } => Some(Stop::Final),
            };
            if let Some(stop) = stop {
                return stop;
            }
        }
    }

    /// Parses the next request head, if it has arrived (and output has room): a request
    /// without a body goes straight to the handler, one with a body moves to `Body`. `None`:
    /// go on.
    fn next_head(&mut self, cx: &ConnContext<'_>) -> Option<Stop> {
        if self.pending_output() > OUT_HIGH {
            return Some(Stop::Output);
        }
        if self.input.is_empty() {
            return Some(Stop::Input);
        }
        let limits = &self.config.limits;
        let (max_body, max_meta) = (limits.max_body, limits.max_chunk_metadata);
        let head = match parse_head(self.input.bytes(), limits) {
            Ok(Parsed::Partial) => return Some(Stop::Input),
            Err(reject) => {
                let to_head = self.head_in_input();
                return Some(self.reject(reject, to_head));
            }
            Ok(Parsed::Complete(head, len)) => {
                self.input.consume(len);
                (head, len)
            }
        };
        let (head, len) = head;
        self.access_begin(&head, len, cx.now());
        // A streamed body's limit and `100 Continue` are the handler's (see `stream`).
        let streamed = self.config.stream_bodies && head.framing != Framing::Empty;
        if !streamed && matches!(head.framing, Framing::Length(n) if n > max_body as u64) {
            let to_head = head.method == Method::HEAD;
            return Some(self.reject(error::BODY_TOO_LARGE, to_head));
        }
        if !streamed
            && head.expect_continue
            && head.framing != Framing::Empty
            && self.input.is_empty()
        {
            self.out()
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        if head.framing == Framing::Empty || streamed {
            // No body to wait for: straight to the handler, without parking the head in
            // `State::Body` first.
            self.dispatch(head, Vec::new(), None, cx);
            return None;
        }
        let now = cx.now();
        self.progress = now;
        self.body_rate.stop();
        self.body_rate.start(now);
        // The body grows as its bytes arrive: a claimed length reserves nothing.
        self.state = State::Body {
            decoder: Decoder::new(head.framing, max_meta),
            head,
            body: Vec::new(),
        };
        None
    }

    /// Decodes what has arrived of the body; once it is complete, calls the handler.
    fn next_body(&mut self, cx: &ConnContext<'_>) -> Option<Stop> {
        let State::Body {
            head,
            decoder,
            body,
        } = &mut self.state
        else {
            unreachable!("called in Body")
        };
        let max_body = self.config.limits.max_body;
        match decoder.decode(self.input.bytes(), body, max_body) {
            Err(reject) => {
                let to_head = head.method == Method::HEAD;
                return Some(self.reject(reject, to_head));
            }
            Ok(p) => {
                self.input.consume(p.consumed);
                self.body_rate.add(p.consumed);
                if !p.done {
                    return Some(Stop::Input);
                }
            }
        }
        self.body_rate.stop();
        let State::Body {
            head,
            mut decoder,
            body,
        } = std::mem::replace(&mut self.state, State::Closing)
        else {
            unreachable!("matched above")
        };
        let trailers = decoder.take_trailers();
        self.dispatch(head, body, trailers, cx);
        None
    }

    /// Runs the handler (see `dispatch`) and queues its response, or the rejection it
    /// ended in.
    fn dispatch(
        &mut self,
        head: Head,
        body: Vec<u8>,
        trailers: Option<http::HeaderMap>,
        cx: &ConnContext<'_>,
    ) {
        let head_request = head.method == Method::HEAD;
        let version = head.version;
        let slot = (self.config.stream_bodies && head.framing != Framing::Empty)
            .then(|| self.lend_source(&head));
        let mut size = (self.access.head_len + body.len()) as u64;
        let start = self.handle.counters.as_ref().map(|_| Instant::now());
        let body = match &slot {
            Some(slot) => Body::streamed(slot.clone()),
            None => Body::from(body),
        };
        let body = body.with_info(self.info).with_handle(self.handle.clone());
        let result = dispatch::handle(&self.config, head, body, trailers, cx);
        if let Some(start) = start {
            let end = result.as_ref().map_or_else(|_| Instant::now(), |r| r.now);
            self.handle.count(|c| c.time(Timed::Handler, end - start));
        }
        // A streamed body's connection comes back first, whatever the handler did.
        let keep = slot.map(|slot| {
            let (keep, read) = self.take_back_source(&slot);
            size += read;
            keep
        });
        self.handle.count(|c| c.record(Timed::RequestSize, size));
        match result {
            Err(reject) => {
                self.reject(reject, head_request);
            }
            Ok(mut reply) => {
                if keep == Some(false) {
                    // The rest of the body is unread: close after the response.
                    reply.plan.keep_alive = false;
                    self.unread_request_bytes = true;
                }
                self.queue(reply, version, cx)
            }
        }
    }

    /// Queues a handler's response as its plan says.
    fn queue(&mut self, reply: Reply, version: Version, cx: &ConnContext<'_>) {
        let Reply {
            parts,
            body,
            plan,
            now,
        } = reply;
        let out = self.out();
        write_head(
            out,
            parts.status,
            &parts.headers,
            plan.framing,
            plan.keep_alive,
            version,
            now,
        );
        let mut sent = 0;
        if plan.send_body {
            match body {
                Kind::Push(write) => {
                    let framing = (plan.framing == BodyFraming::Chunked, plan.keep_alive);
                    return self.run_push(write, parts.status, framing, cx);
                }
                Kind::Upgrade(run) => return self.run_upgrade(run, parts.status, cx),
                Kind::Reader(reader) => {
                    let chunked = plan.framing == BodyFraming::Chunked;
                    let body = Outgoing::Reader {
                        reader,
                        chunked,
                        left: None,
                    };
                    return self.begin_stream(body, parts.status, plan.keep_alive);
                }
                Kind::Sized(reader, len) => {
                    let body = Outgoing::Reader {
                        reader,
                        chunked: false,
                        left: Some(len),
                    };
                    return self.begin_stream(body, parts.status, plan.keep_alive);
                }
                Kind::File(file, offset, left) => {
                    let body = Outgoing::File { file, offset, left };
                    return self.begin_stream(body, parts.status, plan.keep_alive);
                }
                bytes => {
                    let bytes = bytes.bytes().expect("in-memory body");
                    sent = bytes.len() as u64;
                    out.extend_from_slice(bytes);
                }
            }
        }
        self.access_queued(parts.status, Some(sent), now, false);
        self.state = if plan.keep_alive {
            State::Head { since: now }
        } else {
            State::Closing
        };
    }

    /// Queues an error response (without content if it answers `HEAD`) and closes after it.
    fn reject(&mut self, reject: Reject, to_head: bool) -> Stop {
        log::debug!(target: TARGET, "{}: {} {}", self.info.remote.socket_addr(), reject.status.as_u16(), reject.reason);
        let (headers, body) = error::content(reject, self.config.error_page.as_deref());
        let since = match self.state {
            State::Head { since } => since,
            _ => Instant::now(),
        };
        let sent = if to_head { 0 } else { body.len() as u64 };
        let out = self.out();
        write_head(
            out,
            reject.status,
            &headers,
            BodyFraming::Length(body.len()),
            false,
            Version::HTTP_11,
            Instant::now(),
        );
        if !to_head {
            out.extend_from_slice(&body);
        }
        self.access_queued(reject.status, Some(sent), since, true);
        // Never resynchronise after a framing error: drop whatever else was sent (and more
        // of it may still be on the way).
        let n = self.input.len();
        self.input.consume(n);
        self.unread_request_bytes = true;
        self.body_rate.stop();
        self.state = State::Closing;
        Stop::Final
    }

    /// A final response is out: close, or first shut our side and linger, draining the
    /// client's bytes. `Some(Close)` when the connection is done now.
    fn finish_closing(&mut self, now: Instant) -> Option<Step> {
        if !matches!(self.state, State::Closing) || self.pending_output() > 0 {
            return None;
        }
        if self.read_closed || (!self.unread_request_bytes && self.input.is_empty()) {
            // Nothing of theirs is left unread: a plain close sends FIN after the response.
            self.transport.close_notify();
            return Some(Step::Close);
        }
        // Bytes we will never read would turn the close into a reset that can destroy the
        // response in flight: shut our side and drain theirs for a moment first.
        self.transport.shutdown_write();
        self.state = State::Lingering {
            until: now + LINGER,
        };
        let n = self.input.len();
        self.input.consume(n);
        self.read(now, false).is_err().then_some(Step::Close)
    }

    fn step(&mut self, cx: &ConnContext<'_>) -> Step {
        let now = cx.now();
        loop {
            let stop = self.process(cx);
            if self.flush(now).is_err() {
                return Step::Close;
            }
            // Pipelined requests and streamed bodies go on while the socket takes the output:
            // no event will come for input that is already buffered. Reading resumes once the
            // paused input was consumed.
            let mark = match &self.state {
                // `sendfile` waits until everything before it is out.
                State::Stream { body, .. } if body.is_sendfile(&self.transport) => 0,
                State::Stream { .. } => OUT_LOW,
                _ => OUT_HIGH,
            };
            let room = stop == Stop::Output && self.pending_output() <= mark;
            let can_read = self.read_paused && self.input.len() < IN_HIGH;
            if can_read && self.read(now, false).is_err() {
                return Step::Close;
            }
            if !(room || can_read) {
                break;
            }
        }
        if let Some(step) = self.finish_closing(now) {
            return step;
        }
        // A connection waiting for a request or its body holds no read buffer, only what
        // it was sent and has not parsed (see `buf`).
        if matches!(self.state, State::Head { .. } | State::Body { .. }) {
            self.input.shrink();
        }
        match self.state {
            State::Lingering { .. } if self.read_closed => Step::Close,
            // The client finished sending and everything it asked for is answered (a partial
            // head can no longer complete).
            State::Head { .. } if self.read_closed && self.pending_output() == 0 => Step::Close,
            // The client went away in the middle of a body: nobody is left to answer.
            State::Body { .. } if self.read_closed => Step::Close,
            State::Head { .. }
                if cx.is_draining() && self.is_idle() && self.pending_output() == 0 =>
            {
                Step::Close
            }
            _ => Step::Keep,
        }
    }
}

impl EventedConnection for HttpConn {
    fn socket(&mut self) -> &mut socketnaut_core::mio::net::TcpStream {
        self.transport.socket()
    }

    fn on_event(&mut self, event: ConnEvent, cx: &mut ConnContext<'_>) -> Step {
        let now = cx.now();
        self.worker = cx.agent().worker_id();
        let dead = match event {
            ConnEvent::Ready {
                readable: true,
                read_closed,
                ..
            } => match self.read(now, read_closed) {
                Ok(()) => false,
                Err(e) => {
                    // A reset, or with TLS a failed handshake or a bad record.
                    if self.transport.is_handshaking() {
                        self.handle.count(|c| c.tls_handshake_failed());
                    }
                    log::debug!(target: TARGET, "{}: {e}; closing", self.info.remote.socket_addr());
                    true
                }
            },
            ConnEvent::Ready { .. } => false,
            ConnEvent::Timer => self.on_timer(now) == Step::Close,
            // Draining changes what `step` decides for an idle connection.
            _ => false,
        };
        if dead {
            return Step::Close;
        }
        self.step(cx)
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.next_deadline())
    }
}
