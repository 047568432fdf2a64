//! The load benches' server as a standalone program, on the default configuration:
//! `GET /` → "Hello World!", `/sleep` blocks 10 ms, `/cpu` burns 1 ms of CPU, `/slow` blocks
//! 50 ms, `/block1s` blocks 1 s, `/cpu50` burns 50 ms of CPU, `/rare` blocks 200 ms on one
//! request in 100. Point an external load generator (wrk, h2load) at it.
//!
//! `/metrics` serves the proxy's figures in the Prometheus text format and `/healthz` answers
//! 200 until the drain begins (503 after). `--access-log` writes one line per response on
//! `socketnaut::access` (through env_logger, at info level).
//!
//! ```text
//! cargo run --release --example bench_server [ADDR] [--access-log]   # default 127.0.0.1:3080
//! wrk -t2 -c64 -d5s http://127.0.0.1:3080/sleep
//! curl http://127.0.0.1:3080/metrics
//! ```

use std::time::Duration;

use socketnaut::bench::routes;
use socketnaut::http::Http;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let access_log = args.iter().any(|a| a == "--access-log");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let proxy = Http::new(routes)
        .access_log(access_log.then_some(socketnaut::http::access::combined as _))
        .proxy()
        .bind(addr.as_str())
        .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!("bench server on http://{}/", proxy.local_addr());
    proxy.wait();
    Ok(())
}
