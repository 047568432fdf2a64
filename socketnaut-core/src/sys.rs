//! Every call that asks the operating system about the process or the thread, so the rest of
//! the code reads as portable logic.

use std::thread;

/// The cores this process may use (1 if unknown).
pub(crate) fn parallelism() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The soft `RLIMIT_NOFILE`: how many descriptors the process may hold (1024 if unknown).
pub(crate) fn nofile_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _hard)| soft)
        .unwrap_or(1024)
}

/// The calling thread's voluntary context switches so far (`getrusage(RUSAGE_THREAD)`): a
/// callback that raised it blocked (slept, waited on I/O) rather than computed.
pub(crate) fn voluntary_switches() -> Option<std::ffi::c_long> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
        .ok()
        .map(|u| u.voluntary_context_switches())
}

/// What a thread is doing, as far as the monitor cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ThreadState {
    /// Sleeping or blocked (`S`, `D`): waiting for something other than a CPU.
    Waiting,
    /// Running or runnable (`R`): computing, or preempted.
    Running,
    /// Not known (no `/proc`, or the thread is gone).
    Unknown,
}

/// The calling thread's kernel id (`/proc/thread-self` names it), 0 if unknown.
pub(crate) fn thread_id() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// The state of thread `tid` of this process, from `/proc/self/task/{tid}/stat` (the field
/// after the parenthesised name).
pub(crate) fn thread_state(tid: u64) -> ThreadState {
    if tid == 0 {
        return ThreadState::Unknown;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return ThreadState::Unknown;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    match state {
        Some('S' | 'D') => ThreadState::Waiting,
        Some('R') => ThreadState::Running,
        _ => ThreadState::Unknown,
    }
}

/// CPU time thread `tid` of this process has used, from `/proc/self/task/{tid}/schedstat` (its
/// first field, in nanoseconds).
pub(crate) fn thread_cpu(tid: u64) -> Option<std::time::Duration> {
    if tid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(nanos))
}
