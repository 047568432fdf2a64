//! Test helpers shared by both library crates' tests (not published): [`peer`] starts and
//! stops real peers (HAProxy, nginx) on loopback, and [`wait_for`] polls a condition with a
//! deadline, so no test sleeps to synchronise.

pub mod peer;

use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
