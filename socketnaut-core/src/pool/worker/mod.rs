//! The worker thread: its body ([`run`]: start hook, factory, then the serving loop, with the
//! exit reported from a drop guard even while unwinding), and the two loops in their own files:
//! `blocking` (one connection at a time) and `evented` (a mio loop multiplexing connections,
//! with `timers` and the PROXY protocol `headers` of connections not yet handed to the server).
//!
//! Every panic in user code is caught where it happens and costs one connection; what is left
//! to kill a worker is its own loop failing (or `after_events`), and the pool replaces it.

mod blocking;
mod evented;
mod headers;
mod inbox;
pub(crate) mod table;
mod timers;

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::Poll;

pub(crate) use inbox::{Shed, ToWorker, WORKER_WAKER};
use table::Table;

use crate::acceptor::inbox::ToAcceptor;
use crate::agent::ServiceAgent;
use crate::config::{Config, Factory};
use crate::error::panic_message;
use crate::stats::Counters;
use crate::targets::AGENT;

/// The body of every worker thread.
pub(crate) fn run(
    agent: ServiceAgent,
    config: Arc<Config>,
    rx: Receiver<ToWorker>,
    shed: Sender<Shed>,
    evented: Option<(Poll, Table)>,
) {
    agent.load.set_tid(crate::sys::thread_id());
    let _exit = ExitGuard {
        agent: &agent,
        config: &config,
    };
    if let Some(hook) = &config.on_start {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| hook(&agent))) {
            let message = format!("start hook panicked: {}", panic_message(&*p));
            return start_failed(&agent, message);
        }
    }
    match &config.factory {
        Factory::Blocking(factory) => match catch_unwind(AssertUnwindSafe(|| factory(&agent))) {
            Ok(Ok(server)) => {
                started(&agent);
                blocking::serve(server, &agent, &rx, config.proxy_header);
            }
            Ok(Err(e)) => start_failed(&agent, format!("factory failed: {e}")),
            Err(p) => start_failed(&agent, format!("factory panicked: {}", panic_message(&*p))),
        },
        Factory::Evented(factory) => match catch_unwind(AssertUnwindSafe(|| factory(&agent))) {
            Ok(Ok(server)) => {
                started(&agent);
                let (poll, table) = evented.expect("evented workers are spawned with a poll");
                evented::EventedLoop::new(server, &agent, &config, rx, shed, poll, table).run();
            }
            Ok(Err(e)) => start_failed(&agent, format!("factory failed: {e}")),
            Err(p) => start_failed(&agent, format!("factory panicked: {}", panic_message(&*p))),
        },
    }
}

fn started(agent: &ServiceAgent) {
    log::debug!(target: AGENT, "{} started", agent.name);
    agent.shared.notify(ToAcceptor::Started {
        id: agent.worker_id,
    });
}

fn start_failed(agent: &ServiceAgent, message: String) {
    log::error!(target: AGENT, "{} failed to start: {message}", agent.name);
    agent.shared.notify(ToAcceptor::StartFailed {
        id: agent.worker_id,
        message,
    });
}

/// Runs the exit hook and tells the acceptor the thread is ending, also while unwinding, so the
/// acceptor never waits for a worker that is gone.
struct ExitGuard<'a> {
    agent: &'a ServiceAgent,
    config: &'a Config,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if let Some(hook) = &self.config.on_exit {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| hook(self.agent))) {
                log::error!(target: AGENT, "{}: exit hook panicked: {}", self.agent.name, panic_message(&*p));
            }
        }
        log::debug!(target: AGENT, "{} exiting", self.agent.name);
        self.agent.shared.notify(ToAcceptor::Exited {
            id: self.agent.worker_id,
        });
    }
}

/// Accounts for a closed connection and wakes the acceptor if it waits for capacity.
pub(super) fn connection_closed(agent: &ServiceAgent, n: usize) {
    if n == 0 {
        return;
    }
    let shared = &agent.shared;
    agent.load.remove(n, shared.clock.nanos(Instant::now()));
    shared.connections_closed(n);
}

pub(super) fn header_timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no complete PROXY protocol header within {timeout:?}"),
    )
}

/// Closes (by dropping it, already done by the caller) and accounts for a connection whose
/// PROXY protocol header failed.
pub(super) fn header_failed(agent: &ServiceAgent, id: u64, e: &io::Error) {
    Counters::add(&agent.shared.counters.proxy_header_errors, 1);
    log::warn!(target: AGENT, "{}: connection {id}: closed: {e}", agent.name);
    connection_closed(agent, 1);
}
