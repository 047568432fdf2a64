//! Real peers the tests start themselves (HAProxy, nginx): a configuration written to a
//! directory of their own, the program in the foreground, and on drop the process stopped (by
//! its own handle, never by name) and the directory removed.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A loopback address nothing listens on right now, for a peer to bind.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

/// A peer process with its own directory; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    dir: PathBuf,
}

impl Peer {
    /// Writes `config(dir)` to `dir/peer.conf` and runs `program` with `args`, in which
    /// `{dir}` and `{config}` stand for the directory and the file; then waits until every
    /// address in `listening` accepts. `install` says how to get the program when it is
    /// missing.
    ///
    /// # Panics
    ///
    /// If the program is missing, or does not listen within 10 s (with its stderr).
    pub fn start(
        program: &str,
        install: &str,
        args: &[&str],
        config: impl FnOnce(&Path) -> String,
        listening: &[SocketAddr],
    ) -> Peer {
        if Command::new(program).arg("-v").output().is_err() {
            panic!("{program} is required (installed by .ci/run; {install})");
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "socketnaut-{program}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("peer dir");
        let path = dir.join("peer.conf");
        std::fs::write(&path, config(&dir)).expect("peer config");
        let (d, c) = (dir.display().to_string(), path.display().to_string());
        // Its complaints go to a file, shown if it fails to start.
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
        let child = Command::new(program)
            .args(
                args.iter()
                    .map(|a| a.replace("{dir}", &d).replace("{config}", &c)),
            )
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let peer = Peer { child, dir };
        let started = Instant::now();
        for addr in listening {
            while TcpStream::connect(addr).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{program} did not start listening on {addr}: {}",
                    std::fs::read_to_string(peer.dir.join("stderr.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        peer
    }
}

impl Drop for Peer {
    /// SIGTERM to the process we started (by its id), so a master process takes its workers
    /// down with it; SIGKILL if it has not exited within 5 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
