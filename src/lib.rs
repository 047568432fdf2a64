//! socketnaut: synchronous network services on every core, with no async runtime.
//!
//! This facade re-exports the two crates of the workspace and carries the examples and
//! benches:
//!
//! * [`socketnaut_core`]: the service proxy, its mio acceptor and its elastic, supervised
//!   worker pool (blocking or evented servers);
//! * [`socketnaut_http`]: a strict HTTP/1.1 server for synchronous handlers on those workers.

pub use socketnaut_core;
pub use socketnaut_http;
