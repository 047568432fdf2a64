//! No connection waits behind another connection's slow callback, from the first slow callback
//! on: the monitor takes the neighbours of a worker stuck in a callback that blocks or
//! computes, within the pool's bounds, and the pool shrinks back once the slow work stops.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{wait_for, Client, LineServer};
use socketnaut_core::{ServiceProxy, ServiceProxyBuilder, WorkerOutcome};

const MAX: usize = 6;

fn proxy(tune: impl FnOnce(ServiceProxyBuilder) -> ServiceProxyBuilder) -> ServiceProxy {
    let builder = ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .min_workers(1)
        .max_workers(MAX)
        .evented(|_| Ok(LineServer::new()));
    let proxy = tune(builder).build().expect("build");
    proxy.ready().expect("ready");
    proxy
}

/// Two connected clients that share a worker (connecting more until two do).
fn neighbours(proxy: &ServiceProxy) -> (Client, Client, Vec<Client>) {
    let mut by_worker: HashMap<String, Client> = HashMap::new();
    let mut others = Vec::new();
    for _ in 0..MAX + 1 {
        let mut c = Client::connect(proxy.local_addr());
        let worker = c.ask("worker").unwrap();
        match by_worker.remove(&worker) {
            Some(first) => {
                others.extend(by_worker.into_values());
                return (first, c, others);
            }
            None => {
                by_worker.insert(worker, c);
            }
        }
    }
    panic!("no two connections shared a worker");
}

/// `slow` runs `command` (taking about 3 s); its neighbour is answered long before.
fn neighbour_is_served_during(command: &str) {
    let proxy = proxy(|b| b);
    let (mut slow, mut neighbour, _others) = neighbours(&proxy);
    slow.send(command).unwrap();
    // Let the slow callback begin before the neighbour asks.
    std::thread::sleep(Duration::from_millis(50));
    let asked = Instant::now();
    assert_eq!(neighbour.ask("echo hi").unwrap(), "hi");
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_millis(1500),
        "the neighbour waited {waited:?}"
    );
    let stats = proxy.stats();
    assert!(stats.migrated >= 1, "{stats}");
    assert!(stats.workers.len() <= MAX, "{stats}");
    slow.set_read_timeout(Duration::from_secs(10));
    assert!(slow.read_line().is_ok(), "the slow request still completes");
}

#[test]
fn a_neighbour_of_a_blocking_callback_is_answered_before_it_ends() {
    neighbour_is_served_during("sleep 3000");
}

#[test]
fn a_neighbour_of_a_computing_callback_is_answered_before_it_ends() {
    neighbour_is_served_during("spin 3000");
}

#[test]
fn a_handler_that_runs_for_30_s_delays_no_neighbour_and_no_shutdown() {
    let proxy = proxy(|b| b);
    let (mut slow, mut neighbour, _others) = neighbours(&proxy);
    slow.send("sleep 30000").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let asked = Instant::now();
    for i in 0..100 {
        assert_eq!(neighbour.ask(&format!("echo {i}")).unwrap(), i.to_string());
    }
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "100 requests took {took:?}");
    // The forced close cannot reach a thread inside a 30 s sleep: it is reported abandoned
    // one second after the deadline, and shutdown does not wait for it.
    let stopping = Instant::now();
    let reports = proxy.shutdown(Duration::from_millis(300));
    let stopped = stopping.elapsed();
    assert!(
        stopped < Duration::from_secs(5),
        "shutdown took {stopped:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.outcome == WorkerOutcome::Abandoned),
        "{reports:?}"
    );
    drop(slow);
}

#[test]
fn the_pool_shrinks_back_once_the_slow_work_stops() {
    let proxy = proxy(|b| {
        b.consolidate_after(Duration::from_millis(300))
            .reap_interval(Duration::from_millis(50))
            .worker_idle_timeout(Duration::from_millis(300))
    });
    let (mut slow, mut neighbour, mut others) = neighbours(&proxy);
    slow.send("sleep 500").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(neighbour.ask("echo moved").unwrap(), "moved");
    assert_eq!(slow.read_line().unwrap(), "slept");
    let spread = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        wait_for(Duration::from_secs(10), || proxy.stats().workers.len()
            <= spread.max(1)),
        "connections packed back onto one worker per core: {}",
        proxy.stats()
    );
    for c in others.iter_mut().chain([&mut slow, &mut neighbour]) {
        assert_eq!(c.ask("echo still").unwrap(), "still");
    }
    drop((slow, neighbour, others));
    assert!(
        wait_for(Duration::from_secs(10), || proxy.stats().workers.len() == 1),
        "idle workers retired down to min_workers: {}",
        proxy.stats()
    );
}
