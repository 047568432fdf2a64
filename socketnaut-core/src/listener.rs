//! Where the listening socket comes from: a listener the user made, an address to bind (with
//! the backlog and `SO_REUSEPORT`), or a socket passed by systemd (`LISTEN_FDS`).

use std::io;
use std::net::{SocketAddr, TcpListener};

/// The listener the builder was given.
pub(crate) enum Source {
    Std(TcpListener),
    Bind(io::Result<Vec<SocketAddr>>),
    Inherited(usize),
}

impl Source {
    /// Opens the listener: non-blocking, with `TCP_NODELAY` (inherited by accepted sockets on
    /// Linux) if asked.
    pub(crate) fn open(
        self,
        backlog: i32,
        reuse_port: bool,
        nodelay: bool,
    ) -> io::Result<TcpListener> {
        let listener = match self {
            Source::Std(l) => l,
            Source::Bind(addrs) => bind(addrs?, backlog, reuse_port)?,
            Source::Inherited(index) => inherited(index)?,
        };
        listener.set_nonblocking(true)?;
        if nodelay {
            socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
        }
        Ok(listener)
    }
}

/// Takes socket `index` from systemd socket activation. The descriptors are read from the
/// environment once per process; the `listenfd` crate checks `LISTEN_PID` and the socket's
/// type and family (its `unsafe` is the descriptor-to-listener conversion we forbid here).
pub(crate) fn inherited(index: usize) -> io::Result<TcpListener> {
    static FDS: std::sync::OnceLock<parking_lot::Mutex<listenfd::ListenFd>> =
        std::sync::OnceLock::new();
    let mut fds = FDS
        .get_or_init(|| parking_lot::Mutex::new(listenfd::ListenFd::from_env()))
        .lock();
    let passed = fds.len();
    let listener = fds
        .take_tcp_listener(index)
        .map_err(|e| io::Error::new(e.kind(), format!("inherited socket {index}: {e}")))?
        .ok_or_else(|| {
            let why = if passed == 0 {
                "no sockets were passed (LISTEN_FDS unset, or LISTEN_PID names another process)"
                    .to_owned()
            } else if index >= passed {
                format!("only {passed} socket(s) were passed")
            } else {
                "it was already taken by another proxy".to_owned()
            };
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("inherited socket {index}: {why}"),
            )
        })?;
    if !socket2::SockRef::from(&listener).is_listener()? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("inherited socket {index} is a TCP socket but not listening"),
        ));
    }
    Ok(listener)
}

pub(crate) fn bind(
    addrs: Vec<SocketAddr>,
    backlog: i32,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for addr in addrs {
        let attempt = (|| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            if reuse_port {
                socket.set_reuse_port(true)?;
            }
            socket.bind(&addr.into())?;
            socket.listen(backlog)?;
            Ok::<_, io::Error>(TcpListener::from(socket))
        })();
        match attempt {
            Ok(l) => return Ok(l),
            Err(e) => last = io::Error::new(e.kind(), format!("binding {addr}: {e}")),
        }
    }
    Err(last)
}
