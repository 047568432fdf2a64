//! The Node original's "Redirect HTTP to HTTPS" and "TLS proxy + HTTP redirect" examples on
//! socketnaut: an HTTPS service (TLS configured once, handshakes on the worker threads) and a
//! plain HTTP service on a second proxy that answers every request with a permanent redirect
//! to the same path over HTTPS.
//!
//! ```text
//! cargo run --release --example https_redirect [--https ADDR] [--http ADDR] [--cert PEM --key PEM]
//! curl -k https://localhost:3443/hello       # Hello over TLS!
//! curl -i http://127.0.0.1:3080/hello        # 308 → https://127.0.0.1:3443/hello
//! ```
//!
//! Without `--cert`/`--key` it makes a self-signed certificate for `localhost` at start-up
//! (hence `curl -k`). SIGTERM or Ctrl-C drains both proxies and exits.

use std::sync::Arc;
use std::time::Duration;

use socketnaut::http::http::{header, StatusCode};
use socketnaut::http::rustls;
use socketnaut::http::{Http, Request, Response};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Args {
    https: String,
    http: String,
    cert: Option<String>,
    key: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        https: "127.0.0.1:3443".to_owned(),
        http: "127.0.0.1:3080".to_owned(),
        cert: None,
        key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--https" => args.https = value("--https")?,
            "--http" => args.http = value("--http")?,
            "--cert" => args.cert = Some(value("--cert")?),
            "--key" => args.key = Some(value("--key")?),
            _ => {
                return Err(
                    "usage: https_redirect [--https ADDR] [--http ADDR] [--cert PEM --key PEM]"
                        .to_owned(),
                )
            }
        }
    }
    Ok(args)
}

/// The certificate chain and key: from PEM files, or self-signed for `localhost`.
fn identity(
    args: &Args,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Box<dyn std::error::Error>> {
    match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
            Ok((chain, PrivateKeyDer::from_pem_file(key)?))
        }
        (None, None) => {
            log::warn!("no --cert/--key: using a self-signed certificate for localhost");
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
            let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
            Ok((vec![made.cert.der().clone()], key.into()))
        }
        _ => Err("--cert and --key go together".into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = args()?;
    let (chain, key) = identity(&args)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];

    let https = Http::new(|req: Request| {
        Response::new(format!("Hello over TLS! You asked for {}\n", req.uri().path()).into())
    })
    .tls(Arc::new(tls))
    .proxy()
    .bind(args.https.as_str())
    .build()?;
    https.ready()?;
    let https_port = https.local_addr().port();

    let redirect = move |req: Request| {
        // The host the client used, without its port, then the HTTPS port.
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned())
            .unwrap_or_else(|| "localhost".to_owned());
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = format!("https://{host}:{https_port}{target}");
        let mut resp = Response::new(format!("moved to {location}\n").into());
        // 308 keeps the method and body, unlike 301.
        *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
        match header::HeaderValue::try_from(location) {
            Ok(v) => {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
        }
        resp
    };
    let http = Http::new(redirect)
        .proxy()
        .bind(args.http.as_str())
        .build()?;
    http.ready()?;

    https.shutdown_on_signals(Duration::from_secs(10))?;
    http.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!(
        "serving https://{} and redirecting http://{} to it (Ctrl-C to stop)",
        https.local_addr(),
        http.local_addr()
    );
    https.wait();
    http.wait();
    Ok(())
}
