//! Answers every request with a JSON description of it as parsed, every value base64-encoded
//! so any byte survives: a way to probe the parser from outside (like httpbin's `/anything`).
//!
//! ```text
//! cargo run --release --example inspect [ADDR]      # default 127.0.0.1:3080
//! curl -s http://127.0.0.1:3080/x?y=1 -d hello
//! ```

use std::time::Duration;

use base64::Engine;
use socketnaut::http::http::header::CONTENT_TYPE;
use socketnaut::http::{Http, Request, Response};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn describe(req: &Request) -> String {
    let headers: Vec<String> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            format!(
                "[\"{}\",\"{}\"]",
                b64(n.as_str().as_bytes()),
                b64(v.as_bytes())
            )
        })
        .collect();
    format!(
        "{{\"method\":\"{}\",\"uri\":\"{}\",\"version\":\"{}\",\"headers\":[{}],\"body\":\"{}\"}}\n",
        b64(req.method().as_str().as_bytes()),
        b64(req.uri().to_string().as_bytes()),
        b64(format!("{:?}", req.version()).as_bytes()),
        headers.join(","),
        b64(req.body().as_bytes()),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let proxy = Http::new(|req: Request| {
        let mut resp = Response::new(describe(&req).into());
        resp.headers_mut()
            .insert(CONTENT_TYPE, "application/json".parse().expect("valid"));
        resp
    })
    .proxy()
    .bind(addr.as_str())
    .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!("inspecting requests on http://{}/", proxy.local_addr());
    proxy.wait();
    Ok(())
}
