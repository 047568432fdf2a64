//! The connection's timers: which deadline applies in which state, and what happens when it
//! passes (a 408, or a close).

use std::time::Instant;

use http::Method;
use socketnaut_core::Step;

use super::{HttpConn, State};
use crate::error;
use crate::TARGET;

impl HttpConn {
    /// The timers, in order of precedence: while a response is being written only the write
    /// timeout and the minimum response rate apply (the wait for the next request has not
    /// begun); otherwise the state's own timer.
    pub(super) fn on_timer(&mut self, now: Instant) -> Step {
        let t = &self.config.timeouts;
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
            // A file sent straight to the socket leaves no output pending while it waits.
            State::Stream { .. } if now >= self.progress + t.write => {
                log::debug!(target: TARGET, "{peer}: write timeout");
                return Step::Close;
            }
            _ => {}
        }
        Step::Keep
    }

    /// The next instant a timer is due (see `on_timer` for which applies when).
    pub(super) fn next_deadline(&self) -> Instant {
        let t = &self.config.timeouts;
        if self.pending_output() > 0 {
            let stalled = self.progress + t.write;
            let slow = self.write_rate.deadline(t.min_response_rate.as_ref());
            return slow.map_or(stalled, |d| d.min(stalled));
        }
        match self.state {
            State::Head { since } if self.input.is_empty() => since + t.idle.min(t.header),
            State::Head { since } => since + t.header,
            State::Body { .. } => {
                let stalled = self.progress + t.body;
                let slow = self.body_rate.deadline(t.min_request_body_rate.as_ref());
                slow.map_or(stalled, |d| d.min(stalled))
            }
            State::Lingering { until } => until,
            State::Stream { .. } | State::Closing => self.progress + t.write,
        }
    }
}
