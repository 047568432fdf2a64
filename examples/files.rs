//! Files in and out, and server-sent events: `PUT /files/NAME` streams the request body into
//! DIR (never whole in memory), `GET /files/NAME` streams it back with `Content-Length`,
//! validators and `Range` (`sendfile` on plain TCP), and `GET /events` sends one event a
//! second until the server drains, then says goodbye.
//!
//! ```text
//! cargo run --release --example files [ADDR] [DIR]    # default 127.0.0.1:3080, a temporary directory
//! curl -T big.iso http://127.0.0.1:3080/files/big.iso
//! curl -r 0-99 http://127.0.0.1:3080/files/big.iso | xxd | head
//! curl -I http://127.0.0.1:3080/files/big.iso
//! curl -N http://127.0.0.1:3080/events
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use socketnaut::http::http::{Method, StatusCode};
use socketnaut::http::{files, Body, Http, Request, Response};

/// The largest upload accepted.
const MAX_UPLOAD: u64 = 16 << 30;

fn status(s: StatusCode, text: &str) -> Response {
    let mut r = Response::new(format!("{text}\n").into());
    *r.status_mut() = s;
    r
}

/// A file name without a path in it.
fn valid(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn put(dir: &Path, name: &str, req: Request) -> Response {
    let mut body = req.into_body();
    body.set_limit(MAX_UPLOAD);
    // Into a temporary name first, so a failed upload never replaces a good file.
    let partial = dir.join(format!(".{name}.partial"));
    let result = File::create(&partial).and_then(|mut f| {
        let n = io::copy(&mut body, &mut f)?;
        f.sync_data()?;
        fs::rename(&partial, dir.join(name))?;
        Ok(n)
    });
    match result {
        Ok(n) => {
            let mut r = status(StatusCode::CREATED, &format!("{n} bytes"));
            r.headers_mut()
                .insert("location", format!("/files/{name}").parse().unwrap());
            r
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            let code = match e.kind() {
                io::ErrorKind::InvalidData => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            status(code, &e.to_string())
        }
    }
}

fn events() -> Response {
    let mut r = Response::new(Body::push(|w| {
        let mut n = 0u64;
        while !w.is_draining() {
            let now = httpdate::fmt_http_date(SystemTime::now());
            write!(w, "id: {n}\ndata: {now}\n\n")?;
            w.flush()?;
            n += 1;
            // A second, in slices, so a drain is seen within a tenth of one.
            for _ in 0..10 {
                if w.is_draining() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        write!(w, "event: bye\ndata: the server is shutting down\n\n")?;
        Ok(())
    }));
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().unwrap());
    r
}

fn routes(dir: &Path, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/events" {
        return events();
    }
    let Some(name) = path.strip_prefix("/files/").filter(|n| valid(n)) else {
        return status(StatusCode::NOT_FOUND, "try /files/NAME or /events");
    };
    let name = name.to_owned();
    match *req.method() {
        Method::PUT => put(dir, &name, req),
        Method::GET | Method::HEAD => match File::open(dir.join(&name)) {
            Ok(f) => files::serve(&req, f)
                .unwrap_or_else(|e| status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                status(StatusCode::NOT_FOUND, "no such file")
            }
            Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        _ => {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD or PUT");
            r.headers_mut()
                .insert("allow", "GET, HEAD, PUT".parse().unwrap());
            r
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let dir: PathBuf = match args.next() {
        Some(d) => d.into(),
        None => std::env::temp_dir().join(format!("socketnaut-files-{}", std::process::id())),
    };
    fs::create_dir_all(&dir)?;
    let shared = Arc::new(dir.clone());
    let proxy = Http::new(move |req: Request| routes(&shared, req))
        .stream_request_bodies(true)
        .proxy()
        .bind(addr.as_str())
        .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(5))?;
    log::info!(target: "socketnaut::proxy", "serving {} on http://{}/files/ and /events", dir.display(), proxy.local_addr());
    proxy.wait();
    Ok(())
}
