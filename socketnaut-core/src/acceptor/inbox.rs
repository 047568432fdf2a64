//! The acceptor's inbox: the messages the workers, the handle and the signal thread send it,
//! the channel and poll waker that carry them, and the flag of the capacity handshake (the
//! acceptor asking to be woken when a connection closes).
//!
//! # The channels of a proxy
//!
//! | channel | kind | from → to | carries | bound |
//! |---|---|---|---|---|
//! | [`ToWorker`](crate::pool::ToWorker) (one per worker) | crossbeam unbounded | acceptor → worker | `Conn`, `Adopt` (a migrating evented connection), `Retire`, `Release` (hand every connection back, then retire), `Drain`, `Force` | every `Conn`/`Adopt` in it is counted in the worker's load and in `active`, which `max_connections` caps; control messages are one each per worker life |
//! | [`ToAcceptor`] | crossbeam unbounded | workers, handle, signal thread → acceptor | `Started`, `StartFailed`, `Exited`, `Shutdown` | a handful per worker life |
//! | [`Shed`](crate::pool::Shed) | crossbeam unbounded | evented workers → acceptor | connections handed back for placement | they are already counted in `active` |
//!
//! Shed connections have a channel of their own so that this inbox, which the
//! [`Shared`](crate::shared::Shared) hub every thread holds carries, names no connection type:
//! the hub types then import nothing of the runtime, and the import graph has no circle.
//!
//! Why crossbeam and not flume (both were on the design card): one channel crate is enough;
//! crossbeam-channel's `SendError(T)` gives the `TcpStream` back when a worker is gone (so a
//! failed hand-off re-routes the connection instead of dropping it), its receivers can be cloned
//! (the pool keeps one to recover connections still queued to a dead worker), and it is the
//! better-known building block. Unbounded channels are safe here because the accounting above,
//! not the channel, is the bound.
//!
//! # Waking the acceptor
//!
//! Every send on the inbox wakes the acceptor's poll through a `mio::Waker`
//! ([`ACCEPTOR_WAKER`]); a worker that sheds connections wakes it after its send on the other
//! channel. Workers wake it after closing a connection only while it waits for capacity (see
//! [`Active`](crate::stats::Active)), so a close is free when the acceptor is not waiting.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::{Poll, Token, Waker};

use crate::targets::PROXY;

/// The waker's token on the acceptor's poll.
pub(crate) const ACCEPTOR_WAKER: Token = Token(1);

/// Worker, handle or signal thread → acceptor. Every send is followed by a wake of its poll.
pub(crate) enum ToAcceptor {
    /// The factory returned a server.
    Started { id: usize },
    /// The start hook or factory failed.
    StartFailed { id: usize, message: String },
    /// The worker thread is ending (sent from a drop guard, so also while unwinding).
    Exited { id: usize },
    /// Begin the shutdown sequence; force-close at `deadline`.
    Shutdown { deadline: Instant },
}

/// The sending side of the acceptor's inbox, held in [`Shared`](crate::shared::Shared).
pub(crate) struct Inbox {
    tx: Sender<ToAcceptor>,
    waker: Waker,
    /// Set by the acceptor while it waits for capacity; the first worker that closes a
    /// connection takes it and wakes the acceptor. See [`Active`](crate::stats::Active) for
    /// the handshake and its orderings.
    wants_wake: AtomicBool,
}

impl Inbox {
    /// The inbox of an acceptor polling `poll`, and the receiving end for the acceptor.
    pub(crate) fn new(poll: &Poll) -> io::Result<(Inbox, Receiver<ToAcceptor>)> {
        let waker = Waker::new(poll.registry(), ACCEPTOR_WAKER)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let inbox = Inbox {
            tx,
            waker,
            wants_wake: AtomicBool::new(false),
        };
        Ok((inbox, rx))
    }

    /// Sends a message and wakes the acceptor. A send after the acceptor has stopped is
    /// dropped: there is nobody left to act on it.
    pub(crate) fn send(&self, msg: ToAcceptor) {
        if self.tx.send(msg).is_ok() {
            self.wake();
        }
    }

    /// Acceptor: asks to be woken by the next connection to close (then re-reads the count).
    pub(crate) fn want_wake(&self) {
        // SeqCst: one of the four operations of the capacity handshake (see `Active`).
        self.wants_wake.store(true, Ordering::SeqCst);
    }

    /// Worker, after lowering the count: wakes the acceptor if it asked.
    pub(crate) fn wake_if_waiting(&self) {
        // SeqCst: one of the four operations of the capacity handshake (see `Active`).
        if self.wants_wake.swap(false, Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Wakes the acceptor (after a send on another channel to it).
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!(target: PROXY, "waking the acceptor: {e}");
        }
    }
}
