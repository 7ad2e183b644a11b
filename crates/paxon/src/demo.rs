//! `paxon demo`: the promise, shown in one command. A local 3-member
//! cluster takes numbered writes; all three members are killed with
//! `kill -9` at once mid-stream; two restart and the writes resume; every
//! acknowledged write is read back; the third restarts and catches up.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use paxon_proto::etcdserverpb::kv_client::KvClient;
use paxon_proto::etcdserverpb::{PutRequest, RangeRequest};
use tonic::transport::Channel;

/// Options of `paxon demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many numbered keys to write.
    #[arg(long, default_value_t = 3000)]
    writes: u64,
    /// Where the members keep their data (kept afterwards); by default a
    /// temporary directory, removed at the end if every write was found.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Writers sending at the same time.
const WRITERS: u64 = 4;
/// A request not answered by then is retried elsewhere.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the cluster stays dead before two members restart.
const DEAD_FOR: Duration = Duration::from_millis(1500);
/// Longest wait for any step (ready, resume, catch-up).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// One member process of the demo cluster.
struct Member {
    name: String,
    client: String,
    peer: String,
    child: Option<Child>,
}

/// What the writers share: the next number, the acknowledged ones, and
/// when the last acknowledgement came.
struct Progress {
    start: Instant,
    next: AtomicU64,
    acknowledged: Mutex<BTreeSet<u64>>,
    last_ack_ms: AtomicU64,
    total: u64,
    /// What the last line printed said (off a terminal, a line is printed
    /// only when this changes): hundreds acknowledged, and waiting or not.
    printed: Mutex<(u64, bool)>,
}

impl Progress {
    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().map_or(0, |a| a.len())
    }
}

