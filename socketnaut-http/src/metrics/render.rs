//! [`HttpStats`] in the Prometheus text format.

use std::fmt::Write;

use super::{HttpStats, HISTOGRAMS, REJECTIONS};

impl HttpStats {
    /// The snapshot in the Prometheus text format, labelled `service="{service}"`.
    pub fn to_prometheus(&self, service: &str) -> String {
        let service = service
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let mut out = String::with_capacity(8192);
        let family = |out: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let name = "socketnaut_http_responses_total";
        family(&mut out, name, "Responses by status class.", "counter");
        for (i, n) in self.responses.iter().enumerate() {
            let class = i + 1;
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",class=\"{class}xx\"}} {n}"
            );
        }
        let name = "socketnaut_http_rejections_total";
        let help = "Requests the server answered itself, by status.";
        family(&mut out, name, help, "counter");
        for ((status, reason), n) in REJECTIONS.iter().zip(&self.rejections) {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",status=\"{status}\",reason=\"{reason}\"}} {n}"
            );
        }
        for (name, help, n) in [
            (
                "socketnaut_http_tls_handshake_failures_total",
                "TLS handshakes that failed (the connection closed without a response).",
                self.tls_handshake_failures,
            ),
            (
                "socketnaut_http_response_bytes_total",
                "Content bytes sent.",
                self.bytes,
            ),
        ] {
            family(&mut out, name, help, "counter");
            let _ = writeln!(out, "{name}{{service=\"{service}\"}} {n}");
        }
        for ((name, help, _, divisor), h) in HISTOGRAMS.iter().zip(&self.histograms) {
            family(&mut out, name, help, "histogram");
            for (bound, n) in h.buckets() {
                let le = bound.map_or("+Inf".to_owned(), |b| (b as f64 / divisor).to_string());
                let _ = writeln!(
                    out,
                    "{name}_bucket{{service=\"{service}\",le=\"{le}\"}} {n}"
                );
            }
            let sum = h.sum() as f64 / divisor;
            let _ = writeln!(out, "{name}_sum{{service=\"{service}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{service=\"{service}\"}} {}", h.count());
        }
        out
    }
}
