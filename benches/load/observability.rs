//! What the figures cost: hello world on keep-alive from five servers alike but for what they
//! record, in alternating rounds: metrics off (`Http::metrics(false)`), the library's counters
//! (the default), the counters and the access log, then — once a `metrics-exporter-prometheus`
//! recorder is installed — the counters with the facade recording too, and all three. Each
//! runs a fixed pool of one worker per core, so every worker exists before the recorder is
//! installed (the first three never record to it).
//!
//! The access log goes to a logger that formats every line and drops it (what a log costs
//! beyond formatting is the writer's, and the application's choice).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use socketnaut::bench::routes;
use socketnaut_core::ServiceProxy;
use socketnaut_http::access::{self, ACCESS_TARGET};
use socketnaut_http::Http;

use crate::client::{run_load, LoadStats, SERVER_THREADS};
use crate::scenarios::merge;
use crate::Row;

/// Formats each access-log line, counts it, and drops it.
struct Sink;

static LINES: AtomicU64 = AtomicU64::new(0);

impl log::Log for Sink {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == ACCESS_TARGET && m.level() <= log::Level::Info
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = r.args().to_string();
            // Relaxed: a tally.
            LINES.fetch_add(line.len().min(1) as u64, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

fn server(metrics: bool, log: bool, cores: usize) -> ServiceProxy {
    let http = Http::new(routes)
        .metrics(metrics)
        .access_log(log.then_some(access::combined as access::AccessFormat));
    let proxy = http
        .proxy()
        .worker_count(cores)
        .bind("127.0.0.1:0")
        .build()
        .expect("server");
    proxy.ready().expect("ready");
    proxy
}

pub(crate) fn hello_keepalive_metrics(duration: Duration, cores: usize) -> Vec<Row> {
    const ROUNDS: usize = 7;
    const ROUND_WARMUP: Duration = Duration::from_millis(250);
    if log::set_logger(&Sink).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let names = [
        "metrics off",
        "metrics on",
        "metrics + access log",
        "metrics + facade",
        "metrics + facade + access log",
    ];
    let mut servers = vec![
        server(false, false, cores),
        server(true, false, cores),
        server(true, true, cores),
    ];
    let recorder = PrometheusBuilder::new().install_recorder();
    if recorder.is_err() {
        eprintln!("hello_keepalive_metrics: a recorder was already installed");
    }
    servers.push(server(true, false, cores));
    servers.push(server(true, true, cores));
    let slice = (duration / ROUNDS as u32).max(Duration::from_millis(500));
    let mut runs: Vec<Vec<LoadStats>> = vec![Vec::new(); servers.len()];
    for round in 0..ROUNDS {
        // Rotated, so no server always runs first or last in a round.
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let addr = servers[i].local_addr();
            let mut s = run_load(
                addr,
                &[("/", 64)],
                false,
                (ROUND_WARMUP, slice),
                Some(SERVER_THREADS),
            );
            runs[i].push(s.remove(0));
        }
    }
    let lines = LINES.load(Ordering::Relaxed);
    let rendered = recorder.map_or(0, |h| h.render().len());
    let rows = rows(&names, &runs);
    println!("hello_keepalive_metrics: {lines} access-log lines formatted; facade exposition {rendered} B");
    for s in servers {
        s.shutdown(Duration::from_secs(5));
    }
    rows
}

/// One row per server; each against the "off" server in the same round.
fn rows(names: &[&str], runs: &[Vec<LoadStats>]) -> Vec<Row> {
    let rounds = runs[0].len();
    let mut rows = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let stats = merge(&runs[i]);
        let result = if i == 0 {
            "reference".to_owned()
        } else {
            // Per round against the round's "off" run: the median and the worst.
            let per_round = |f: fn(&LoadStats) -> f64| {
                let mut v: Vec<f64> = (0..rounds)
                    .map(|r| f(&runs[i][r]) / f(&runs[0][r]).max(1.0))
                    .collect();
                v.sort_by(f64::total_cmp);
                v
            };
            let (cpu, rps) = (per_round(|s| s.cpu_ns_per_req), per_round(|s| s.rps));
            format!(
                "CPU/req {:.3}× off (worst round {:.3}×); req/s {:.2}× off (worst {:.2}×)",
                cpu[rounds / 2],
                cpu[rounds - 1],
                rps[rounds / 2],
                rps[0],
            )
        };
        rows.push(Row {
            name: format!("hello_keepalive_metrics ({name})"),
            stats: Some(stats),
            result,
            target: if i == 1 { "CPU/req < 1.03× off" } else { "" },
        });
    }
    rows
}
