//! With the `metrics` cargo feature: the proxy's figures through the
//! [`metrics`](https://docs.rs/metrics) facade, for applications that already export with a
//! recorder of their choice (`metrics-exporter-prometheus`, StatsD, …).
//!
//! The acceptor publishes a snapshot of [`Stats`] at most every [`PERIOD`], whenever its loop
//! runs and at least once per period (its poll timeout includes the next publication): every
//! counter as an absolute value (`Counter::absolute`, so the facade's count is the proxy's,
//! never a second tally that could drift), every gauge with `set`, labelled
//! `service="{service_name}"`. The names are those of the Prometheus text rendering
//! (`crate::prometheus`). Workers' hot paths record nothing here, so the feature costs them
//! nothing; a publication costs the acceptor a snapshot and about twenty handle lookups.
//! Per-worker series are left out (workers come and go, and their series would outlive them);
//! the facade gets the largest and smallest worker load instead.

use std::time::{Duration, Instant};

use crate::prometheus::{FIGURES, STATES};
use crate::shared::Shared;

/// The longest a published figure is behind.
pub(crate) const PERIOD: Duration = Duration::from_millis(500);

/// When the acceptor next publishes.
#[derive(Debug)]
pub(crate) struct Publisher {
    next: Instant,
}

impl Publisher {
    pub(crate) fn new(now: Instant) -> Publisher {
        Publisher { next: now }
    }

    /// When the next publication is due (for the acceptor's poll timeout).
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// Publishes if due.
    pub(crate) fn tick(&mut self, now: Instant, shared: &Shared) {
        if now < self.next {
            return;
        }
        self.next = now + PERIOD;
        let stats = shared.stats();
        let service = shared.service_name.to_string();
        for (name, _, kind, value) in FIGURES {
            let v = value(&stats);
            if kind == "counter" {
                metrics::counter!(name, "service" => service.clone()).absolute(v);
            } else {
                metrics::gauge!(name, "service" => service.clone()).set(v as f64);
            }
        }
        for (state, label) in STATES {
            let n = stats.workers.iter().filter(|w| w.state == state).count();
            metrics::gauge!("socketnaut_workers", "service" => service.clone(), "state" => label)
                .set(n as f64);
        }
        let loads = stats.workers.iter().map(|w| w.connections);
        let (min, max) = (loads.clone().min(), loads.max());
        metrics::gauge!("socketnaut_worker_connections_max", "service" => service.clone())
            .set(max.unwrap_or(0) as f64);
        metrics::gauge!("socketnaut_worker_connections_min", "service" => service)
            .set(min.unwrap_or(0) as f64);
    }
}
