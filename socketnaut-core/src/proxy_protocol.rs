//! The PROXY protocol (v1 text, v2 binary) header that a load balancer such as HAProxy or nginx
//! sends first on each connection, naming the real client. Parsing is the `ppp` crate's; this
//! module reads the header off the socket on the worker thread without consuming a byte past
//! it, so the server behind sees the stream exactly as the client sent it.
//!
//! With `proxy_protocol(true)` every connection must open with a header (the first byte tells
//! which version). It is read on the worker thread, never on the acceptor, and before the server
//! sees the connection, so servers need no change: they get a `Connection` whose `info()` names
//! the client and the address it connected to.
//!
//! - Not a byte past the header is consumed: the reader peeks, hands the bytes so far to `ppp`,
//!   and takes off the socket only bytes known to belong to the header (all of them while it is
//!   incomplete, exactly the rest once complete). A request sent in the same segment, as
//!   balancers do, stays in the socket for the server. v1 lines are parsed only once their CRLF
//!   has arrived (`ppp` can call a line cut inside a port malformed rather than incomplete); they
//!   are capped at 107 bytes, v2 headers at their 16-bit length.
//! - Evented workers try the header at once (it usually arrived with the connection) and
//!   otherwise keep the connection in a second slab, registered for reading, with its deadline
//!   in the same timer heap (`pool::worker::headers`); their tokens carry the slab's spare top
//!   bit. They are not migrated, a drain closes them (nothing is in flight), and the worker does
//!   not exit while any wait.
//! - Blocking workers read it with a socket read timeout that runs to the deadline.
//! - The deadline (`proxy_header_timeout`, 5 s) runs from when the worker takes the connection.
//!   Missing, malformed and late headers close the connection, log a warning with the reason and
//!   count in `proxy_header_errors`. Headers without addresses (`LOCAL`, `UNKNOWN`, unspecified
//!   and UNIX families) keep the socket's addresses.
//! - Tests: byte-by-byte splits of v1/v2/IPv6 headers over real sockets with the trailing bytes
//!   checked, the error table, both server kinds, a dribbling header next to a served neighbour
//!   on the same worker, drain, HAProxy (`send-proxy`, `send-proxy-v2`) in front of both kinds,
//!   and nginx's stream proxy (`proxy_protocol on`) in front of the HTTP server, all started by
//!   the tests.

use std::io::{self, Read};
use std::net::SocketAddr;

use ppp::{v1, v2, HeaderResult, PartialResult};

use crate::connection::ProxySocketAddressInfo;

/// The longest v1 header, CRLF included (the specification's figure).
const V1_MAX: usize = 107;
/// The longest v2 header: 16 fixed bytes and a 16-bit length.
const V2_MAX: usize = 16 + u16::MAX as usize;
/// Bytes looked at per peek.
const PEEK: usize = 512;

/// A socket the header can be read from: std's blocking one or mio's non-blocking one.
pub(crate) trait PeekRead {
    /// Copies queued bytes without consuming them.
    fn peek(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Consumes queued bytes.
    fn consume(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl PeekRead for std::net::TcpStream {
    fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::net::TcpStream::peek(self, buf)
    }
    fn consume(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut &*self).read(buf)
    }
}

impl PeekRead for mio::net::TcpStream {
    fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        mio::net::TcpStream::peek(self, buf)
    }
    fn consume(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut &*self).read(buf)
    }
}

/// Where reading a header stands.
#[derive(Debug)]
pub(crate) enum Progress {
    /// More bytes are needed (the socket would block).
    Pending,
    /// The header was read; the connection's addresses as it names them.
    Done(ProxySocketAddressInfo),
}

/// Reads one PROXY header, across as many calls as the bytes take to arrive.
#[derive(Debug, Default)]
pub(crate) struct HeaderReader {
    /// Bytes consumed so far; all of them belong to the header.
    buf: Vec<u8>,
}

