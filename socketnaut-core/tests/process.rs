//! Tests that need a process of their own: file-descriptor exhaustion under a low
//! `RLIMIT_NOFILE`, and SIGTERM. The parent test re-runs this test binary as a child, selecting
//! an `#[ignore]`d test that only serves when `SOCKETNAUT_CHILD` is set.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{wait_for, Client, LineServer};
use socketnaut_core::{ServiceProxy, WorkerOutcome};

const CHILD: &str = "SOCKETNAUT_CHILD";

/// Re-runs this test binary selecting the ignored test `test`, with `SOCKETNAUT_CHILD` set;
/// with `max_fds`, under that `RLIMIT_NOFILE` (through the shell's `ulimit`).
fn child_command(test: &str, max_fds: Option<u32>) -> Command {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = match max_fds {
        None => Command::new(exe),
        Some(n) => {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(exe);
            sh
        }
    };
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    cmd
}

/// Reads the child's stdout until `PORT=`; returns the address and the rest of stdout.
fn child_addr(child: &mut Child) -> (SocketAddr, BufReader<ChildStdout>) {
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "child exited before serving"
        );
        // libtest may print "test NAME ... " on the same line first.
        if let Some((_, port)) = line.trim().split_once("PORT=") {
            return (([127, 0, 0, 1], port.parse().expect("port")).into(), out);
        }
    }
}

/// User + system CPU time of a process, from /proc (in clock ticks, 100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // After "pid (comm) ", field 3 (state) is index 0, so utime (14) and stime (15) are 11, 12.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn serve_in_child() -> ServiceProxy {
    let proxy = ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .max_connections(10_000)
        .evented(|_| Ok(LineServer::new()))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    println!("PORT={}", proxy.local_addr().port());
    std::io::stdout().flush().expect("flush");
    proxy
}

#[test]
#[ignore = "a child process of fd_exhaustion_neither_spins_nor_stalls"]
fn child_fd_exhaustion() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let proxy = serve_in_child();
    // Serve until the parent closes stdin.
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
    proxy.shutdown(Duration::from_secs(1));
}

#[test]
fn fd_exhaustion_neither_spins_nor_stalls() {
    // 64 descriptors for the whole child: about 55 connections, then EMFILE.
    let mut child = child_command("child_fd_exhaustion", Some(64))
        .spawn()
        .expect("spawn child");
    let (addr, _out) = child_addr(&mut child);
    const N: usize = 100;
    let mut clients: Vec<Client> = (0..N).map(|_| Client::connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&format!("echo {i}")).unwrap();
    }
    // Those the child could accept answer; the rest wait in the backlog. The backlog is FIFO,
    // so after the first client left unanswered, all later ones wait too.
    let (mut answered, mut waiting) = (Vec::new(), Vec::new());
    for (i, mut c) in clients.into_iter().enumerate() {
        if waiting.is_empty() {
            c.set_read_timeout(Duration::from_secs(2));
            if let Ok(reply) = c.read_line() {
                assert_eq!(reply, i.to_string());
                answered.push(c);
                continue;
            }
        }
        waiting.push((i, c));
    }
    assert!(
        !answered.is_empty() && !waiting.is_empty(),
        "{} answered",
        answered.len()
    );

    // Exhausted: the acceptor must not spin. Measure the child's CPU over one second.
    let before = cpu_ticks(child.id());
    thread::sleep(Duration::from_secs(1)); // a measurement window, not synchronisation
    let used = cpu_ticks(child.id()) - before;
    assert!(
        used <= 20,
        "child used {used} ticks (of 100) while exhausted"
    );

    // Free descriptors: every waiting client is then served, none lost.
    drop(answered);
    for (i, c) in &mut waiting {
        c.set_read_timeout(Duration::from_secs(20));
        assert_eq!(
            c.read_line().expect("served after fds freed"),
            i.to_string()
        );
    }
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
}