/// Runs the demo; success iff every acknowledged write was found.
pub fn run(args: &DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("paxon demo: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("paxon-demo-{}", std::process::id())),
            true,
        ),
    };
    let mut members = match prepare(&dir) {
        Ok(members) => members,
        Err(error) => {
            eprintln!("paxon demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(demo(&mut members, &dir, args.writes.max(10)));
    for member in &mut members {
        stop(member);
    }
    // A temporary data dir goes, unless something failed: its logs tell why.
    if temporary && matches!(result, Ok(true)) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!(
                "paxon demo: {error}\n  (member logs are in {})",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn prepare(dir: &Path) -> Result<Vec<Member>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Six distinct free ports: each listener holds its port until all
    // are chosen.
    let mut listeners = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..6 {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        ports.push(listener.local_addr().map_err(|e| e.to_string())?.port());
        listeners.push(listener);
    }
    Ok((0..3)
        .map(|i| Member {
            name: format!("m{}", i + 1),
            client: format!("127.0.0.1:{}", ports[2 * i]),
            peer: format!("127.0.0.1:{}", ports[2 * i + 1]),
            child: None,
        })
        .collect())
}

/// The figures the summary reports.
struct Outcome {
    acknowledged: BTreeSet<u64>,
    downtime: Duration,
    missing: Vec<u64>,
    caught_up: usize,
}

async fn demo(members: &mut [Member], dir: &Path, total: u64) -> Result<bool, String> {
    println!(
        "paxon demo: a 3-member cluster on 127.0.0.1, data in {}",
        dir.display()
    );
    let cluster: Vec<String> = members
        .iter()
        .map(|m| format!("{}=http://{}", m.name, m.peer))
        .collect();
    let cluster = cluster.join(",");
    for member in members.iter_mut() {
        start(member, dir, &cluster)?;
    }
    let endpoints: Vec<String> = members.iter().map(|m| m.client.clone()).collect();
    wait_for_write(&endpoints).await?;
    println!(
        "  cluster up: m1 {}, m2 {}, m3 {}",
        endpoints[0], endpoints[1], endpoints[2]
    );
    let (acknowledged, downtime) =
        write_through_a_total_kill(members, dir, &cluster, total).await?;

    println!("\n\n4. reading every key back through m1 and m2 (linearizable reads)");
    let found = read_back(&endpoints[..2], false).await?;
    let missing: Vec<u64> = acknowledged.difference(&found).copied().collect();
    println!(
        "   acknowledged {}, found {}, missing {}",
        acknowledged.len(),
        acknowledged.len() - missing.len(),
        missing.len()
    );

    println!("\n5. restarting m3: it catches up from its peers");
    let restarted = Instant::now();
    start(&mut members[2], dir, &cluster)?;
    let caught_up = catch_up(&endpoints[2], &acknowledged).await?;
    println!(
        "   m3 holds all {caught_up} acknowledged keys (serializable reads on m3 alone) after {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    let outcome = Outcome {
        acknowledged,
        downtime,
        missing,
        caught_up,
    };
    summary(&outcome);
    Ok(outcome.missing.is_empty())
}

/// Steps 1 to 3: writes, `kill -9` of all three, restart of two, writes
/// until `total` are acknowledged. Returns the acknowledged numbers and
/// the time from the kill to the first write acknowledged after it.
async fn write_through_a_total_kill(
    members: &mut [Member],
    dir: &Path,
    cluster: &str,
    total: u64,
) -> Result<(BTreeSet<u64>, Duration), String> {
    let endpoints: Vec<String> = members.iter().map(|m| m.client.clone()).collect();
    println!("\n1. writing {total} numbered keys (demo/000001 ...), {WRITERS} writers at once");
    let progress = Arc::new(Progress {
        start: Instant::now(),
        next: AtomicU64::new(1),
        acknowledged: Mutex::new(BTreeSet::new()),
        last_ack_ms: AtomicU64::new(0),
        total,
        printed: Mutex::new((u64::MAX, false)),
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(Arc::clone(&progress), endpoints.clone(), w as usize)))
        .collect();
    let display = tokio::spawn(show_progress(Arc::clone(&progress)));
    wait_until(
        || progress.acknowledged() as u64 >= total / 3,
        "the first writes",
    )
    .await?;

    println!("\n\n2. kill -9 of all three members at once, mid-stream");
    let killed_at = Instant::now();
    for member in members.iter_mut() {
        kill(member);
    }
    println!(
        "   all three killed with {} writes acknowledged; the writers keep trying",
        progress.acknowledged()
    );
    tokio::time::sleep(DEAD_FOR).await;
    println!("\n3. restarting m1 and m2 (a majority); m3 stays down");
    for member in members[..2].iter_mut() {
        start(member, dir, cluster)?;
    }
    let before = progress.acknowledged();
    wait_until(|| progress.acknowledged() > before, "writes to resume").await?;
    let downtime = killed_at.elapsed();
    println!(
        "\n   writes resumed {:.2} s after the kill",
        downtime.as_secs_f64()
    );
    for writer in writers {
        writer.await.map_err(|e| format!("a writer failed: {e}"))?;
    }
    display.abort();
    print_progress(&progress, true);
    let acknowledged = progress
        .acknowledged
        .lock()
        .map_err(|_| "a writer panicked")?
        .clone();
    Ok((acknowledged, downtime))
}

fn summary(outcome: &Outcome) {
    let acknowledged = outcome.acknowledged.len();
    let found = acknowledged - outcome.missing.len();
    println!("\nSummary");
    println!("  writes acknowledged:                 {acknowledged}");
    println!("  acknowledged writes found:           {found} of {acknowledged}");
    println!(
        "  downtime after kill -9 of all three: {:.2} s (including {:.1} s before the restart)",
        outcome.downtime.as_secs_f64(),
        DEAD_FOR.as_secs_f64()
    );
    println!(
        "  m3 caught up:                        yes, {} keys",
        outcome.caught_up
    );
    if outcome.missing.is_empty() {
        println!("  result: every acknowledged write survived the total kill");
    } else {
        let shown = &outcome.missing[..outcome.missing.len().min(20)];
        println!(
            "  result: LOST {} acknowledged writes, among them {shown:?}",
            outcome.missing.len()
        );
    }
}

fn start(member: &mut Member, dir: &Path, cluster: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.log", member.name)))
        .map_err(|e| format!("cannot open the log of {}: {e}", member.name))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .arg("serve")
        .args(["--name", &member.name])
        .arg("--data-dir")
        .arg(dir.join(&member.name))
        .args(["--listen-client-urls", &format!("http://{}", member.client)])
        .args([
            "--advertise-client-urls",
            &format!("http://{}", member.client),
        ])
        .args(["--listen-peer-urls", &format!("http://{}", member.peer)])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://{}", member.peer),
        ])
        .args(["--initial-cluster", cluster])
        .args(["--initial-cluster-token", "paxon-demo"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", member.name))?;
    member.child = Some(child);
    Ok(())
}

/// `kill -9`.
fn kill(member: &mut Member) {
    if let Some(mut child) = member.child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// SIGTERM, then `kill -9` if it has not stopped in 5 s.
fn stop(member: &mut Member) {
    let Some(child) = member.child.as_mut() else {
        return;
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            member.child = None;
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(member);
}

fn client(endpoint: &str) -> Result<KvClient<Channel>, String> {
    let channel = Channel::from_shared(format!("http://{endpoint}"))
        .map_err(|e| e.to_string())?
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy();
    Ok(KvClient::new(channel))
}

fn key(n: u64) -> String {
    format!("demo/{n:06}")
}

fn value(n: u64) -> String {
    format!("value-{n}")
}

async fn wait_for_write(endpoints: &[String]) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < STEP_TIMEOUT {
        for endpoint in endpoints {
            let mut kv = client(endpoint)?;
            let put = PutRequest {
                key: b"demo/ready".to_vec(),
                value: b"1".to_vec(),
                ..Default::default()
            };
            if kv.put(put).await.is_ok() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the cluster did not start serving within a minute".into())
}

async fn wait_until(done: impl Fn() -> bool, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > STEP_TIMEOUT {
            return Err(format!("gave up waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Writes numbered keys until `total` are acknowledged; a write that fails
/// is retried (through the next member) until acknowledged.
async fn writer(progress: Arc<Progress>, endpoints: Vec<String>, first: usize) {
    let mut clients: Vec<KvClient<Channel>> =
        endpoints.iter().filter_map(|e| client(e).ok()).collect();
    if clients.is_empty() {
        return;
    }
    let mut at = first % clients.len();
    loop {
        let n = progress.next.fetch_add(1, Ordering::SeqCst);
        if n > progress.total {
            return;
        }
        loop {
            let put = PutRequest {
                key: key(n).into_bytes(),
                value: value(n).into_bytes(),
                ..Default::default()
            };
            if clients[at].put(put).await.is_ok() {
                if let Ok(mut acknowledged) = progress.acknowledged.lock() {
                    acknowledged.insert(n);
                }
                let ms = progress.start.elapsed().as_millis() as u64;
                progress.last_ack_ms.store(ms, Ordering::Relaxed);
                break;
            }
            at = (at + 1) % clients.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn show_progress(progress: Arc<Progress>) {
    loop {
        print_progress(&progress, false);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One progress line, redrawn in place on a terminal, else printed now
/// and then.
fn print_progress(progress: &Progress, last: bool) {
    let acknowledged = progress.acknowledged() as u64;
    let now_ms = progress.start.elapsed().as_millis() as u64;
    let waiting = now_ms.saturating_sub(progress.last_ack_ms.load(Ordering::Relaxed)) > 500;
    let state = if acknowledged == progress.total {
        "done"
    } else if waiting {
        "waiting for the cluster..."
    } else {
        "writing"
    };
    let width = 30;
    let filled = (acknowledged * width / progress.total) as usize;
    let bar = format!(
        "{}{}",
        "#".repeat(filled),
        ".".repeat(width as usize - filled)
    );
    let line = format!(
        "   [{bar}] {acknowledged:>6}/{} acknowledged  {state:<28}",
        progress.total
    );
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = write!(out, "\r{line}");
        let _ = out.flush();
        return;
    }
    let Ok(mut printed) = progress.printed.lock() else {
        return;
    };
    let now = (acknowledged / 500, waiting);
    if last || *printed != now {
        *printed = now;
        let _ = writeln!(out, "{line}");
    }
}

/// The numbers of the `demo/` keys found with their right value, read
/// through the first endpoint that answers.
async fn read_back(endpoints: &[String], serializable: bool) -> Result<BTreeSet<u64>, String> {
    let start = Instant::now();
    while start.elapsed() < STEP_TIMEOUT {
        for endpoint in endpoints {
            let mut kv = client(endpoint)?;
            let request = RangeRequest {
                key: b"demo/0".to_vec(),
                range_end: b"demo/1".to_vec(),
                serializable,
                ..Default::default()
            };
            if let Ok(response) = kv.range(request).await {
                return Ok(response
                    .into_inner()
                    .kvs
                    .iter()
                    .filter_map(|kv| {
                        let n: u64 = std::str::from_utf8(&kv.key)
                            .ok()?
                            .strip_prefix("demo/")?
                            .parse()
                            .ok()?;
                        (kv.value == value(n).as_bytes()).then_some(n)
                    })
                    .collect());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("no member answered the read-back".into())
}

/// Waits until serializable reads on `endpoint` alone find every
/// acknowledged key; returns how many it holds.
async fn catch_up(endpoint: &str, acknowledged: &BTreeSet<u64>) -> Result<usize, String> {
    let start = Instant::now();
    while start.elapsed() < STEP_TIMEOUT {
        if let Ok(found) = read_back(&[endpoint.to_string()], true).await {
            if acknowledged.is_subset(&found) {
                return Ok(acknowledged.len());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("m3 did not catch up within a minute".into())
}
