//! The blocking loop: one connection at a time, in blocking mode, until the acceptor says
//! otherwise. A connection's PROXY protocol header is read here with a socket read timeout.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::{connection_closed, header_failed, header_timed_out, ToWorker};
use crate::agent::ServiceAgent;
use crate::connection::Connection;
use crate::error::panic_message;
use crate::proxy_protocol::{HeaderReader, Progress};
use crate::server::BlockingServer;
use crate::stats::Counters;
use crate::targets::AGENT;

pub(super) fn serve(
    mut server: Box<dyn BlockingServer>,
    agent: &ServiceAgent,
    rx: &Receiver<ToWorker>,
    proxy_header: Option<Duration>,
) {
    while let Ok(msg) = rx.recv() {
        match msg {
            ToWorker::Conn(conn) => serve_one(&mut *server, conn, agent, proxy_header),
            ToWorker::Adopt { .. } => {
                // Only evented workers migrate connections; a blocking one never sends these.
                log::error!(target: AGENT, "{}: blocking worker got an evented connection; closing it", agent.name);
                connection_closed(agent, 1);
            }
            ToWorker::Retire | ToWorker::Release | ToWorker::Force => return,
            ToWorker::Drain => {
                // Serve what was already queued, then exit; the acceptor sends nothing more.
                while let Ok(ToWorker::Conn(conn)) = rx.try_recv() {
                    serve_one(&mut *server, conn, agent, proxy_header);
                }
                return;
            }
        }
    }
}

fn serve_one(
    server: &mut dyn BlockingServer,
    mut conn: Connection,
    agent: &ServiceAgent,
    proxy_header: Option<Duration>,
) {
    let id = conn.id();
    if let Err(e) = conn.set_blocking(true) {
        log::warn!(target: AGENT, "{}: connection {id}: setting blocking mode: {e}", agent.name);
    }
    if let Some(timeout) = proxy_header {
        if let Err(e) = read_header_blocking(&mut conn, timeout) {
            return header_failed(agent, id, &e);
        }
    }
    *agent.load.serving.lock() = conn.stream().try_clone().ok();
    let result = catch_unwind(AssertUnwindSafe(|| server.serve(conn, agent)));
    *agent.load.serving.lock() = None;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug!(target: AGENT, "{}: connection {id}: {e}", agent.name),
        Err(p) => {
            Counters::add(&agent.shared.counters.panics, 1);
            log::error!(target: AGENT, "{}: connection {id}: handler panicked: {}; connection closed", agent.name, panic_message(&*p));
        }
    }
    connection_closed(agent, 1);
}

/// Reads a connection's PROXY protocol header on a blocking socket, within `timeout` of now
/// (a blocking worker may take a queued connection late; the clock starts when it does).
fn read_header_blocking(conn: &mut Connection, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut reader = HeaderReader::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(header_timed_out(timeout));
        }
        conn.stream().set_read_timeout(Some(left))?;
        // `Pending` here means the read timeout passed: the loop's check reports it.
        if let Progress::Done(info) = reader.advance(conn.stream(), conn.info())? {
            conn.stream().set_read_timeout(None)?;
            conn.set_info(info);
            return Ok(());
        }
    }
}
