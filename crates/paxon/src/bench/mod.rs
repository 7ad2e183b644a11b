//! `paxon bench`: Paxon and etcd side by side, in one run, on loopback.
//!
//! Two 3-member clusters run at the same time, one of `paxon serve`
//! processes and one of real etcd, with data directories under one
//! directory (so on the same filesystem) and the same timing flags. The same
//! load generator drives both through the etcd v3 gRPC API; each point of
//! the load phase runs on Paxon and then at once on etcd, so that the
//! machine's background load falls on both alike. The answers are ratios,
//! not absolute times.
//!
//! Phases, chosen with `--phases`:
//! - `load`: every workload at every client count (throughput, p50, p99,
//!   p99.9), a table per workload and a latency-versus-throughput SVG;
//! - `memory`: resident memory of each member after loading N keys;
//! - `restart`: from `kill -9` of a member holding those N keys to that
//!   member serving a linearizable read;
//! - `sustained`: put load into a growing store, throughput per window.

mod cluster;
mod load;
mod phases;
mod plot;
mod report;
mod stats;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use cluster::{Cluster, Kind};
use workload::Workload;

/// Options of `paxon bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Measured time of each point, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Warm-up before each point, in seconds (not measured).
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    /// Workloads: put, get-linearizable, get-serializable, txn-cas, mix.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "put,get-linearizable,get-serializable,txn-cas,mix"
    )]
    workloads: Vec<Workload>,
    /// Numbers of concurrent clients.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    clients: Vec<usize>,
    /// gRPC connections (HTTP/2) the clients share, at most one per client;
    /// spread over the three members.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Distinct keys the put and mix workloads write.
    #[arg(long, default_value_t = 100_000)]
    key_space: u64,
    /// Phases: load, memory, restart, sustained (or all).
    #[arg(long, value_delimiter = ',', default_value = "load")]
    phases: Vec<String>,
    /// Keys loaded before the memory and restart phases.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Length of the sustained put phase, in seconds.
    #[arg(long, default_value_t = 180.0)]
    sustained_s: f64,
    /// Clients of the sustained put phase.
    #[arg(long, default_value_t = 256)]
    sustained_clients: usize,
    /// Where the tables (bench.md) and the plot (bench.svg) go.
    #[arg(long, default_value = "bench-out")]
    out_dir: PathBuf,
    /// The etcd binary (default: `etcd` on PATH, then /usr/bin/etcd).
    #[arg(long)]
    etcd: Option<PathBuf>,
    /// Keep the members' data directories and logs (their path is printed)
    /// instead of removing them at the end.
    #[arg(long)]
    keep_data: bool,
    /// A few seconds in all: every workload and phase, tiny and short
    /// (for CI: it checks the bench works, not speed).
    #[arg(long)]
    smoke: bool,
}

/// What one run does, after `--smoke` has been applied.
pub struct Plan {
    duration: Duration,
    warmup: Duration,
    workloads: Vec<Workload>,
    clients: Vec<usize>,
    connections: usize,
    key_space: u64,
    phases: Vec<Phase>,
    keys: u64,
    sustained: Duration,
    sustained_clients: usize,
}

/// A part of the bench that can be chosen on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Load,
    Memory,
    Restart,
    Sustained,
}

impl BenchArgs {
    fn plan(&self) -> Result<Plan, String> {
        let mut phases = Vec::new();
        for name in &self.phases {
            match name.as_str() {
                "load" => phases.push(Phase::Load),
                "memory" => phases.push(Phase::Memory),
                "restart" => phases.push(Phase::Restart),
                "sustained" => phases.push(Phase::Sustained),
                "all" => {
                    phases.extend([Phase::Load, Phase::Memory, Phase::Restart, Phase::Sustained])
                }
                other => return Err(format!("--phases: unknown phase {other:?}")),
            }
        }
        if self.clients.contains(&0) || self.connections == 0 || self.sustained_clients == 0 {
            return Err("--clients, --connections and --sustained-clients must be > 0".into());
        }
        if self.duration_s <= 0.0 || self.warmup_s < 0.0 || self.sustained_s <= 0.0 {
            return Err("--duration-s and --sustained-s must be > 0, --warmup-s ≥ 0".into());
        }
        if self.key_space == 0 || self.keys == 0 {
            return Err("--key-space and --keys must be > 0".into());
        }
        if self.smoke {
            return Ok(Plan {
                duration: Duration::from_millis(500),
                warmup: Duration::from_millis(100),
                workloads: Workload::ALL.to_vec(),
                clients: vec![1, 16],
                connections: 4,
                key_space: 1_000,
                phases: vec![Phase::Load, Phase::Memory, Phase::Restart, Phase::Sustained],
                keys: 2_000,
                sustained: Duration::from_secs(2),
                sustained_clients: 16,
            });
        }
        Ok(Plan {
            duration: Duration::from_secs_f64(self.duration_s),
            warmup: Duration::from_secs_f64(self.warmup_s),
            workloads: self.workloads.clone(),
            clients: self.clients.clone(),
            connections: self.connections,
            key_space: self.key_space,
            phases,
            keys: self.keys,
            sustained: Duration::from_secs_f64(self.sustained_s),
            sustained_clients: self.sustained_clients,
        })
    }
}

/// Runs the bench; prints the tables and writes them with the plot.
pub fn run(args: &BenchArgs) -> ExitCode {
    match run_plan(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("paxon bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_plan(args: &BenchArgs) -> Result<(), String> {
    let plan = args.plan()?;
    let etcd = cluster::find_etcd(args.etcd.as_deref())?;
    let paxon = std::env::current_exe().map_err(|e| format!("cannot find my executable: {e}"))?;
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.out_dir.display()))?;
    let data = tempdir()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("no runtime: {e}"))?;
    let mut report = report::Report::new(&plan, &etcd, &command_line());
    eprintln!("paxon bench: data under {}", data.display());
    let result = runtime.block_on(async {
        let kinds = [Kind::Paxon(paxon), Kind::Etcd(etcd.path.clone())];
        if plan.phases.contains(&Phase::Load) {
            let clusters = Cluster::start_both(&kinds, &data.join("load")).await?;
            report.load = load::run_phase(&plan, &clusters).await;
        }
        if plan.phases.contains(&Phase::Memory) || plan.phases.contains(&Phase::Restart) {
            let mut clusters = Cluster::start_both(&kinds, &data.join("memory")).await?;
            report.memory = phases::memory_and_restart(&plan, &mut clusters).await?;
        }
        if plan.phases.contains(&Phase::Sustained) {
            for kind in &kinds {
                let dir = data.join("sustained").join(kind.name());
                let cluster = Cluster::start(kind.clone(), &dir).await?;
                report
                    .sustained
                    .push(phases::sustained(&plan, &cluster).await);
            }
        }
        Ok::<(), String>(())
    });
    drop(runtime);
    if args.keep_data {
        eprintln!(
            "paxon bench: data and member logs kept under {}",
            data.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&data);
    }
    result?;
    report.write(&args.out_dir)
}

/// A fresh directory for the members' data, under the system's temporary
/// directory.
fn tempdir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("paxon-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut words = vec!["paxon".to_string()];
    words.extend(args.into_iter().skip(1));
    words.join(" ")
}
