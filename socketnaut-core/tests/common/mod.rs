//! Test servers speaking a tiny line protocol, and helpers to wait for conditions.
//!
//! Commands (one per line), answered with one line:
//! `echo X` → `X`; `sleep MS` → `slept` after blocking MS ms; `spin MS` → `spun` after
//! busy-waiting; `panic` → the callback panics; `die` → the worker's `after_events` panics
//! (evented); `panic-deadline` → the connection's `deadline()` panics (evented); `info` →
//! `REMOTE LOCAL WORKER`; `worker` → the worker id.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketnaut_core::mio;
use socketnaut_core::{
    ConnContext, ConnEvent, Connection, EventedConnection, EventedServer, ProxySocketAddressInfo,
    ServiceAgent, Step,
};

pub fn answer(line: &str, info: &ProxySocketAddressInfo, agent: &ServiceAgent) -> Option<String> {
    let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
    Some(match cmd {
        "echo" => arg.to_owned(),
        "sleep" => {
            std::thread::sleep(Duration::from_millis(arg.parse().unwrap_or(0)));
            "slept".to_owned()
        }
        "spin" => {
            let until = Instant::now() + Duration::from_millis(arg.parse().unwrap_or(0));
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            "spun".to_owned()
        }
        "panic" => panic!("asked to panic"),
        "info" => format!(
            "{} {} {}",
            info.remote.socket_addr(),
            info.local.socket_addr(),
            agent.worker_id()
        ),
        "worker" => agent.worker_id().to_string(),
        "panic-deadline" => "armed".to_owned(),
        _ => return None,
    })
}

/// A blocking server: reads lines, answers them.
pub fn blocking_server(conn: Connection, agent: &ServiceAgent) -> io::Result<()> {
    let info = conn.info();
    let (stream, _) = conn.into_parts();
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let reply = answer(&line, &info, agent).unwrap_or_else(|| "?".to_owned());
        writer.write_all(format!("{reply}\n").as_bytes())?;
    }
    Ok(())
}

/// An evented server; `die` makes `after_events` panic on that worker.
pub struct LineServer {
    die: Arc<AtomicBool>,
    /// The next this many connections panic in `socket()` (at registration).
    socket_panics: AtomicUsize,
}

impl LineServer {
    pub fn new() -> LineServer {
        LineServer::with_socket_panics(0)
    }

    pub fn with_socket_panics(n: usize) -> LineServer {
        LineServer {
            die: Arc::new(AtomicBool::new(false)),
            socket_panics: AtomicUsize::new(n),
        }
    }
}

impl EventedServer for LineServer {
    fn open(
        &mut self,
        conn: Connection,
        _agent: &ServiceAgent,
    ) -> io::Result<Box<dyn EventedConnection>> {
        let info = conn.info();
        let (stream, _) = conn.into_parts();
        Ok(Box::new(LineConn {
            socket: mio::net::TcpStream::from_std(stream),
            info,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            die: self.die.clone(),
            eof: false,
            socket_panics: self
                .socket_panics
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            deadline_panics: false,
        }))
    }

    fn after_events(&mut self, _now: Instant) {
        if self.die.load(Ordering::Relaxed) {
            panic!("worker asked to die");
        }
    }
}

struct LineConn {
    socket: mio::net::TcpStream,
    info: ProxySocketAddressInfo,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    die: Arc<AtomicBool>,
    eof: bool,
    socket_panics: bool,
    deadline_panics: bool,
}

impl EventedConnection for LineConn {
    fn socket(&mut self) -> &mut mio::net::TcpStream {
        assert!(!self.socket_panics, "socket() asked to panic");
        &mut self.socket
    }

    fn on_event(&mut self, event: ConnEvent, cx: &mut ConnContext<'_>) -> Step {
        if event == ConnEvent::Drain {
            return if self.inbuf.is_empty() && self.outbuf.is_empty() {
                Step::Close
            } else {
                Step::Keep
            };
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.socket.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Step::Close,
            }
        }
        // One command per callback so a slow command is one slow callback; the rest are
        // handled on the next kick (see below).
        if let Some(pos) = self.inbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line).trim().to_owned();
            if line == "die" {
                self.die.store(true, Ordering::Relaxed);
            }
            self.deadline_panics |= line == "panic-deadline";
            let reply = answer(&line, &self.info, cx.agent()).unwrap_or_else(|| "?".to_owned());
            self.outbuf
                .extend_from_slice(format!("{reply}\n").as_bytes());
        }
        while !self.outbuf.is_empty() {
            match self.socket.write(&self.outbuf) {
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Step::Close,
            }
        }
        if self.eof && self.outbuf.is_empty() && !self.inbuf.contains(&b'\n') {
            return Step::Close;
        }
        if self.inbuf.contains(&b'\n') {
            // More complete commands are buffered: process them now, one per call, by
            // recursing (depth bounded by the buffered commands).
            return self.on_event(
                ConnEvent::Ready {
                    readable: false,
                    writable: true,
                    read_closed: false,
                },
                cx,
            );
        }
        Step::Keep
    }

    fn deadline(&self) -> Option<Instant> {
        assert!(!self.deadline_panics, "deadline() asked to panic");
        None
    }
}

/// A connected client speaking the line protocol.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Client {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
        }
    }

    pub fn ask(&mut self, line: &str) -> io::Result<String> {
        self.send(line)?;
        self.read_line()
    }

    pub fn send(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(format!("{line}\n").as_bytes())
    }

    pub fn read_line(&mut self) -> io::Result<String> {
        let mut s = String::new();
        if self.reader.read_line(&mut s)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        Ok(s.trim_end().to_owned())
    }

    /// True when the server has closed the connection (EOF or reset).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.writer.local_addr().expect("local addr")
    }
}

pub use socketnaut_test::wait_for;

impl Client {
    pub fn set_read_timeout(&mut self, t: Duration) {
        self.writer.set_read_timeout(Some(t)).expect("timeout");
    }
}
