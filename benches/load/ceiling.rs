//! The ceiling: minimal mio loops (one per core) sharing one listener, answering every
//! `\r\n\r\n` with a canned response, without parsing. What socketnaut is measured against in
//! the same run.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use mio::net::{TcpListener as MioListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

pub(crate) const CANNED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nHello World!";

pub(crate) const CANNED_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nHello World!";

/// The ceiling: minimal mio loops (one per core) sharing one listener, answering every
/// `\r\n\r\n` with a canned response, without parsing.
pub(crate) struct Ceiling {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) wakers: Vec<Arc<Waker>>,
    pub(crate) threads: Vec<thread::JoinHandle<()>>,
}

impl Ceiling {
    pub(crate) fn start(threads: usize, close: bool) -> Ceiling {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let mut wakers = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..threads {
            let poll = Poll::new().expect("poll");
            let waker = Arc::new(Waker::new(poll.registry(), Token(usize::MAX)).expect("waker"));
            wakers.push(waker);
            let listener = MioListener::from_std(listener.try_clone().expect("clone"));
            let stop = stop.clone();
            handles.push(
                thread::Builder::new()
                    .name(format!("ceiling-{}", handles.len()))
                    .spawn(move || ceiling_loop(poll, listener, stop, close))
                    .expect("spawn"),
            );
        }
        Ceiling {
            addr,
            stop,
            wakers,
            threads: handles,
        }
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            let _ = w.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn ceiling_loop(mut poll: Poll, mut listener: MioListener, stop: Arc<AtomicBool>, close: bool) {
    const LISTENER: Token = Token(usize::MAX - 1);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let response = if close { CANNED_CLOSE } else { CANNED };
    // Per connection: the stream and how much of "\r\n\r\n" the last bytes matched.
    let mut conns: HashMap<usize, (TcpStream, usize)> = HashMap::new();
    let mut next = 0;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    while !stop.load(Ordering::SeqCst) {
        if poll.poll(&mut events, None).is_err() {
            continue;
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    while let Ok((mut s, _)) = listener.accept() {
                        let _ = s.set_nodelay(true);
                        poll.registry()
                            .register(&mut s, Token(next), Interest::READABLE)
                            .expect("register");
                        conns.insert(next, (s, 0));
                        next += 1;
                    }
                }
                Token(t) if t == usize::MAX => {}
                Token(t) => {
                    let Some((s, matched)) = conns.get_mut(&t) else {
                        continue;
                    };
                    out.clear();
                    let alive = answer(s, matched, &mut buf, &mut out, response);
                    if !alive || (close && !out.is_empty()) {
                        if let Some((mut s, _)) = conns.remove(&t) {
                            let _ = poll.registry().deregister(&mut s);
                        }
                    }
                }
            }
        }
    }
}

/// Reads what a connection sent and answers each `\r\n\r\n` in it with `response`; false when
/// the connection is done.
fn answer(
    s: &mut TcpStream,
    matched: &mut usize,
    buf: &mut [u8],
    out: &mut Vec<u8>,
    response: &[u8],
) -> bool {
    loop {
        match s.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                for &b in &buf[..n] {
                    *matched = match (*matched, b) {
                        (0 | 2, b'\r') => *matched + 1,
                        (1 | 3, b'\n') => *matched + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if *matched == 4 {
                        *matched = 0;
                        out.extend_from_slice(response);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    out.is_empty() || s.write_all(out).is_ok()
}
