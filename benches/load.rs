//! Load scenarios on loopback: a socketnaut-http server started in-process with its default
//! configuration, driven by a bounded client event loop (fixed connections, fixed duration, no
//! pipelining), next to a ceiling server measured in the same run.
//!
//! ```text
//! cargo bench --bench load                    # every scenario
//! cargo bench --bench load -- blocking_10ms   # one (substring filter)
//! SOCKETNAUT_BENCH_SECS=10 cargo bench --bench load
//! SOCKETNAUT_BENCH_ACCEPT_BATCH_US=0 cargo bench --bench load -- hello_close   # no batching
//! ```

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener as MioListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use socketnaut::bench::{routes, seed_hello, seed_hello_pure_spin};
use socketnaut_core::ServiceProxy;
use socketnaut_http::Http;

const CANNED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nHello World!";
const CANNED_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nHello World!";

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
    type Scenario = (&'static str, fn(Duration, usize) -> Vec<Row>);
    let scenarios: [Scenario; 9] = [
        ("hello_keepalive", hello_keepalive),
        ("hello_close", hello_close),
        ("blocking_10ms", blocking_10ms),
        ("cpu_1ms", cpu_1ms),
        ("seed_hello_world", seed_hello_world),
        ("slow_does_not_stall_fast", slow_does_not_stall_fast),
        ("idle_memory", idle_memory),
        ("partial_head_memory", partial_head_memory),
        ("field_tiny_http", field_tiny_http),
    ];
    for (name, run) in scenarios {
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
struct Row {
    name: String,
    stats: Option<LoadStats>,
    result: String,
    target: &'static str,
}

impl Row {
    /// The measured columns (req/s, p50, p99, p99.9, errors, CPU/req, runs/req), blank for a
    /// row without load statistics.
    fn cells(&self) -> [String; 7] {
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

    fn line(&self) -> String {
        if self.stats.is_none() {
            return format!("{:<44} {}", self.name, self.result);
        }
        let [rps, p50, p99, p999, errors, cpu, runs] = self.cells();
        format!(
            "{:<44} {rps:>9} req/s  p50 {p50:>7}  p99 {p99:>7}  p99.9 {p999:>7}  errors {errors:>3}  cpu/req {cpu:>8}  runs/req {runs:>5}  {}",
            self.name, self.result
        )
    }

    fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} |",
            self.name,
            self.cells().join(" | "),
            self.result,
            self.target
        )
    }
}

fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{us}µs")
    }
}

type HandlerFn = fn(socketnaut_http::Request) -> socketnaut_http::Response;

