//! The choice of worker for a connection: a pure function of the workers' loads, the rotation
//! cursor and a few pool facts, so it is tested with tables and benched without threads.
//!
//! - **Blocking workers** take one connection at a time: the first empty worker from the cursor;
//!   else spawn if below `max_workers` (and not in restart backoff); else `Full`.
//! - **Evented workers, least connections** (the original's rule): among workers that accept and
//!   are not *busy*, the fewest connections, ties rotating from the cursor. *Busy* means a
//!   callback has been running for at least `busy_threshold` (2 ms), or a callback blocked within
//!   the last `consolidate_after` (5 s). If every accepting worker is busy, spawn; at
//!   `max_workers`, take the least loaded anyway. While fewer than `available_parallelism`
//!   workers exist, a connection whose least-loaded candidate already has one spawns a worker
//!   instead (so `min_workers = 0` still spreads over the cores).
//! - **Round robin**: the next accepting worker, ignoring load.
//! - `Full` keeps the connection in the acceptor's pending queue and stops accepting until
//!   capacity returns: clients wait in the kernel backlog, never in an unbounded queue.

/// How the acceptor spreads connections over workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Balance {
    /// The original's rule: the worker with the fewest connections, rotating among ties; spawn a
    /// worker when the least-loaded one is busy and the pool is below `max_workers`. On evented
    /// workers "busy" means a callback is running past `busy_threshold` or recently blocked, so
    /// a worker with many idle keep-alive connections still counts as free.
    #[default]
    LeastConnections,
    /// Rotate over the workers that can take a connection, ignoring load; spawn only when none
    /// can.
    RoundRobin,
}

/// What the acceptor knows of one worker when placing a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Connections held or queued.
    pub(crate) conns: usize,
    /// Evented: a callback is running long or recently blocked.
    pub(crate) busy: bool,
    /// Starting or running (not retiring, draining or dead).
    pub(crate) accepting: bool,
}

/// Facts about the pool that are not per worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Evented workers multiplex; blocking workers take one connection at a time.
    pub(crate) evented: bool,
    /// The pool is below `max_workers` and not in restart backoff.
    pub(crate) can_spawn: bool,
    /// Evented: spread onto new workers until this many accept connections.
    pub(crate) spread: usize,
    /// The connection is moving off a worker whose callback blocked: give it an empty worker.
    pub(crate) prefer_empty: bool,
}

/// The outcome of a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Hand the connection to the worker at this index.
    Worker(usize),
    /// Start a new worker for it.
    Spawn,
    /// No worker can take it now: keep it (and stop accepting) until one can.
    Full,
}

/// Picks a worker. `cursor` is the rotation point for ties; it advances past the pick.
pub(crate) fn choose(
    policy: Balance,
    workers: &[Candidate],
    cursor: &mut usize,
    rules: Rules,
) -> Choice {
    let pick = |idx: usize, cursor: &mut usize| {
        *cursor = idx + 1;
        Choice::Worker(idx)
    };
    let spawn_or_full = if rules.can_spawn {
        Choice::Spawn
    } else {
        Choice::Full
    };
    if !rules.evented {
        // A blocking worker serves one connection at a time: only an empty one can take it.
        return match rotate_min(workers, *cursor, |w| w.accepting && w.conns == 0) {
            Some(idx) => pick(idx, cursor),
            None => spawn_or_full,
        };
    }
    if policy == Balance::RoundRobin {
        return match first_from(workers, *cursor, |w| w.accepting) {
            Some(idx) => pick(idx, cursor),
            None => spawn_or_full,
        };
    }
    if rules.prefer_empty {
        if let Some(idx) = rotate_min(workers, *cursor, |w| w.accepting && !w.busy && w.conns == 0)
        {
            return pick(idx, cursor);
        }
        if rules.can_spawn {
            return Choice::Spawn;
        }
    }
    let accepting = workers.iter().filter(|w| w.accepting).count();
    match rotate_min(workers, *cursor, |w| w.accepting && !w.busy) {
        Some(idx) if workers[idx].conns > 0 && accepting < rules.spread && rules.can_spawn => {
            Choice::Spawn
        }
        Some(idx) => pick(idx, cursor),
        None if rules.can_spawn => Choice::Spawn,
        None => match rotate_min(workers, *cursor, |w| w.accepting) {
            Some(idx) => pick(idx, cursor),
            None => Choice::Full,
        },
    }
}

/// Among workers passing `ok`, the one with the fewest connections; ties go to the first at or
/// after `start` (wrapping), which is what makes ties rotate.
fn rotate_min(
    workers: &[Candidate],
    start: usize,
    ok: impl Fn(&Candidate) -> bool,
) -> Option<usize> {
    let n = workers.len();
    let mut best: Option<usize> = None;
    for step in 0..n {
        let idx = (start + step) % n;
        let w = &workers[idx];
        if ok(w) && best.is_none_or(|b| w.conns < workers[b].conns) {
            best = Some(idx);
        }
    }
    best
}

