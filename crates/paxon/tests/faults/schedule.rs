//! A run: a cluster, clients recording a history, the nemesis's timeline,
//! and the checks at the end. Everything random comes from one seed,
//! printed with the timeline when a check fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::GetOptions;
use paxon_linz::{CheckResult, ClientId};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::cluster::{connect, Cluster};
use crate::workload::{client_loop, Recorder};

/// After the faults heal, every member must serve a write and a
/// linearizable read within this bound.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(20);
/// Clients per member.
const CLIENTS_PER_MEMBER: usize = 3;

/// SplitMix64: small, seeded, good enough to pick victims and delays.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A duration in `[min, max]`.
    pub fn between(&mut self, min: Duration, max: Duration) -> Duration {
        let span = (max - min).as_millis() as u64;
        min + Duration::from_millis(self.below(span + 1))
    }

    /// `items` in a random order.
    pub fn shuffled(&mut self, mut items: Vec<usize>) -> Vec<usize> {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
        items
    }
}

/// The seed of a run: `PAXON_FAULTS_SEED` or the clock.
pub fn seed() -> u64 {
    match std::env::var("PAXON_FAULTS_SEED") {
        Ok(seed) => seed.parse().expect("PAXON_FAULTS_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

/// What a run checked, for the report.
#[derive(Default)]
pub struct Figures {
    pub operations: usize,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    pub faults: usize,
    pub recovery_max: Duration,
}

/// A cluster under a nemesis, with clients running.
pub struct Run {
    pub name: String,
    pub cluster: Cluster,
    pub rt: Runtime,
    pub rng: Rng,
    seed: u64,
    start: Instant,
    timeline: Vec<String>,
    pub recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
    pub faults: usize,
    recovery_max: Duration,
    round: u32,
}

impl Run {
    /// Starts every member of `cluster`, waits until it serves, and starts
    /// the clients.
    pub fn start(name: &str, mut cluster: Cluster) -> Run {
        let seed = seed();
        eprintln!("[{name}] seed {seed} (PAXON_FAULTS_SEED={seed} replays the same choices)");
        cluster.start_all();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let mut run = Run::new(name, cluster, rt, seed);
        run.note("cluster started");
        run.wait_recovered();
        run.start_clients();
        run
    }

    fn new(name: &str, cluster: Cluster, rt: Runtime, seed: u64) -> Run {
        Run {
            name: name.to_string(),
            cluster,
            rt,
            rng: Rng::new(seed),
            seed,
            start: Instant::now(),
            timeline: Vec::new(),
            recorder: Recorder::new("k0-"),
            stop: Arc::new(AtomicBool::new(false)),
            clients: Vec::new(),
            faults: 0,
            recovery_max: Duration::ZERO,
            round: 0,
        }
    }

    /// A run on started members, with no clients: the test drives it.
    pub fn start_quiet(name: &str, cluster: Cluster, rt: Runtime) -> Run {
        let seed = seed();
        let mut run = Run::new(name, cluster, rt, seed);
        run.wait_recovered();
        run
    }

    /// A put through member `i`, retried until acknowledged (bounded).
    pub fn put_through(&mut self, i: usize, key: &str, value: &str) {
        let endpoint = self.cluster.endpoint(i);
        let done = self.rt.block_on(async {
            let mut client = connect(&endpoint).await;
            let start = Instant::now();
            while start.elapsed() < RECOVERY_BOUND {
                if client.put(key, value, None).await.is_ok() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        });
        if !done {
            self.fail(&format!("put {key} through m{} never acknowledged", i + 1));
        }
    }

    /// A linearizable get through member `i`, retried until answered
    /// (bounded).
    pub fn get_through(&mut self, i: usize, key: &str) -> Option<String> {
        self.get(i, key, None)
    }

    /// A serializable get: what member `i`'s own state machine holds.
    pub fn get_serializable_through(&mut self, i: usize, key: &str) -> Option<String> {
        self.get(i, key, Some(GetOptions::new().with_serializable()))
    }

    /// A linearizable get through member `i`, retried for `within`:
    /// `None` when no answer came.
    pub fn try_get_through(
        &mut self,
        i: usize,
        key: &str,
        within: Duration,
    ) -> Option<Option<String>> {
        self.get_within(i, key, None, within).ok()
    }

    fn get(&mut self, i: usize, key: &str, options: Option<GetOptions>) -> Option<String> {
        let got = self.get_within(i, key, options, RECOVERY_BOUND);
        got.unwrap_or_else(|()| self.fail(&format!("get {key} through m{} never answered", i + 1)))
    }

    fn get_within(
        &mut self,
        i: usize,
        key: &str,
        options: Option<GetOptions>,
        within: Duration,
    ) -> Result<Option<String>, ()> {
        let endpoint = self.cluster.endpoint(i);
        self.rt.block_on(async {
            let mut client = connect(&endpoint).await;
            let start = Instant::now();
            while start.elapsed() < within {
                if let Ok(got) = client.get(key, options.clone()).await {
                    let value = got
                        .kvs()
                        .first()
                        .map(|kv| kv.value_str().unwrap_or("?").to_string());
                    return Ok(value);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(())
        })
    }

    fn start_clients(&mut self) {
        self.stop = Arc::new(AtomicBool::new(false));
        let live = self.cluster.live();
        for c in 0..live.len() * CLIENTS_PER_MEMBER {
            let endpoint = self.cluster.endpoint(live[c % live.len()]);
            let client = self.rt.block_on(connect(&endpoint));
            let task = client_loop(
                Arc::clone(&self.recorder),
                client,
                c as u64 + 1,
                self.seed,
                Arc::clone(&self.stop),
            );
            self.clients.push(self.rt.spawn(task));
        }
    }

    /// Adds a line to the timeline (printed on failure and at the end).
    pub fn note(&mut self, what: &str) {
        let line = format!("{:>8.3}s  {what}", self.start.elapsed().as_secs_f64());
        eprintln!("[{}] {line}", self.name);
        self.timeline.push(line);
    }

    /// Lets the clients run for `duration`.
    pub fn hold(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    /// Fails the run: the seed, the timeline and `why`.
    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "\n[{}] FAILED: {why}\nseed: {} (replay the choices: PAXON_FAULTS_SEED={})\n\
             members' logs and data: {}\ntimeline:\n  {}\n",
            self.name,
            self.seed,
            self.seed,
            self.cluster.dir.display(),
            self.timeline.join("\n  ")
        );
    }

    /// The member that says it leads, asked of every live member.
    pub fn leader(&self) -> Option<usize> {
        let live = self.cluster.live();
        let endpoints: Vec<(usize, String)> = live
            .iter()
            .map(|i| (*i, self.cluster.endpoint(*i)))
            .collect();
        self.rt.block_on(async {
            for (i, endpoint) in endpoints {
                let mut client = connect(&endpoint).await;
                let status = tokio::time::timeout(Duration::from_secs(1), client.status()).await;
                if let Ok(Ok(status)) = status {
                    let me = status.header().map(|h| h.member_id());
                    if status.leader() != 0 && Some(status.leader()) == me {
                        return Some(i);
                    }
                }
            }
            None
        })
    }

    /// The leader, waiting up to the recovery bound for one.
    pub fn wait_leader(&mut self) -> usize {
        let start = Instant::now();
        while start.elapsed() < RECOVERY_BOUND {
            if let Some(leader) = self.leader() {
                return leader;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.fail("no member says it leads");
    }

    /// Waits until every live member serves a write and a linearizable
    /// read, and records how long that took.
    pub fn wait_recovered(&mut self) {
        let start = Instant::now();
        for i in self.cluster.live() {
            let endpoint = self.cluster.endpoint(i);
            let served = self.rt.block_on(async {
                let mut client = connect(&endpoint).await;
                while start.elapsed() < RECOVERY_BOUND {
                    let put = client.put("probe", "1", None).await;
                    if put.is_ok() && client.get("probe", None).await.is_ok() {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                false
            });
            if !served {
                let log = self.cluster.log_tail(i);
                self.fail(&format!(
                    "m{} did not serve within {RECOVERY_BOUND:?} after the faults healed; its log ends:\n{log}",
                    i + 1
                ));
            }
        }
        let took = start.elapsed();
        self.recovery_max = self.recovery_max.max(took);
        self.note(&format!("every live member serves (after {took:.2?})"));
    }

    /// Counts one injected fault.
    pub fn fault(&mut self, what: &str) {
        self.faults += 1;
        self.note(what);
    }

    /// Stops the clients, reads every key through every live member, and
    /// checks the history; a new round of keys starts if `again`.
    pub fn check(&mut self, again: bool) -> Figures {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.clients.drain(..) {
            let _ = self.rt.block_on(task);
        }
        self.final_reads();
        let history = self.recorder.history();
        let operations = history.len();
        self.note(&format!("checking {operations} operations"));
        match paxon_linz::check(&history) {
            CheckResult::Linearizable { .. } => {}
            CheckResult::NotLinearizable(violation) => {
                self.fail(&format!("not linearizable:\n{violation}"))
            }
            CheckResult::GaveUp { key, .. } => {
                self.fail(&format!("the checker gave up on key {key}"))
            }
        }
        let figures = Figures {
            operations,
            ok: self.recorder.ok.load(Ordering::Relaxed),
            failed: self.recorder.failed.load(Ordering::Relaxed),
            unknown: self.recorder.unknown.load(Ordering::Relaxed),
            faults: self.faults,
            recovery_max: self.recovery_max,
        };
        self.note(&format!(
            "linearizable: {} operations checked ({} answered, {} unknown outcome; {} failed \
             requests not recorded), {} faults, longest recovery {:.2?}",
            figures.operations,
            figures.ok,
            figures.unknown,
            figures.failed,
            figures.faults,
            figures.recovery_max
        ));
        eprintln!(
            "[{}] errors seen:\n{}",
            self.name,
            self.recorder.error_summary()
        );
        if again {
            self.round += 1;
            self.recorder = Recorder::new(&format!("k{}-", self.round));
            self.start_clients();
        }
        figures
    }

    /// A linearizable read of every key through every live member, after
    /// the clients stopped: every acknowledged write must be there.
    fn final_reads(&mut self) {
        for i in self.cluster.live() {
            let endpoint = self.cluster.endpoint(i);
            let recorder = Arc::clone(&self.recorder);
            let reader = ClientId(10_000 + i as u64);
            let read = self.rt.block_on(async {
                let mut client = connect(&endpoint).await;
                let start = Instant::now();
                while start.elapsed() < RECOVERY_BOUND {
                    if recorder.read_all(&mut client, reader).await {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                false
            });
            if !read {
                self.fail(&format!("the final read through m{} never answered", i + 1));
            }
        }
    }
}

impl Run {
    /// Member `i` catches up: a serializable read on it (served from its
    /// own state machine) sees a write acknowledged after it restarted.
    pub fn assert_caught_up(&mut self, i: usize) {
        let writer = self.cluster.endpoint((i + 1) % self.cluster.len());
        let reader = self.cluster.endpoint(i);
        let mark = format!("{}", self.start.elapsed().as_nanos());
        let seen = self.rt.block_on(async {
            let mut writer = connect(&writer).await;
            let start = Instant::now();
            while writer.put("caught-up", mark.as_str(), None).await.is_err() {
                if start.elapsed() > RECOVERY_BOUND {
                    return false;
                }
            }
            let mut reader = connect(&reader).await;
            let serializable = Some(GetOptions::new().with_serializable());
            while start.elapsed() < RECOVERY_BOUND {
                if let Ok(got) = reader.get("caught-up", serializable.clone()).await {
                    if got.kvs().first().map(|kv| kv.value()) == Some(mark.as_bytes()) {
                        return true;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        });
        if !seen {
            self.fail(&format!(
                "m{} did not catch up within {RECOVERY_BOUND:?}",
                i + 1
            ));
        }
        self.note(&format!(
            "m{} caught up (serializable read sees the latest write)",
            i + 1
        ));
    }

    /// Writes large values through another member until member `i` exits
    /// by itself (bounded); returns its exit status.
    pub fn write_ballast_until_exit(&mut self, i: usize) -> std::process::ExitStatus {
        let through = self.cluster.endpoint((i + 1) % self.cluster.len());
        let mut client = self.rt.block_on(connect(&through));
        let ballast = vec![b'b'; 256 * 1024];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let _ = self
                .rt
                .block_on(client.put("ballast", ballast.clone(), None));
            if let Some(status) = self.cluster.exited(i) {
                return status;
            }
        }
        self.fail(&format!("m{} kept running on a full disk", i + 1));
    }
}
