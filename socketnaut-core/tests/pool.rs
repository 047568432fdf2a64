//! The proxy and its pool, over real loopback sockets.

mod common;

use std::collections::HashSet;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{blocking_server, wait_for, Client, LineServer};
use socketnaut_core::{
    BuildError, Family, ServiceProxy, ServiceProxyBuilder, StartError, WorkerOutcome, WorkerState,
};

const LONG: Duration = Duration::from_secs(10);

fn evented() -> ServiceProxyBuilder {
    ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .evented(|_| Ok(LineServer::new()))
}

fn blocking() -> ServiceProxyBuilder {
    ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .blocking(|_| Ok(blocking_server))
}

#[test]
fn blocking_echo_and_address_info() {
    let proxy = blocking().worker_count(2).build().expect("build");
    proxy.ready().expect("ready");
    let mut c = Client::connect(proxy.local_addr());
    assert_eq!(c.ask("echo hi").unwrap(), "hi");
    let info = c.ask("info").unwrap();
    let parts: Vec<&str> = info.split(' ').collect();
    assert_eq!(parts[0], c.local_addr().to_string(), "remote is the client");
    assert_eq!(
        parts[1],
        proxy.local_addr().to_string(),
        "local is the proxy"
    );
    let stats = proxy.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.workers.len(), 2);
    drop(c);
    let reports = proxy.shutdown(LONG);
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.outcome == WorkerOutcome::Clean));
}

#[test]
fn address_info_on_an_unspecified_bind_and_ipv6() {
    let proxy = ServiceProxy::builder()
        .bind("0.0.0.0:0")
        .worker_count(1)
        .evented(|_| Ok(LineServer::new()))
        .build()
        .expect("build");
    let port = proxy.local_addr().port();
    let mut c = Client::connect(([127, 0, 0, 1], port).into());
    let info = c.ask("info").unwrap();
    assert!(info.contains(&format!("127.0.0.1:{port}")), "{info}");
    drop(proxy);

    // IPv6 loopback may be missing in some sandboxes; skip only when it cannot be bound.
    if let Ok(proxy) = ServiceProxy::builder()
        .bind("[::1]:0")
        .worker_count(1)
        .evented(|_| Ok(LineServer::new()))
        .build()
    {
        let mut c = Client::connect(proxy.local_addr());
        let info = c.ask("info").unwrap();
        assert!(info.starts_with("[::1]:"), "{info}");
        let family = socketnaut_core::SocketAddressInfo::from(proxy.local_addr()).family;
        assert_eq!(family, Family::IPv6);
    }
}

#[test]
fn validation_errors_are_typed() {
    let e = blocking().worker_count(0).build().unwrap_err();
    assert!(matches!(e, BuildError::WorkerCountTooSmall), "{e}");
    let e = blocking()
        .min_workers(4)
        .max_workers(2)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "min_workers (4) must not be greater than max_workers (2)"
    );
}

#[test]
fn pool_grows_to_max_and_not_beyond_then_falls_back_to_min() {
    let proxy = blocking()
        .min_workers(1)
        .max_workers(4)
        .reap_interval(Duration::from_millis(20))
        .worker_idle_timeout(Duration::from_millis(100))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    // Six concurrent connections on a blocking pool of at most four.
    let mut clients: Vec<Client> = (0..6)
        .map(|_| Client::connect(proxy.local_addr()))
        .collect();
    for c in clients.iter_mut().take(4) {
        assert_eq!(c.ask("echo x").unwrap(), "x");
    }
    // Four are served; one more waits in the acceptor for a free worker and the last in the
    // kernel backlog (the acceptor stops accepting while one waits).
    assert!(
        wait_for(LONG, || proxy.stats().active == 5),
        "{}",
        proxy.stats()
    );
    let stats = proxy.stats();
    assert_eq!(stats.workers.len(), 4, "{stats}");
    drop(clients.drain(..2));
    for c in clients.iter_mut() {
        assert_eq!(c.ask("echo y").unwrap(), "y");
    }
    assert!(proxy.stats().workers.len() <= 4);
    drop(clients);
    assert!(
        wait_for(LONG, || proxy.stats().workers.len() == 1),
        "reaped back to min: {}",
        proxy.stats()
    );
    let stats = proxy.stats();
    assert_eq!(stats.retired, 3, "{stats}");
    assert_eq!(stats.spawned, 4);
}

