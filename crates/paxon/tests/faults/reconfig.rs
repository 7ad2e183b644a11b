//! Membership changes driven through the etcd API while the clients run
//! (§3.3.6): add a learner and start it with `--initial-cluster-state
//! existing`, promote it once it caught up, remove a member and see it
//! exit by itself. Each step is timed, and the clients' latency while it
//! ran is reported.

use std::time::{Duration, Instant};

use etcd_client::{Client, MemberAddOptions};

use crate::cluster::connect_all;
use crate::schedule::Run;

/// Longest a membership step may take on this busy machine.
const STEP_BOUND: Duration = Duration::from_secs(60);

/// The clients' latency while a step ran.
pub struct StepFigures {
    pub took: Duration,
    pub operations: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl std::fmt::Display for StepFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "took {:.2?}; {} client operations meanwhile, latency p50 {:.2?} p99 {:.2?} max {:.2?}",
            self.took, self.operations, self.p50, self.p99, self.max
        )
    }
}

impl Run {
    /// A client of every live member.
    fn admin(&self) -> Client {
        let endpoints: Vec<String> = self
            .cluster
            .live()
            .into_iter()
            .map(|i| self.cluster.endpoint(i))
            .collect();
        self.rt.block_on(connect_all(&endpoints))
    }

    /// The member id of member `i`, as it reports it.
    pub fn member_id(&mut self, i: usize) -> u64 {
        let endpoint = self.cluster.endpoint(i);
        let id = self.rt.block_on(async {
            let mut client = crate::cluster::connect(&endpoint).await;
            let status = client.status().await.ok()?;
            status.header().map(|h| h.member_id())
        });
        id.unwrap_or_else(|| self.fail(&format!("m{} did not say its id", i + 1)))
    }

    /// Adds a member as a learner, starts it on an empty data directory
    /// with the `--initial-cluster` the answer lists, waits until the
    /// leader lets it be promoted, and promotes it. Returns its index.
    pub fn add_member(&mut self) -> (usize, StepFigures) {
        let started = (Instant::now(), self.recorder.elapsed());
        let name = format!("m{}", self.cluster.len() + 1);
        let peer_url = self.cluster.new_peer_url();
        let admin = self.admin();
        let learner = Some(MemberAddOptions::new().with_is_learner());
        let added = self.rt.block_on(retry(|| {
            let (mut admin, peer_url, learner) = (admin.clone(), peer_url.clone(), learner.clone());
            async move { admin.member_add([peer_url.as_str()], learner).await }
        }));
        let added = added.unwrap_or_else(|e| self.fail(&format!("member add {name}: {e}")));
        let id = added.member().map(|m| m.id()).unwrap_or_default();
        let initial_cluster = added
            .member_list()
            .iter()
            .flat_map(|m| {
                let member = if m.id() == id {
                    name.as_str()
                } else {
                    m.name()
                };
                m.peer_urls()
                    .iter()
                    .map(move |url| format!("{member}={url}"))
            })
            .collect::<Vec<_>>()
            .join(",");
        let i = self.cluster.add_member(&name, &peer_url, initial_cluster);
        self.cluster.start(i);
        self.note(&format!(
            "member add {name} {id:x} as a learner; started it"
        ));
        let promoted = self.rt.block_on(retry(|| {
            let mut admin = admin.clone();
            async move { admin.member_promote(id).await }
        }));
        if let Err(e) = promoted {
            self.fail(&format!("member promote {name}: {e}"));
        }
        let figures = self.step_figures(started);
        self.note(&format!("{name} caught up and was promoted: {figures}"));
        (i, figures)
    }

    /// Removes member `i` and waits until it stopped by itself, with
    /// status 0.
    pub fn remove_member(&mut self, i: usize) -> StepFigures {
        let started = (Instant::now(), self.recorder.elapsed());
        let id = self.member_id(i);
        let admin = self.admin();
        let removed = self.rt.block_on(retry(|| {
            let mut admin = admin.clone();
            async move { admin.member_remove(id).await }
        }));
        if let Err(e) = removed {
            self.fail(&format!("member remove m{}: {e}", i + 1));
        }
        self.note(&format!("member remove m{} {id:x}", i + 1));
        let status = loop {
            if let Some(status) = self.cluster.exited(i) {
                break status;
            }
            if started.0.elapsed() > STEP_BOUND {
                self.fail(&format!("m{} kept running after its removal", i + 1));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !status.success() {
            self.fail(&format!(
                "m{} exited with {status} after its removal",
                i + 1
            ));
        }
        let figures = self.step_figures(started);
        self.note(&format!("m{} stopped by itself: {figures}", i + 1));
        figures
    }

    fn step_figures(&self, (began, from): (Instant, Duration)) -> StepFigures {
        let took = began.elapsed();
        let latencies = self.recorder.latencies(from, from + took);
        let at = |q: f64| {
            let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
            latencies.get(i).copied().unwrap_or_default()
        };
        StepFigures {
            took,
            operations: latencies.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

/// Retries a membership request that a leader change, a change still in
/// progress or a learner not yet caught up refused, until `STEP_BOUND`.
async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let start = Instant::now();
    loop {
        match attempt().await {
            Ok(answer) => return Ok(answer),
            Err(error) if start.elapsed() < STEP_BOUND && transient(&error) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Refusals that pass: etcd's clients retry them the same way.
fn transient(error: &etcd_client::Error) -> bool {
    let text = error.to_string();
    [
        "in sync with leader",
        "configuration change is already in progress",
        "not enough started members",
        "leader changed",
        "no leader",
        "not leader",
        "timed out",
        "transport error",
        "Unavailable",
    ]
    .iter()
    .any(|transient| text.contains(transient))
}
