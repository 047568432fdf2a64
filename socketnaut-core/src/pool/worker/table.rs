//! An evented worker's connection table, which the worker shares with the pool's monitor.
//!
//! The worker holds the table's lock at all times but one: while a connection's callback
//! runs, that connection is out of its entry (the callback owns it) and the lock is released.
//! So a monitor that finds the lock free knows the worker is inside a callback, and may take
//! every other connection in the table (see `pool::monitor`); a monitor that finds it held
//! knows the worker is between callbacks and leaves it alone. The worker, when its callback
//! returns, relocks and puts its connection back: its entry is never taken (only entries
//! holding a connection are).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use mio::Registry;
use parking_lot::Mutex;

use crate::pool::slab::Slab;
use crate::server::EventedConnection;

/// One connection of an evented worker.
pub(crate) struct Entry {
    /// `None` only while its callback runs (and the worker has released the table).
    conn: Option<Box<dyn EventedConnection>>,
    /// The deadline currently in the timer heap for this connection, if any.
    pub(crate) scheduled: Option<Instant>,
    /// This connection's last callback ran slow: measure its next one.
    pub(crate) suspect: bool,
}

impl Entry {
    pub(crate) fn new(conn: Box<dyn EventedConnection>) -> Entry {
        Entry {
            conn: Some(conn),
            scheduled: None,
            suspect: false,
        }
    }

    /// The connection, while the worker holds the table.
    pub(crate) fn conn(&mut self) -> &mut dyn EventedConnection {
        self.conn
            .as_deref_mut()
            .expect("a connection is in its entry while the worker holds the table")
    }

    /// Takes the connection out, for its callback.
    pub(crate) fn take(&mut self) -> Box<dyn EventedConnection> {
        self.conn
            .take()
            .expect("a connection is taken once per callback")
    }

    /// Puts the connection back after its callback.
    pub(crate) fn put(&mut self, conn: Box<dyn EventedConnection>) {
        self.conn = Some(conn);
    }

    /// Gives the connection up (it leaves the worker).
    pub(crate) fn into_conn(self) -> Box<dyn EventedConnection> {
        self.conn
            .expect("a connection is in its entry while the worker holds the table")
    }
}

/// The table of an evented worker.
pub(crate) type Table = Arc<Mutex<Slab<Entry>>>;

/// What the pool keeps to take connections from a worker stuck in a callback.
pub(crate) struct Steal {
    pub(crate) table: Table,
    /// A clone of the worker's poll registry, to deregister what is taken.
    pub(crate) registry: Registry,
}

/// What [`Steal::take_idle`] took.
pub(crate) struct Taken {
    pub(crate) conns: Vec<Box<dyn EventedConnection>>,
    /// Connections whose `socket()` panicked while being deregistered: dropped (closed).
    pub(crate) panicked: usize,
}

impl Steal {
    /// If the worker is inside a callback (the table is free), takes every other connection
    /// out of its table and its poll. `None` if the worker holds the table.
    pub(crate) fn take_idle(&self) -> Option<Taken> {
        let mut table = self.table.try_lock()?;
        let mut taken = Taken {
            conns: Vec::new(),
            panicked: 0,
        };
        for token in table.tokens() {
            if table.get_mut(token).is_none_or(|e| e.conn.is_none()) {
                continue; // the connection whose callback runs
            }
            let mut conn = table.remove(token).expect("listed").into_conn();
            let registry = &self.registry;
            match catch_unwind(AssertUnwindSafe(|| registry.deregister(conn.socket()))) {
                // A failed deregistration leaves a registration that no token matches any
                // more (the slab's generations): its events are ignored.
                Ok(_) => taken.conns.push(conn),
                Err(_) => taken.panicked += 1,
            }
        }
        Some(taken)
    }
}
