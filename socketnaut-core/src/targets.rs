//! The `log` targets, named once: users filter on them (`RUST_LOG=socketnaut::agent=debug`).

/// The proxy side: the acceptor, the pool, the handle.
pub(crate) const PROXY: &str = "socketnaut::proxy";
/// The worker side: worker threads and their connections.
pub(crate) const AGENT: &str = "socketnaut::agent";