#[test]
fn min_zero_is_ready_at_once_and_spawns_on_demand() {
    let proxy = evented()
        .min_workers(0)
        .max_workers(3)
        .build()
        .expect("build");
    proxy.ready().expect("ready with no worker");
    proxy.ready().expect("level-triggered: ready again");
    assert_eq!(proxy.stats().workers.len(), 0);
    let mut c = Client::connect(proxy.local_addr());
    assert_eq!(c.ask("echo a").unwrap(), "a");
    assert_eq!(proxy.stats().workers.len(), 1);
}

#[test]
fn ties_rotate_over_workers() {
    let proxy = evented().worker_count(3).build().expect("build");
    proxy.ready().expect("ready");
    let mut seen = Vec::new();
    for _ in 0..6 {
        // Each client closes before the next connects, so every worker is always tied at 0.
        let mut c = Client::connect(proxy.local_addr());
        seen.push(c.ask("worker").unwrap());
        drop(c);
        assert!(wait_for(LONG, || proxy.stats().active == 0));
    }
    assert_eq!(
        seen[0..3].iter().collect::<HashSet<_>>().len(),
        3,
        "{seen:?}"
    );
    assert_eq!(seen[0..3], seen[3..6], "rotation repeats: {seen:?}");
}

#[test]
fn least_connections_spreads_evented_connections() {
    let proxy = evented().worker_count(3).build().expect("build");
    proxy.ready().expect("ready");
    let mut clients: Vec<Client> = (0..9)
        .map(|_| Client::connect(proxy.local_addr()))
        .collect();
    for c in &mut clients {
        c.ask("echo x").unwrap();
    }
    assert_eq!(proxy.stats().distribution(), vec![3, 3, 3]);
}

#[test]
fn a_panicking_connection_costs_only_itself() {
    for proxy in [
        evented().worker_count(1).build().expect("build"),
        blocking().worker_count(2).build().expect("build"),
    ] {
        proxy.ready().expect("ready");
        let mut other = Client::connect(proxy.local_addr());
        assert_eq!(other.ask("echo before").unwrap(), "before");
        let mut victim = Client::connect(proxy.local_addr());
        victim.send("panic").unwrap();
        assert!(victim.is_closed(), "the panicking connection is closed");
        assert_eq!(other.ask("echo after").unwrap(), "after");
        let mut fresh = Client::connect(proxy.local_addr());
        assert_eq!(fresh.ask("echo new").unwrap(), "new");
        let stats = proxy.stats();
        assert_eq!(stats.panics, 1, "{stats}");
        assert_eq!(stats.replaced, 0, "no worker died");
    }
}

#[test]
fn a_panic_in_any_connection_method_costs_only_that_connection() {
    // `socket()` panics for the first connection (at registration), `deadline()` on command.
    let proxy = ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .evented(|_| Ok(LineServer::with_socket_panics(1)))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let mut first = Client::connect(proxy.local_addr());
    assert!(
        first.is_closed(),
        "the connection whose socket() panicked is closed"
    );
    let mut other = Client::connect(proxy.local_addr());
    assert_eq!(other.ask("echo before").unwrap(), "before");
    let mut victim = Client::connect(proxy.local_addr());
    assert_eq!(victim.ask("panic-deadline").unwrap(), "armed");
    assert!(
        victim.is_closed(),
        "the connection whose deadline() panicked is closed"
    );
    assert_eq!(other.ask("echo after").unwrap(), "after");
    let stats = proxy.stats();
    assert_eq!(stats.panics, 2, "{stats}");
    assert_eq!(stats.replaced, 0, "the worker survived: {stats}");
    assert!(
        wait_for(LONG, || proxy.stats().active == 1),
        "{}",
        proxy.stats()
    );
}

