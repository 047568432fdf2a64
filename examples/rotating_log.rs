//! Swapping the log sink, as the Node original's logging section does: socketnaut logs through
//! the `log` facade (targets `socketnaut::proxy`, `socketnaut::agent`, `socketnaut::http`), so
//! any `log` backend can take it. This one writes to a file that rotates by size, with its own
//! level for the proxy and for the agents (workers).
//!
//! ```text
//! cargo run --release --example rotating_log [ADDR] [--dir DIR] [--max-bytes N] [--keep K]
//!                                            [--proxy-level LEVEL] [--agent-level LEVEL]
//! curl http://127.0.0.1:3080/ ; tail DIR/socketnaut.log
//! ```
//!
//! Defaults: `./logs`, rotate at 1 MiB, keep 5 old files (`socketnaut.log.1` is the newest),
//! proxy at `info`, agents at `warn`, the app's own lines at `info`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use log::{Level, LevelFilter, Log, Metadata, Record};
use parking_lot::Mutex;
use socketnaut::http::{Http, Request, RequestExt, Response};

/// A `log` backend writing to `dir/socketnaut.log`, rotated when it would pass `max_bytes`.
struct RotatingFile {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    proxy: LevelFilter,
    agent: LevelFilter,
    other: LevelFilter,
    out: Mutex<Sink>,
}

struct Sink {
    file: BufWriter<File>,
    written: u64,
}

impl RotatingFile {
    fn open(dir: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<RotatingFile> {
        fs::create_dir_all(&dir)?;
        let path = dir.join("socketnaut.log");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            dir,
            max_bytes,
            keep,
            proxy: LevelFilter::Info,
            agent: LevelFilter::Warn,
            other: LevelFilter::Info,
            out: Mutex::new(Sink {
                file: BufWriter::new(file),
                written,
            }),
        })
    }

    fn level_for(&self, target: &str) -> LevelFilter {
        if target.starts_with("socketnaut::proxy") {
            self.proxy
        } else if target.starts_with("socketnaut::agent") {
            self.agent
        } else {
            self.other
        }
    }

    /// `socketnaut.log` → `.1` → `.2` …, dropping the oldest; then a fresh file.
    fn rotate(&self, sink: &mut Sink) -> std::io::Result<()> {
        sink.file.flush()?;
        let name = |n: usize| match n {
            0 => self.dir.join("socketnaut.log"),
            n => self.dir.join(format!("socketnaut.log.{n}")),
        };
        let _ = fs::remove_file(name(self.keep));
        for n in (0..self.keep).rev() {
            if name(n).exists() {
                fs::rename(name(n), name(n + 1))?;
            }
        }
        sink.file = BufWriter::new(File::create(name(0))?);
        sink.written = 0;
        Ok(())
    }
}

impl Log for RotatingFile {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let line = format!(
            "{secs:.3} {:<5} {} [{}] {}\n",
            record.level(),
            record.target(),
            std::thread::current().name().unwrap_or("?"),
            record.args()
        );
        let mut sink = self.out.lock();
        if sink.written > 0 && sink.written + line.len() as u64 > self.max_bytes {
            if let Err(e) = self.rotate(&mut sink) {
                eprintln!("log rotation failed: {e}");
            }
        }
        if sink.file.write_all(line.as_bytes()).is_ok() {
            sink.written += line.len() as u64;
        }
        // Warnings and errors reach the disk at once; the rest at the next flush.
        if record.level() <= Level::Warn {
            let _ = sink.file.flush();
        }
    }

    fn flush(&self) {
        let _ = self.out.lock().file.flush();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:3080".to_owned();
    let (mut dir, mut max_bytes, mut keep) = (PathBuf::from("logs"), 1 << 20, 5);
    let (mut proxy_level, mut agent_level) = (LevelFilter::Info, LevelFilter::Warn);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => dir = PathBuf::from(value()?),
            "--max-bytes" => max_bytes = value()?.parse()?,
            "--keep" => keep = value()?.parse()?,
            "--proxy-level" => proxy_level = LevelFilter::from_str(&value()?)?,
            "--agent-level" => agent_level = LevelFilter::from_str(&value()?)?,
            a if !a.starts_with("--") => addr = a.to_owned(),
            _ => return Err(format!("unknown option {arg}").into()),
        }
    }
    let mut logger = RotatingFile::open(dir.clone(), max_bytes, keep)?;
    logger.proxy = proxy_level;
    logger.agent = agent_level;
    let max = [logger.proxy, logger.agent, logger.other]
        .into_iter()
        .max()
        .unwrap_or(LevelFilter::Info);
    log::set_boxed_logger(Box::new(logger))?;
    log::set_max_level(max);

    let proxy = Http::new(|req: Request| {
        let client = req.proxy_info().map(|i| i.remote.socket_addr());
        log::info!(target: "app", "{} {} from {client:?}", req.method(), req.uri());
        Response::new("Hello World!".into())
    })
    .proxy()
    .bind(addr.as_str())
    .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    println!(
        "serving http://{}/, logging to {}",
        proxy.local_addr(),
        dir.join("socketnaut.log").display()
    );
    proxy.wait();
    log::logger().flush();
    Ok(())
}