impl HeaderReader {
    /// Peeks at what has arrived, parses the header prefix consumed so far plus the peeked
    /// bytes, and consumes exactly as many bytes as belong to the header. `socket_info` is what
    /// the socket itself says, kept when the header carries no addresses (`LOCAL` health
    /// checks, `UNKNOWN`, unspecified or UNIX families).
    ///
    /// On a blocking socket with a read timeout, `Pending` means the timeout passed.
    ///
    /// Errors: the peer closed first (`UnexpectedEof`), the header is malformed or too long
    /// (`InvalidData`), or the socket failed.
    pub(crate) fn advance(
        &mut self,
        socket: &impl PeekRead,
        socket_info: ProxySocketAddressInfo,
    ) -> io::Result<Progress> {
        let mut peeked = [0u8; PEEK];
        loop {
            let n = match socket.peek(&mut peeked) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed before a complete PROXY protocol header",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let consumed = self.buf.len();
            self.buf.extend_from_slice(&peeked[..n]);
            let parsed = parse(&self.buf);
            let outcome = (!parsed.is_incomplete()).then(|| header_info(parsed, socket_info));
            // Which version it is shows in the first byte, peeked now or consumed before.
            let limit = if self.buf[0] == b'P' { V1_MAX } else { V2_MAX };
            // Only bytes known to belong to the header are taken off the socket below.
            self.buf.truncate(consumed);
            match outcome {
                // Every peeked byte is part of the header.
                None if consumed + n > limit => {
                    return Err(invalid(format!(
                        "PROXY protocol header longer than {limit} bytes"
                    )))
                }
                None => self.take(socket, n)?,
                Some(Err(e)) => return Err(e),
                Some(Ok((len, info))) => {
                    self.take(socket, len - consumed)?;
                    return Ok(Progress::Done(info));
                }
            }
        }
    }

    /// Consumes `n` bytes that a peek showed are queued.
    fn take(&mut self, socket: &impl PeekRead, n: usize) -> io::Result<()> {
        let start = self.buf.len();
        self.buf.resize(start + n, 0);
        let mut at = start;
        while at < start + n {
            match socket.consume(&mut self.buf[at..start + n]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed inside the PROXY protocol header",
                    ))
                }
                Ok(k) => at += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Parses by the first byte: v2's signature starts with CR, v1's with "PROXY". (`ppp`'s own
/// dispatch retries a bad v2 header as v1, which would blame the wrong version.) A v1 line is
/// only handed to `ppp` once its CRLF has arrived: a line cut inside a number or between CR
/// and LF can look malformed rather than incomplete.
fn parse(buf: &[u8]) -> HeaderResult<'_> {
    const V1_PREFIX: &[u8] = b"PROXY ";
    if buf.first() == Some(&b'\r') {
        return HeaderResult::V2(v2::Header::try_from(buf));
    }
    let plausible = buf.starts_with(V1_PREFIX) || V1_PREFIX.starts_with(buf);
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) if plausible => HeaderResult::V1(v1::Header::try_from(&buf[..end + 2])),
        None if plausible => HeaderResult::V1(Err(v1::BinaryParseError::Parse(
            v1::ParseError::MissingNewLine,
        ))),
        _ => HeaderResult::V1(Err(v1::BinaryParseError::Parse(
            v1::ParseError::InvalidPrefix,
        ))),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The header's length and the addresses it names (or the socket's, when it names none).