#[test]
#[ignore = "a child process of sigterm_drains_and_exits"]
fn child_sigterm_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let proxy = ServiceProxy::builder()
        .bind("127.0.0.1:0")
        .worker_count(2)
        .evented(|_| Ok(LineServer::new()))
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    proxy
        .shutdown_on_signals(Duration::from_secs(5))
        .expect("signals");
    println!("PORT={}", proxy.local_addr().port());
    std::io::stdout().flush().expect("flush");
    let reports = proxy.wait();
    let clean = reports
        .iter()
        .filter(|r| r.outcome == WorkerOutcome::Clean)
        .count();
    println!("REPORTS={} CLEAN={clean}", reports.len());
}

#[test]
fn sigterm_drains_and_exits() {
    let mut child = child_command("child_sigterm_server", None)
        .spawn()
        .expect("spawn child");
    let (addr, mut out) = child_addr(&mut child);
    let mut idle = Client::connect(addr);
    assert_eq!(idle.ask("echo idle").unwrap(), "idle");
    let mut busy = Client::connect(addr);
    // One write with both lines: "go" is answered in the callback that then runs the sleep,
    // so once "go" arrives the sleep is in flight.
    busy.send("echo go\nsleep 400").unwrap();
    assert_eq!(busy.read_line().unwrap(), "go");
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(
        busy.read_line().expect("in-flight request finishes"),
        "slept"
    );
    assert!(busy.is_closed(), "closed after its request");
    assert!(idle.is_closed(), "idle keep-alive closed by the drain");
    assert!(
        wait_for(Duration::from_secs(5), || matches!(
            child.try_wait(),
            Ok(Some(_))
        )),
        "child exits within the drain deadline"
    );
    assert!(child.wait().expect("wait").success());
    assert!(sent.elapsed() < Duration::from_secs(5));
    let mut rest = String::new();
    while out.read_line(&mut rest).expect("read") > 0 {}
    assert!(rest.contains("REPORTS=2 CLEAN=2"), "{rest}");
}

#[test]
#[ignore = "a child process of serves_on_a_socket_passed_by_systemd_activation"]
fn child_systemd_socket() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let proxy = ServiceProxy::builder()
        .listen_fd(0)
        .worker_count(1)
        .evented(|_| Ok(LineServer::new()))
        .build()
        .expect("build on the inherited socket");
    proxy.ready().expect("ready");
    // The same socket cannot be taken twice, and there is no second one.
    for index in [0, 1] {
        let e = ServiceProxy::builder()
            .listen_fd(index)
            .evented(|_| Ok(LineServer::new()))
            .build()
            .expect_err("no such socket");
        println!("ERROR{index}={e}");
    }
    println!(
        "ENV_LEFT={}",
        std::env::var_os("LISTEN_FDS").is_some() || std::env::var_os("LISTEN_PID").is_some()
    );
    println!("PORT={}", proxy.local_addr().port());
    std::io::stdout().flush().expect("flush");
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
    proxy.shutdown(Duration::from_secs(1));
}

/// Python stands in for systemd: it binds and listens, puts the socket at descriptor 3, sets
/// `LISTEN_FDS=1` and `LISTEN_PID` to its own pid, and execs the child (keeping the pid).
const SYSTEMD_STANDIN: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(64)
print("INHERITED=%d" % s.getsockname()[1], flush=True)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"#;

#[test]
fn serves_on_a_socket_passed_by_systemd_activation() {
    let inner = child_command("child_systemd_socket", None);
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(SYSTEMD_STANDIN)
        .arg(inner.get_program())
        .args(inner.get_args())
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("python3 is required to stand in for systemd");
    // Everything the child printed before it started serving.
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    let port = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "exited: {seen}"
        );
        seen.push_str(&line);
        if let Some((_, port)) = line.trim().split_once("PORT=") {
            break port.parse::<u16>().expect("port");
        }
    };
    assert!(
        seen.contains(&format!("INHERITED={port}\n")),
        "serves on the passed socket: {seen}"
    );
    assert!(
        seen.contains(
            "ERROR0=listener or thread setup failed: inherited socket 0: it was already taken"
        ),
        "{seen}"
    );
    assert!(
        seen.contains("ERROR1=listener or thread setup failed: inherited socket 1: only 1 socket(s) were passed"),
        "{seen}"
    );
    assert!(seen.contains("ENV_LEFT=false"), "{seen}");
    let mut c = Client::connect(([127, 0, 0, 1], port).into());
    assert_eq!(c.ask("echo activated").unwrap(), "activated");
    drop(c);
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
}
