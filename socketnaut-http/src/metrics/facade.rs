//! With the `metrics` cargo feature: each worker's figures also go to the
//! [`metrics`](https://docs.rs/metrics) facade, under the names of the Prometheus rendering
//! (durations in seconds, sizes in bytes) and the label `service`.
//!
//! Handles are registered once per worker, when it starts (so a recorder must be installed
//! before the proxy is built, as the facade's docs ask); a request then costs one call per
//! figure on a handle the recorder made (for `metrics-exporter-prometheus`, atomic adds and
//! a lock-free push per histogram value). Without a recorder the handles do nothing.

use metrics::{Counter, Histogram};

use super::{HISTOGRAMS, REJECTIONS};

/// One worker's handles.
#[derive(Debug)]
pub(super) struct Facade {
    responses: [Counter; 5],
    rejections: [Counter; REJECTIONS.len()],
    pub(super) tls_handshake_failures: Counter,
    bytes: Counter,
    pub(super) histograms: [Histogram; HISTOGRAMS.len()],
}

impl Facade {
    pub(super) fn new(service: &str) -> Facade {
        let s = || service.to_owned();
        Facade {
            responses: std::array::from_fn(|i| {
                let class = format!("{}xx", i + 1);
                metrics::counter!("socketnaut_http_responses_total", "service" => s(), "class" => class)
            }),
            rejections: REJECTIONS.map(|(status, reason)| {
                metrics::counter!(
                    "socketnaut_http_rejections_total",
                    "service" => s(), "status" => status.to_string(), "reason" => reason
                )
            }),
            tls_handshake_failures: metrics::counter!(
                "socketnaut_http_tls_handshake_failures_total", "service" => s()
            ),
            bytes: metrics::counter!("socketnaut_http_response_bytes_total", "service" => s()),
            histograms: HISTOGRAMS.map(|(name, ..)| metrics::histogram!(name, "service" => s())),
        }
    }

    pub(super) fn response(&self, class: usize, rejection: Option<usize>, bytes: u64) {
        self.responses[class].increment(1);
        self.bytes.increment(bytes);
        if let Some(i) = rejection {
            self.rejections[i].increment(1);
        }
    }
}
