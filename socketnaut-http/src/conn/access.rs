//! The connection's side of the access log (see `crate::access`) and of the HTTP figures
//! (`crate::metrics`): when the request being answered began (and, for the log, what it was),
//! and the responses waiting for their last byte to reach the socket. Counting a response and
//! timing it cost a few relaxed adds on this worker's own counters and one clock reading per
//! flush; what only the log needs is taken only while it is on.

use std::collections::VecDeque;
use std::time::Instant;

use http::header::{REFERER, USER_AGENT};
use http::{HeaderValue, Method, StatusCode, Uri, Version};

use super::HttpConn;
use crate::access::{AccessRecord, ACCESS_TARGET};
use crate::metrics::Timed;
use crate::parse::Head;

/// A field value as text, if it is (visible ASCII).
fn text(v: Option<&HeaderValue>) -> Option<&str> {
    v.and_then(|v| v.to_str().ok())
}

/// What the log needs of a request, taken when its head is parsed (only while logging).
#[derive(Debug)]
pub(super) struct Request {
    method: Method,
    target: Uri,
    version: Version,
    user_agent: Option<HeaderValue>,
    referer: Option<HeaderValue>,
}

/// A response queued, waiting for its last byte (at `end` in the output buffer) to be written.
#[derive(Debug)]
pub(super) struct Pending {
    end: usize,
    request: Option<Box<Request>>,
    status: StatusCode,
    bytes: u64,
    started: Instant,
}

/// The log's state on one connection.
#[derive(Debug, Default)]
pub(super) struct Access {
    /// The request being answered (between its head and its response): when its head came,
    /// and what the log needs of it.
    started: Option<Instant>,
    current: Option<Box<Request>>,
    /// The request head's length (for the request-size histogram).
    pub(super) head_len: usize,
    /// Content bytes of a streamed response so far, and its status.
    streamed: u64,
    pub(super) stream_status: Option<StatusCode>,
    /// The oldest response waiting for its last byte, kept inline: the usual connection has
    /// at most one, and an idle connection then holds no allocation for this.
    first: Option<Pending>,
    /// Younger ones (pipelining); freed once empty.
    more: VecDeque<Pending>,
}

impl Access {
    fn push(&mut self, p: Pending) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(p);
        } else {
            self.more.push_back(p);
        }
    }

    /// The oldest waiting response, if it ended by `written`.
    fn pop_if_done(&mut self, written: usize) -> Option<Pending> {
        if self.first.is_none() {
            self.first = self.more.pop_front();
            if self.more.is_empty() && self.more.capacity() > 0 {
                self.more = VecDeque::new();
            }
        }
        match &self.first {
            Some(p) if p.end <= written => self.first.take(),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_empty()
    }
}

impl HttpConn {
    fn logging(&self) -> bool {
        self.config.access_log.is_some()
            && log::log_enabled!(target: ACCESS_TARGET, log::Level::Info)
    }

    /// A request head was parsed.
    pub(super) fn access_begin(&mut self, head: &Head, len: usize, now: Instant) {
        self.access.started = Some(now);
        self.access.head_len = len;
        if !self.logging() {
            return;
        }
        self.access.current = Some(Box::new(Request {
            method: head.method.clone(),
            target: head.uri.clone(),
            version: head.version,
            user_agent: head.headers.get(USER_AGENT).cloned(),
            referer: head.headers.get(REFERER).cloned(),
        }));
    }

    /// Content of a streamed response went out.
    pub(super) fn access_streamed(&mut self, n: usize) {
        self.access.streamed += n as u64;
    }

    /// A response is wholly in the output buffer (for a stream: its last chunk), with `bytes`
    /// of content (a stream's are counted as they go); `rejected` if the server answered it
    /// itself. `since` stands for the request's start when no head was parsed.
    pub(super) fn access_queued(
        &mut self,
        status: StatusCode,
        bytes: Option<u64>,
        since: Instant,
        rejected: bool,
    ) {
        let bytes = bytes.unwrap_or(std::mem::take(&mut self.access.streamed));
        self.access.stream_status = None;
        self.handle.count(|c| c.response(status, rejected, bytes));
        let pending = Pending {
            end: self.output.len(),
            started: self.access.started.take().unwrap_or(since),
            request: self.access.current.take(),
            status,
            bytes,
        };
        self.access.push(pending);
    }

    /// Output up to `written` is on the socket: logs the responses that ended there.
    pub(super) fn access_flushed(&mut self, written: usize) {
        if self.access.is_empty() {
            return;
        }
        // Read here, not the callback's clock: the response may have taken this long.
        let now = Instant::now();
        let logging = self.logging();
        while let Some(p) = self.access.pop_if_done(written) {
            let took = now.saturating_duration_since(p.started);
            self.handle.count(|c| c.time(Timed::Duration, took));
            if !logging {
                continue;
            }
            let r = p.request.as_deref();
            let record = AccessRecord {
                client: self.info.remote.socket_addr(),
                method: r.map(|r| &r.method),
                target: r.map(|r| &r.target),
                version: r.map(|r| r.version),
                status: p.status,
                bytes: p.bytes,
                duration: took,
                worker: self.worker,
                user_agent: text(r.and_then(|r| r.user_agent.as_ref())),
                referer: text(r.and_then(|r| r.referer.as_ref())),
            };
            if let Some(format) = self.config.access_log {
                log::info!(target: ACCESS_TARGET, "{}", format(&record));
            }
        }
    }
}
