//! The scenarios of `PRODUCT.md` on socketnaut's default configuration: hello world against the
//! ceiling in paired rounds, blocking and CPU-bound handlers against their ideal, the seed
//! example, and a slow route beside a fast one.

use std::time::Duration;

use socketnaut::bench::{routes, seed_hello, seed_hello_pure_spin};
use socketnaut_core::ServiceProxy;
use socketnaut_http::Http;

use crate::ceiling::Ceiling;
use crate::client::{run_load, LoadStats, CEILING_THREADS, SERVER_THREADS, WARMUP};
use crate::{fmt_us, Row};

pub(crate) type HandlerFn = fn(socketnaut_http::Request) -> socketnaut_http::Response;

/// The server on its default configuration. `SOCKETNAUT_BENCH_ACCEPT_BATCH_US` overrides the
/// one setting whose effect the design notes (`acceptor::listen`) quote against its absence (0 turns accept
/// batching off).
pub(crate) fn default_server(
    handler: fn(socketnaut_http::Request) -> socketnaut_http::Response,
) -> ServiceProxy {
    let mut builder = Http::new(handler).proxy().bind("127.0.0.1:0");
    if let Some(us) = std::env::var("SOCKETNAUT_BENCH_ACCEPT_BATCH_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.accept_batch_window(Duration::from_micros(us));
    }
    let proxy = builder.build().expect("server");
    proxy.ready().expect("ready");
    proxy
}

pub(crate) fn hello_keepalive(duration: Duration, cores: usize) -> Vec<Row> {
    versus_ceiling(
        "hello_keepalive",
        false,
        duration,
        cores,
        "≥ 0.85 of ceiling",
    )
}

pub(crate) fn hello_close(duration: Duration, cores: usize) -> Vec<Row> {
    versus_ceiling("hello_close", true, duration, cores, "≥ 0.80 of ceiling")
}

/// Rounds of ceiling-then-socketnaut, alternating, so that drift in what else the shared
/// machine is doing hits both alike: `ROUNDS` pairs of short runs (each after a short warm-up
/// that lets the 64 connections settle) that together last about `duration` per server. The
/// ratio reported is the median of the rounds' ratios, with their range; throughput on this
/// kind of machine drifts by tens of percent from second to second, so many short paired
/// rounds say more than a few long ones.
pub(crate) fn versus_ceiling(
    name: &str,
    close: bool,
    duration: Duration,
    cores: usize,
    target: &'static str,
) -> Vec<Row> {
    const ROUNDS: u32 = 9;
    const ROUND_WARMUP: Duration = Duration::from_millis(250);
    let slice = (duration / ROUNDS).max(Duration::from_millis(500));
    let proxy = default_server(routes);
    let ceiling = Ceiling::start(cores, close);
    let (mut ceilings, mut servers, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let load = |addr, threads| {
            let mut s = run_load(addr, &[("/", 64)], close, (ROUND_WARMUP, slice), threads);
            s.remove(0)
        };
        let c = load(ceiling.addr, Some(CEILING_THREADS));
        let s = load(proxy.local_addr(), Some(SERVER_THREADS));
        ratios.push(s.rps / c.rps.max(1.0));
        ceilings.push(c);
        servers.push(s);
    }
    drop(ceiling);
    let workers = proxy.stats().workers.len();
    ratios.sort_by(f64::total_cmp);
    let (c, s) = (merge(&ceilings), merge(&servers));
    vec![
        Row {
            name: format!("{name} (ceiling)"),
            stats: Some(c.clone()),
            result: "reference".to_owned(),
            target: "",
        },
        Row {
            name: name.to_owned(),
            stats: Some(s.clone()),
            result: format!(
                "{:.2} of ceiling (rounds {:.2}–{:.2}; CPU/req {:.2}× the ceiling's; {workers} workers)",
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1],
                s.cpu_ns_per_req / c.cpu_ns_per_req.max(1.0),
            ),
            target,
        },
    ]
}

