//! PROXY protocol v1/v2 on a listener: hand-written headers over loopback, and real HAProxy
//! (`send-proxy`, `send-proxy-v2`) in front of the proxy.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{blocking_server, wait_for, Client, LineServer};
use socketnaut_core::{ServiceProxy, ServiceProxyBuilder};
use socketnaut_test::peer::{free_addr, Peer};

const LONG: Duration = Duration::from_secs(10);

fn evented() -> ServiceProxyBuilder {
    ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .proxy_protocol(true)
        .evented(|_| Ok(LineServer::new()))
}

fn blocking() -> ServiceProxyBuilder {
    ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .proxy_protocol(true)
        .blocking(|_| Ok(blocking_server))
}

fn both() -> [(&'static str, ServiceProxyBuilder); 2] {
    [("evented", evented()), ("blocking", blocking())]
}

fn v2_header(src: [u8; 4], dst: [u8; 4], ports: (u16, u16)) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&ports.0.to_be_bytes());
    h.extend_from_slice(&ports.1.to_be_bytes());
    h
}

/// Sends `first` then reads one line.
fn ask_raw(addr: SocketAddr, first: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(LONG))?;
    s.write_all(first)?;
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while s.read(&mut byte)? == 1 && byte[0] != b'\n' {
        out.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn headers_name_the_real_client_for_both_kinds() {
    for (kind, builder) in both() {
        let proxy = builder.build().expect("build");
        proxy.ready().expect("ready");
        let addr = proxy.local_addr();
        // v1 and the first command in one write, as a balancer sends them.
        let reply = ask_raw(
            addr,
            b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\ninfo\n",
        )
        .unwrap();
        assert!(
            reply.starts_with("192.0.2.7:40000 198.51.100.1:443 "),
            "{kind}: {reply}"
        );
        let mut v2 = v2_header([203, 0, 113, 9], [10, 0, 0, 1], (5555, 8443));
        v2.extend_from_slice(b"info\n");
        let reply = ask_raw(addr, &v2).unwrap();
        assert!(
            reply.starts_with("203.0.113.9:5555 10.0.0.1:8443 "),
            "{kind}: {reply}"
        );
        let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\ninfo\n";
        let reply = ask_raw(addr, v6).unwrap();
        assert!(
            reply.starts_with("[2001:db8::7]:40000 [2001:db8::1]:443 "),
            "{kind}: {reply}"
        );
        assert_eq!(proxy.stats().proxy_header_errors, 0, "{kind}");
        proxy.shutdown(LONG);
    }
}

#[test]
fn a_header_dribbled_in_does_not_hold_up_other_connections() {
    let proxy = evented().build().expect("build");
    proxy.ready().expect("ready");
    let addr = proxy.local_addr();
    let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n";
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(LONG)).unwrap();
    slow.set_nodelay(true).unwrap();
    for (i, byte) in header.iter().enumerate() {
        slow.write_all(&[*byte]).unwrap();
        if i % 10 == 0 {
            // Meanwhile, on the same (single) worker, another client is served.
            let started = Instant::now();
            let mut header = b"PROXY TCP4 192.0.2.8 198.51.100.1 40001 443\r\n".to_vec();
            header.extend_from_slice(b"echo quick\n");
            assert_eq!(ask_raw(addr, &header).unwrap(), "quick");
            assert!(started.elapsed() < Duration::from_secs(2));
        }
        thread::sleep(Duration::from_millis(5));
    }
    slow.write_all(b"info\n").unwrap();
    let mut reply = String::new();
    let mut byte = [0u8; 1];
    while slow.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        reply.push(byte[0] as char);
    }
    assert!(
        reply.starts_with("192.0.2.7:40000 198.51.100.1:443 "),
        "{reply}"
    );
    assert_eq!(proxy.stats().proxy_header_errors, 0);
    proxy.shutdown(LONG);
}

