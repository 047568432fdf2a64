//! One HTTP/1.1 connection on an evented worker: the state machine that reads requests,
//! calls the handler, and writes responses in order as the socket allows.
//!
//! States: `Head` (waiting for a request head; idle when nothing is buffered) → `Body` (reading
//! a body) → the handler runs → back to `Head`, or `Stream` (a reader body being sent), or
//! `Closing` (a final response queued) → `Lingering` (write side shut, draining the client's
//! bytes so the close does not turn into a reset that destroys the response) → closed.

use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Version};
use socketnaut_core::{ConnContext, ConnEvent, EventedConnection, ProxySocketAddressInfo, Step};

use crate::body::{Body, Decoder, Kind, Trailers};
use crate::buf::{self, ReadBuf};
use crate::error::{self, Reject};
use crate::parse::{parse_head, Framing, Head, Parsed};
use crate::rate::Meter;
use crate::response::{self, write_chunk, write_head, BodyFraming, Exchange, Shape};
use crate::transport::Transport;
use crate::ServerShared;

const TARGET: &str = "socketnaut::http";
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
        reader: Box<dyn Read + Send>,
        chunked: bool,
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
}

pub(crate) struct HttpConn {
    transport: Transport,
    info: ProxySocketAddressInfo,
    shared: Arc<ServerShared>,
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
}

impl HttpConn {
    pub(crate) fn new(
        transport: Transport,
        info: ProxySocketAddressInfo,
        shared: Arc<ServerShared>,
        now: Instant,
    ) -> HttpConn {
        HttpConn {
            transport,
            info,
            shared,
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
        }
    }

    /// Output not yet on the socket: ours, and (with TLS) any the session still holds.
    fn pending_output(&self) -> usize {
        self.output.len() - self.written + usize::from(self.transport.has_buffered_output())
    }

