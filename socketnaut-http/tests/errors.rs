//! Errors the user owns: the server's own error responses rendered by a hook
//! (`Http::error_page`), and handlers returning `Result<Response, E>`.

mod common;

use std::fs::File;
use std::io::Read;
use std::time::Duration;

use common::{server, Conn};
use socketnaut_http::http::StatusCode;
use socketnaut_http::{Http, HttpError, Request, Response};

fn json_errors(e: &socketnaut_http::ServerError) -> Response {
    let mut r = Response::new(
        format!(
            "{{\"status\":{},\"error\":\"{}\"}}",
            e.status.as_u16(),
            e.reason
        )
        .into(),
    );
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    // Not kept: the status is the server's.
    *r.status_mut() = StatusCode::OK;
    r
}

fn fallible(req: Request) -> Result<Response, HttpError> {
    match req.uri().path() {
        "/missing" => {
            File::open("/nonexistent/socketnaut/file")?;
            Ok(Response::new("unreachable".into()))
        }
        "/upload" => {
            let mut body = req.into_body();
            body.set_limit(10);
            let mut v = Vec::new();
            body.read_to_end(&mut v)?;
            Ok(Response::new(format!("{} bytes", v.len()).into()))
        }
        "/teapot" => Err(HttpError::new(StatusCode::IM_A_TEAPOT, "short and stout")),
        "/panic" => panic!("on purpose"),
        _ => Ok(Response::new("ok".into())),
    }
}

#[test]
fn the_servers_own_errors_go_through_the_hook() {
    let proxy = server(
        Http::new(fallible)
            .error_page(json_errors)
            .header_timeout(Duration::from_millis(300)),
    );
    let cases: [(&[u8], u16, &str); 4] = [
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host"),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n",
            413,
            "request body too large",
        ),
        (
            b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n",
            500,
            "internal server error",
        ),
        (b"GET / HTTP/1.1\r\nHost: t\r\n", 408, ""),
    ];
    for (raw, status, reason) in cases {
        let mut c = Conn::open(proxy.local_addr());
        c.send(raw).unwrap();
        let r = c.response().unwrap();
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("connection"), Some("close"));
        assert!(
            r.text().starts_with(&format!("{{\"status\":{status},")),
            "{}",
            r.text()
        );
        assert!(r.text().contains(reason), "{}", r.text());
    }
    // HEAD: the hook's headers, its length, no content.
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n").unwrap();
    let r = c.response_to(true).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.header("content-length").is_some_and(|n| n != "0"));
    assert!(c.rest().is_empty());
}

#[test]
fn a_panicking_hook_falls_back_to_the_default() {
    let proxy = server(Http::new(fallible).error_page(|_| panic!("the hook broke")));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n").unwrap();
    let r = c.response().unwrap();
    assert_eq!(
        (r.status, r.header("content-type")),
        (400, Some("text/plain"))
    );
}

#[test]
fn handlers_return_results() {
    let proxy = server(Http::new(fallible).stream_request_bodies(true));
    let mut c = Conn::open(proxy.local_addr());
    assert_eq!(c.get("/").text(), "ok");
    assert_eq!(c.get("/missing").status, 404);
    let r = c.get("/teapot");
    assert_eq!((r.status, r.text().as_str()), (418, "short and stout\n"));
    c.send(b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert_eq!(c.response().unwrap().text(), "5 bytes");
    // Over the handler's limit: BodyTooLarge inside the I/O error, 413.
    c.send(b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n")
        .unwrap();
    c.send(&[b'x'; 50]).unwrap();
    assert_eq!(c.response().unwrap().status, 413);
}
