//! What shutdown returns: one [`WorkerReport`] per worker, like the original's
//! `PromiseSettledResult`s.

/// How one worker ended, as reported by [`ServiceProxy::shutdown`](crate::ServiceProxy::shutdown).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerOutcome {
    /// The thread returned normally.
    Clean,
    /// The thread panicked (outside the per-connection guard) with this message.
    Panicked(String),
    /// The thread was still running one second after the forced close (stuck in a call that
    /// ignores its socket being shut down); it was detached, not joined.
    Abandoned,
}

/// One settled result per worker, like the original's `PromiseSettledResult`s.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// The worker's id.
    pub id: usize,
    /// Its thread name.
    pub name: String,
    /// How it ended.
    pub outcome: WorkerOutcome,
}