#[test]
fn missing_bad_or_late_headers_close_the_connection_and_are_counted() {
    for (kind, builder) in both() {
        let proxy = builder
            .proxy_header_timeout(Duration::from_millis(300))
            .build()
            .expect("build");
        proxy.ready().expect("ready");
        let addr = proxy.local_addr();
        // No header at all: the client's own command is not a header.
        let e = ask_raw(addr, b"info\n");
        assert!(matches!(e.as_deref(), Ok("") | Err(_)), "{kind}: {e:?}");
        // A malformed header.
        let e = ask_raw(addr, b"PROXY TCP4 not an address 1 2\r\ninfo\n");
        assert!(matches!(e.as_deref(), Ok("") | Err(_)), "{kind}: {e:?}");
        // Silence past the header deadline.
        let started = Instant::now();
        let e = ask_raw(addr, b"PROXY TCP4 192.0");
        assert!(matches!(e.as_deref(), Ok("") | Err(_)), "{kind}: {e:?}");
        assert!(started.elapsed() < LONG, "{kind}: closed by the deadline");
        assert!(
            wait_for(LONG, || proxy.stats().proxy_header_errors == 3),
            "{kind}: {}",
            proxy.stats()
        );
        // Nothing leaked: every connection was accounted for as closed.
        assert!(wait_for(LONG, || proxy.stats().active == 0), "{kind}");
        // And a good one still works afterwards.
        let reply = ask_raw(addr, b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\necho ok\n").unwrap();
        assert_eq!(reply, "ok", "{kind}");
        proxy.shutdown(LONG);
    }
}

#[test]
fn drain_closes_connections_still_waiting_for_their_header() {
    let proxy = evented().build().expect("build");
    proxy.ready().expect("ready");
    let mut waiting = TcpStream::connect(proxy.local_addr()).unwrap();
    waiting.write_all(b"PROXY TCP4 192").unwrap();
    assert!(wait_for(LONG, || proxy.stats().active == 1));
    let started = Instant::now();
    let reports = proxy.shutdown(LONG);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not held to the deadline"
    );
    assert_eq!(reports.len(), 1);
    waiting.set_read_timeout(Some(LONG)).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(waiting.read(&mut buf), Ok(0) | Err(_)));
}

/// HAProxy in TCP mode in front of the proxy, one frontend per PROXY protocol version.
struct Haproxy {
    _peer: Peer,
    v1: SocketAddr,
    v2: SocketAddr,
}

impl Haproxy {
    fn start(backend: SocketAddr) -> Haproxy {
        let (v1, v2) = (free_addr(), free_addr());
        let config = |_: &Path| {
            format!(
                "global\n  maxconn 256\n\
                 defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
                 frontend v1\n  bind {v1}\n  default_backend v1\n\
                 backend v1\n  server s {backend} send-proxy\n\
                 frontend v2\n  bind {v2}\n  default_backend v2\n\
                 backend v2\n  server s {backend} send-proxy-v2\n"
            )
        };
        let peer = Peer::start(
            "haproxy",
            "apt-get install haproxy",
            &["-db", "-f", "{config}"],
            config,
            &[v1, v2],
        );
        Haproxy {
            _peer: peer,
            v1,
            v2,
        }
    }
}

#[test]
fn behind_haproxy_the_server_sees_the_real_client() {
    for (kind, builder) in both() {
        let proxy = builder.build().expect("build");
        proxy.ready().expect("ready");
        let haproxy = Haproxy::start(proxy.local_addr());
        for (version, frontend) in [("send-proxy", haproxy.v1), ("send-proxy-v2", haproxy.v2)] {
            let mut c = Client::connect(frontend);
            let info = c.ask("info").unwrap();
            let parts: Vec<&str> = info.split(' ').collect();
            assert_eq!(
                parts[0],
                c.local_addr().to_string(),
                "{kind} {version}: remote is the client, not haproxy"
            );
            assert_eq!(
                parts[1],
                frontend.to_string(),
                "{kind} {version}: local is the address the client connected to"
            );
            assert_eq!(c.ask("echo after").unwrap(), "after", "{kind} {version}");
        }
        assert_eq!(proxy.stats().proxy_header_errors, 0, "{kind}");
        drop(haproxy);
        proxy.shutdown(LONG);
    }
}
