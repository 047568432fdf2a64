//! The field: the same workloads on tiny_http 0.12, the thread-pool server a sync-minded user
//! would otherwise pick, next to socketnaut's default configuration in the same run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use socketnaut::bench::routes;

use crate::client::{run_load, SERVER_THREADS, WARMUP};
use crate::scenarios::default_server;
use crate::Row;

/// The same two workloads on tiny_http 0.12, the thread-pool server a sync-minded user would
/// otherwise pick, next to socketnaut's default configuration in the same run. tiny_http has
/// no elastic pool, so it runs twice: with one handler thread per core (what suits fast
/// handlers) and with 64 (what the blocking workload needs). Its internal threads cannot be
/// told apart from the load generator's, so no CPU figures for it.
pub(crate) fn field_tiny_http(duration: Duration, cores: usize) -> Vec<Row> {
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
pub(crate) struct TinyHttp {
    pub(crate) addr: SocketAddr,
    pub(crate) server: Arc<tiny_http::Server>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) threads: Vec<thread::JoinHandle<()>>,
}

impl TinyHttp {
    pub(crate) fn start(threads: usize) -> TinyHttp {
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
