//! [`Stats`] in the Prometheus text exposition format (version 0.0.4), rendered by the library
//! itself so that a `/metrics` endpoint needs no extra dependency: every counter of `stats()`,
//! the open and pending connections, the threads, the workers by state (and how many are in a
//! callback or demoted) and each worker's connections.

use std::fmt::Write;

use crate::stats::{Stats, WorkerState};

/// A proxy-wide figure: name, help, kind, and how to read it from a snapshot.
pub(crate) type Figure = (&'static str, &'static str, &'static str, fn(&Stats) -> u64);

/// The proxy-wide figures, in the order they are rendered.
pub(crate) const FIGURES: [Figure; 18] = [
    (
        "socketnaut_connections_accepted_total",
        "Connections accepted.",
        "counter",
        |s| s.accepted,
    ),
    (
        "socketnaut_connections_active",
        "Connections open now (held by workers, queued to them, or waiting in the acceptor).",
        "gauge",
        |s| s.active as u64,
    ),
    (
        "socketnaut_connections_pending",
        "Connections waiting in the acceptor for a worker with room.",
        "gauge",
        |s| s.pending as u64,
    ),
    (
        "socketnaut_connections_rejected_total",
        "Accepted connections closed without being served (at shutdown).",
        "counter",
        |s| s.rejected,
    ),
    (
        "socketnaut_connections_migrated_total",
        "Connections moved off a worker whose callback was slow.",
        "counter",
        |s| s.migrated,
    ),
    (
        "socketnaut_connections_consolidated_total",
        "Connections packed back onto fewer workers.",
        "counter",
        |s| s.consolidated,
    ),
    (
        "socketnaut_connections_lost_to_worker_death_total",
        "Connections closed because their worker thread died.",
        "counter",
        |s| s.lost_to_worker_death,
    ),
    (
        "socketnaut_proxy_header_errors_total",
        "Connections closed for a missing, malformed or late PROXY protocol header.",
        "counter",
        |s| s.proxy_header_errors,
    ),
    (
        "socketnaut_accept_errors_total",
        "accept() errors other than WouldBlock (EMFILE and the like).",
        "counter",
        |s| s.accept_errors,
    ),
    (
        "socketnaut_panics_total",
        "Panics caught on a worker that cost one connection.",
        "counter",
        |s| s.panics,
    ),
    (
        "socketnaut_workers_spawned_total",
        "Worker threads started.",
        "counter",
        |s| s.spawned,
    ),
    (
        "socketnaut_workers_retired_total",
        "Workers that exited after being retired or released.",
        "counter",
        |s| s.retired,
    ),
    (
        "socketnaut_workers_replaced_total",
        "Workers replaced after dying or failing to start.",
        "counter",
        |s| s.replaced,
    ),
    (
        "socketnaut_worker_spawn_failures_total",
        "Worker starts that failed.",
        "counter",
        |s| s.spawn_failures,
    ),
    ("socketnaut_workers_total", "Live workers.", "gauge", |s| {
        s.workers.len() as u64
    }),
    (
        "socketnaut_threads",
        "Threads the proxy runs: its live workers and the acceptor.",
        "gauge",
        |s| s.workers.len() as u64 + 1,
    ),
    (
        "socketnaut_workers_in_callback",
        "Workers inside a callback (a handler running) now.",
        "gauge",
        |s| s.workers.iter().filter(|w| w.in_callback).count() as u64,
    ),
    (
        "socketnaut_workers_demoted",
        "Workers whose thread was demoted after a callback computed past the threshold.",
        "gauge",
        |s| s.workers.iter().filter(|w| w.demoted).count() as u64,
    ),
];

/// The worker states, with their label.
pub(crate) const STATES: [(WorkerState, &str); 4] = [
    (WorkerState::Starting, "starting"),
    (WorkerState::Running, "running"),
    (WorkerState::Retiring, "retiring"),
    (WorkerState::Draining, "draining"),
];

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Stats {
    /// The snapshot in the Prometheus text format, every sample labelled
    /// `service="{service}"` (so several proxies of one process can share an endpoint).
    /// Serve it with `Content-Type: text/plain; version=0.0.4`.
    pub fn to_prometheus(&self, service: &str) -> String {
        let mut out = String::with_capacity(2048);
        self.write_prometheus(service, &mut out);
        out
    }

    /// [`to_prometheus`](Self::to_prometheus), appended to `out`. One service per exposition:
    /// the format allows a single `# TYPE` line per metric family.
    pub fn write_prometheus(&self, service: &str, out: &mut String) {
        let service = escape(service);
        for (name, help, kind, value) in FIGURES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{service=\"{service}\"}} {}", value(self));
        }
        let name = "socketnaut_workers";
        let _ = writeln!(out, "# HELP {name} Workers by state.\n# TYPE {name} gauge");
        for (state, label) in STATES {
            let n = self.workers.iter().filter(|w| w.state == state).count();
            let _ = writeln!(out, "{name}{{service=\"{service}\",state=\"{label}\"}} {n}");
        }
        let name = "socketnaut_worker_connections";
        let _ = writeln!(
            out,
            "# HELP {name} Connections each worker holds or has queued.\n# TYPE {name} gauge"
        );
        for w in &self.workers {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",worker=\"{}\"}} {}",
                w.id, w.connections
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::WorkerStats;

    #[test]
    fn renders_every_figure_with_escaped_labels() {
        let stats = Stats {
            workers: vec![WorkerStats {
                id: 3,
                name: "w-3".into(),
                connections: 7,
                state: WorkerState::Running,
                in_callback: true,
                demoted: false,
            }],
            accepted: 12,
            active: 7,
            pending: 2,
            ..Stats::default()
        };
        let text = stats.to_prometheus("a\"b");
        assert!(
            text.contains("socketnaut_connections_accepted_total{service=\"a\\\"b\"} 12\n"),
            "{text}"
        );
        assert!(text.contains("socketnaut_connections_active{service=\"a\\\"b\"} 7\n"));
        assert!(text.contains("socketnaut_workers{service=\"a\\\"b\",state=\"running\"} 1\n"));
        assert!(text.contains("socketnaut_workers{service=\"a\\\"b\",state=\"draining\"} 0\n"));
        assert!(text.contains("socketnaut_worker_connections{service=\"a\\\"b\",worker=\"3\"} 7\n"));
        assert!(text.contains("socketnaut_connections_pending{service=\"a\\\"b\"} 2\n"));
        assert!(text.contains("socketnaut_threads{service=\"a\\\"b\"} 2\n"));
        assert!(text.contains("socketnaut_workers_in_callback{service=\"a\\\"b\"} 1\n"));
        assert_eq!(text.matches("# TYPE").count(), 20);
    }
}
