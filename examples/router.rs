//! A router-style app, standing in for the Node original's Express/Koa/Fastify examples: routes
//! with path parameters and methods, shared state, a route that blocks like a synchronous
//! database call, and 404/405 answers, all in plain synchronous handlers.
//!
//! ```text
//! cargo run --release --example router [ADDR]
//! curl -X PUT --data 'Ada Lovelace' http://127.0.0.1:3080/users/ada
//! curl http://127.0.0.1:3080/users/ada          # Ada Lovelace
//! curl http://127.0.0.1:3080/users              # ada
//! curl -X DELETE http://127.0.0.1:3080/users/ada
//! curl http://127.0.0.1:3080/report             # blocks 50 ms, as a database call would
//! ```
//!
//! Routing is the `matchit` crate's (the router axum uses); the rest is socketnaut-http.
//! SIGTERM or Ctrl-C drains and exits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use socketnaut::http::http::{header, Method, StatusCode};
use socketnaut::http::{Body, Http, Request, RequestExt, Response};

/// The app's state, shared by every worker thread.
#[derive(Default)]
struct Users {
    by_id: Mutex<BTreeMap<String, String>>,
}

type Route = fn(&App, &Request, &matchit::Params<'_, '_>) -> Response;

struct App {
    users: Users,
    /// Path → the handlers for each method.
    routes: matchit::Router<Vec<(Method, Route)>>,
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn list_users(app: &App, _: &Request, _: &matchit::Params<'_, '_>) -> Response {
    let ids: Vec<String> = app.users.by_id.lock().keys().cloned().collect();
    text(StatusCode::OK, ids.join("\n") + "\n")
}

fn get_user(app: &App, _: &Request, p: &matchit::Params<'_, '_>) -> Response {
    let id = p.get("id").unwrap_or_default();
    match app.users.by_id.lock().get(id) {
        Some(name) => text(StatusCode::OK, format!("{name}\n")),
        None => text(StatusCode::NOT_FOUND, format!("no user {id}\n")),
    }
}

fn put_user(app: &App, req: &Request, p: &matchit::Params<'_, '_>) -> Response {
    let id = p.get("id").unwrap_or_default().to_owned();
    let Ok(name) = std::str::from_utf8(req.body().as_bytes()) else {
        return text(StatusCode::BAD_REQUEST, "the body must be UTF-8 text\n");
    };
    let name = name.trim().to_owned();
    let created = app.users.by_id.lock().insert(id.clone(), name).is_none();
    if created {
        text(StatusCode::CREATED, format!("created {id}\n"))
    } else {
        text(StatusCode::OK, format!("updated {id}\n"))
    }
}

fn delete_user(app: &App, _: &Request, p: &matchit::Params<'_, '_>) -> Response {
    let id = p.get("id").unwrap_or_default();
    match app.users.by_id.lock().remove(id) {
        Some(_) => text(StatusCode::NO_CONTENT, ""),
        None => text(StatusCode::NOT_FOUND, format!("no user {id}\n")),
    }
}

fn report(app: &App, req: &Request, _: &matchit::Params<'_, '_>) -> Response {
    // A synchronous call that blocks its thread, as a blocking database driver would. The
    // worker's other connections move to other workers meanwhile (see socketnaut-core).
    std::thread::sleep(Duration::from_millis(50));
    let n = app.users.by_id.lock().len();
    let client = req
        .proxy_info()
        .map(|i| i.remote.socket_addr().to_string())
        .unwrap_or_default();
    text(StatusCode::OK, format!("{n} users; asked by {client}\n"))
}

impl App {
    fn new() -> App {
        let mut routes = matchit::Router::new();
        let table: [(&str, Vec<(Method, Route)>); 3] = [
            ("/users", vec![(Method::GET, list_users)]),
            (
                "/users/{id}",
                vec![
                    (Method::GET, get_user),
                    (Method::PUT, put_user),
                    (Method::DELETE, delete_user),
                ],
            ),
            ("/report", vec![(Method::GET, report)]),
        ];
        for (path, methods) in table {
            routes.insert(path, methods).expect("valid route");
        }
        App {
            users: Users::default(),
            routes,
        }
    }

    fn handle(&self, req: Request) -> Response {
        let Ok(matched) = self.routes.at(req.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        // HEAD is answered by GET's handler; the server sends no body for it.
        let method = if req.method() == Method::HEAD {
            &Method::GET
        } else {
            req.method()
        };
        match matched.value.iter().find(|(m, _)| m == method) {
            Some((_, route)) => route(self, &req, &matched.params),
            None => {
                let allowed: Vec<&str> = matched.value.iter().map(|(m, _)| m.as_str()).collect();
                let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                if let Ok(v) = header::HeaderValue::try_from(allowed.join(", ")) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
                resp
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let app = Arc::new(App::new());
    let proxy = Http::new(move |req: Request| app.handle(req))
        .proxy()
        .bind(addr.as_str())
        .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!(
        "serving http://{}/users (Ctrl-C to stop)",
        proxy.local_addr()
    );
    proxy.wait();
    Ok(())
}
