//! The child of the kill -9 acceptance test (`tests/kill9.rs`).
//!
//! `paxon-ledger-crashtest <dir>` recovers the ledger in `<dir>` (real
//! files, [`StdVfs`]), checks what it recovered, then runs
//! [`workload::THREADS`] appender threads through a [`SharedLedger`] (group
//! commit) until it is killed. After each of its records is durable, a
//! thread prints `<thread> <counter>` on stdout and flushes: that line is
//! the acknowledgement the parent holds the ledger to. Every
//! [`workload::SNAPSHOT_EVERY_RECORDS`] applied records it saves a snapshot
//! and trims the log. It stops by itself after `RUN_SECONDS_MAX` in case
//! nobody kills it.

mod workload;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paxon_ledger::{Ledger, LedgerError, SharedLedger, StdVfs};
use workload::{State, THREADS};

const RUN_SECONDS_MAX: u64 = 20;

/// The state machine fed in log order from acknowledgements that arrive
/// out of order.
struct Applier {
    state: State,
    /// Acknowledged records waiting for their predecessors.
    waiting: BTreeMap<u64, (u8, u64)>,
    /// The last snapshot taken (or being taken).
    snapshot_seq: u64,
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: paxon-ledger-crashtest <dir>");
        return ExitCode::from(2);
    };
    match run(Path::new(&dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("paxon-ledger-crashtest: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path) -> Result<(), String> {
    let (ledger, recovered) =
        Ledger::open(StdVfs, dir, workload::config()).map_err(|e| e.to_string())?;
    let state = State::recover(&recovered)?;
    let snapshot_seq = recovered.snapshot.as_ref().map_or(0, |s| s.seq);
    let applier = Arc::new(Mutex::new(Applier {
        state,
        waiting: BTreeMap::new(),
        snapshot_seq,
    }));
    let shared = Arc::new(SharedLedger::new(ledger));
    let deadline = Instant::now() + Duration::from_secs(RUN_SECONDS_MAX);
    let threads: Vec<_> = (0..THREADS as u8)
        .map(|thread| {
            let (shared, applier) = (Arc::clone(&shared), Arc::clone(&applier));
            std::thread::spawn(move || append_loop(thread, &shared, &applier, deadline))
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| "appender thread panicked".to_string())??;
    }
    Ok(())
}

fn append_loop(
    thread: u8,
    shared: &SharedLedger<StdVfs>,
    applier: &Mutex<Applier>,
    deadline: Instant,
) -> Result<(), String> {
    let mut counter = lock(applier)?.state.counters[usize::from(thread)];
    while Instant::now() < deadline {
        counter += 1;
        let seq = shared
            .append_durable(thread, &workload::payload(thread, counter))
            .map_err(|e| e.to_string())?;
        let snapshot = apply(applier, seq, thread, counter)?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{thread} {counter}")
            .and_then(|()| stdout.flush())
            .map_err(|e| e.to_string())?;
        drop(stdout);
        if let Some((seq, bytes)) = snapshot {
            match shared.save_snapshot(seq, &bytes) {
                Ok(()) => shared
                    .trim_before(seq + 1)
                    .map(drop)
                    .map_err(|e| e.to_string())?,
                Err(LedgerError::SnapshotNotNewer { .. }) => {} // another thread saved a newer one first
                Err(error) => return Err(error.to_string()),
            }
        }
    }
    Ok(())
}

/// Applies every acknowledged record that is next in line; returns a
/// snapshot to save when one is due.
fn apply(
    applier: &Mutex<Applier>,
    seq: u64,
    thread: u8,
    counter: u64,
) -> Result<Option<(u64, Vec<u8>)>, String> {
    let mut applier = lock(applier)?;
    applier.waiting.insert(seq, (thread, counter));
    loop {
        let next = applier.state.seq + 1;
        let Some((thread, counter)) = applier.waiting.remove(&next) else {
            break;
        };
        applier.state.apply(next, thread, counter)?;
    }
    let state = &applier.state;
    if state.seq < applier.snapshot_seq + workload::SNAPSHOT_EVERY_RECORDS {
        return Ok(None);
    }
    let snapshot = (
        state.seq,
        workload::snapshot_bytes(state.seq, &state.counters),
    );
    applier.snapshot_seq = state.seq;
    Ok(Some(snapshot))
}

fn lock(applier: &Mutex<Applier>) -> Result<std::sync::MutexGuard<'_, Applier>, String> {
    applier
        .lock()
        .map_err(|_| "applier mutex poisoned".to_string())
}
