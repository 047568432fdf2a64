//! The evented loop's timers: one min-heap of (deadline, token) for all its connections and
//! pending PROXY headers. A connection's entry is live while it matches the deadline recorded
//! in its slab entry; others are stale and skipped, and the heap is rebuilt when stale entries
//! outnumber the live ones, so churn cannot grow it without bound.

use std::cmp::Reverse;

use super::evented::{guarded, EventedLoop};
use crate::pool::slab::TAG;
use crate::server::ConnEvent;

impl EventedLoop<'_> {
    pub(super) fn schedule(&mut self, token: usize) {
        let Some(entry) = self.conns.get_mut(token) else {
            return;
        };
        match guarded(self.agent, "deadline", || entry.conn().deadline()) {
            Some(Some(deadline)) => {
                if entry.scheduled.is_none_or(|s| deadline < s) {
                    entry.scheduled = Some(deadline);
                    self.timers.push(Reverse((deadline, token)));
                }
            }
            Some(None) => {}
            None => self.close(token),
        }
    }

    pub(super) fn fire_timers(&mut self) {
        let now = self.now;
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if token & TAG != 0 {
                // A header deadline: one per pending connection, never moved.
                self.advance_header(token & !TAG);
                continue;
            }
            let Some(entry) = self.conns.get_mut(token) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue; // stale: superseded by an earlier deadline
            }
            entry.scheduled = None;
            match guarded(self.agent, "deadline", || entry.conn().deadline()) {
                Some(Some(d)) if d <= now => self.dispatch(token, ConnEvent::Timer),
                Some(Some(_)) => self.schedule(token),
                Some(None) => {}
                None => self.close(token),
            }
        }
    }

    /// A heap entry was left behind by a closed connection (or a finished header). When they
    /// outnumber the live ones the heap is rebuilt from what is live.
    pub(super) fn note_stale_timer(&mut self) {
        self.stale_timers += 1;
        let live = self.conns.len() + self.headers.len();
        if self.stale_timers > 1024 && self.stale_timers > 2 * live {
            let conns = self
                .conns
                .iter()
                .filter_map(|(token, e)| e.scheduled.map(|at| Reverse((at, token))));
            let headers = self
                .headers
                .iter()
                .map(|(token, h)| Reverse((h.deadline, token | TAG)));
            self.timers = conns.chain(headers).collect();
            self.stale_timers = 0;
        }
    }
}
