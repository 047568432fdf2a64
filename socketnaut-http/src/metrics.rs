//! HTTP figures: responses by status class, the server's own rejections by status, content
//! bytes sent, and a histogram of request durations (from the request head's arrival to the
//! response's last byte handed to the socket).
//!
//! Each worker's connections write counters of their own ([`WorkerCounters`], `Relaxed` adds on
//! cache lines no other core writes), kept in the service's [`Registry`] for as long as the
//! service lives (a retired worker's counts stay, so every counter only grows); a read merges
//! them into an [`HttpStats`] snapshot, which renders in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use socketnaut_core::Observer;

/// The rejections counted, by status, with their label.
const REJECTIONS: [(u16, &str); 9] = [
    (400, "bad_request"),
    (408, "timeout"),
    (413, "body_too_large"),
    (414, "uri_too_long"),
    (417, "expectation_failed"),
    (431, "head_too_large"),
    (500, "handler_failed"),
    (501, "not_implemented"),
    (505, "version_not_supported"),
];

/// Upper bounds of the duration histogram's buckets, in seconds (then `+Inf`).
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// One worker's counters.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    responses: [AtomicU64; 5],
    rejections: [AtomicU64; REJECTIONS.len()],
    bytes: AtomicU64,
    /// Per bucket (not cumulative), then `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_nanos: AtomicU64,
}

// Relaxed everywhere: independent tallies, read for monitoring.
impl WorkerCounters {
    /// A response queued: its status, whether the server itself rejected the request, and its
    /// content bytes.
    pub(crate) fn response(&self, status: StatusCode, rejected: bool, bytes: u64) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if rejected {
            let i = REJECTIONS
                .iter()
                .position(|&(s, _)| s == status.as_u16())
                .unwrap_or(0);
            self.rejections[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A response's last byte reached the socket `took` after its request's head arrived.
    pub(crate) fn duration(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.duration_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Every worker's counters of one service.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    workers: Mutex<Vec<Arc<WorkerCounters>>>,
}

impl Registry {
    /// Counters for a new worker.
    pub(crate) fn worker(&self) -> Arc<WorkerCounters> {
        let counters = Arc::new(WorkerCounters::default());
        self.lock().push(counters.clone());
        counters
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<WorkerCounters>>> {
        // A panic while holding it cannot leave the list half-changed (push is one step).
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The merged snapshot.
    pub(crate) fn snapshot(&self) -> HttpStats {
        let mut s = HttpStats::default();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for w in self.lock().iter() {
            for (total, c) in s.responses.iter_mut().zip(&w.responses) {
                *total += get(c);
            }
            for (total, c) in s.rejections.iter_mut().zip(&w.rejections) {
                *total += get(c);
            }
            for (total, c) in s.buckets.iter_mut().zip(&w.buckets) {
                *total += get(c);
            }
            s.bytes += get(&w.bytes);
            s.duration_nanos += get(&w.duration_nanos);
        }
        s
    }
}

/// What a worker hands every request it serves (one `Arc` per worker, so the per-request clone
/// touches no counter another core writes): its proxy's [`Observer`], and its service's
/// figures.
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    pub(crate) observer: Observer,
    pub(crate) counters: Arc<WorkerCounters>,
    pub(crate) registry: Arc<Registry>,
}

/// A snapshot of a service's HTTP figures, from
/// [`RequestExt::http_stats`](crate::RequestExt::http_stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpStats {
    /// Responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`, the server's own included.
    pub responses: [u64; 5],
    rejections: [u64; REJECTIONS.len()],
    /// Content bytes sent.
    pub bytes: u64,
    buckets: [u64; BUCKETS.len() + 1],
    duration_nanos: u64,
}

impl HttpStats {
    /// Requests the server answered itself, without the handler, with this status (400,
    /// 408, 413, 414, 417, 431, 500 for a handler's panic, 501, 505).
    pub fn rejected(&self, status: u16) -> u64 {
        REJECTIONS
            .iter()
            .position(|&(s, _)| s == status)
            .map_or(0, |i| self.rejections[i])
    }

    /// Requests timed to their response's last byte.
    pub fn timed(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The snapshot in the Prometheus text format, labelled `service="{service}"`.
    pub fn to_prometheus(&self, service: &str) -> String {
        let service = service
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let mut out = String::with_capacity(2048);
        let name = "socketnaut_http_responses_total";
        let _ = writeln!(
            out,
            "# HELP {name} Responses by status class.\n# TYPE {name} counter"
        );
        for (i, n) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",class=\"{}xx\"}} {n}",
                i + 1
            );
        }
        let name = "socketnaut_http_rejections_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests the server answered itself, by status.\n# TYPE {name} counter"
        );
        for ((status, reason), n) in REJECTIONS.iter().zip(&self.rejections) {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",status=\"{status}\",reason=\"{reason}\"}} {n}"
            );
        }
        let name = "socketnaut_http_response_bytes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Content bytes sent.\n# TYPE {name} counter"
        );
        let _ = writeln!(out, "{name}{{service=\"{service}\"}} {}", self.bytes);
        let name = "socketnaut_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From the request head to the response's last byte on the socket.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{service=\"{service}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.duration_nanos as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{service=\"{service}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{service=\"{service}\"}} {cumulative}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_render() {
        let registry = Registry::default();
        let (a, b) = (registry.worker(), registry.worker());
        a.response(StatusCode::OK, false, 12);
        b.response(StatusCode::NOT_FOUND, false, 9);
        b.response(StatusCode::PAYLOAD_TOO_LARGE, true, 23);
        a.duration(Duration::from_micros(80));
        b.duration(Duration::from_millis(3));
        let s = registry.snapshot();
        assert_eq!(s.responses, [0, 1, 0, 2, 0]);
        assert_eq!((s.rejected(413), s.rejected(400)), (1, 0));
        assert_eq!((s.bytes, s.timed()), (44, 2));
        let text = s.to_prometheus("t");
        assert!(
            text.contains("socketnaut_http_responses_total{service=\"t\",class=\"4xx\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("le=\"0.0001\"} 1\n"), "{text}");
        assert!(text.contains("le=\"0.005\"} 2\n"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("socketnaut_http_request_duration_seconds_count{service=\"t\"} 2\n"));
    }
}
