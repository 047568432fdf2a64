//! The isolation scenarios: a connection never waits behind another connection's slow
//! callback, whatever makes it slow. A burst of blocking requests on connections opened
//! beforehand, CPU-heavy requests beside fast ones (five rounds, each against the same round
//! without the heavy ones), and a route that blocks on one request in a hundred.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use socketnaut::bench::{routes, BLOCK, RARE_BLOCK};

use crate::client::{complete_response, run_load, LoadStats, SERVER_THREADS};
use crate::scenarios::default_server;
use crate::{fmt_us, Row};

/// Sends one request on an open connection and waits for its response; `None` on failure.
fn one_request(mut s: TcpStream, path: &str, start: Instant) -> Option<Duration> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while complete_response(&buf).is_none() {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(start.elapsed())
}

/// 40 connections opened first (as a proxy's pool opens them), then one request each to a
/// handler blocking 1 s, all at once: the slowest answer against the handler time.
pub(crate) fn blocking_burst(_duration: Duration, _cores: usize) -> Vec<Row> {
    const CONNS: usize = 40;
    let proxy = default_server(routes);
    let conns: Vec<TcpStream> = (0..CONNS)
        .map(|_| TcpStream::connect(proxy.local_addr()).expect("connect"))
        .collect();
    let settle = Instant::now() + Duration::from_secs(5);
    while proxy.stats().active < CONNS && Instant::now() < settle {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(100)); // placed on their workers
    let workers_before = proxy.stats().workers.len();
    let start = Instant::now();
    let threads: Vec<_> = conns
        .into_iter()
        .map(|s| thread::spawn(move || one_request(s, "/block1s", start)))
        .collect();
    let mut times: Vec<Duration> = threads
        .into_iter()
        .filter_map(|t| t.join().ok().flatten())
        .collect();
    times.sort();
    let errors = CONNS - times.len();
    let worst = times.last().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let workers = proxy.stats().workers.len();
    vec![Row {
        name: "blocking_burst".to_owned(),
        stats: None,
        result: format!(
            "slowest **{:.2}** × the handler time (median {:.2}; {errors} errors; {workers_before} → {workers} workers)",
            worst.as_secs_f64() / BLOCK.as_secs_f64(),
            median.as_secs_f64() / BLOCK.as_secs_f64(),
        ),
        target: "≤ 1.15 × handler time",
    }]
}

/// 60 keep-alive connections on `GET /` beside 4 calling a handler that computes 50 ms, in
/// five rounds; each round also runs the 60 alone on a fresh server, as its reference. The
/// worst round is reported.
pub(crate) fn cpu_heavy_does_not_stall_fast(duration: Duration, _cores: usize) -> Vec<Row> {
    const ROUNDS: usize = 5;
    let slice = (duration / 2).max(Duration::from_secs(1));
    let warmup = Duration::from_millis(500);
    let mut rounds: Vec<(LoadStats, LoadStats, LoadStats)> = Vec::new();
    for _ in 0..ROUNDS {
        let alone = {
            let proxy = default_server(routes);
            run_load(
                proxy.local_addr(),
                &[("/", 60)],
                false,
                (warmup, slice),
                Some(SERVER_THREADS),
            )
            .remove(0)
        };
        let proxy = default_server(routes);
        let mut mixed = run_load(
            proxy.local_addr(),
            &[("/", 60), ("/cpu50", 4)],
            false,
            (warmup, slice),
            Some(SERVER_THREADS),
        );
        let heavy = mixed.remove(1);
        rounds.push((mixed.remove(0), heavy, alone));
    }
    let worst = rounds
        .iter()
        .max_by_key(|(fast, _, _)| fast.p99)
        .cloned()
        .expect("rounds");
    let (fast, heavy, alone) = worst;
    let throughput = |r: &(LoadStats, LoadStats, LoadStats)| r.0.rps / r.2.rps.max(1.0);
    let worst_share = rounds.iter().map(throughput).fold(f64::INFINITY, f64::min);
    let p99s: Vec<String> = rounds.iter().map(|r| fmt_us(r.0.p99)).collect();
    vec![
        Row {
            name: "cpu_heavy_does_not_stall_fast (fast)".to_owned(),
            result: format!(
                "worst round: fast p99 **{}** ({:.1}× the round alone, {}); fast throughput ≥ **{worst_share:.2}** × alone in every round; p99 by round {}",
                fmt_us(fast.p99),
                fast.p99 as f64 / alone.p99.max(1) as f64,
                fmt_us(alone.p99),
                p99s.join(", "),
            ),
            stats: Some(fast),
            target: "p99 ≤ 5 ms, throughput ≥ 0.5 × alone",
        },
        Row {
            name: "cpu_heavy_does_not_stall_fast (heavy)".to_owned(),
            stats: Some(heavy),
            result: "50 ms of CPU per request".to_owned(),
            target: "",
        },
    ]
}

/// 64 connections on one route whose handler blocks 200 ms on one request in a hundred (any
/// connection): the other requests' latency.
pub(crate) fn rare_block(duration: Duration, _cores: usize) -> Vec<Row> {
    let proxy = default_server(routes);
    let mut s = run_load(
        proxy.local_addr(),
        &[("/rare", 64)],
        false,
        (Duration::from_secs(1), duration),
        Some(SERVER_THREADS),
    );
    let blocked = s.remove(1);
    let others = s.remove(0);
    let workers = proxy.stats().workers.len();
    vec![
        Row {
            name: "rare_block (others)".to_owned(),
            result: format!("others' p99 **{}** ({workers} workers)", fmt_us(others.p99)),
            stats: Some(others),
            target: "p99 ≤ 5 ms",
        },
        Row {
            name: "rare_block (blocked)".to_owned(),
            stats: Some(blocked),
            result: format!("{} ms handler, 1 request in 100", RARE_BLOCK.as_millis()),
            target: "",
        },
    ]
}
