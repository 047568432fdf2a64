//! The load generator: one client event-loop thread driving a fixed set of keep-alive (or
//! reconnecting) connections for a fixed time, with latencies per class of request and the CPU
//! time of the server's threads over the measured window.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Statistics of one class of connections.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadStats {
    pub(crate) rps: f64,
    pub(crate) p50: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) errors: u64,
    /// CPU time the server's threads used per request in the measured window, in ns.
    pub(crate) cpu_ns_per_req: f64,
    /// Times the server's threads were scheduled onto a CPU, per request.
    pub(crate) runs_per_req: f64,
}

impl LoadStats {
    /// CPU per request, or a dash where it was not measured.
    pub(crate) fn cpu(&self) -> String {
        if self.cpu_ns_per_req.is_nan() {
            "—".to_owned()
        } else {
            format!("{:.1}µs", self.cpu_ns_per_req / 1000.0)
        }
    }

    pub(crate) fn runs(&self) -> String {
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
pub(crate) struct CpuTracker {
    pub(crate) prefix: &'static str,
    /// Thread id → ([CPU, timeslices] at the window's start, latest sample).
    pub(crate) threads: HashMap<u64, ([u64; 2], [u64; 2])>,
    pub(crate) started: bool,
}

impl CpuTracker {
    pub(crate) fn new(prefix: &'static str) -> CpuTracker {
        CpuTracker {
            prefix,
            threads: HashMap::new(),
            started: false,
        }
    }

    /// Samples every matching thread; the first call after `start` sets the baselines.
    pub(crate) fn sample(&mut self) {
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

    pub(crate) fn start(&mut self) {
        self.threads.clear();
        self.sample();
        self.started = true;
    }

    /// CPU nanoseconds and timeslices over the window, all threads together.
    pub(crate) fn totals(&self) -> [u64; 2] {
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
pub(crate) const WARMUP: Duration = Duration::from_secs(1);

/// Thread-name prefixes of the servers, for their CPU time.
pub(crate) const CEILING_THREADS: &str = "ceiling-";

pub(crate) const SERVER_THREADS: &str = "socketnaut-";

struct Client {
    stream: TcpStream,
    class: usize,
    sent_at: Instant,
    written: usize,
    buf: Vec<u8>,
}

impl Client {
    /// Sends (or finishes sending) `req`; `Err` when the connection failed.
    fn send(&mut self, req: &[u8]) -> Result<(), ()> {
        while self.written < req.len() {
            match self.stream.write(&req[self.written..]) {
                Ok(n) => self.written += n,
                // Not connected yet (a fresh non-blocking connect): the writable event follows.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    break
                }
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// Reads what arrived; `Ok(true)` at EOF, `Err` when the connection failed.
    fn receive(&mut self, scratch: &mut [u8]) -> Result<bool, ()> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Ok(true),
                Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    return Ok(false)
                }
                Err(_) => return Err(()),
            }
        }
    }
}

/// One run of the generator.
struct Load {
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    close: bool,
    poll: Poll,
    clients: HashMap<usize, Client>,
    next_token: usize,
    latencies: Vec<Vec<u32>>,
    errors: Vec<u64>,
    measure_from: Instant,
    end: Instant,
    scratch: Vec<u8>,
}

impl Load {
    fn open(&mut self, class: usize) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        let token = self.next_token;
        self.next_token += 1;
        self.poll
            .registry()
            .register(
                &mut stream,
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            )
            .expect("register");
        let client = Client {
            stream,
            class,
            sent_at: Instant::now(),
            written: 0,
            buf: Vec::with_capacity(512),
        };
        self.clients.insert(token, client);
    }

    /// One connection's event: send, read, and on a complete response record its latency
    /// and send the next request (or reconnect, with `close`). A failed connection is counted
    /// and replaced.
    fn on_event(&mut self, token: usize) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        let req = &self.requests[c.class];
        let mut outcome = c.send(req).and_then(|()| c.receive(&mut self.scratch));
        let mut reopen = None;
        if let Some(len) = complete_response(&c.buf) {
            let now = Instant::now();
            if now >= self.measure_from && now < self.end {
                let us = now
                    .duration_since(c.sent_at)
                    .as_micros()
                    .min(u32::MAX as u128) as u32;
                // Responses the server marks as slow by design get a bucket of their own
                // (after the classes), so the others' latency is seen apart from them.
                let marked = c.buf[..len]
                    .windows(8)
                    .any(|w| w.eq_ignore_ascii_case(b"x-slow: "));
                let bucket = if marked { self.requests.len() } else { c.class };
                self.latencies[bucket].push(us);
            }
            c.buf.drain(..len);
            if self.close {
                let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                reopen = Some(c.class);
            } else {
                c.written = 0;
                c.sent_at = now;
                outcome = outcome.and_then(|eof| c.send(req).map(|()| eof));
            }
        } else if outcome == Ok(true) {
            outcome = Err(()); // closed before a whole response
        }
        if outcome.is_err() {
            if Instant::now() >= self.measure_from {
                self.errors[c.class] += 1;
            }
            reopen = Some(c.class);
        }
        if let Some(class) = reopen {
            if let Some(mut old) = self.clients.remove(&token) {
                let _ = self.poll.registry().deregister(&mut old.stream);
            }
            self.open(class);
        }
    }

    /// The statistics per class, with the server's CPU per request.
    fn finish(self, cpu: Option<&mut CpuTracker>, duration: Duration) -> Vec<LoadStats> {
        let total = self.latencies.iter().map(Vec::len).sum::<usize>().max(1) as f64;
        let (cpu_ns_per_req, runs_per_req) = match cpu {
            Some(cpu) => {
                cpu.sample();
                let [cpu, runs] = cpu.totals();
                (cpu as f64 / total, runs as f64 / total)
            }
            None => (f64::NAN, f64::NAN),
        };
        let seconds = duration.as_secs_f64();
        self.latencies
            .into_iter()
            .zip(self.errors)
            .map(|(mut l, errors)| {
                l.sort_unstable();
                let pct = |p: f64| -> u64 {
                    l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                        .map_or(0, |&v| v as u64)
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
}

/// Drives `mix` (path, connections) against `addr` for `duration` after a `warmup`.
/// Each connection sends one request, waits for the whole response, then sends the next (or,
/// with `close`, closes and reconnects). Returns one result per class in `mix`, then one for
/// the responses marked `x-slow` (of any class), with the CPU of the server's threads (named
/// `server_threads`…) when they can be told apart.
pub(crate) fn run_load(
    addr: SocketAddr,
    mix: &[(&str, usize)],
    close: bool,
    (warmup, duration): (Duration, Duration),
    server_threads: Option<&'static str>,
) -> Vec<LoadStats> {
    let requests = mix
        .iter()
        .map(|(path, _)| {
            let conn = if close { "Connection: close\r\n" } else { "" };
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{conn}\r\n").into_bytes()
        })
        .collect();
    let measure_from = Instant::now() + warmup;
    let mut load = Load {
        addr,
        requests,
        close,
        poll: Poll::new().expect("poll"),
        clients: HashMap::new(),
        next_token: 0,
        latencies: vec![Vec::new(); mix.len() + 1],
        errors: vec![0; mix.len() + 1],
        measure_from,
        end: measure_from + duration,
        scratch: vec![0u8; 64 * 1024],
    };
    for (class, (_, n)) in mix.iter().enumerate() {
        for _ in 0..*n {
            load.open(class);
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut cpu = server_threads.map(CpuTracker::new);
    let mut next_sample = measure_from;
    while Instant::now() < load.end {
        if let Some(cpu) = cpu.as_mut().filter(|_| Instant::now() >= next_sample) {
            if cpu.started {
                cpu.sample();
            } else {
                cpu.start();
            }
            next_sample += Duration::from_millis(100);
        }
        load.poll
            .poll(&mut events, Some(Duration::from_millis(10)))
            .expect("poll");
        for event in events.iter() {
            load.on_event(event.token().0);
        }
    }
    load.finish(cpu.as_mut(), duration)
}

/// The length of the first complete response in `buf` (head with `content-length`).
pub(crate) fn complete_response(buf: &[u8]) -> Option<usize> {
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
