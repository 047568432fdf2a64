//! The acceptor's inbox: the messages the workers, the handle and the signal thread send it,
//! the channel and poll waker that carry them, and the flag of the capacity handshake (the
//! acceptor asking to be woken when a connection closes).
//!
//! Connections shed by evented workers come on a channel of their own
//! ([`Shed`](crate::pool::worker::Shed)), so this hub type, which every thread holds, names no
//! connection type and imports nothing of the runtime.

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
