//! The load benches' server as a standalone program, on the default configuration:
//! `GET /` → "Hello World!", `/sleep` blocks 10 ms, `/cpu` burns 1 ms of CPU, `/slow` blocks
//! 50 ms, `/block1s` blocks 1 s, `/cpu50` burns 50 ms of CPU, `/rare` blocks 200 ms on one
//! request in 100. Point an external load generator (wrk, h2load) at it.
//!
//! ```text
//! cargo run --release --example bench_server [ADDR]     # default 127.0.0.1:3080
//! wrk -t2 -c64 -d5s http://127.0.0.1:3080/sleep
//! ```

use std::time::Duration;

use socketnaut::bench::routes;
use socketnaut::http::Http;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let proxy = Http::new(routes).proxy().bind(addr.as_str()).build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!("bench server on http://{}/", proxy.local_addr());
    proxy.wait();
    Ok(())
}
