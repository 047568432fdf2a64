//! Load scenarios on loopback: a socketnaut-http server started in-process with its default
//! configuration, driven by a bounded client event loop (fixed connections, fixed duration, no
//! pipelining), next to a ceiling server measured in the same run.
//!
//! ```text
//! cargo bench --bench load                    # every scenario
//! cargo bench --bench load -- blocking_10ms   # one (substring filter)
//! SOCKETNAUT_BENCH_SECS=10 cargo bench --bench load
//! SOCKETNAUT_BENCH_ACCEPT_BATCH_US=0 cargo bench --bench load -- hello_close   # no batching
//! SOCKETNAUT_BENCH_STREAM_MB=256 cargo bench --bench load -- upload_1g          # smaller transfers
//! ```
//!
//! Beyond the server against its ceiling: `isolation` (slow callbacks beside fast ones),
//! `memory` (RSS per connection), `field` (tiny_http in the same run), `observability` (what
//! the figures cost), `streaming` (uploads, downloads against nginx, server-sent events,
//! WebSockets against tungstenite on threads).

mod ceiling;
mod client;
mod field;
mod isolation;
mod memory;
mod observability;
mod scenarios;
mod streaming;

use std::thread;
use std::time::Duration;

use client::LoadStats;
use field::field_tiny_http;
use isolation::{blocking_burst, cpu_heavy_does_not_stall_fast, rare_block};
use memory::{idle_memory, partial_head_memory, serve_child};
use observability::hello_keepalive_metrics;
use scenarios::{
    blocking_10ms, cpu_1ms, hello_close, hello_keepalive, seed_hello_world,
    slow_does_not_stall_fast,
};
use streaming::{download_1g, sse_latency, upload_1g, websocket_echo};

type Scenario = (&'static str, fn(Duration, usize) -> Vec<Row>);

/// Every scenario, in the order they run.
fn scenarios() -> [Scenario; 17] {
    [
        ("hello_keepalive", hello_keepalive),
        ("hello_close", hello_close),
        ("blocking_10ms", blocking_10ms),
        ("cpu_1ms", cpu_1ms),
        ("seed_hello_world", seed_hello_world),
        ("slow_does_not_stall_fast", slow_does_not_stall_fast),
        ("blocking_burst", blocking_burst),
        (
            "cpu_heavy_does_not_stall_fast",
            cpu_heavy_does_not_stall_fast,
        ),
        ("rare_block", rare_block),
        ("idle_memory", idle_memory),
        ("partial_head_memory", partial_head_memory),
        ("field_tiny_http", field_tiny_http),
        ("upload_1g", upload_1g),
        ("download_1g", download_1g),
        ("sse_latency", sse_latency),
        ("websocket_echo", websocket_echo),
        // Last: it installs a global `metrics` recorder, which servers built after it would
        // record to.
        ("hello_keepalive_metrics", hello_keepalive_metrics),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    raise_nofile();
    if args.first().map(String::as_str) == Some("serve-child") {
        return serve_child();
    }
    let filter = args.first().cloned().unwrap_or_default();
    let secs: u64 = std::env::var("SOCKETNAUT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let duration = Duration::from_secs(secs);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("socketnaut load bench: {cores} cores, {secs} s per run, 1 client thread, loopback");
    let mut rows = Vec::new();
    for (name, run) in scenarios() {
        if !name.contains(filter.as_str()) {
            continue;
        }
        for row in run(duration, cores) {
            println!("{}", row.line());
            rows.push(row);
        }
    }
    println!();
    println!(
        "| scenario | req/s | p50 | p99 | p99.9 | errors | server CPU/req | server runs/req | result | target |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for r in &rows {
        println!("{}", r.markdown());
    }
}

/// One line of results.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) stats: Option<LoadStats>,
    pub(crate) result: String,
    pub(crate) target: &'static str,
}

impl Row {
    /// The measured columns (req/s, p50, p99, p99.9, errors, CPU/req, runs/req), blank for a
    /// row without load statistics.
    pub(crate) fn cells(&self) -> [String; 7] {
        match &self.stats {
            Some(s) => [
                format!("{:.0}", s.rps),
                fmt_us(s.p50),
                fmt_us(s.p99),
                fmt_us(s.p999),
                s.errors.to_string(),
                s.cpu(),
                s.runs(),
            ],
            None => Default::default(),
        }
    }

    pub(crate) fn line(&self) -> String {
        if self.stats.is_none() {
            return format!("{:<44} {}", self.name, self.result);
        }
        let [rps, p50, p99, p999, errors, cpu, runs] = self.cells();
        format!(
            "{:<44} {rps:>9} req/s  p50 {p50:>7}  p99 {p99:>7}  p99.9 {p999:>7}  errors {errors:>3}  cpu/req {cpu:>8}  runs/req {runs:>5}  {}",
            self.name, self.result
        )
    }

    pub(crate) fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} |",
            self.name,
            self.cells().join(" | "),
            self.result,
            self.target
        )
    }
}

pub(crate) fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{us}µs")
    }
}

pub(crate) fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
