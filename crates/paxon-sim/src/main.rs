//! `paxon-sim`: runs seeds of the deterministic cluster simulator.
//!
//! ```text
//! cargo run -p paxon-sim --release -- --seeds 0..2000
//! cargo run -p paxon-sim --release -- --replay 1234 --nodes 5
//! ```

use std::ops::Range;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use paxon_sim::{run_seed, FaultMix, Options, Outcome, Report};

const USAGE: &str =
    "usage: paxon-sim [--seeds A..B | --replay SEED] [--nodes N] [--spares N] [--steps N]
                 [--clients N] [--faults all|none|network,partitions,crashes,clocks,bit-flips,wipes]
                 [--no-leases] [--planted-bug N] [--threads N] [--verbose]";

struct Args {
    seeds: Range<u64>,
    options: Options,
    threads: usize,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seeds: 0..100,
        options: Options::default(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seeds" => args.seeds = parse_range(&value()?)?,
            "--replay" => {
                let seed = parse_num(&value()?)?;
                args.seeds = seed..seed + 1;
                args.verbose = true;
            }
            "--nodes" => args.options.nodes = parse_num(&value()?)?,
            "--spares" => args.options.spares = parse_num(&value()?)?,
            "--steps" => args.options.steps = parse_num(&value()?)?,
            "--clients" => args.options.clients = parse_num(&value()?)? as u32,
            "--faults" => args.options.faults = FaultMix::parse(&value()?)?,
            "--planted-bug" => args.options.planted_bug = Some(parse_num(&value()?)? as u8),
            "--threads" => args.threads = parse_num(&value()?)?.max(1) as usize,
            "--verbose" | "-v" => args.verbose = true,
            "--no-leases" => args.options.leases = false,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if !(1..=64).contains(&args.options.nodes) || args.options.nodes + args.options.spares > 64 {
        return Err("--nodes must be between 1 and 64, with --spares at most 64 in all".into());
    }
    Ok(args)
}

fn parse_num(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("not a number: {text}"))
}

fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or(format!("not a range A..B: {text}"))?;
    Ok(parse_num(a)?..parse_num(b)?)
}

fn replay_command(args: &Args, seed: u64) -> String {
    let o = &args.options;
    let mut command = format!(
        "cargo run -p paxon-sim --release -- --replay {seed} --nodes {} --spares {} --steps {} --clients {}",
        o.nodes, o.spares, o.steps, o.clients
    );
    if let Some(bug) = o.planted_bug {
        command = command.replace("-p paxon-sim", "-p paxon-sim --features planted-bugs");
        command.push_str(&format!(" --planted-bug {bug}"));
    }
    command
}

fn print_failure(args: &Args, report: &Report) {
    let Outcome::Failed(failure) = &report.outcome else {
        return;
    };
    eprintln!("\nFAILED seed {} after {} steps", report.seed, report.steps);
    eprintln!("checker: {failure}");
    if !report.trace_tail.is_empty() {
        eprintln!("last steps:\n{}", report.trace_tail);
    }
    eprintln!("replay: {}", replay_command(args, report.seed));
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let next = AtomicU64::new(args.seeds.start);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= args.seeds.end {
                    return;
                }
                let mut report = run_seed(&args.options, seed, args.verbose);
                if matches!(report.outcome, Outcome::Failed(_)) && !args.verbose {
                    report = run_seed(&args.options, seed, true);
                }
                print_failure(&args, &report);
                reports.lock().expect("no panics hold it").push(report);
            });
        }
    });
    let reports = reports.into_inner().expect("no panics hold it");
    summarize(&args, &reports, start.elapsed().as_secs_f64())
}

fn summarize(args: &Args, reports: &[Report], seconds: f64) -> ExitCode {
    let failed = reports
        .iter()
        .filter(|r| r.outcome != Outcome::Passed)
        .count();
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    let live_max = reports.iter().map(|r| r.liveness_ticks).max().unwrap_or(0);
    println!(
        "{} seeds ({}..{}), {} nodes: {} steps, {} faults, {} slots chosen, {} requests completed, {} unknown; \
         liveness max {} ticks; {:.1} s",
        reports.len(),
        args.seeds.start,
        args.seeds.end,
        args.options.nodes,
        sum(|r| r.steps),
        sum(|r| r.faults),
        sum(|r| r.slots),
        sum(|r| r.completed),
        sum(|r| r.unknown),
        live_max,
        seconds
    );
    if args.verbose && reports.len() == 1 {
        println!("trace hash {:016x}", reports[0].trace_hash);
    }
    println!("{} passed, {failed} failed", reports.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
