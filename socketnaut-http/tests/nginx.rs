//! Behind nginx (started by the test): as an HTTP reverse proxy with keep-alive upstream
//! connections, and as a TCP proxy sending the PROXY protocol.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{app, random_bytes, server, Conn};
use socketnaut_http::Http;
use socketnaut_test::peer::{free_addr, Peer};

const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// nginx in the foreground as one process, with `body` after the common top of the
/// configuration.
fn nginx(body: &str, listening: &[SocketAddr]) -> Peer {
    assert!(
        Path::new(STREAM_MODULE).exists(),
        "nginx's stream module is required (installed by .ci/run; apt-get install libnginx-mod-stream)"
    );
    let config = |dir: &Path| {
        let d = dir.display();
        format!(
            "load_module {STREAM_MODULE};\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n{body}"
        )
    };
    Peer::start(
        "nginx",
        "apt-get install nginx libnginx-mod-stream",
        &["-p", "{dir}", "-c", "{config}"],
        config,
        listening,
    )
}

#[test]
fn behind_nginx_as_an_http_reverse_proxy() {
    let server = server(Http::new(app));
    let front = free_addr();
    let body = format!(
        "http {{\n  access_log off;\n\
         \x20 client_body_temp_path body;\n  proxy_temp_path proxy;\n  fastcgi_temp_path fastcgi;\n\
         \x20 uwsgi_temp_path uwsgi;\n  scgi_temp_path scgi;\n\
         \x20 upstream app {{ server {}; keepalive 8; }}\n\
         \x20 server {{\n    listen {front};\n    client_max_body_size 2m;\n\
         \x20   location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n\
         \x20 }}\n}}\n",
        server.local_addr()
    );
    let nginx = nginx(&body, &[front]);
    let mut c = Conn::open(front);
    for _ in 0..200 {
        let r = c.get("/");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello World!"[..]));
    }
    // A request body and a large streamed (chunked) response through nginx.
    let data = random_bytes(300 * 1024, 11);
    c.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .as_bytes(),
    )
    .unwrap();
    c.send(&data).unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == data, "echo through nginx differs");
    let r = c.get("/stream?n=5000000");
    assert_eq!(r.body.len(), 5_000_000);
    // nginx keeps its upstream connections alive: far fewer than the requests.
    let accepted = server.stats().accepted;
    assert!(
        (1..=8).contains(&accepted),
        "{accepted} upstream connections for 202 requests"
    );
    drop(c);
    drop(nginx);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn behind_nginx_sending_the_proxy_protocol() {
    let server = Http::new(app)
        .proxy()
        .bind("127.0.0.1:0")
        .proxy_protocol(true)
        .build()
        .expect("build");
    server.ready().expect("ready");
    let front = free_addr();
    let body = format!(
        "stream {{\n  server {{ listen {front}; proxy_pass {}; proxy_protocol on; }}\n}}\n",
        server.local_addr()
    );
    let nginx = nginx(&body, &[front]);
    let mut c = Conn::open(front);
    let me = c.writer.local_addr().unwrap();
    let r = c.get("/info");
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        format!("{me} {front}"),
        "the handler sees the client and the address it connected to, not nginx"
    );
    assert_eq!(server.stats().proxy_header_errors, 0);
    drop(c);
    drop(nginx);
    server.shutdown(Duration::from_secs(5));
}