    /// Reads until `WouldBlock`, EOF, a short read (unless the peer has shut down its side,
    /// `to_eof`), or the input cap. `Err` means the connection is dead.
    fn read(&mut self, now: Instant, to_eof: bool) -> io::Result<()> {
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
    fn flush(&mut self, now: Instant) -> io::Result<()> {
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

    fn out(&mut self) -> &mut Vec<u8> {
        if self.output.capacity() == 0 {
            self.output = buf::take_write();
        }
        &mut self.output
    }

    /// Advances the state machine as far as buffered input and output space allow.
    fn process(&mut self, cx: &ConnContext<'_>) -> Stop {
        let now = cx.now();
        loop {
            match &mut self.state {
                State::Head { .. } => {
                    if self.pending_output() > OUT_HIGH {
                        return Stop::Output;
                    }
                    if self.input.is_empty() {
                        return Stop::Input;
                    }
                    let limits = &self.shared.limits;
                    let (max_body, max_meta) = (limits.max_body, limits.max_chunk_metadata);
                    let head = match parse_head(self.input.bytes(), limits) {
                        Ok(Parsed::Partial) => return Stop::Input,
                        Err(reject) => {
                            let to_head = self.head_in_input();
                            return self.reject(reject, to_head);
                        }
                        Ok(Parsed::Complete(head, len)) => {
                            self.input.consume(len);
                            head
                        }
                    };
                    let to_head = head.method == Method::HEAD;
                    if let Framing::Length(n) = head.framing {
                        if n > max_body as u64 {
                            return self.reject(error::BODY_TOO_LARGE, to_head);
                        }
                    }
                    if head.expect_continue
                        && head.framing != Framing::Empty
                        && self.input.is_empty()
                    {
                        self.out()
                            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    if head.framing == Framing::Empty {
                        // No body to wait for: straight to the handler, without parking the
                        // head in `State::Body` first.
                        self.dispatch(head, Vec::new(), None, cx);
                        continue;
                    }
                    self.progress = now;
                    self.body_rate.stop();
                    self.body_rate.start(now);
                    // The body grows as its bytes arrive: a claimed length reserves nothing.
                    self.state = State::Body {
                        decoder: Decoder::new(head.framing, max_meta),
                        head,
                        body: Vec::new(),
                    };
                }
                State::Body {
                    head,
                    decoder,
                    body,
                } => {
                    let max_body = self.shared.limits.max_body;
                    match decoder.decode(self.input.bytes(), body, max_body) {
                        Err(reject) => {
                            let to_head = head.method == Method::HEAD;
                            return self.reject(reject, to_head);
                        }
                        Ok(p) => {
                            self.input.consume(p.consumed);
                            self.body_rate.add(p.consumed);
                            if !p.done {
                                return Stop::Input;
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
                }
                State::Stream { .. } => {
                    if self.pending_output() > OUT_LOW {
                        return Stop::Output;
                    }
                    self.pull_stream(now);
                }
                State::Closing | State::Lingering { .. } => return Stop::Final,
            }
        }
    }

    /// Runs the handler and queues its response.
    fn dispatch(
        &mut self,
        head: Head,
        body: Vec<u8>,
        trailers: Option<http::HeaderMap>,
        cx: &ConnContext<'_>,
    ) {
        let mut exchange = Exchange {
            head_request: head.method == Method::HEAD,
            version: head.version,
            keep_alive: head.keep_alive,
            draining: false,
        };
        let mut req = http::Request::new(Body::from(body).with_info(self.info));
        *req.method_mut() = head.method;
        *req.uri_mut() = head.uri;
        *req.version_mut() = head.version;
        *req.headers_mut() = head.headers;
        if let Some(t) = trailers {
            req.extensions_mut().insert(Trailers(t));
        }
        let handler = &self.shared.handler;
        let response = match catch_unwind(AssertUnwindSafe(|| handler.call(req))) {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                cx.agent().count_panic();
                log::error!(target: TARGET, "handler panicked: {msg}; answering 500 and closing");
                self.reject(error::INTERNAL, exchange.head_request);
                return;
            }
        };
        // After the handler, which may have taken a while: the `Date` and the idle timer
        // start from here, and a drain that began while it ran still ends this connection
        // with this response.
        let now = Instant::now();
        exchange.draining = cx.is_draining();
        let (parts, body) = response.into_parts();
        if parts.status.is_informational() {
            log::error!(target: TARGET, "handler answered {}, which is not a final response; answering 500", parts.status);
            self.reject(error::INTERNAL, exchange.head_request);
            return;
        }
        let kind = body.into_kind();
        let shape = kind
            .bytes()
            .map_or(Shape::Unknown, |b| Shape::Known(b.len()));
        let plan = response::plan(&exchange, parts.status, &parts.headers, shape);
        let out = self.out();
        write_head(
            out,
            parts.status,
            &parts.headers,
            plan.framing,
            plan.keep_alive,
            exchange.version,
            now,
        );
        if plan.send_body {
            match kind {
                Kind::Reader(reader) => {
                    self.state = State::Stream {
                        reader,
                        chunked: plan.framing == BodyFraming::Chunked,
                        keep_alive: plan.keep_alive,
                    };
                    return;
                }
                bytes => out.extend_from_slice(bytes.bytes().expect("in-memory body")),
            }
        }
        self.state = if plan.keep_alive {
            State::Head { since: now }
        } else {
            State::Closing
        };
    }

    /// Moves one chunk from a streamed body to the output.
    fn pull_stream(&mut self, now: Instant) {
        let State::Stream {
            reader,
            chunked,
            keep_alive,
        } = &mut self.state
        else {
            return;
        };
        let (chunked, keep_alive) = (*chunked, *keep_alive);
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match reader.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The head is out: the only honest signal left is an abrupt close.
                    log::warn!(target: TARGET, "response body reader failed: {e}; closing");
                    self.output.truncate(self.written);
                    self.state = State::Lingering { until: now };
                    return;
                }
            }
        };
        let out = self.out();
        if chunked {
            write_chunk(out, &chunk[..n]);
        } else {
            out.extend_from_slice(&chunk[..n]);
        }
        if n == 0 {
            self.state = if keep_alive {
                State::Head { since: now }
            } else {
                State::Closing
            };
        }
    }

    /// Queues an error response (without content if it answers `HEAD`) and closes after it.
    fn reject(&mut self, reject: Reject, to_head: bool) -> Stop {
        log::debug!(target: TARGET, "{}: {} {}", self.info.remote.socket_addr(), reject.status.as_u16(), reject.reason);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        let body = reject.reason.as_bytes();
        let out = self.out();
        write_head(
            out,
            reject.status,
            &headers,
            BodyFraming::Length(body.len() + 1),
            false,
            Version::HTTP_11,
            Instant::now(),
        );
        if !to_head {
            out.extend_from_slice(body);
            out.push(b'\n');
        }
        // Never resynchronise after a framing error: drop whatever else was sent (and more
        // of it may still be on the way).
        let n = self.input.len();
        self.input.consume(n);
        self.unread_request_bytes = true;
        self.body_rate.stop();
        self.state = State::Closing;
        Stop::Final
    }

    /// The timers, in order of precedence: while a response is being written only the write
    /// timeout and the minimum response rate apply (the wait for the next request has not
    /// begun); otherwise the state's own timer.
    fn on_timer(&mut self, now: Instant) -> Step {
        let t = &self.shared.timeouts;
        let peer = self.info.remote.socket_addr();
        if self.pending_output() > 0 {
            if now >= self.progress + t.write {
                log::debug!(target: TARGET, "{peer}: write timeout");
                return Step::Close;
            }
            if self
                .write_rate
                .deadline(t.min_response_rate.as_ref())
                .is_some_and(|d| now >= d)
            {
                log::debug!(target: TARGET, "{peer}: response read below the minimum rate");
                return Step::Close;
            }
            return Step::Keep;
        }
        match &self.state {
            State::Head { since } => {
                let since = *since;
                if self.input.is_empty() && now >= since + t.idle {
                    return Step::Close;
                }
                if now >= since + t.header {
                    if self.input.is_empty() {
                        return Step::Close;
                    }
                    let to_head = self.head_in_input();
                    self.reject(error::TIMEOUT, to_head);
                }
            }
            State::Body { head, .. } => {
                let stalled = now >= self.progress + t.body;
                let slow = self
                    .body_rate
                    .deadline(t.min_request_body_rate.as_ref())
                    .is_some_and(|d| now >= d);
                if stalled || slow {
                    let to_head = head.method == Method::HEAD;
                    log::debug!(target: TARGET, "{peer}: request body {}", if stalled { "stalled" } else { "below the minimum rate" });
                    self.reject(error::TIMEOUT, to_head);
                }
            }
            State::Lingering { until } if now >= *until => return Step::Close,
            _ => {}
        }
        Step::Keep
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
            let mark = match self.state {
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
        if matches!(self.state, State::Closing) && self.pending_output() == 0 {
            if self.read_closed || (!self.unread_request_bytes && self.input.is_empty()) {
                // Nothing of theirs is left unread: a plain close sends FIN after the response.
                self.transport.close_notify();
                return Step::Close;
            }
            // Bytes we will never read would turn the close into a reset that can destroy the
            // response in flight: shut our side and drain theirs for a moment first.
            self.transport.shutdown_write();
            self.state = State::Lingering {
                until: now + LINGER,
            };
            let n = self.input.len();
            self.input.consume(n);
            if self.read(now, false).is_err() {
                return Step::Close;
            }
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
        let dead = match event {
            ConnEvent::Ready {
                readable: true,
                read_closed,
                ..
            } => match self.read(now, read_closed) {
                Ok(()) => false,
                Err(e) => {
                    // A reset, or with TLS a failed handshake or a bad record.
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
        let t = &self.shared.timeouts;
        if self.pending_output() > 0 {
            let stalled = self.progress + t.write;
            let slow = self.write_rate.deadline(t.min_response_rate.as_ref());
            return Some(slow.map_or(stalled, |d| d.min(stalled)));
        }
        Some(match self.state {
            State::Head { since } if self.input.is_empty() => since + t.idle.min(t.header),
            State::Head { since } => since + t.header,
            State::Body { .. } => {
                let stalled = self.progress + t.body;
                let slow = self.body_rate.deadline(t.min_request_body_rate.as_ref());
                slow.map_or(stalled, |d| d.min(stalled))
            }
            State::Lingering { until } => until,
            State::Stream { .. } | State::Closing => self.progress + t.write,
        })
    }
}
