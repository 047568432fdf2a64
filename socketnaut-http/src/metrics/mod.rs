//! HTTP figures: responses by status class, the server's own rejections by status, failed TLS
//! handshakes, content bytes sent, and histograms of request duration (from the request head's
//! arrival to the response's last byte handed to the socket), handler time, time from accept
//! to a connection's first request byte, and request and response sizes.
//!
//! Each worker's connections write counters of their own ([`WorkerCounters`], `Relaxed` adds on
//! cache lines no other core writes), kept in the service's [`Registry`] for as long as the
//! service lives (a retired worker's counts stay, so every counter only grows); a read merges
//! them into an [`HttpStats`] snapshot, which renders in the Prometheus text format (`render`).
//! With the `metrics` cargo feature each worker also records the same figures through the
//! `metrics` facade (`facade`).
//! [`Http::metrics(false)`](crate::Http::metrics) turns all of it off.

mod histogram;
mod render;

#[cfg(feature = "metrics")]
mod facade;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use socketnaut_core::Observer;

pub use histogram::Histogram;
use histogram::{Bounds, Recorder, BYTES, NANOS};

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

/// The histograms, in [`HttpStats`] order: name, help, bounds, unit divisor for Prometheus
/// (nanoseconds to seconds; bytes stay bytes).
const HISTOGRAMS: [(&str, &str, &Bounds, f64); 5] = [
    (
        "socketnaut_http_request_duration_seconds",
        "From the request head to the response's last byte on the socket.",
        &NANOS,
        1e9,
    ),
    (
        "socketnaut_http_handler_seconds",
        "Time in the handler.",
        &NANOS,
        1e9,
    ),
    (
        "socketnaut_http_first_byte_seconds",
        "From a connection's accept to its first request byte.",
        &NANOS,
        1e9,
    ),
    (
        "socketnaut_http_request_size_bytes",
        "Request head and content bytes (a streamed body: what the handler read).",
        &BYTES,
        1.0,
    ),
    (
        "socketnaut_http_response_size_bytes",
        "Response content bytes.",
        &BYTES,
        1.0,
    ),
];

/// Which histogram (an index into [`HISTOGRAMS`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timed {
    Duration = 0,
    Handler = 1,
    FirstByte = 2,
    RequestSize = 3,
    ResponseSize = 4,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One worker's counters.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    responses: [AtomicU64; 5],
    rejections: [AtomicU64; REJECTIONS.len()],
    tls_handshake_failures: AtomicU64,
    bytes: AtomicU64,
    histograms: [Recorder; HISTOGRAMS.len()],
    #[cfg(feature = "metrics")]
    facade: Option<facade::Facade>,
}

// Relaxed everywhere: independent tallies, read for monitoring.
impl WorkerCounters {
    /// A response queued: its status, whether the server itself rejected the request, and its
    /// content bytes.
    pub(crate) fn response(&self, status: StatusCode, rejected: bool, bytes: u64) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let rejection = rejected.then(|| {
            REJECTIONS
                .iter()
                .position(|&(s, _)| s == status.as_u16())
                .unwrap_or(0)
        });
        if let Some(i) = rejection {
            self.rejections[i].fetch_add(1, Ordering::Relaxed);
        }
        self.record(Timed::ResponseSize, bytes);
        #[cfg(feature = "metrics")]
        if let Some(f) = &self.facade {
            f.response(class, rejection, bytes);
        }
    }

    /// A TLS handshake failed (the connection closes).
    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(f) = &self.facade {
            f.tls_handshake_failures.increment(1);
        }
    }

    /// A duration for one of the timed histograms.
    pub(crate) fn time(&self, which: Timed, took: Duration) {
        self.record(which, nanos(took));
    }

    /// A value for one histogram, in its unit.
    pub(crate) fn record(&self, which: Timed, value: u64) {
        let (_, _, bounds, divisor) = HISTOGRAMS[which as usize];
        self.histograms[which as usize].record(bounds, value);
        #[cfg(feature = "metrics")]
        if let Some(f) = &self.facade {
            f.histograms[which as usize].record(value as f64 / divisor);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = divisor;
    }
}

/// Every worker's counters of one service.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Whether anything is recorded ([`Http::metrics`](crate::Http::metrics)).
    pub(crate) on: bool,
    workers: Mutex<Vec<Arc<WorkerCounters>>>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new(true)
    }
}

impl Registry {
    pub(crate) fn new(on: bool) -> Registry {
        Registry {
            on,
            workers: Mutex::default(),
        }
    }

