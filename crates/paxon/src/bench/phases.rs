//! The phases beside the load phase: memory after loading N keys, restart
//! from `kill -9`, and sustained puts into a growing store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::load::load_keys;
use super::workload::Client;
use super::{Phase, Plan};

/// Memory and restart of one system holding `keys` keys.
pub struct Memory {
    /// The system.
    pub system: &'static str,
    /// Keys loaded.
    pub keys: u64,
    /// How long loading took.
    pub load: Duration,
    /// VmRSS of each member after loading, in KiB.
    pub rss_kib: Vec<u64>,
    /// From `kill -9` of a follower to its answer to a linearizable read of
    /// the last key loaded; `None` if not measured.
    pub restart: Option<Result<Duration, String>>,
}

/// Puts into a growing store: throughput per window.
pub struct Sustained {
    /// The system.
    pub system: &'static str,
    /// Length of one window.
    pub window: Duration,
    /// Puts per second in each window.
    pub windows: Vec<f64>,
}

/// Seconds the members get to settle after loading, before RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

fn memory_key(n: u64) -> Vec<u8> {
    format!("mem/{n:012}").into_bytes()
}

fn grow_key(n: u64) -> Vec<u8> {
    format!("grow/{n:012}").into_bytes()
}

/// Loads `plan.keys` keys into each cluster, reads the members' RSS and,
/// if the plan has the restart phase, restarts a follower.
pub async fn memory_and_restart(
    plan: &Plan,
    clusters: &mut [Cluster],
) -> Result<Vec<Memory>, String> {
    let mut results = Vec::new();
    for cluster in clusters.iter_mut() {
        let system = cluster.kind.name();
        eprintln!("paxon bench: loading {} keys into {system}", plan.keys);
        let began = Instant::now();
        load_keys(cluster, plan.keys, memory_key).await?;
        let load = began.elapsed();
        tokio::time::sleep(SETTLE).await;
        let rss_kib = (0..3).filter_map(|i| cluster.rss_kib(i)).collect();
        let restart = if plan.phases.contains(&Phase::Restart) {
            Some(restart_follower(cluster, &memory_key(plan.keys - 1)).await)
        } else {
            None
        };
        results.push(Memory {
            system,
            keys: plan.keys,
            load,
            rss_kib,
            restart,
        });
    }
    Ok(results)
}

/// `kill -9` of a follower, restart, and time until it serves `key`.
async fn restart_follower(cluster: &mut Cluster, key: &[u8]) -> Result<Duration, String> {
    let leader = cluster.leader().await.ok_or("no member says it leads")?;
    let follower = (leader + 1) % 3;
    cluster.kill(follower);
    let began = Instant::now();
    cluster.start_member(follower)?;
    cluster.wait_serving(follower, key).await?;
    let took = began.elapsed();
    eprintln!(
        "paxon bench: {} member restarted and served a read in {took:?}",
        cluster.kind.name()
    );
    Ok(took)
}

/// `plan.sustained_clients` clients put new keys for `plan.sustained`.
pub async fn sustained(plan: &Plan, cluster: &Cluster) -> Sustained {
    let system = cluster.kind.name();
    let window = (plan.sustained / 12).max(Duration::from_secs(1));
    let windows = (plan.sustained.as_secs_f64() / window.as_secs_f64()).ceil() as usize;
    eprintln!("paxon bench: sustained puts into {system} for {windows} × {window:?}");
    let Ok(channels) = cluster.connect(plan.connections).await else {
        return Sustained {
            system,
            window,
            windows: Vec::new(),
        };
    };
    let next_key = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + window * windows as u32;
    let mut tasks = Vec::new();
    for id in 0..plan.sustained_clients {
        let mut client = Client::new(channels[id % channels.len()].clone(), id, 1);
        let (next_key, done) = (Arc::clone(&next_key), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let n = next_key.fetch_add(1, Ordering::Relaxed);
                if client.put_key(grow_key(n)).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut per_window = Vec::new();
    let mut last = 0;
    for _ in 0..windows {
        tokio::time::sleep(window).await;
        let now = done.load(Ordering::Relaxed);
        per_window.push((now - last) as f64 / window.as_secs_f64());
        last = now;
    }
    for task in tasks {
        let _ = task.await;
    }
    Sustained {
        system,
        window,
        windows: per_window,
    }
}