fn header_info(
    parsed: HeaderResult<'_>,
    socket_info: ProxySocketAddressInfo,
) -> io::Result<(usize, ProxySocketAddressInfo)> {
    let pair = |remote: SocketAddr, local: SocketAddr| ProxySocketAddressInfo {
        local: local.into(),
        remote: remote.into(),
    };
    match parsed {
        HeaderResult::V1(Ok(h)) => {
            let info = match h.addresses {
                v1::Addresses::Tcp4(a) => pair(
                    (a.source_address, a.source_port).into(),
                    (a.destination_address, a.destination_port).into(),
                ),
                v1::Addresses::Tcp6(a) => pair(
                    (a.source_address, a.source_port).into(),
                    (a.destination_address, a.destination_port).into(),
                ),
                v1::Addresses::Unknown => socket_info,
            };
            Ok((h.header.len(), info))
        }
        HeaderResult::V2(Ok(h)) => {
            let info = match (h.command, h.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => pair(
                    (a.source_address, a.source_port).into(),
                    (a.destination_address, a.destination_port).into(),
                ),
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => pair(
                    (a.source_address, a.source_port).into(),
                    (a.destination_address, a.destination_port).into(),
                ),
                _ => socket_info,
            };
            Ok((h.len(), info))
        }
        HeaderResult::V1(Err(e)) => Err(invalid(format!("bad PROXY protocol v1 header: {e}"))),
        HeaderResult::V2(Err(e)) => Err(invalid(format!("bad PROXY protocol v2 header: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    fn socket_info() -> ProxySocketAddressInfo {
        ProxySocketAddressInfo {
            local: "127.0.0.1:80".parse::<SocketAddr>().unwrap().into(),
            remote: "127.0.0.1:5555".parse::<SocketAddr>().unwrap().into(),
        }
    }

    fn v2_ipv4(command: u8) -> Vec<u8> {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        h.push(0x20 | command); // version 2, LOCAL (0) or PROXY (1)
        h.push(0x11); // IPv4, stream
        h.extend_from_slice(&[0, 12 + 7]); // addresses and one TLV
        h.extend_from_slice(&[192, 0, 2, 7, 198, 51, 100, 1]);
        h.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb]); // ports 12345 → 443
        h.extend_from_slice(&[0x04, 0x00, 0x04, b'n', b'o', b'o', b'p']); // NOOP TLV
        h
    }

    /// Writes `header` + "rest" in pieces of `step` bytes over a real socket pair, driving a
    /// non-blocking reader between pieces; returns the outcome and what was left unread.
    fn drive(header: &[u8], step: usize) -> (io::Result<ProxySocketAddressInfo>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nodelay(true).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let server = mio::net::TcpStream::from_std(server);
        let mut wire = header.to_vec();
        wire.extend_from_slice(b"rest");
        let mut reader = HeaderReader::default();
        let mut outcome = None;
        let mut sent = 0;
        for piece in wire.chunks(step) {
            client.write_all(piece).unwrap();
            sent += piece.len();
            std::thread::sleep(std::time::Duration::from_millis(2));
            match reader.advance(&server, socket_info()) {
                Ok(Progress::Pending) => {}
                Ok(Progress::Done(info)) => {
                    outcome = Some(Ok(info));
                    break;
                }
                Err(e) => {
                    outcome = Some(Err(e));
                    break;
                }
            }
        }
        client.write_all(&wire[sent..]).unwrap();
        drop(client);
        let mut rest = Vec::new();
        let mut server = std::net::TcpStream::from(server);
        server.set_nonblocking(false).unwrap();
        let _ = server.read_to_end(&mut rest);
        let outcome = outcome.unwrap_or_else(|| Err(io::Error::other("never finished")));
        (outcome, rest)
    }

    #[test]
    fn v1_and_v2_in_any_split_leave_the_stream_intact() {
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 12345 443\r\n".to_vec();
        let v1_6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 12345 443\r\n".to_vec();
        let v2 = v2_ipv4(1);
        for (header, remote, local) in [
            (&v1, "192.0.2.7:12345", "198.51.100.1:443"),
            (&v1_6, "[2001:db8::7]:12345", "[2001:db8::1]:443"),
            (&v2, "192.0.2.7:12345", "198.51.100.1:443"),
        ] {
            for step in [1, 3, 16, 17, header.len(), header.len() + 4] {
                let (info, rest) = drive(header, step);
                let info = info.unwrap_or_else(|e| panic!("step {step}: {e}"));
                assert_eq!(info.remote.socket_addr().to_string(), remote, "step {step}");
                assert_eq!(info.local.socket_addr().to_string(), local, "step {step}");
                assert_eq!(
                    rest, b"rest",
                    "step {step}: bytes after the header are kept"
                );
            }
        }
    }

    #[test]
    fn headers_without_addresses_keep_the_sockets() {
        for header in [b"PROXY UNKNOWN\r\n".to_vec(), v2_ipv4(0)] {
            let (info, rest) = drive(&header, header.len() + 4);
            assert_eq!(info.unwrap(), socket_info());
            assert_eq!(rest, b"rest");
        }
    }

    #[test]
    fn bad_headers_are_descriptive_errors() {
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let cases: [(&[u8], io::ErrorKind, &str); 4] = [
            (
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                io::ErrorKind::InvalidData,
                "v1",
            ),
            (
                b"PROXY TCP4 nonsense here 1 2\r\n",
                io::ErrorKind::InvalidData,
                "v1",
            ),
            (long.as_bytes(), io::ErrorKind::InvalidData, "107"),
            (
                b"\r\n\r\n\0\r\nQUIT\n\x30\x11\0\0",
                io::ErrorKind::InvalidData,
                "v2",
            ),
        ];
        for (header, kind, words) in cases {
            let (outcome, _) = drive(header, 64);
            let e = outcome.expect_err(&String::from_utf8_lossy(header));
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        // An over-long v1 line arriving whole is refused by the first look at it.
        let unended = format!("PROXY TCP4 {}", "1".repeat(300));
        let (outcome, _) = drive(unended.as_bytes(), 1024);
        let e = outcome.expect_err("too long");
        assert!(e.to_string().contains("longer than 107 bytes"), "{e}");
    }

    #[test]
    fn a_peer_that_closes_early_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(b"PROXY TCP4 1.2").unwrap();
        drop(client);
        let mut reader = HeaderReader::default();
        let e = loop {
            match reader.advance(&server, socket_info()) {
                Ok(Progress::Pending) => continue,
                Ok(Progress::Done(_)) => panic!("no header was sent"),
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    }
}