/// Averages runs (percentiles are averaged too: an approximation good enough for a summary).
pub(crate) fn merge(runs: &[LoadStats]) -> LoadStats {
    let n = runs.len().max(1) as f64;
    let avg = |f: fn(&LoadStats) -> f64| runs.iter().map(f).sum::<f64>() / n;
    LoadStats {
        rps: avg(|r| r.rps),
        p50: avg(|r| r.p50 as f64) as u64,
        p99: avg(|r| r.p99 as f64) as u64,
        p999: avg(|r| r.p999 as f64) as u64,
        errors: runs.iter().map(|r| r.errors).sum(),
        cpu_ns_per_req: avg(|r| r.cpu_ns_per_req),
        runs_per_req: avg(|r| r.runs_per_req),
    }
}

pub(crate) fn ideal_row(
    name: &str,
    s: LoadStats,
    ideal: f64,
    target: &'static str,
    workers: usize,
) -> Vec<Row> {
    let ratio = s.rps / ideal;
    vec![Row {
        name: name.to_owned(),
        stats: Some(s),
        result: format!("{ratio:.2} of ideal {ideal:.0} ({workers} workers)"),
        target,
    }]
}

pub(crate) fn blocking_10ms(duration: Duration, _cores: usize) -> Vec<Row> {
    versus_ideal(
        "blocking_10ms",
        "/sleep",
        64,
        6400.0,
        "≥ 0.80 of ideal",
        duration,
    )
}

pub(crate) fn cpu_1ms(duration: Duration, cores: usize) -> Vec<Row> {
    let ideal = cores as f64 * 1000.0;
    versus_ideal("cpu_1ms", "/cpu", 16, ideal, "≥ 0.85 of ideal", duration)
}

/// `conns` keep-alive connections on `path` against a default server, as a ratio to `ideal`.
pub(crate) fn versus_ideal(
    name: &str,
    path: &str,
    conns: usize,
    ideal: f64,
    target: &'static str,
    duration: Duration,
) -> Vec<Row> {
    let proxy = default_server(routes);
    let s = run_load(
        proxy.local_addr(),
        &[(path, conns)],
        false,
        (WARMUP, duration),
        Some(SERVER_THREADS),
    );
    let workers = proxy.stats().workers.len();
    ideal_row(
        name,
        s.into_iter().next().expect("one class"),
        ideal,
        target,
        workers,
    )
}

pub(crate) fn seed_hello_world(duration: Duration, _cores: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let variants: [(&str, HandlerFn, &'static str); 2] = [
        ("seed_hello_world", seed_hello, "≥ 0.90 of ideal"),
        (
            "seed_hello_world (pure spin)",
            seed_hello_pure_spin,
            "for comparison",
        ),
    ];
    for (name, handler, target) in variants {
        let proxy = Http::new(handler)
            .proxy()
            .bind("127.0.0.1:0")
            .worker_count(42)
            .build()
            .expect("server");
        proxy.ready().expect("ready");
        let s = run_load(
            proxy.local_addr(),
            &[("/", 200)],
            false,
            (WARMUP, duration),
            Some(SERVER_THREADS),
        );
        rows.extend(ideal_row(
            name,
            s.into_iter().next().expect("one class"),
            420.0,
            target,
            42,
        ));
    }
    rows
}

pub(crate) fn slow_does_not_stall_fast(duration: Duration, _cores: usize) -> Vec<Row> {
    let proxy = default_server(routes);
    let s = run_load(
        proxy.local_addr(),
        &[("/", 60), ("/slow", 4)],
        false,
        (WARMUP, duration),
        Some(SERVER_THREADS),
    );
    let workers = proxy.stats().workers.len();
    let fast = s[0].clone();
    let verdict = format!("fast p99 {} ({workers} workers)", fmt_us(fast.p99));
    vec![
        Row {
            name: "slow_does_not_stall_fast (fast)".to_owned(),
            stats: Some(fast),
            result: verdict,
            target: "fast p99 < 5 ms",
        },
        Row {
            name: "slow_does_not_stall_fast (slow)".to_owned(),
            stats: Some(s[1].clone()),
            result: "50 ms handler".to_owned(),
            target: "",
        },
    ]
}
