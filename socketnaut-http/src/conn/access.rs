//! The connection's side of the access log (see `crate::access`): what it remembers of the
//! request being answered, and the records waiting for their response's last byte to reach the
//! socket. All of it is skipped when the log is off.

use std::collections::VecDeque;
use std::time::Instant;

use http::header::{REFERER, USER_AGENT};
use http::{HeaderValue, Method, StatusCode, Uri, Version};

use super::HttpConn;
use crate::access::{AccessRecord, ACCESS_TARGET};
use crate::parse::Head;

/// A field value as text, if it is (visible ASCII).
fn text(v: Option<&HeaderValue>) -> Option<&str> {
    v.and_then(|v| v.to_str().ok())
}

/// What the log needs of a request, taken when its head is parsed.
#[derive(Debug)]
pub(super) struct Request {
    method: Method,
    target: Uri,
    version: Version,
    user_agent: Option<HeaderValue>,
    referer: Option<HeaderValue>,
    started: Instant,
}

/// A response queued, waiting for its last byte (at `end` in the output buffer) to be written.
#[derive(Debug)]
pub(super) struct Pending {
    end: usize,
    request: Option<Request>,
    status: StatusCode,
    bytes: u64,
    started: Instant,
}

/// The log's state on one connection.
#[derive(Debug, Default)]
pub(super) struct Access {
    /// The request being answered (between its head and its response).
    current: Option<Request>,
    /// Content bytes of a streamed response so far, and its status.
    streamed: u64,
    pub(super) stream_status: Option<StatusCode>,
    pending: VecDeque<Pending>,
}

impl HttpConn {
    fn logging(&self) -> bool {
        self.config.access_log.is_some()
            && log::log_enabled!(target: ACCESS_TARGET, log::Level::Info)
    }

    /// A request head was parsed.
    pub(super) fn access_begin(&mut self, head: &Head, now: Instant) {
        if !self.logging() {
            return;
        }
        self.access.current = Some(Request {
            method: head.method.clone(),
            target: head.uri.clone(),
            version: head.version,
            user_agent: head.headers.get(USER_AGENT).cloned(),
            referer: head.headers.get(REFERER).cloned(),
            started: now,
        });
    }

    /// Content of a streamed response went out.
    pub(super) fn access_streamed(&mut self, n: usize) {
        self.access.streamed += n as u64;
    }

    /// A response is wholly in the output buffer (for a stream: its last chunk), with `bytes`
    /// of content (a stream's are counted as they go). `since` stands for the request's start
    /// when no head was parsed.
    pub(super) fn access_queued(&mut self, status: StatusCode, bytes: Option<u64>, since: Instant) {
        if !self.logging() {
            return;
        }
        let request = self.access.current.take();
        let bytes = bytes.unwrap_or(std::mem::take(&mut self.access.streamed));
        self.access.stream_status = None;
        self.access.pending.push_back(Pending {
            end: self.output.len(),
            started: request.as_ref().map_or(since, |r| r.started),
            request,
            status,
            bytes,
        });
    }

    /// Output up to `written` is on the socket: logs the responses that ended there.
    pub(super) fn access_flushed(&mut self, written: usize) {
        if self.access.pending.is_empty() {
            return;
        }
        // Read here, not the callback's clock: the response may have taken this long.
        let now = Instant::now();
        while self
            .access
            .pending
            .front()
            .is_some_and(|p| p.end <= written)
        {
            let p = self.access.pending.pop_front().expect("checked");
            let r = p.request.as_ref();
            let record = AccessRecord {
                client: self.info.remote.socket_addr(),
                method: r.map(|r| &r.method),
                target: r.map(|r| &r.target),
                version: r.map(|r| r.version),
                status: p.status,
                bytes: p.bytes,
                duration: now.saturating_duration_since(p.started),
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
