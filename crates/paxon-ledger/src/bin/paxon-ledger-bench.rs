//! `paxon-ledger-bench [--dir DIR] [--rounds R] [--seconds S] [--threads 1,16,256]
//! [--preallocate-bytes N]`:
//! the ledger against the disk's own floor, in one run.
//!
//! Each round measures, back to back:
//! 1. raw `fdatasync` after a 4 KiB `pwrite`, overwriting a block already
//!    on disk (the physical floor) and appending to a growing file;
//! 2. the ledger through [`SharedLedger`] with 1, 16 and 256 appender
//!    threads of 256-byte records, each thread waiting for its record to
//!    be durable before appending the next: durable records/s, latency
//!    percentiles, `fdatasync`s/s.
//!
//! Rounds interleave the runs so that a burst of load from other processes
//! on a shared machine hits all of them alike; the summary gives medians
//! over rounds, and the single-appender/raw ratio is taken within each
//! round. Run with `cargo run --release -p paxon-ledger --bin paxon-ledger-bench`.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use paxon_ledger::{Ledger, LedgerConfig, LedgerError, SharedLedger, StdVfs};

const RAW_ITERATIONS: usize = 1000;
const RAW_WRITE_BYTES: usize = 4096;
const RECORD_BYTES: usize = 256;
const USAGE: &str = "usage: paxon-ledger-bench [--dir DIR] [--rounds R] [--seconds S] \
                     [--threads 1,16,256] [--preallocate-bytes N]";

struct Args {
    dir: PathBuf,
    rounds: usize,
    seconds: f64,
    threads: Vec<usize>,
    preallocate_bytes: u64,
}

/// One measured run.
#[derive(Clone, Copy)]
struct Stats {
    ops_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    syncs_per_s: f64,
    records_per_sync: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: std::env::temp_dir(),
        rounds: 5,
        seconds: 1.0,
        threads: vec![1, 16, 256],
        preallocate_bytes: LedgerConfig::default().preallocate_bytes,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .ok_or(format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value),
            "--rounds" => args.rounds = value.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--preallocate-bytes" => {
                args.preallocate_bytes = value
                    .parse()
                    .map_err(|e| format!("--preallocate-bytes: {e}"))?;
            }
            "--threads" => {
                let counts: Result<Vec<usize>, _> = value.split(',').map(str::parse).collect();
                args.threads = counts.map_err(|e| format!("--threads: {e}"))?;
            }
            _ => return Err(format!("unknown flag {flag}; {USAGE}")),
        }
    }
    if args.rounds == 0 {
        return Err("--rounds must be at least 1".to_string());
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
        "paxon-ledger-bench: dir {}, {} rounds, {} s per ledger run",
        root.display(),
        args.rounds,
        args.seconds
    );
    println!("preallocate_bytes: {}", args.preallocate_bytes);
    println!("load average at start: {}", load_average());
    let mut names = vec![
        "raw 4 KiB overwrite + fdatasync (floor)".to_string(),
        "raw 4 KiB append + fdatasync".to_string(),
    ];
    names.extend(
        args.threads
            .iter()
            .map(|&n| format!("ledger, {n} appender{} × {RECORD_BYTES} B", plural(n))),
    );
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let results =
            run_round(&root.join(format!("round-{round}")), &args).map_err(|e| e.to_string())?;
        eprintln!(
            "round {round}: {}",
            results
                .iter()
                .map(|s| format!("{:.0}/s p50 {:.0}µs", s.ops_per_s, s.p50_us))
                .collect::<Vec<_>>()
                .join(", ")
        );
        rounds.push(results);
    }
    println!("load average at end: {}", load_average());
    print_summary(&names, &rounds, &args);
    std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(())
}

fn run_round(dir: &Path, args: &Args) -> Result<Vec<Stats>, LedgerError> {
    std::fs::create_dir_all(dir).map_err(|source| io("mkdir", dir, source))?;
    let mut results = vec![
        raw_fdatasync(&dir.join("raw-overwrite"), false)?,
        raw_fdatasync(&dir.join("raw-append"), true)?,
    ];
    let config = LedgerConfig {
        preallocate_bytes: args.preallocate_bytes,
        ..LedgerConfig::default()
    };
    let duration = Duration::from_secs_f64(args.seconds);
    for &threads in &args.threads {
        let ledger_dir = dir.join(format!("ledger-{threads}"));
        results.push(ledger_run(&ledger_dir, &config, threads, duration)?);
    }
    Ok(results)
}

fn print_summary(names: &[String], rounds: &[Vec<Stats>], args: &Args) {
    println!();
    println!("| run (median of {} rounds) | ops/s | p50 µs | p99 µs | fdatasync/s | records per fdatasync |", rounds.len());
    println!("|---|---:|---:|---:|---:|---:|");
    for (index, name) in names.iter().enumerate() {
        let column =
            |f: fn(&Stats) -> f64| median(rounds.iter().map(|round| f(&round[index])).collect());
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
            column(|s| s.ops_per_s),
            column(|s| s.p50_us),
            column(|s| s.p99_us),
            column(|s| s.syncs_per_s),
            column(|s| s.records_per_sync)
        );
    }
    if let Some(single) = args.threads.iter().position(|&n| n == 1) {
        let ratios: Vec<f64> = rounds
            .iter()
            .map(|round| round[2 + single].p50_us / round[0].p50_us)
            .collect();
        let text: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!();
        println!(
            "single appender p50 / raw overwrite p50, per round: {} (median {:.2})",
            text.join(", "),
            median(ratios)
        );
    }
}

/// Times `RAW_ITERATIONS` × (4 KiB `pwrite` + `fdatasync`).
fn raw_fdatasync(path: &Path, append: bool) -> Result<Stats, LedgerError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path);
    let file = file.map_err(|source| io("create", path, source))?;
    let block = vec![0xabu8; RAW_WRITE_BYTES];
    if !append {
        file.write_all_at(&block, 0)
            .and_then(|()| file.sync_all())
            .map_err(|source| io("write", path, source))?;
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
        file.write_all_at(&block, offset)
            .and_then(|()| file.sync_data())
            .map_err(|source| io("write", path, source))?;
        latencies.push(t.elapsed());
    }
    let ops_per_s = RAW_ITERATIONS as f64 / started.elapsed().as_secs_f64();
    let (p50_us, p99_us) = percentiles(&mut latencies);
    Ok(Stats {
        ops_per_s,
        p50_us,
        p99_us,
        syncs_per_s: ops_per_s,
        records_per_sync: 1.0,
    })
}

/// Runs `threads` appenders for `duration` on a fresh ledger.
fn ledger_run(
    dir: &Path,
    config: &LedgerConfig,
    threads: usize,
    duration: Duration,
) -> Result<Stats, LedgerError> {
    let (ledger, _) = Ledger::open(StdVfs, dir, config.clone())?;
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
    let (p50_us, p99_us) = percentiles(&mut latencies);
    Ok(Stats {
        ops_per_s: records / elapsed,
        p50_us,
        p99_us,
        syncs_per_s: syncs / elapsed,
        records_per_sync: records / syncs.max(1.0),
    })
}

/// Appends durable records until `duration` has passed; returns each
/// record's latency.
fn appender(
    shared: &SharedLedger<StdVfs>,
    start: &Barrier,
    thread: usize,
    duration: Duration,
) -> Result<Vec<Duration>, LedgerError> {
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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string())
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> LedgerError {
    LedgerError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
