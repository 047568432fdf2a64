//! A WebSocket echo server: every text and binary message on `/` comes back; on shutdown
//! (SIGTERM, Ctrl-C) each client gets a close frame (1001, going away) before the deadline.
//! `websocket::upgrade` (feature `websocket` of socketnaut-http) answers the handshake and
//! runs the echo loop with tungstenite on the upgraded connection, on its worker thread.
//!
//! ```text
//! cargo run --release --example websocket [ADDR]     # default 127.0.0.1:3080
//! python3 -m websockets ws://127.0.0.1:3080/          # or any WebSocket client
//! ```

use std::io;
use std::time::Duration;

use socketnaut::http::websocket::{self, tungstenite};
use socketnaut::http::{Http, Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

fn echo(req: Request) -> Response {
    websocket::upgrade(&req, |ws| {
        // Clients may stay quiet for long; the read timeout is the service's body timeout
        // unless set here.
        ws.get_mut().set_read_timeout(Duration::from_secs(600));
        loop {
            match ws.read() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    ws.send(m).map_err(io::Error::other)?
                }
                Ok(_) => {} // pings are answered by tungstenite, closes end the loop below
                Err(e) if websocket::is_drain_notice(&e) => {
                    let frame = CloseFrame {
                        code: CloseCode::Away,
                        reason: "server shutting down".into(),
                    };
                    let _ = ws.close(Some(frame));
                }
                Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let proxy = Http::new(echo).proxy().bind(addr.as_str()).build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(5))?;
    log::info!(target: "socketnaut::proxy", "echoing WebSockets on ws://{}/", proxy.local_addr());
    proxy.wait();
    Ok(())
}
