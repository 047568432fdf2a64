//! [`Observer`]: a proxy's figures for code that runs anywhere — a handler serving `/metrics`
//! or `/healthz`, a server, a thread of the application — without globals.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::shared::Shared;
use crate::stats::Stats;

/// A cheap handle (one `Arc`) on a proxy's figures and state. Get one from
/// [`ServiceProxy::observer`](crate::ServiceProxy::observer) or, inside a server,
/// [`ServiceAgent::observer`](crate::ServiceAgent::observer).
///
/// # Examples
///
/// ```
/// use socketnaut_core::ServiceProxy;
/// # let proxy = ServiceProxy::builder().bind("127.0.0.1:0")
/// #     .blocking(|_| Ok(|_c: socketnaut_core::Connection, _a: &socketnaut_core::ServiceAgent| Ok(())))
/// #     .build()?;
/// proxy.ready()?;
/// let observer = proxy.observer();
/// assert!(observer.is_ready());
/// let text = observer.prometheus();
/// assert!(text.contains("socketnaut_connections_accepted_total{service=\"socketnaut\"} 0"));
/// # proxy.shutdown(std::time::Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Observer {
    shared: Arc<Shared>,
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl Observer {
    pub(crate) fn new(shared: Arc<Shared>) -> Observer {
        Observer { shared }
    }

    /// A snapshot of the pool and the counters, as [`ServiceProxy::stats`](crate::ServiceProxy::stats).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The proxy's [`service_name`](crate::ServiceProxyBuilder::service_name).
    pub fn service_name(&self) -> &str {
        &self.shared.service_name
    }

    /// [`stats`](Self::stats) in the Prometheus text format, labelled with the service name:
    /// the body of a `/metrics` response (`Content-Type: text/plain; version=0.0.4`).
    pub fn prometheus(&self) -> String {
        self.stats().to_prometheus(self.service_name())
    }

    /// For a load balancer's readiness check: true once the proxy is ready and until its
    /// drain begins (a draining proxy should get no new traffic).
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready() && !self.shared.is_draining()
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.shared.is_draining()
    }

    /// Once shutdown has begun: when the drain ends by force, and connections still open are
    /// closed (code that holds a connection for long, such as a stream or an upgraded
    /// connection, should end it politely before then). `None` before the drain.
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.shared.drain_deadline()
    }
}
