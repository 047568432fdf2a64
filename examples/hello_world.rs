//! The Node original's Hello World, on socketnaut: a proxy on 127.0.0.1:3080 with 42 workers
//! whose handler busy-waits 100 ms of wall-clock time and answers "Hello World!".
//!
//! ```text
//! cargo run --release --example hello_world [ADDR] [--workers N] [--busy-ms MS]
//! curl http://127.0.0.1:3080/
//! ```
//!
//! `--workers 0` keeps the default elastic pool; `--busy-ms 0` makes the handler answer at once
//! (for benchmarks). SIGTERM or Ctrl-C drains and exits.

use std::time::Duration;

use socketnaut::http::{Http, Request, Response};

struct Args {
    addr: String,
    workers: usize,
    busy: Duration,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:3080".to_owned(),
        workers: 42,
        busy: Duration::from_millis(100),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--workers" => args.workers = value("--workers")? as usize,
            "--busy-ms" => args.busy = Duration::from_millis(value("--busy-ms")?),
            "-h" | "--help" => {
                return Err("usage: hello_world [ADDR] [--workers N] [--busy-ms MS]".to_owned())
            }
            addr => args.addr = addr.to_owned(),
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = args()?;
    let busy = args.busy;
    let handler = move |_req: Request| {
        // Block the worker for `busy` of wall-clock time, as the original does (yielding between
        // clock checks; see `socketnaut::bench::busy_wait` for why).
        socketnaut::bench::busy_wait(busy);
        Response::new("Hello World!".into())
    };
    let mut builder = Http::new(handler).proxy().bind(args.addr.as_str());
    if args.workers > 0 {
        builder = builder.worker_count(args.workers);
    }
    let proxy = builder.build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!("serving http://{}/ (Ctrl-C to stop)", proxy.local_addr());
    let reports = proxy.wait();
    log::info!("stopped {} workers", reports.len());
    Ok(())
}