fn first_from(
    workers: &[Candidate],
    start: usize,
    ok: impl Fn(&Candidate) -> bool,
) -> Option<usize> {
    let n = workers.len();
    (0..n)
        .map(|step| (start + step) % n)
        .find(|&idx| ok(&workers[idx]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(conns: usize) -> Candidate {
        Candidate {
            conns,
            busy: false,
            accepting: true,
        }
    }
    fn busy(conns: usize) -> Candidate {
        Candidate {
            busy: true,
            ..w(conns)
        }
    }
    fn gone(conns: usize) -> Candidate {
        Candidate {
            accepting: false,
            ..w(conns)
        }
    }
    const EV: Rules = Rules {
        evented: true,
        can_spawn: true,
        spread: 2,
        prefer_empty: false,
    };
    const EV_FULL: Rules = Rules {
        can_spawn: false,
        ..EV
    };
    const BL: Rules = Rules {
        evented: false,
        ..EV
    };
    const BL_FULL: Rules = Rules {
        can_spawn: false,
        ..BL
    };

    #[test]
    fn table() {
        use Balance::*;
        use Choice::*;
        type Row = (&'static str, Balance, Vec<Candidate>, usize, Rules, Choice);
        let rows: &[Row] = &[
            ("empty pool spawns", LeastConnections, vec![], 0, EV, Spawn),
            (
                "empty pool at max is full",
                LeastConnections,
                vec![],
                0,
                EV_FULL,
                Full,
            ),
            (
                "least connections wins",
                LeastConnections,
                vec![w(3), w(1), w(2)],
                0,
                EV,
                Worker(1),
            ),
            (
                "busy least-loaded is skipped",
                LeastConnections,
                vec![busy(0), w(4)],
                0,
                EV,
                Worker(1),
            ),
            (
                "all busy spawns",
                LeastConnections,
                vec![busy(0), busy(1)],
                0,
                EV,
                Spawn,
            ),
            (
                "all busy at max: least of all",
                LeastConnections,
                vec![busy(2), busy(1)],
                0,
                EV_FULL,
                Worker(1),
            ),
            (
                "below spread, loaded worker spawns",
                LeastConnections,
                vec![w(1)],
                0,
                EV,
                Spawn,
            ),
            (
                "below spread, empty worker is used",
                LeastConnections,
                vec![w(0)],
                0,
                EV,
                Worker(0),
            ),
            (
                "at spread, no spawn",
                LeastConnections,
                vec![w(5), w(5)],
                0,
                EV,
                Worker(0),
            ),
            (
                "retiring workers are skipped",
                LeastConnections,
                vec![gone(0), w(3), w(3)],
                0,
                EV,
                Worker(1),
            ),
            (
                "nothing accepting at max",
                LeastConnections,
                vec![gone(0)],
                0,
                EV_FULL,
                Full,
            ),
            (
                "migrant prefers an empty worker",
                LeastConnections,
                vec![w(1), w(0), w(2)],
                0,
                Rules {
                    prefer_empty: true,
                    ..EV
                },
                Worker(1),
            ),
            (
                "migrant spawns rather than share",
                LeastConnections,
                vec![w(1), w(1)],
                0,
                Rules {
                    prefer_empty: true,
                    ..EV
                },
                Spawn,
            ),
            (
                "migrant at max shares",
                LeastConnections,
                vec![w(2), w(1)],
                0,
                Rules {
                    prefer_empty: true,
                    ..EV_FULL
                },
                Worker(1),
            ),
            (
                "blocking takes only empty workers",
                LeastConnections,
                vec![w(1), w(0)],
                0,
                BL,
                Worker(1),
            ),
            (
                "blocking all occupied spawns",
                LeastConnections,
                vec![w(1), w(1)],
                0,
                BL,
                Spawn,
            ),
            (
                "blocking all occupied at max is full",
                LeastConnections,
                vec![w(1)],
                0,
                BL_FULL,
                Full,
            ),
            (
                "round robin ignores load",
                RoundRobin,
                vec![w(0), w(9)],
                1,
                EV,
                Worker(1),
            ),
            (
                "round robin wraps",
                RoundRobin,
                vec![w(0), w(9)],
                2,
                EV,
                Worker(0),
            ),
        ];
        for (name, policy, workers, start, rules, want) in rows {
            let mut cursor = *start;
            assert_eq!(
                choose(*policy, workers, &mut cursor, *rules),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn ties_rotate() {
        let workers = [w(2), w(2), w(2)];
        let mut cursor = 0;
        let picks: Vec<Choice> = (0..4)
            .map(|_| choose(Balance::LeastConnections, &workers, &mut cursor, EV))
            .collect();
        use Choice::Worker;
        assert_eq!(picks, [Worker(0), Worker(1), Worker(2), Worker(0)]);
    }
}
