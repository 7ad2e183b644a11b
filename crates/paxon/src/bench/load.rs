//! The load phase: every workload at every client count, on each cluster
//! in turn for each point.

use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::stats::Summary;
use super::workload::{key, Client, Workload};
use super::Plan;

/// Concurrent loaders when keys are loaded in bulk.
pub const LOADERS: usize = 16;
/// A client pauses after a failed operation rather than spin.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// One workload at one client count, on every system.
pub struct Point {
    /// The workload.
    pub workload: Workload,
    /// Concurrent clients.
    pub clients: usize,
    /// Connections they shared.
    pub connections: usize,
    /// (system name, result), Paxon first.
    pub results: Vec<(&'static str, Summary)>,
}

/// Runs every point of the plan on every cluster.
pub async fn run_phase(plan: &Plan, clusters: &[Cluster]) -> Vec<Point> {
    if plan.workloads.iter().any(|w| w.reads()) {
        for cluster in clusters {
            eprintln!(
                "paxon bench: loading {} keys into {}",
                plan.key_space,
                cluster.kind.name()
            );
            if let Err(error) = load_keys(cluster, plan.key_space, key).await {
                eprintln!("paxon bench: loading failed: {error}");
            }
        }
    }
    let mut points = Vec::new();
    for &workload in &plan.workloads {
        for &clients in &plan.clients {
            let connections = clients.min(plan.connections);
            let mut results = Vec::new();
            for cluster in clusters {
                let summary = run_point(plan, cluster, workload, clients, connections).await;
                eprintln!(
                    "paxon bench: {:<16} {:>3} clients {:>6}: {:>9.0} ops/s p50 {:>7.2} ms p99 {:>7.2} ms errors {}",
                    workload.name(),
                    clients,
                    cluster.kind.name(),
                    summary.throughput(),
                    summary.p50.as_secs_f64() * 1e3,
                    summary.p99.as_secs_f64() * 1e3,
                    summary.errors,
                );
                results.push((cluster.kind.name(), summary));
            }
            points.push(Point {
                workload,
                clients,
                connections,
                results,
            });
        }
    }
    points
}

/// Puts keys `name(0..n)` with [`LOADERS`] concurrent bulk loaders.
pub async fn load_keys(cluster: &Cluster, n: u64, name: fn(u64) -> Vec<u8>) -> Result<(), String> {
    let channels = cluster.connect(LOADERS).await?;
    let share = n.div_ceil(LOADERS as u64);
    let mut tasks = Vec::new();
    for (i, channel) in channels.into_iter().enumerate() {
        let first = (i as u64 * share).min(n);
        let end = (first + share).min(n);
        let mut client = Client::new(channel, i, n);
        tasks.push(tokio::spawn(
            async move { client.load(first, end, name).await },
        ));
    }
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(status)) => return Err(status.to_string()),
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(())
}

/// Runs `clients` clients of `workload` for the warm-up and the measured
/// window; counts what started and ended inside the window.
async fn run_point(
    plan: &Plan,
    cluster: &Cluster,
    workload: Workload,
    clients: usize,
    connections: usize,
) -> Summary {
    let channels = match cluster.connect(connections).await {
        Ok(channels) => channels,
        Err(error) => {
            eprintln!("paxon bench: cannot connect: {error}");
            return Summary::new(Vec::new(), 1, plan.duration);
        }
    };
    let start = Instant::now() + plan.warmup;
    let end = start + plan.duration;
    let mut tasks = Vec::new();
    for id in 0..clients {
        let client = Client::new(channels[id % connections].clone(), id, plan.key_space);
        tasks.push(tokio::spawn(drive(client, workload, start, end)));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((mine, failed)) = task.await {
            latencies.extend(mine);
            errors += failed;
        }
    }
    Summary::new(latencies, errors, plan.duration)
}

/// One client's loop: latencies (µs) inside `[start, end)`, and failures.
async fn drive(
    mut client: Client,
    workload: Workload,
    start: Instant,
    end: Instant,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    loop {
        let began = Instant::now();
        if began >= end {
            return (latencies, errors);
        }
        let result = client.op(workload).await;
        let done = Instant::now();
        let measured = began >= start && done <= end;
        match result {
            Ok(()) if measured => latencies.push(micros(done - began)),
            Ok(()) => {}
            Err(_) => {
                errors += u64::from(measured);
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}