#[test]
fn a_worker_that_dies_is_replaced() {
    let proxy = evented()
        .worker_count(2)
        .restart_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let mut victim = Client::connect(proxy.local_addr());
    let dead_worker = victim.ask("worker").unwrap();
    assert_eq!(
        victim.ask("die").unwrap(),
        "?",
        "answered, then the worker dies"
    );
    assert!(victim.is_closed());
    assert!(
        wait_for(LONG, || {
            let s = proxy.stats();
            s.replaced == 1
                && s.workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Running)
                    .count()
                    == 2
        }),
        "{}",
        proxy.stats()
    );
    let stats = proxy.stats();
    assert_eq!(stats.lost_to_worker_death, 1, "{stats}");
    assert!(stats
        .workers
        .iter()
        .all(|w| w.id.to_string() != dead_worker));
    assert_eq!(stats.active, 0);
    for _ in 0..4 {
        let mut c = Client::connect(proxy.local_addr());
        assert_eq!(c.ask("echo ok").unwrap(), "ok");
    }
}

#[test]
fn a_failing_factory_fails_ready_without_a_hot_loop() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let proxy = ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(2)
        .restart_backoff(Duration::from_millis(50), Duration::from_secs(5))
        .blocking(
            move |_| -> std::io::Result<
                fn(
                    socketnaut_core::Connection,
                    &socketnaut_core::ServiceAgent,
                ) -> std::io::Result<()>,
            > {
                counted.fetch_add(1, Ordering::SeqCst);
                Err(std::io::Error::other("database unreachable"))
            },
        )
        .build()
        .expect("build");
    let err = proxy.ready().unwrap_err();
    match &err {
        StartError::WorkerFailed { message, .. } => {
            assert!(message.contains("database unreachable"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let started = Instant::now();
    let before = attempts.load(Ordering::SeqCst);
    thread::sleep(Duration::from_millis(800)); // observing a rate over a period, not synchronising
    let during = attempts.load(Ordering::SeqCst) - before;
    // 50 ms doubling: at most a handful of retries per worker in 0.8 s, never hundreds.
    assert!(during <= 10, "{during} attempts in {:?}", started.elapsed());
    assert!(proxy.stats().spawn_failures >= 2);
    // A connection made meanwhile is not lost silently: it waits for a worker, then is closed
    // at shutdown and counted as rejected.
    let _c = TcpStream::connect(proxy.local_addr()).unwrap();
    assert!(wait_for(LONG, || proxy.stats().accepted == 1));
    proxy.shutdown(Duration::from_millis(100));
    let stats = proxy.stats();
    assert_eq!((stats.active, stats.rejected), (0, 1), "{stats}");
}

#[test]
fn a_panicking_factory_and_start_hook_fail_ready() {
    let proxy = blocking()
        .worker_count(1)
        .on_worker_start(|_| panic!("hook exploded"))
        .build()
        .expect("build");
    let err = proxy.ready().unwrap_err().to_string();
    assert!(err.contains("start hook panicked: hook exploded"), "{err}");

    let proxy = ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .evented(|_| -> std::io::Result<LineServer> { panic!("factory exploded") })
        .build()
        .expect("build");
    let err = proxy.ready().unwrap_err().to_string();
    assert!(err.contains("factory panicked: factory exploded"), "{err}");
}

#[test]
fn hooks_run_on_each_worker_thread() {
    let starts = Arc::new(AtomicUsize::new(0));
    let exits = Arc::new(AtomicUsize::new(0));
    let (s, e) = (starts.clone(), exits.clone());
    let proxy = blocking()
        .worker_count(3)
        .thread_name("hooked")
        .stack_size(256 * 1024)
        .on_worker_start(move |agent| {
            assert_eq!(thread::current().name(), Some(agent.name()));
            assert!(agent.name().starts_with("hooked-"));
            s.fetch_add(1, Ordering::SeqCst);
        })
        .on_worker_exit(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    assert_eq!(starts.load(Ordering::SeqCst), 3);
    proxy.shutdown(LONG);
    assert_eq!(exits.load(Ordering::SeqCst), 3);
}

#[test]
fn max_connections_holds_clients_in_the_backlog_and_serves_them_all() {
    let proxy = evented()
        .worker_count(2)
        .max_connections(4)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let addr = proxy.local_addr();
    let served = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let (served, barrier) = (served.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut c = Client::connect(addr);
                assert_eq!(c.ask("sleep 30").unwrap(), "slept");
                assert_eq!(c.ask(&format!("echo {i}")).unwrap(), i.to_string());
                served.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let mut peak = 0;
    while handles.iter().any(|h| !h.is_finished()) {
        peak = peak.max(proxy.stats().active);
        thread::sleep(Duration::from_millis(1));
    }
    for h in handles {
        h.join().expect("client");
    }
    assert_eq!(served.load(Ordering::SeqCst), 12, "none lost");
    assert!(peak <= 4, "active peaked at {peak}");
    assert_eq!(proxy.stats().accepted, 12);
}

#[test]
fn shutdown_with_idle_keepalive_clients_returns_within_its_deadline() {
    for proxy in [
        evented().worker_count(2).build().expect("build"),
        blocking().worker_count(2).build().expect("build"),
    ] {
        proxy.ready().expect("ready");
        let mut clients: Vec<Client> = (0..2)
            .map(|_| Client::connect(proxy.local_addr()))
            .collect();
        for c in &mut clients {
            c.ask("echo hi").unwrap();
        }
        let started = Instant::now();
        let reports = proxy.shutdown(Duration::from_millis(300));
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(300) + Duration::from_millis(900),
            "{took:?}"
        );
        assert_eq!(reports.len(), 2);
        assert!(
            reports.iter().all(|r| r.outcome == WorkerOutcome::Clean),
            "{reports:?}"
        );
        for c in &mut clients {
            assert!(c.is_closed());
        }
        assert!(
            TcpStream::connect(proxy.local_addr()).is_err(),
            "listener closed"
        );
        assert_eq!(proxy.ready(), Err(StartError::ShutDown));
    }
}

#[test]
fn evented_drain_closes_idle_connections_at_once_and_finishes_in_flight_work() {
    let proxy = evented().worker_count(2).build().expect("build");
    proxy.ready().expect("ready");
    let mut idle = Client::connect(proxy.local_addr());
    idle.ask("echo hi").unwrap();
    let mut busy = Client::connect(proxy.local_addr());
    busy.ask("echo hi").unwrap();
    // One write with both lines: "go" is answered in the callback that then runs the sleep, so
    // once "go" arrives the sleep is in flight.
    busy.send("echo go\nsleep 300").unwrap();
    assert_eq!(busy.read_line().unwrap(), "go");
    let started = Instant::now();
    let reports = proxy.shutdown(Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait for the deadline"
    );
    assert_eq!(
        busy.read_line().unwrap(),
        "slept",
        "in-flight work finished"
    );
    assert!(idle.is_closed());
    assert_eq!(reports.len(), 2);
}

#[test]
fn several_proxies_per_process() {
    let a = evented().worker_count(1).build().expect("a");
    let b = blocking().worker_count(1).build().expect("b");
    let mut ca = Client::connect(a.local_addr());
    let mut cb = Client::connect(b.local_addr());
    assert_eq!(ca.ask("echo a").unwrap(), "a");
    assert_eq!(cb.ask("echo b").unwrap(), "b");
    assert_eq!(a.stats().accepted, 1);
    assert_eq!(b.stats().accepted, 1);
}

#[test]
fn connections_move_off_a_worker_whose_callback_blocks() {
    let proxy = evented()
        .min_workers(1)
        .max_workers(8)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let mut clients: Vec<Client> = (0..4)
        .map(|_| Client::connect(proxy.local_addr()))
        .collect();
    for c in &mut clients {
        c.ask("echo x").unwrap();
    }
    let spread = proxy.stats().workers.len();
    assert!(
        spread <= 2,
        "a fast load stays on one worker per core: {}",
        proxy.stats()
    );
    // Blocking calls: a worker whose callback blocks hands its other connections to the
    // acceptor, which gives each an empty worker, so they end up blocking in parallel. (A
    // worker's first slow callback flags it; the next is measured and, if it blocked, moves
    // the other connections.)
    for c in &mut clients {
        c.send("sleep 50").unwrap();
    }
    for c in &mut clients {
        assert_eq!(c.read_line().unwrap(), "slept");
    }
    // The hand-back is asynchronous (worker → acceptor → new worker).
    assert!(
        wait_for(LONG, || proxy.stats().migrated >= 2),
        "{}",
        proxy.stats()
    );
    let workers: HashSet<String> = clients
        .iter_mut()
        .map(|c| c.ask("worker").unwrap())
        .collect();
    assert_eq!(workers.len(), 4, "one connection per worker: {workers:?}");
    for c in &mut clients {
        c.send("sleep 200").unwrap();
    }
    let started = Instant::now();
    for c in &mut clients {
        assert_eq!(c.read_line().unwrap(), "slept");
    }
    assert!(
        started.elapsed() < Duration::from_millis(790),
        "ran in parallel: {:?}",
        started.elapsed()
    );
}

#[test]
fn cpu_bound_callbacks_shorter_than_a_time_slice_do_not_migrate() {
    // A callback that computes for less than a scheduler slice (the monitor's `COMPUTE_FACTOR`
    // busy thresholds, 10 ms by default) leaves its neighbours where they are: on a busy
    // machine a thread preempted for that long comes back by itself.
    let proxy = evented()
        .min_workers(1)
        .max_workers(8)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::connect(proxy.local_addr()))
        .collect();
    for c in &mut clients {
        assert_eq!(c.ask("spin 4").unwrap(), "spun");
    }
    assert_eq!(
        proxy.stats().migrated,
        0,
        "a short computation moves nobody"
    );
}

#[test]
fn a_connection_that_blocks_between_fast_ones_is_isolated() {
    let proxy = evented()
        .min_workers(1)
        .max_workers(4)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    // Three connections on at most two workers at first: two of them share a worker.
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::connect(proxy.local_addr()))
        .collect();
    let ids: Vec<String> = clients
        .iter_mut()
        .map(|c| c.ask("worker").unwrap())
        .collect();
    let (a, b) = (0..3)
        .flat_map(|i| (i + 1..3).map(move |j| (i, j)))
        .find(|&(i, j)| ids[i] == ids[j])
        .expect("two share a worker");
    let mut fast = clients.swap_remove(b);
    let mut slow = clients.swap_remove(a);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_fast = stop.clone();
    // The neighbour keeps the worker busy with fast callbacks between the slow ones.
    let neighbour = thread::spawn(move || {
        while !stop_fast.load(Ordering::SeqCst) {
            assert_eq!(fast.ask("echo f").unwrap(), "f");
        }
        fast
    });
    for _ in 0..3 {
        assert_eq!(slow.ask("sleep 30").unwrap(), "slept");
    }
    stop.store(true, Ordering::SeqCst);
    let mut fast = neighbour.join().unwrap();
    assert!(
        wait_for(LONG, || proxy.stats().migrated >= 1),
        "{}",
        proxy.stats()
    );
    assert_ne!(
        slow.ask("worker").unwrap(),
        fast.ask("worker").unwrap(),
        "separated"
    );
}

#[test]
fn accepted_sockets_have_nodelay_by_default() {
    for (nodelay, want) in [(None, true), (Some(false), false)] {
        let mut builder = ServiceProxy::builder()
            .bind("127.0.0.1:0")
            .worker_count(1)
            .blocking(|_| {
                Ok(
                    |conn: socketnaut_core::Connection, _: &socketnaut_core::ServiceAgent| {
                        let on = conn.stream().nodelay()?;
                        let mut s = conn.stream();
                        std::io::Write::write_all(&mut s, if on { b"1\n" } else { b"0\n" })
                    },
                )
            });
        if let Some(on) = nodelay {
            builder = builder.nodelay(on);
        }
        let proxy = builder.build().expect("build");
        let mut c = Client::connect(proxy.local_addr());
        assert_eq!(c.read_line().unwrap(), if want { "1" } else { "0" });
    }
}

#[test]
fn connections_are_packed_back_once_blocking_stops() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let proxy = evented()
        .min_workers(1)
        .max_workers(8)
        .reap_interval(Duration::from_millis(20))
        .worker_idle_timeout(Duration::from_secs(60)) // only consolidation retires workers here
        .consolidate_after(Duration::from_millis(300))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let mut clients: Vec<Client> = (0..cores + 3)
        .map(|_| Client::connect(proxy.local_addr()))
        .collect();
    // Blocking spreads them out, one worker each.
    for _ in 0..2 {
        for c in &mut clients {
            c.send("sleep 30").unwrap();
        }
        for c in &mut clients {
            assert_eq!(c.read_line().unwrap(), "slept");
        }
    }
    assert!(
        wait_for(LONG, || proxy.stats().workers.len() > cores),
        "spread out: {}",
        proxy.stats()
    );
    // Quiet: they are packed back onto one worker per core, and the emptied workers retire.
    assert!(
        wait_for(LONG, || {
            let s = proxy.stats();
            s.workers.len() <= cores && s.consolidated >= 1
        }),
        "packed back: {}",
        proxy.stats()
    );
    for c in &mut clients {
        assert_eq!(c.ask("echo still here").unwrap(), "still here", "none lost");
    }
    let stats = proxy.stats();
    assert_eq!(stats.active, clients.len());
    assert!(stats.retired >= 1, "{stats}");
}

#[test]
fn connections_arriving_while_the_acceptor_batches_are_all_served() {
    // A wide window makes every round of a stream of connections wait in the backlog: none
    // may be lost or left there, whether it arrives in the window or after a quiet spell.
    let proxy = evented()
        .worker_count(2)
        .accept_batch_window(Duration::from_millis(20))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let addr = proxy.local_addr();
    let clients: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..40 {
                    let mut c = Client::connect(addr);
                    assert_eq!(c.ask(&format!("echo {t}-{i}")).unwrap(), format!("{t}-{i}"));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    thread::sleep(Duration::from_millis(150)); // a quiet spell: batching ends
    let mut late = Client::connect(addr);
    assert_eq!(late.ask("echo late").unwrap(), "late");
    assert_eq!(proxy.stats().accepted, 161);
    drop(late);
    proxy.shutdown(LONG);
}

#[test]
fn reuse_port_lets_several_proxies_share_a_port() {
    let first = evented()
        .worker_count(1)
        .reuse_port(true)
        .build()
        .expect("build");
    first.ready().expect("ready");
    let addr = first.local_addr();
    // Without SO_REUSEPORT the port is taken: a descriptive error.
    let err = ServiceProxy::builder()
        .bind(addr)
        .evented(|_| Ok(LineServer::new()))
        .build()
        .expect_err("port in use");
    assert!(
        err.to_string().contains(&format!("binding {addr}")),
        "{err}"
    );
    let second = ServiceProxy::builder()
        .bind(addr)
        .reuse_port(true)
        .worker_count(1)
        .evented(|_| Ok(LineServer::new()))
        .build()
        .expect("second listener on the same port");
    second.ready().expect("ready");
    // The kernel spreads connections (by address hash) over both.
    for i in 0..64 {
        let mut c = Client::connect(addr);
        assert_eq!(c.ask(&format!("echo {i}")).unwrap(), i.to_string());
    }
    let (a, b) = (first.stats().accepted, second.stats().accepted);
    assert_eq!(a + b, 64);
    assert!(a > 0 && b > 0, "spread: {a} and {b}");
    // One leaves (a rolling restart): the other takes every new connection.
    first.shutdown(LONG);
    for i in 0..16 {
        let mut c = Client::connect(addr);
        assert_eq!(c.ask(&format!("echo {i}")).unwrap(), i.to_string());
    }
    assert_eq!(second.stats().accepted, b + 16);
    second.shutdown(LONG);
}
