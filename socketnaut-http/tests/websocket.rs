//! WebSockets on upgraded connections (`websocket::upgrade`, feature `websocket`): a tungstenite
//! client over plain TCP and over TLS, handshakes the server refuses, and the drain.

mod common;

use std::io;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::tls::{pki, server_config};
use common::{server, Conn};
use socketnaut_core::ServiceProxy;
use socketnaut_http::websocket::{self, tungstenite};
use socketnaut_http::{Body, Http, Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// Echoes every text and binary message; on the drain's notice, closes with 1001.
fn echo(req: Request) -> Response {
    match req.uri().path() {
        "/bad-101" => {
            // A 101 to a request that asked for no upgrade.
            let mut r = Response::new(Body::upgrade(|_| Ok(())));
            *r.status_mut() = socketnaut_http::http::StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut()
                .insert("upgrade", "websocket".parse().unwrap());
            r
        }
        _ => websocket::upgrade(&req, |ws| loop {
            match ws.read() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    ws.send(m).map_err(io::Error::other)?
                }
                Ok(_) => {}
                Err(e) if websocket::is_drain_notice(&e) => {
                    let frame = tungstenite::protocol::CloseFrame {
                        code: CloseCode::Away,
                        reason: "draining".into(),
                    };
                    let _ = ws.close(Some(frame));
                }
                Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(io::Error::other(e)),
            }
        }),
    }
}

fn exchange_messages<S: io::Read + io::Write>(ws: &mut tungstenite::WebSocket<S>) {
    for i in 0..100 {
        let text = format!("message {i}");
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(text));
    }
    let big = vec![7u8; 200_000];
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
}

fn connect(proxy: &ServiceProxy) -> tungstenite::WebSocket<TcpStream> {
    let tcp = TcpStream::connect(proxy.local_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let url = format!("ws://{}/", proxy.local_addr());
    let (ws, resp) = tungstenite::client(url.as_str(), tcp).expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

#[test]
fn echo_over_plain_tcp_counts_as_a_connection() {
    let proxy = server(Http::new(echo));
    let mut ws = connect(&proxy);
    exchange_messages(&mut ws);
    assert_eq!(proxy.stats().active, 1, "the upgraded connection is open");
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(socketnaut_test::wait_for(Duration::from_secs(5), || {
        proxy.stats().active == 0
    }));
}

#[test]
fn echo_over_tls() {
    let pki = pki();
    let proxy = server(Http::new(echo).tls(server_config(&pki)));
    let tls = common::tls::connect(proxy.local_addr(), &pki);
    let (mut ws, resp) = tungstenite::client("wss://localhost/", tls).expect("handshake");
    assert_eq!(resp.status(), 101);
    exchange_messages(&mut ws);
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

#[test]
fn handshakes_the_server_refuses() {
    let proxy = server(Http::new(echo));
    let cases: [(&[u8], u16); 4] = [
        (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 426),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            426,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
            400,
        ),
        (b"GET /bad-101 HTTP/1.1\r\nHost: t\r\n\r\n", 500),
    ];
    for (raw, status) in cases {
        let mut c = Conn::open(proxy.local_addr());
        c.send(raw).unwrap();
        let r = c.response().unwrap();
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(raw));
        if status == 426 {
            assert_eq!(r.header("sec-websocket-version"), Some("13"));
        }
    }
    // The server is unharmed.
    let mut ws = connect(&proxy);
    exchange_messages(&mut ws);
}

#[test]
fn the_drain_tells_the_socket_and_the_deadline_closes_a_deaf_one() {
    let proxy = server(Http::new(echo));
    let mut polite = connect(&proxy);
    polite.send(Message::text("hello")).unwrap();
    assert_eq!(polite.read().unwrap(), Message::text("hello"));
    // A client that never answers the close frame: the deadline closes it.
    let mut deaf = connect(&proxy);
    deaf.send(Message::text("hello")).unwrap();
    assert_eq!(deaf.read().unwrap(), Message::text("hello"));
    let started = Instant::now();
    let stopper = thread::spawn(move || proxy.shutdown(Duration::from_secs(2)));
    // The polite client gets a close frame with 1001 soon after the drain begins, answers it,
    // and the server ends the connection.
    match polite.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    loop {
        match polite.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // The deaf one reads its close frame and then nothing: the deadline ends it.
    assert!(matches!(deaf.read(), Ok(Message::Close(_))));
    let reports = stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(common::all_clean(&reports), "{reports:?}");
    let mut rest = Vec::new();
    let _ = io::Read::read_to_end(deaf.get_mut(), &mut rest);
}

/// A Python interpreter that has the `websockets` package (Debian's `python3-websockets`).
fn python_with_websockets() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn a_python_websockets_client() {
    let Some(python) = python_with_websockets() else {
        eprintln!("skipped: no python3 with the websockets package");
        return;
    };
    let proxy = server(Http::new(echo));
    let script = r#"
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url) as ws:
        for i in range(50):
            await ws.send(f"m{i}")
            got = await ws.recv()
            assert got == f"m{i}", got
        await ws.send(b"\x00\x01" * 40000)
        assert await ws.recv() == b"\x00\x01" * 40000
    print("ok")
asyncio.run(main(sys.argv[1]))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &format!("ws://{}/", proxy.local_addr())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn the_drain_with_a_stream_and_a_websocket_open() {
    use std::io::{BufRead, Write};
    let routes = |req: Request| match req.uri().path() {
        "/events" => Response::new(Body::push(|w| {
            while !w.is_draining() {
                w.write_all(b"data: tick\n\n")?;
                w.flush()?;
                thread::sleep(Duration::from_millis(20));
            }
            w.write_all(b"event: bye\n\n")
        })),
        _ => echo(req),
    };
    let proxy = server(Http::new(routes));
    let mut sse = Conn::open(proxy.local_addr());
    sse.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    sse.reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut ws = connect(&proxy);
    ws.send(Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hi"));
    assert_eq!(proxy.stats().active, 2);
    let started = Instant::now();
    let stopper = thread::spawn(move || proxy.shutdown(Duration::from_secs(3)));
    // Both are told: the stream says goodbye and ends whole, the socket gets 1001.
    let rest = String::from_utf8_lossy(&sse.rest()).into_owned();
    assert!(
        rest.contains("event: bye") && rest.ends_with("0\r\n\r\n"),
        "{rest}"
    );
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    while ws.read().is_ok() {}
    let reports = stopper.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(common::all_clean(&reports), "{reports:?}");
}