/// The server on its default configuration. `SOCKETNAUT_BENCH_ACCEPT_BATCH_US` overrides the
/// one setting whose effect docs/ARCHITECTURE.md quotes against its absence (0 turns accept
/// batching off).
fn default_server(
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

fn hello_keepalive(duration: Duration, cores: usize) -> Vec<Row> {
    versus_ceiling(
        "hello_keepalive",
        false,
        duration,
        cores,
        "≥ 0.85 of ceiling",
    )
}

fn hello_close(duration: Duration, cores: usize) -> Vec<Row> {
    versus_ceiling("hello_close", true, duration, cores, "≥ 0.80 of ceiling")
}

/// Rounds of ceiling-then-socketnaut, alternating, so that drift in what else the shared
/// machine is doing hits both alike: `ROUNDS` pairs of short runs (each after a short warm-up
/// that lets the 64 connections settle) that together last about `duration` per server. The
/// ratio reported is the median of the rounds' ratios, with their range; throughput on this
/// kind of machine drifts by tens of percent from second to second, so many short paired
/// rounds say more than a few long ones.
fn versus_ceiling(
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
fn merge(runs: &[LoadStats]) -> LoadStats {
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

fn ideal_row(
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

fn blocking_10ms(duration: Duration, _cores: usize) -> Vec<Row> {
    versus_ideal(
        "blocking_10ms",
        "/sleep",
        64,
        6400.0,
        "≥ 0.80 of ideal",
        duration,
    )
}

fn cpu_1ms(duration: Duration, cores: usize) -> Vec<Row> {
    let ideal = cores as f64 * 1000.0;
    versus_ideal("cpu_1ms", "/cpu", 16, ideal, "≥ 0.85 of ideal", duration)
}

/// `conns` keep-alive connections on `path` against a default server, as a ratio to `ideal`.
fn versus_ideal(
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

fn seed_hello_world(duration: Duration, _cores: usize) -> Vec<Row> {
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

fn slow_does_not_stall_fast(duration: Duration, _cores: usize) -> Vec<Row> {
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

/// Statistics of one class of connections.
#[derive(Clone, Debug, Default)]
struct LoadStats {
    rps: f64,
    p50: u64,
    p99: u64,
    p999: u64,
    errors: u64,
    /// CPU time the server's threads used per request in the measured window, in ns.
    cpu_ns_per_req: f64,
    /// Times the server's threads were scheduled onto a CPU, per request.
    runs_per_req: f64,
}

impl LoadStats {
    /// CPU per request, or a dash where it was not measured.
    fn cpu(&self) -> String {
        if self.cpu_ns_per_req.is_nan() {
            "—".to_owned()
        } else {
            format!("{:.1}µs", self.cpu_ns_per_req / 1000.0)
        }
    }

    fn runs(&self) -> String {
        if self.runs_per_req.is_nan() {
            "—".to_owned()
        } else {
            format!("{:.2}", self.runs_per_req)
        }
    }
}

/// CPU time of the server's threads over a window, and how often they were scheduled in:
/// per thread, from /proc/self/task/*/schedstat (nanoseconds on the CPU, then time waiting,
/// then timeslices run), sampled often enough that threads which exit during the window
/// (retired workers) are counted up to their last sample.
struct CpuTracker {
    prefix: &'static str,
    /// Thread id → ([CPU, timeslices] at the window's start, latest sample).
    threads: HashMap<u64, ([u64; 2], [u64; 2])>,
    started: bool,
}

impl CpuTracker {
    fn new(prefix: &'static str) -> CpuTracker {
        CpuTracker {
            prefix,
            threads: HashMap::new(),
            started: false,
        }
    }

    /// Samples every matching thread; the first call after `start` sets the baselines.
    fn sample(&mut self) {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            let named = std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|c| c.starts_with(self.prefix));
            let cpu = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| {
                    let mut fields = s.split_whitespace().map(|f| f.parse::<u64>().ok());
                    let cpu = fields.next()??;
                    Some([cpu, fields.nth(1)??])
                });
            if let (true, Some(cpu)) = (named, cpu) {
                // A thread first seen after the start began inside the window: baseline 0.
                let base = if self.started { [0, 0] } else { cpu };
                self.threads.entry(tid).or_insert((base, cpu)).1 = cpu;
            }
        }
    }

    fn start(&mut self) {
        self.threads.clear();
        self.sample();
        self.started = true;
    }

    /// CPU nanoseconds and timeslices over the window, all threads together.
    fn totals(&self) -> [u64; 2] {
        let sum = |i: usize| {
            self.threads
                .values()
                .map(|(base, last)| last[i].saturating_sub(base[i]))
                .sum()
        };
        [sum(0), sum(1)]
    }
}

/// Warm-up before measuring, for scenarios whose pool has to grow first.
const WARMUP: Duration = Duration::from_secs(1);

/// Thread-name prefixes of the servers, for their CPU time.
const CEILING_THREADS: &str = "ceiling-";
const SERVER_THREADS: &str = "socketnaut-";

struct Client {
    stream: TcpStream,
    class: usize,
    sent_at: Instant,
    written: usize,
    buf: Vec<u8>,
}

/// Drives `mix` (path, connections) against `addr` for `duration` after a `warmup`.
/// Each connection sends one request, waits for the whole response, then sends the next (or,
/// with `close`, closes and reconnects). Returns one result per class in `mix`, with the CPU
/// of the server's threads (named `server_threads`…) when they can be told apart.
fn run_load(
    addr: SocketAddr,
    mix: &[(&str, usize)],
    close: bool,
    (warmup, duration): (Duration, Duration),
    server_threads: Option<&'static str>,
) -> Vec<LoadStats> {
    let requests: Vec<Vec<u8>> = mix
        .iter()
        .map(|(path, _)| {
            let conn = if close { "Connection: close\r\n" } else { "" };
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{conn}\r\n").into_bytes()
        })
        .collect();
    let classes: Vec<usize> = mix
        .iter()
        .enumerate()
        .flat_map(|(class, (_, n))| std::iter::repeat_n(class, *n))
        .collect();
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(1024);
    let mut clients: HashMap<usize, Client> = HashMap::new();
    let mut next_token = 0usize;
    let mut latencies: Vec<Vec<u32>> = vec![Vec::new(); mix.len()];
    let mut errors = vec![0u64; mix.len()];
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let open =
        |class: usize, poll: &mut Poll, clients: &mut HashMap<usize, Client>, next: &mut usize| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            let token = *next;
            *next += 1;
            poll.registry()
                .register(
                    &mut stream,
                    Token(token),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .expect("register");
            clients.insert(
                token,
                Client {
                    stream,
                    class,
                    sent_at: Instant::now(),
                    written: 0,
                    buf: Vec::with_capacity(512),
                },
            );
        };
    for &class in &classes {
        open(class, &mut poll, &mut clients, &mut next_token);
    }
    let mut scratch = vec![0u8; 64 * 1024];
    let mut cpu = server_threads.map(CpuTracker::new);
    let mut next_sample = measure_from;
    while Instant::now() < end {
        if let Some(cpu) = cpu.as_mut().filter(|_| Instant::now() >= next_sample) {
            if cpu.started {
                cpu.sample();
            } else {
                cpu.start();
            }
            next_sample += Duration::from_millis(100);
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .expect("poll");
        for event in events.iter() {
            let token = event.token().0;
            let mut reopen = None;
            let Some(c) = clients.get_mut(&token) else {
                continue;
            };
            let req = &requests[c.class];
            // Send (or finish sending) the request.
            let mut failed = false;
            while c.written < req.len() {
                match c.stream.write(&req[c.written..]) {
                    Ok(n) => c.written += n,
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::NotConnected =>
                    {
                        break
                    }
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            // Read what arrived.
            let mut eof = false;
            while !failed {
                match c.stream.read(&mut scratch) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => c.buf.extend_from_slice(&scratch[..n]),
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::NotConnected =>
                    {
                        break
                    }
                    Err(_) => {
                        failed = true;
                    }
                }
            }
            if let Some(len) = complete_response(&c.buf) {
                let now = Instant::now();
                if now >= measure_from && now < end {
                    let us = now
                        .duration_since(c.sent_at)
                        .as_micros()
                        .min(u32::MAX as u128) as u32;
                    latencies[c.class].push(us);
                }
                c.buf.drain(..len);
                if close {
                    let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                    reopen = Some(c.class);
                } else {
                    c.written = 0;
                    c.sent_at = now;
                    while c.written < req.len() {
                        match c.stream.write(&req[c.written..]) {
                            Ok(n) => c.written += n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => {
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            } else if eof {
                failed = true;
            }
            if failed {
                if Instant::now() >= measure_from {
                    errors[c.class] += 1;
                }
                reopen = Some(c.class);
            }
            if let Some(class) = reopen {
                if let Some(mut old) = clients.remove(&token) {
                    let _ = poll.registry().deregister(&mut old.stream);
                }
                open(class, &mut poll, &mut clients, &mut next_token);
            }
        }
    }
    let total = latencies.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    let (cpu_ns_per_req, runs_per_req) = match cpu.as_mut() {
        Some(cpu) => {
            cpu.sample();
            let [cpu, runs] = cpu.totals();
            (cpu as f64 / total, runs as f64 / total)
        }
        None => (f64::NAN, f64::NAN),
    };
    let seconds = duration.as_secs_f64();
    latencies
        .into_iter()
        .zip(errors)
        .map(|(mut l, errors)| {
            l.sort_unstable();
            let pct = |p: f64| -> u64 {
                if l.is_empty() {
                    0
                } else {
                    l[((l.len() as f64 * p) as usize).min(l.len() - 1)] as u64
                }
            };
            LoadStats {
                rps: l.len() as f64 / seconds,
                p50: pct(0.50),
                p99: pct(0.99),
                p999: pct(0.999),
                errors,
                cpu_ns_per_req,
                runs_per_req,
            }
        })
        .collect()
}

/// The length of the first complete response in `buf` (head with `content-length`).
fn complete_response(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &buf[..head_end];
    let mut length = 0usize;
    for line in head.split(|&b| b == b'\n') {
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            length = std::str::from_utf8(&line[15..]).ok()?.trim().parse().ok()?;
        }
    }
    (buf.len() >= head_end + length).then_some(head_end + length)
}

/// The ceiling: minimal mio loops (one per core) sharing one listener, answering every
/// `\r\n\r\n` with a canned response, without parsing.
struct Ceiling {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<Waker>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Ceiling {
    fn start(threads: usize, close: bool) -> Ceiling {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let mut wakers = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..threads {
            let poll = Poll::new().expect("poll");
            let waker = Arc::new(Waker::new(poll.registry(), Token(usize::MAX)).expect("waker"));
            wakers.push(waker);
            let listener = MioListener::from_std(listener.try_clone().expect("clone"));
            let stop = stop.clone();
            handles.push(
                thread::Builder::new()
                    .name(format!("ceiling-{}", handles.len()))
                    .spawn(move || ceiling_loop(poll, listener, stop, close))
                    .expect("spawn"),
            );
        }
        Ceiling {
            addr,
            stop,
            wakers,
            threads: handles,
        }
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            let _ = w.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn ceiling_loop(mut poll: Poll, mut listener: MioListener, stop: Arc<AtomicBool>, close: bool) {
    const LISTENER: Token = Token(usize::MAX - 1);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let response = if close { CANNED_CLOSE } else { CANNED };
    // Per connection: the stream and how much of "\r\n\r\n" the last bytes matched.
    let mut conns: HashMap<usize, (TcpStream, usize)> = HashMap::new();
    let mut next = 0;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    while !stop.load(Ordering::SeqCst) {
        if poll.poll(&mut events, None).is_err() {
            continue;
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    while let Ok((mut s, _)) = listener.accept() {
                        let _ = s.set_nodelay(true);
                        poll.registry()
                            .register(&mut s, Token(next), Interest::READABLE)
                            .expect("register");
                        conns.insert(next, (s, 0));
                        next += 1;
                    }
                }
                Token(t) if t == usize::MAX => {}
                Token(t) => {
                    let Some((s, matched)) = conns.get_mut(&t) else {
                        continue;
                    };
                    let mut dead = false;
                    out.clear();
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => {
                                dead = true;
                                break;
                            }
                            Ok(n) => {
                                for &b in &buf[..n] {
                                    *matched = match (*matched, b) {
                                        (0 | 2, b'\r') => *matched + 1,
                                        (1 | 3, b'\n') => *matched + 1,
                                        (_, b'\r') => 1,
                                        _ => 0,
                                    };
                                    if *matched == 4 {
                                        *matched = 0;
                                        out.extend_from_slice(response);
                                    }
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => {
                                dead = true;
                                break;
                            }
                        }
                    }
                    if !out.is_empty() && s.write_all(&out).is_err() {
                        dead = true;
                    }
                    if dead || (close && !out.is_empty()) {
                        if let Some((mut s, _)) = conns.remove(&t) {
                            let _ = poll.registry().deregister(&mut s);
                        }
                    }
                }
            }
        }
    }
}

/// The same two workloads on tiny_http 0.12, the thread-pool server a sync-minded user would
/// otherwise pick, next to socketnaut's default configuration in the same run. tiny_http has
/// no elastic pool, so it runs twice: with one handler thread per core (what suits fast
/// handlers) and with 64 (what the blocking workload needs). Its internal threads cannot be
/// told apart from the load generator's, so no CPU figures for it.
fn field_tiny_http(duration: Duration, cores: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let ours = default_server(routes);
    for (path, name, ideal) in [
        ("/", "hello_keepalive", None),
        ("/sleep", "blocking_10ms", Some(6400.0)),
    ] {
        let mine = run_load(
            ours.local_addr(),
            &[(path, 64)],
            false,
            (WARMUP, duration),
            Some(SERVER_THREADS),
        )
        .remove(0);
        let workers = ours.stats().workers.len();
        rows.push(Row {
            name: format!("field {name}: socketnaut"),
            stats: Some(mine.clone()),
            result: format!("default configuration ({workers} workers)"),
            target: "",
        });
        for threads in [cores, 64] {
            let tiny = TinyHttp::start(threads);
            let theirs =
                run_load(tiny.addr, &[(path, 64)], false, (WARMUP, duration), None).remove(0);
            let versus = match ideal {
                Some(ideal) => format!(
                    "{:.2} of ideal; socketnaut {:.2}",
                    theirs.rps / ideal,
                    mine.rps / ideal
                ),
                None => format!(
                    "socketnaut does {:.2}× its req/s",
                    mine.rps / theirs.rps.max(1.0)
                ),
            };
            rows.push(Row {
                name: format!("field {name}: tiny_http, {threads} threads"),
                stats: Some(theirs),
                result: versus,
                target: "for comparison",
            });
        }
    }
    rows
}

/// tiny_http serving the bench's `/` and `/sleep` routes with `threads` handler threads.
struct TinyHttp {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl TinyHttp {
    fn start(threads: usize) -> TinyHttp {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("tiny_http"));
        let addr = server.server_addr().to_ip().expect("ip listener");
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|_| {
                let (server, stop) = (server.clone(), stop.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(100)) else {
                            continue;
                        };
                        if req.url() == "/sleep" {
                            thread::sleep(Duration::from_millis(10));
                        }
                        let _ = req.respond(tiny_http::Response::from_string("Hello World!"));
                    }
                })
            })
            .collect();
        TinyHttp {
            addr,
            server,
            stop,
            threads: handles,
        }
    }
}

impl Drop for TinyHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The idle-memory child: a default server, its port on stdout, until stdin closes.
fn serve_child() {
    let proxy = default_server(routes);
    println!("PORT={}", proxy.local_addr().port());
    io::stdout().flush().expect("flush");
    let mut s = String::new();
    let _ = io::stdin().read_line(&mut s);
    proxy.shutdown(Duration::from_secs(1));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn idle_memory(_duration: Duration, _cores: usize) -> Vec<Row> {
    let (per_conn, detail) = memory_per_connection(get_once);
    vec![Row {
        name: "idle_memory".to_owned(),
        stats: None,
        result: format!("{per_conn:.0} bytes RSS per idle keep-alive connection ({detail})"),
        target: "< 1 KiB per connection",
    }]
}

fn partial_head_memory(_duration: Duration, _cores: usize) -> Vec<Row> {
    let (per_conn, detail) = memory_per_connection(partial_head);
    let (per_claim, claim_detail) = memory_per_connection(claimed_body);
    vec![
        Row {
            name: "partial_head_memory".to_owned(),
            stats: None,
            result: format!(
                "{per_conn:.0} bytes RSS per connection holding a {}-byte partial head ({detail})",
                PARTIAL_HEAD.len()
            ),
            target: "< 2 KiB per connection",
        },
        Row {
            name: "partial_head_memory (claimed body)".to_owned(),
            stats: None,
            result: format!(
                "{per_claim:.0} bytes RSS per connection whose head claims a 1 MiB body and sends none ({claim_detail})"
            ),
            target: "no allocation sized by the claim",
        },
    ]
}

/// The server's RSS per connection (beyond the kernel's socket buffers, which RSS does not
/// count) for 10,000 connections each left as `open` leaves it, in a child process running a
/// default server; and a description of the run.
fn memory_per_connection(open: fn(SocketAddr) -> std::net::TcpStream) -> (f64, String) {
    const N: usize = 10_000;
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .arg("serve-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server child");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("port");
    let port: u16 = line
        .trim()
        .trim_start_matches("PORT=")
        .parse()
        .expect("port");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Warm the server (pool, first buffers) before the baseline.
    let mut warm: Vec<std::net::TcpStream> = Vec::new();
    for _ in 0..100 {
        warm.push(get_once(addr));
    }
    drop(warm);
    thread::sleep(Duration::from_millis(300)); // let the closes land before the baseline
    let before = rss_kib(child.id());
    let started = Instant::now();
    let mut conns = Vec::with_capacity(N);
    for _ in 0..N {
        conns.push(open(addr));
    }
    let opened_in = started.elapsed();
    thread::sleep(Duration::from_millis(200)); // let the server settle (buffers released)
    let after = rss_kib(child.id());
    drop(conns);
    drop(child.stdin.take());
    let _ = child.wait();
    let per_conn = (after.saturating_sub(before) * 1024) as f64 / N as f64;
    let detail = format!(
        "{N} opened in {:.1}s; RSS {before} → {after} KiB",
        opened_in.as_secs_f64()
    );
    (per_conn, detail)
}

/// The start of a request head, as a slow or malicious client leaves it.
const PARTIAL_HEAD: &[u8] = b"GET /some/path HTTP/1.1\r\nHost: bench\r\nUser-Agent: partial";

/// Opens a connection and sends a complete head claiming a 1 MiB body (the default limit),
/// then nothing of the body.
fn claimed_body(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Length: 1048576\r\n\r\n")
        .expect("write");
    s
}

/// Opens a connection and sends only the start of a request head; the server has read it
/// (well within the default 10 s header timeout) when the bench measures.
fn partial_head(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(PARTIAL_HEAD).expect("write");
    s
}

/// Opens a keep-alive connection and completes one request on it.
fn get_once(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while complete_response(&buf).is_none() {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
    s
}