    /// Counters for a new worker of the proxy named `service` (the facade's label), or none
    /// while metrics are off.
    pub(crate) fn worker(&self, service: &str) -> Option<Arc<WorkerCounters>> {
        if !self.on {
            return None;
        }
        #[cfg(not(feature = "metrics"))]
        let _ = service;
        let counters = Arc::new(WorkerCounters {
            #[cfg(feature = "metrics")]
            facade: Some(facade::Facade::new(service)),
            ..WorkerCounters::default()
        });
        self.lock().push(counters.clone());
        Some(counters)
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
            for (total, r) in s.histograms.iter_mut().zip(&w.histograms) {
                r.merge(total);
            }
            s.tls_handshake_failures += get(&w.tls_handshake_failures);
            s.bytes += get(&w.bytes);
        }
        s
    }
}

/// What a worker hands every request it serves (one `Arc` per worker, so the per-request clone
/// touches no counter another core writes): its proxy's [`Observer`], and its service's
/// figures (`counters` is `None` while metrics are off).
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    pub(crate) observer: Observer,
    pub(crate) counters: Option<Arc<WorkerCounters>>,
    pub(crate) registry: Arc<Registry>,
}

impl WorkerHandle {
    /// Records into this worker's counters, if metrics are on.
    pub(crate) fn count(&self, f: impl FnOnce(&WorkerCounters)) {
        if let Some(c) = &self.counters {
            f(c);
        }
    }
}

/// A snapshot of a service's HTTP figures, from
/// [`RequestExt::http_stats`](crate::RequestExt::http_stats).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpStats {
    /// Responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`, the server's own included.
    pub responses: [u64; 5],
    rejections: [u64; REJECTIONS.len()],
    /// TLS handshakes that failed (a client speaking plain HTTP to an HTTPS port, no common
    /// protocol version or cipher, a client refusing the certificate); each closed its
    /// connection without an HTTP response.
    pub tls_handshake_failures: u64,
    /// Content bytes sent.
    pub bytes: u64,
    histograms: [Histogram; HISTOGRAMS.len()],
}

impl Default for HttpStats {
    fn default() -> HttpStats {
        HttpStats {
            responses: [0; 5],
            rejections: [0; REJECTIONS.len()],
            tls_handshake_failures: 0,
            bytes: 0,
            histograms: HISTOGRAMS.map(|(_, _, bounds, _)| Histogram::new(bounds)),
        }
    }
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

    /// Requests timed to their response's last byte (the count of
    /// [`duration`](Self::duration)).
    pub fn timed(&self) -> u64 {
        self.duration().count()
    }

    /// From each request's head to its response's last byte on the socket, in nanoseconds.
    pub fn duration(&self) -> &Histogram {
        &self.histograms[Timed::Duration as usize]
    }

    /// Time in the handler per request, in nanoseconds.
    pub fn handler(&self) -> &Histogram {
        &self.histograms[Timed::Handler as usize]
    }

    /// From each connection's accept to its first request byte, in nanoseconds (after the TLS
    /// handshake, on HTTPS).
    pub fn first_byte(&self) -> &Histogram {
        &self.histograms[Timed::FirstByte as usize]
    }

    /// Request sizes (head and content as received), in bytes.
    pub fn request_size(&self) -> &Histogram {
        &self.histograms[Timed::RequestSize as usize]
    }

    /// Response content sizes, in bytes.
    pub fn response_size(&self) -> &Histogram {
        &self.histograms[Timed::ResponseSize as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_render() {
        let registry = Registry::default();
        let (a, b) = (registry.worker("t").unwrap(), registry.worker("t").unwrap());
        a.response(StatusCode::OK, false, 12);
        b.response(StatusCode::NOT_FOUND, false, 9);
        b.response(StatusCode::PAYLOAD_TOO_LARGE, true, 23);
        a.time(Timed::Duration, Duration::from_micros(80));
        b.time(Timed::Duration, Duration::from_millis(3));
        b.tls_handshake_failed();
        let s = registry.snapshot();
        assert_eq!(s.responses, [0, 1, 0, 2, 0]);
        assert_eq!((s.rejected(413), s.rejected(400)), (1, 0));
        assert_eq!((s.bytes, s.timed()), (44, 2));
        assert_eq!(
            (s.response_size().count(), s.response_size().sum()),
            (3, 44)
        );
        assert_eq!(s.tls_handshake_failures, 1);
        let text = s.to_prometheus("t");
        assert!(
            text.contains("socketnaut_http_responses_total{service=\"t\",class=\"4xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("duration_seconds_bucket{service=\"t\",le=\"0.0001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("duration_seconds_bucket{service=\"t\",le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("duration_seconds_bucket{service=\"t\",le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("socketnaut_http_request_duration_seconds_count{service=\"t\"} 2\n"));
        assert!(
            text.contains(
                "socketnaut_http_response_size_bytes_bucket{service=\"t\",le=\"64\"} 3\n"
            ),
            "{text}"
        );
        assert!(text.contains("socketnaut_http_tls_handshake_failures_total{service=\"t\"} 1\n"));
    }

    #[test]
    fn off_records_nothing() {
        let registry = Registry::new(false);
        assert!(registry.worker("t").is_none());
        assert_eq!(registry.snapshot(), HttpStats::default());
    }
}
