//! socketnaut: synchronous network services on every core, with no async runtime.
//!
//! This is the front door: depend on `socketnaut` and import from its two modules, which are
//! the workspace's two crates (every example does):
//!
//! * [`core`]: the service proxy, its mio acceptor and its elastic, supervised worker pool
//!   (blocking or evented servers), for any TCP protocol;
//! * [`http`]: a strict HTTP/1.1 server for synchronous handlers on those workers.
//!
//! One dependency and one version to name, while each crate stays usable alone (a custom
//! protocol needs only `socketnaut-core`). The facade also holds the handlers the load benches
//! measure ([`bench`](mod@bench)), because `examples/bench_server.rs` serves exactly those to external
//! load generators, and an example cannot import from `benches/`.

pub use socketnaut_core as core;
pub use socketnaut_http as http;

/// The handlers the load benches measure, shared with `examples/bench_server.rs` so an external
/// load generator can be pointed at exactly what `cargo bench` measures.
pub mod bench {
    use std::time::{Duration, Instant};

    use socketnaut_http::http::StatusCode;
    use socketnaut_http::{Request, RequestExt, Response};

    /// How long `/sleep` blocks: a stand-in for a synchronous database call.
    pub const SLEEP: Duration = Duration::from_millis(10);
    /// How much CPU time `/cpu` burns.
    pub const CPU: Duration = Duration::from_millis(1);
    /// How long `/slow` blocks.
    pub const SLOW: Duration = Duration::from_millis(50);
    /// How long `/block1s` blocks.
    pub const BLOCK: Duration = Duration::from_secs(1);
    /// How much CPU time `/cpu50` burns.
    pub const HEAVY_CPU: Duration = Duration::from_millis(50);
    /// How long `/rare` blocks, on one request in [`RARE_EVERY`].
    pub const RARE_BLOCK: Duration = Duration::from_millis(200);
    /// One `/rare` request in this many blocks (counted over all connections).
    pub const RARE_EVERY: u64 = 100;

    /// `GET /` → "Hello World!"; `/metrics` → the proxy's figures in the Prometheus text
    /// format; `/healthz` → 200, or 503 once draining; `/sleep` blocks 10 ms; `/cpu` burns 1 ms of CPU time; `/slow`
    /// blocks 50 ms; `/block1s` blocks 1 s; `/cpu50` burns 50 ms of CPU time; `/rare` blocks
    /// 200 ms on one request in 100 (any connection; those answer with `x-slow: 1`); anything
    /// else is 404.
    pub fn routes(req: Request) -> Response {
        static RARE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        match req.uri().path() {
            "/" => {}
            "/metrics" => return Response::new(req.prometheus().unwrap_or_default().into()),
            "/healthz" => {
                let mut r = Response::new("ok".into());
                if !req.observer().is_some_and(|o| o.is_ready()) {
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    *r.body_mut() = "draining".into();
                }
                return r;
            }
            "/sleep" => std::thread::sleep(SLEEP),
            "/cpu" => burn_cpu(CPU),
            "/slow" => std::thread::sleep(SLOW),
            "/block1s" => std::thread::sleep(BLOCK),
            "/cpu50" => burn_cpu(HEAVY_CPU),
            "/rare" => {
                // Relaxed: a tally; which request blocks does not matter, only how many.
                let n = RARE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n % RARE_EVERY == RARE_EVERY - 1 {
                    std::thread::sleep(RARE_BLOCK);
                    let mut r = Response::new("Hello World!".into());
                    r.headers_mut().insert(
                        "x-slow",
                        socketnaut_http::http::HeaderValue::from_static("1"),
                    );
                    return r;
                }
            }
            _ => {
                let mut r = Response::new("not found".into());
                *r.status_mut() = StatusCode::NOT_FOUND;
                return r;
            }
        }
        Response::new("Hello World!".into())
    }

    /// The Node original's handler: busy-wait 100 ms of wall-clock time, then "Hello World!".
    pub fn seed_hello(_req: Request) -> Response {
        busy_wait(Duration::from_millis(100));
        Response::new("Hello World!".into())
    }

    /// Busy-waits `wall` of wall-clock time, as the seed's handler does, yielding the CPU
    /// between checks of the clock.
    ///
    /// Why yield: the seed runs 42 such handlers at once. On a machine with fewer cores the
    /// kernel time-slices the spinning threads at tick granularity, so a thread whose 100 ms
    /// are up usually sits in the run queue behind ~20 others before it can notice, which adds
    /// tens of milliseconds to every request (`cargo bench --bench load -- seed` prints both
    /// variants). Yielding keeps the wait a busy one (the thread stays runnable and burns CPU)
    /// while letting each thread see its deadline promptly.
    pub fn busy_wait(wall: Duration) {
        let until = Instant::now() + wall;
        while Instant::now() < until {
            std::thread::yield_now();
        }
    }

    /// [`seed_hello`] with a pure spin (no yield), for comparison.
    pub fn seed_hello_pure_spin(_req: Request) -> Response {
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        Response::new("Hello World!".into())
    }

    /// Spins until this thread has used `cpu` of CPU time (not wall-clock time, so preemption
    /// by other threads does not shorten the work).
    pub fn burn_cpu(cpu: Duration) {
        let start = thread_cpu();
        while thread_cpu().saturating_sub(start) < cpu {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    }

    fn thread_cpu() -> Duration {
        use nix::time::{clock_gettime, ClockId};
        clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
    }
}

/// The README's examples, run as doc tests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
