//! `paxon-ledger-bench [--dir DIR] [--seconds S] [--threads 1,16,256]`: the ledger against the
//! disk's own floor, in one run.
//!
//! 1. Raw `fdatasync` after a 4 KiB write, both overwriting a preallocated
//!    block (the physical floor) and appending to a growing file.
//! 2. The ledger through [`SharedLedger`] with 1, 16 and 256 appender
//!    threads of 256-byte records; each thread waits for its record to be
//!    durable before appending the next. Reports durable records/s,
//!    latency percentiles and `fdatasync`s/s.
//!
//! Run with `cargo run --release -p paxon-ledger --bin paxon-ledger-bench`.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use paxon_ledger::{Ledger, LedgerConfig, SharedLedger, StdVfs};

const RAW_ITERATIONS: usize = 2000;
const RAW_WRITE_BYTES: usize = 4096;
const RECORD_BYTES: usize = 256;
const THREAD_COUNTS: [usize; 3] = [1, 16, 256];
const USAGE: &str = "usage: paxon-ledger-bench [--dir DIR] [--seconds S] [--threads 1,16,256]";

struct Args {
    dir: PathBuf,
    seconds: f64,
    threads: Vec<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: std::env::temp_dir(),
        seconds: 3.0,
        threads: THREAD_COUNTS.to_vec(),
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value),
            "--seconds" => args.seconds = value.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--threads" => {
                let counts: Result<Vec<usize>, _> = value.split(',').map(str::parse).collect();
                args.threads = counts.map_err(|e| format!("--threads: {e}"))?;
            }
            _ => return Err(format!("unknown flag {flag}; {USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let root = args
        .dir
        .join(format!("paxon-ledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    println!(
        "paxon-ledger-bench: dir {}, {} s per ledger run",
        root.display(),
        args.seconds
    );
    println!();
    println!("| run | ops/s | p50 µs | p99 µs | fdatasync/s | records per fdatasync |");
    println!("|---|---:|---:|---:|---:|---:|");
    let floor = raw_fdatasync(&root.join("raw-overwrite"), false).map_err(|e| e.to_string())?;
    raw_fdatasync(&root.join("raw-append"), true).map_err(|e| e.to_string())?;
    let mut single_p50 = 0.0;
    for threads in args.threads {
        let dir = root.join(format!("ledger-{threads}"));
        let p50 = ledger_run(&dir, threads, Duration::from_secs_f64(args.seconds))
            .map_err(|e| e.to_string())?;
        if threads == 1 {
            single_p50 = p50;
        }
    }
    println!();
    println!(
        "single appender p50 / raw overwrite p50 = {:.2}",
        single_p50 / floor
    );
    std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(())
}

/// Times `RAW_ITERATIONS` × (4 KiB `pwrite` + `fdatasync`); returns p50 µs.
fn raw_fdatasync(path: &Path, append: bool) -> std::io::Result<f64> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let block = vec![0xabu8; RAW_WRITE_BYTES];
    if !append {
        file.write_all_at(&block, 0)?;
        file.sync_all()?;
    }
    let mut latencies = Vec::with_capacity(RAW_ITERATIONS);
    let started = Instant::now();
    for i in 0..RAW_ITERATIONS {
        let offset = if append {
            (i * RAW_WRITE_BYTES) as u64
        } else {
            0
        };
        let t = Instant::now();
        file.write_all_at(&block, offset)?;
        file.sync_data()?;
        latencies.push(t.elapsed());
    }
    let rate = RAW_ITERATIONS as f64 / started.elapsed().as_secs_f64();
    let name = if append {
        "raw 4 KiB append + fdatasync"
    } else {
        "raw 4 KiB overwrite + fdatasync (floor)"
    };
    let (p50, p99) = percentiles(&mut latencies);
    println!("| {name} | {rate:.0} | {p50:.0} | {p99:.0} | {rate:.0} | 1 |");
    Ok(p50)
}

/// Runs `threads` appenders for `duration`; returns the p50 latency in µs.
fn ledger_run(
    dir: &Path,
    threads: usize,
    duration: Duration,
) -> Result<f64, paxon_ledger::LedgerError> {
    let (ledger, _) = Ledger::open(StdVfs, dir, LedgerConfig::default())?;
    let shared = Arc::new(SharedLedger::new(ledger));
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (shared, start) = (Arc::clone(&shared), Arc::clone(&start));
            std::thread::spawn(move || appender(&shared, &start, thread, duration))
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let syncs_before = shared.sync_count()?;
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.join().expect("appender thread")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let syncs = (shared.sync_count()? - syncs_before) as f64;
    let records = latencies.len() as f64;
    let (p50, p99) = percentiles(&mut latencies);
    println!(
        "| ledger, {threads} appender{} × {RECORD_BYTES} B | {:.0} | {p50:.0} | {p99:.0} | {:.0} | {:.1} |",
        if threads == 1 { "" } else { "s" },
        records / elapsed,
        syncs / elapsed,
        records / syncs
    );
    Ok(p50)
}

/// Appends durable records until `duration` has passed; returns each
/// record's latency.
fn appender(
    shared: &SharedLedger<StdVfs>,
    start: &Barrier,
    thread: usize,
    duration: Duration,
) -> Result<Vec<Duration>, paxon_ledger::LedgerError> {
    let mut payload = vec![thread as u8; RECORD_BYTES];
    let mut latencies = Vec::new();
    start.wait();
    let deadline = Instant::now() + duration;
    let mut counter = 0u64;
    while Instant::now() < deadline {
        counter += 1;
        payload[..8].copy_from_slice(&counter.to_le_bytes());
        let t = Instant::now();
        shared.append_durable(1, &payload)?;
        latencies.push(t.elapsed());
    }
    Ok(latencies)
}

/// p50 and p99 in microseconds.
fn percentiles(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    (at(0.50), at(0.99))
}
