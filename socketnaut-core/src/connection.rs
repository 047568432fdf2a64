//! An accepted [`Connection`] and the addresses of its two ends ([`ProxySocketAddressInfo`]),
//! as they travel from the acceptor to a worker.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Instant;

/// The address family of a socket address, named as the Node original names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::IPv4 => "IPv4",
            Family::IPv6 => "IPv6",
        })
    }
}

/// One end of a connection: address, family and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketAddressInfo {
    /// The IP address.
    pub address: IpAddr,
    /// The address family.
    pub family: Family,
    /// The port.
    pub port: u16,
}

impl From<SocketAddr> for SocketAddressInfo {
    fn from(addr: SocketAddr) -> Self {
        SocketAddressInfo {
            address: addr.ip(),
            family: if addr.is_ipv4() {
                Family::IPv4
            } else {
                Family::IPv6
            },
            port: addr.port(),
        }
    }
}

impl SocketAddressInfo {
    /// The address as a `SocketAddr`.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// Both ends of the client-to-proxy socket: `local` is the proxy's listening address as the
/// client reached it, `remote` is the client.
///
/// Unlike the Node original's `requestProxySocketAddressInfo`, which asks the proxy thread over
/// a message channel, this is captured at accept time and travels with the socket, so reading it
/// costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProxySocketAddressInfo {
    /// The proxy's end.
    pub local: SocketAddressInfo,
    /// The client's end.
    pub remote: SocketAddressInfo,
}

/// An accepted connection, handed from the acceptor thread to a worker.
///
/// The stream is the accepted socket itself (there is no second TCP hop). For a blocking server
/// it is in blocking mode; for an evented server it is non-blocking, ready to be wrapped with
/// `mio::net::TcpStream::from_std`.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    info: ProxySocketAddressInfo,
    id: u64,
    accepted_at: Instant,
}

impl Connection {
    pub(crate) fn new(
        stream: TcpStream,
        info: ProxySocketAddressInfo,
        id: u64,
        accepted_at: Instant,
    ) -> Connection {
        Connection {
            stream,
            info,
            id,
            accepted_at,
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket, mutably.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Both ends of the client socket.
    pub fn info(&self) -> ProxySocketAddressInfo {
        self.info
    }

    /// A number unique among this proxy's connections, for logs.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When the acceptor accepted it.
    pub fn accepted_at(&self) -> Instant {
        self.accepted_at
    }

    /// Takes the socket and its address info apart.
    pub fn into_parts(self) -> (TcpStream, ProxySocketAddressInfo) {
        (self.stream, self.info)
    }

    /// Replaces the addresses (with the ones a PROXY protocol header names).
    pub(crate) fn set_info(&mut self, info: ProxySocketAddressInfo) {
        self.info = info;
    }

    pub(crate) fn set_blocking(&self, blocking: bool) -> std::io::Result<()> {
        self.stream.set_nonblocking(!blocking)
    }
}
