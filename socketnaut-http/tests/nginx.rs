//! Behind nginx (started by the test): as an HTTP reverse proxy with keep-alive upstream
//! connections, and as a TCP proxy sending the PROXY protocol.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{app, random_bytes, Conn};
use socketnaut_core::ServiceProxy;
use socketnaut_http::Http;

const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx in the foreground, as one process, with `body` after the common top of
    /// the configuration; waits until every address in `listening` accepts.
    fn start(name: &str, body: &str, listening: &[SocketAddr]) -> Nginx {
        if Command::new("nginx").arg("-v").output().is_err() || !Path::new(STREAM_MODULE).exists() {
            panic!("nginx with its stream module is required (installed by .ci/run: apt-get install nginx libnginx-mod-stream)");
        }
        let dir =
            std::env::temp_dir().join(format!("socketnaut-nginx-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let config = format!(
            "load_module {STREAM_MODULE};\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n{body}"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx { child, dir };
        let started = Instant::now();
        for addr in listening {
            while TcpStream::connect(addr).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "nginx did not start: {}",
                    std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn serve(http: Http, proxy_protocol: bool) -> ServiceProxy {
    let proxy = http
        .proxy()
        .bind("127.0.0.1:0")
        .proxy_protocol(proxy_protocol)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    proxy
}

#[test]
fn behind_nginx_as_an_http_reverse_proxy() {
    let server = serve(Http::new(app), false);
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
    let nginx = Nginx::start("http", &body, &[front]);
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
    let server = serve(Http::new(app), true);
    let front = free_addr();
    let body = format!(
        "stream {{\n  server {{ listen {front}; proxy_pass {}; proxy_protocol on; }}\n}}\n",
        server.local_addr()
    );
    let nginx = Nginx::start("stream", &body, &[front]);
    let mut c = Conn::open(front);
    let me = c.writer.local_addr().unwrap();
    let r = c.get("/info");
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        format!("{me} {front}"),
        "the handler sees the client and the address it connected to, not nginx"
    );
    c.writer.flush().unwrap();
    assert_eq!(server.stats().proxy_header_errors, 0);
    drop(c);
    drop(nginx);
    server.shutdown(Duration::from_secs(5));
}
