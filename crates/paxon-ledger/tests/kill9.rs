//! Acceptance: real processes, real files, `kill -9`.
//!
//! Each cycle starts `paxon-ledger-crashtest` on the same data directory,
//! lets it append with group commit for a random 2–50 ms, and kills it with
//! SIGKILL. Then a copy of the directory is opened here (the original is
//! left for the next child to recover, truncate and continue) and checked:
//! every record the child acknowledged on stdout is there, in order, with
//! its exact content; no thread's records are missing, duplicated,
//! reordered or invented; nothing seen in an earlier cycle has gone.
//! The seed is printed; `PAXON_KILL9_SEED=<seed>` reruns the same schedule
//! of kill times (the processes themselves are not deterministic).

#[allow(dead_code)] // shared with the child, which also uses the encoders
#[path = "../src/bin/paxon-ledger-crashtest/workload.rs"]
mod workload;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use paxon_ledger::{Ledger, StdVfs};
use workload::{State, THREADS};

const CYCLES: u64 = 250;
const RUN_MS_MIN: u64 = 2;
const RUN_MS_MAX: u64 = 50;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn seed() -> u64 {
    match std::env::var("PAXON_KILL9_SEED") {
        Ok(seed) => seed.parse().expect("PAXON_KILL9_SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        // A read error just ends the text: the check below then fails loudly.
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs the child for `run`, kills it, and returns the highest counter it
/// acknowledged per thread.
fn run_and_kill(dir: &Path, run: Duration, context: &str) -> [u64; THREADS] {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paxon-ledger-crashtest"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the crashtest child");
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    std::thread::sleep(run);
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    let (stdout, stderr) = (
        stdout.join().expect("stdout reader"),
        stderr.join().expect("stderr reader"),
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "{context}: the child exited by itself ({status}): {stderr}"
    );
    let mut acked = [0u64; THREADS];
    // Only complete lines count: the kill may cut the last one.
    for line in stdout
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
    {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(thread)), Some(Ok(counter)), None) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("{context}: malformed acknowledgement {line:?}");
        };
        let slot = &mut acked[usize::try_from(thread).expect("thread index")];
        *slot = (*slot).max(counter);
    }
    acked
}

/// Opens a copy of `dir` and rebuilds the workload's state from it.
fn recover_copy(dir: &Path, scratch: &Path, context: &str) -> State {
    if scratch.exists() {
        std::fs::remove_dir_all(scratch).expect("clear scratch");
    }
    for sub in ["wal", "snap"] {
        std::fs::create_dir_all(scratch.join(sub)).expect("scratch dirs");
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("dir entry");
            std::fs::copy(entry.path(), scratch.join(sub).join(entry.file_name())).expect("copy");
        }
    }
    let (_, recovered) = Ledger::open(StdVfs, scratch, workload::config())
        .unwrap_or_else(|error| panic!("{context}: recovery failed: {error}"));
    State::recover(&recovered)
        .unwrap_or_else(|error| panic!("{context}: bad recovered log: {error}"))
}

#[test]
fn kill_9_loses_no_acknowledged_record_and_invents_none() {
    let seed = seed();
    eprintln!("kill9: seed {seed} (rerun with PAXON_KILL9_SEED={seed})");
    let mut rng = SplitMix64(seed);
    let temp = tempfile::tempdir().expect("temp dir");
    let (dir, scratch) = (temp.path().join("member"), temp.path().join("copy"));
    let started = Instant::now();
    let mut acked = [0u64; THREADS];
    let mut previous = State {
        seq: 0,
        counters: [0; THREADS],
    };
    for cycle in 0..CYCLES {
        let run = Duration::from_millis(RUN_MS_MIN + rng.next() % (RUN_MS_MAX - RUN_MS_MIN + 1));
        let context = format!("seed {seed}, cycle {cycle}, ran {run:?}");
        let printed = run_and_kill(&dir, run, &context);
        let state = recover_copy(&dir, &scratch, &context);
        assert!(
            state.seq >= previous.seq,
            "{context}: the log shrank from {} to {}",
            previous.seq,
            state.seq
        );
        for thread in 0..THREADS {
            acked[thread] = acked[thread].max(printed[thread]);
            let recovered = state.counters[thread];
            assert!(
                recovered >= acked[thread],
                "{context}: thread {thread} lost acknowledged records: {recovered} < {}",
                acked[thread]
            );
            assert!(
                recovered >= previous.counters[thread],
                "{context}: thread {thread} lost records seen before"
            );
            // At most one record acknowledged but not yet printed, and one in flight.
            let bound = printed[thread].max(previous.counters[thread]) + 2;
            assert!(
                recovered <= bound,
                "{context}: thread {thread} has invented records: {recovered} > {bound}"
            );
        }
        previous = state;
    }
    eprintln!(
        "kill9: {CYCLES} kill cycles in {:?}; {} records acknowledged, {} in the log",
        started.elapsed(),
        acked.iter().sum::<u64>(),
        previous.seq
    );
    assert!(previous.seq > CYCLES, "the children made progress");
}
