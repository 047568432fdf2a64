//! The access log has exactly one line per response, the server's own rejections included,
//! with the status, the bytes of content sent and the client's address; behind a PROXY
//! protocol header, the client the header names.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use common::{app, Conn};
use socketnaut_http::access::{AccessRecord, ACCESS_TARGET};
use socketnaut_http::Http;
use socketnaut_test::wait_for;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps the access-log lines (this test binary's only logger).
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == ACCESS_TARGET
    }
    fn log(&self, r: &log::Record<'_>) {
        if r.target() == ACCESS_TARGET {
            LINES.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// `client status bytes "method target"` per response: easy to compare.
fn compact(r: &AccessRecord<'_>) -> String {
    let request = match (r.method, r.target) {
        (Some(m), Some(t)) => format!("{m} {t}"),
        _ => "-".to_owned(),
    };
    format!("{} {} {} {request}", r.client, r.status.as_u16(), r.bytes)
}

fn lines_for(client: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(client))
        .cloned()
        .collect()
}

#[test]
fn one_line_per_response_rejections_included() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let proxy = Http::new(app)
        .access_log(Some(compact))
        .proxy()
        .bind("127.0.0.1:0")
        .build()
        .unwrap();
    proxy.ready().unwrap();
    let addr = proxy.local_addr();
    // A second service with a short header timeout, for the 408 (kept apart so the first
    // one's keep-alive connection cannot time out between its requests on a busy machine).
    let impatient = Http::new(app)
        .access_log(Some(compact))
        .header_timeout(Duration::from_millis(300))
        .proxy()
        .bind("127.0.0.1:0")
        .build()
        .unwrap();
    impatient.ready().unwrap();

    // Served requests on one keep-alive connection: a body, a stream, HEAD, a 404.
    let mut c = Conn::open(addr);
    let me = c.writer.local_addr().unwrap().to_string();
    assert_eq!(c.get("/").status, 200);
    assert_eq!(c.get("/stream?n=100000").body.len(), 100_000);
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(c.response_to(true).unwrap().status, 200);
    assert_eq!(c.get("/missing").status, 404);
    let want = [
        format!("{me} 200 12 GET /"),
        format!("{me} 200 100000 GET /stream?n=100000"),
        format!("{me} 200 0 HEAD /"),
        format!("{me} 404 9 GET /missing"),
    ];
    assert!(wait_for(Duration::from_secs(5), || lines_for(&me).len() == 4));
    assert_eq!(lines_for(&me), want);

    // The server's own rejections, each on its own connection.
    let rejected: [(&[u8], u16, std::net::SocketAddr); 4] = [
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, addr),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9999999\r\n\r\n",
            413,
            addr,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n",
            408,
            impatient.local_addr(),
        ),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, addr),
    ];
    for (raw, status, to) in rejected {
        let mut s = TcpStream::connect(to).unwrap();
        let client = s.local_addr().unwrap().to_string();
        s.write_all(raw).unwrap();
        assert!(
            wait_for(Duration::from_secs(5), || lines_for(&client).len() == 1),
            "one line for the {status} from {client}: {:#?}",
            LINES.lock().unwrap()
        );
        let line = lines_for(&client).remove(0);
        assert!(line.starts_with(&format!("{client} {status} ")), "{line}");
    }
    proxy.shutdown(Duration::from_secs(1));
    impatient.shutdown(Duration::from_secs(1));

    // Behind a balancer: the client the PROXY protocol header names.
    let proxied = Http::new(app)
        .access_log(Some(compact))
        .proxy()
        .bind("127.0.0.1:0")
        .proxy_protocol(true)
        .build()
        .unwrap();
    proxied.ready().unwrap();
    let mut c = Conn::open(proxied.local_addr());
    c.send(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(c.response().unwrap().status, 200);
    assert!(wait_for(Duration::from_secs(5), || lines_for(
        "203.0.113.7:5555"
    )
    .len()
        == 1));
    proxied.shutdown(Duration::from_secs(1));
    assert_eq!(
        LINES.lock().unwrap().len(),
        9,
        "exactly one line per response: {:#?}",
        LINES.lock().unwrap()
    );
}
