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
