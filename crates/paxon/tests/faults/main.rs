//! The fault suite: real `paxon serve` processes under `kill -9`,
//! `SIGSTOP`, network partitions in namespaces, a wiped data directory and
//! a full disk, with concurrent clients whose history `paxon-linz` checks
//! for linearizability (docs/reliability.md).
//!
//! The tests here are the bounded CI profile: every nemesis once or twice.
//! The soak runs random nemeses for as long as asked, checking the history
//! every round:
//!
//! ```sh
//! PAXON_FAULTS_DURATION=600 cargo test -p paxon --release --test faults -- \
//!     --ignored soak --nocapture
//! ```
//!
//! Every run prints its seed; `PAXON_FAULTS_SEED=<seed>` replays the same
//! choices of victims, order and timing (the processes' own timing still
//! varies). A failure prints the seed and the nemesis's timeline.

mod cluster;
mod nemesis;
mod netns;
mod reconfig;
mod schedule;
mod workload;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cluster::Cluster;
use nemesis::Nemesis;
use schedule::Run;

/// One cluster at a time: the machine has two cores, and elections under
/// a starved CPU would test the scheduler more than Paxon.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const MIB: u64 = 1024 * 1024;

#[test]
fn kills_of_one_the_leader_a_minority_a_majority_all_and_crash_loops_lose_no_acknowledged_write() {
    let _serial = serial();
    let mut run = Run::start("kills", Cluster::on_loopback(3, "kills"));
    for nemesis in &Nemesis::PROCESS[..6] {
        run.hold(Duration::from_millis(700));
        run.inflict(*nemesis);
    }
    run.hold(Duration::from_millis(700));
    let figures = run.check(false);
    assert_eq!(figures.faults, 6);
}

#[test]
fn a_paused_leader_serves_no_stale_read_when_it_wakes() {
    let _serial = serial();
    let mut run = Run::start("pauses", Cluster::on_loopback(3, "pauses"));
    for _ in 0..2 {
        run.hold(Duration::from_millis(700));
        run.inflict(Nemesis::PauseLeader);
    }
    run.hold(Duration::from_millis(700));
    let figures = run.check(false);
    assert_eq!(figures.faults, 2);
}

#[test]
fn partitions_in_network_namespaces_keep_the_history_linearizable() {
    let _serial = serial();
    let mut run = Run::start("partitions", Cluster::in_namespaces(5, "partitions"));
    for nemesis in Nemesis::NETWORK {
        run.hold(Duration::from_millis(700));
        run.inflict(nemesis);
    }
    run.hold(Duration::from_millis(700));
    let figures = run.check(false);
    assert_eq!(figures.faults, Nemesis::NETWORK.len());
}

/// A member whose data directory is lost while it is down, restarted under
/// the same name, comes back with an empty ledger: it has forgotten its
/// promises and votes. Paxon does not detect this today (docs/reliability.md
/// says why that is dangerous and what a fix needs); this test records what
/// happens: the member rejoins, catches up from its peers, and the history
/// of this run stays linearizable.
#[test]
fn a_member_wiped_while_down_rejoins_with_an_empty_ledger_and_catches_up() {
    let _serial = serial();
    let mut run = Run::start("wiped", Cluster::on_loopback(3, "wiped"));
    run.hold(Duration::from_secs(2));
    let leader = run.wait_leader();
    let victim = (leader + 1) % run.cluster.len();
    run.cluster.kill(victim);
    std::fs::remove_dir_all(run.cluster.data_dir(victim)).expect("wipe the data dir");
    run.fault(&format!("kill -9 m{} and wipe its data dir", victim + 1));
    run.hold(Duration::from_secs(1));
    run.cluster.start(victim);
    run.note(&format!("restart m{} with an empty data dir", victim + 1));
    run.wait_recovered();
    run.assert_caught_up(victim);
    run.hold(Duration::from_secs(1));
    run.check(false);
}

/// A member on a small tmpfs: when the disk fills, it stops with "No space
/// left on device" (after a failed write only a restart can tell what is
/// durable); the others go on; once space returns, a restart recovers it
/// from its ledger, nothing lost or corrupted, and it catches up.
#[test]
fn a_full_disk_stops_its_member_with_a_clear_error_and_a_restart_recovers_it() {
    let _serial = serial();
    let mut cluster = Cluster::on_loopback(3, "disk-full");
    let victim = 2;
    cluster.small_disk(victim, 24 * MIB);
    let mut run = Run::start("disk-full", cluster);
    run.hold(Duration::from_secs(1));
    let filler = run.cluster.data_dir(victim).join("filler");
    fill(&filler);
    run.fault(&format!("fill m{}'s disk", victim + 1));
    let status = run.write_ballast_until_exit(victim);
    let log = std::fs::read_to_string(run.cluster.log_path(victim)).expect("log");
    assert!(!status.success(), "m{} exited with {status}", victim + 1);
    assert!(
        log.contains("No space left on device"),
        "the log says why; it ends:\n{}",
        run.cluster.log_tail(victim)
    );
    run.note(&format!(
        "m{} stopped: {status}, \"No space left on device\"",
        victim + 1
    ));
    run.hold(Duration::from_secs(1));
    std::fs::remove_file(&filler).expect("free the space");
    run.cluster.start(victim);
    run.note(&format!("space freed, m{} restarted", victim + 1));
    run.wait_recovered();
    run.assert_caught_up(victim);
    run.check(false);
}

/// Writes until the file system is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0xAB; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

/// Random nemeses for `PAXON_FAULTS_DURATION` seconds (default 300), the
/// history checked every minute; loopback nemeses, and the network ones
/// too when namespaces can be made (root).
#[test]
#[ignore = "soak: run by hand with PAXON_FAULTS_DURATION=<seconds>"]
fn soak() {
    let _serial = serial();
    let duration = std::env::var("PAXON_FAULTS_DURATION")
        .map(|s| {
            s.parse()
                .expect("PAXON_FAULTS_DURATION is a number of seconds")
        })
        .unwrap_or(300);
    let duration = Duration::from_secs(duration);
    let mut run = Run::start("soak", Cluster::in_namespaces(5, "soak"));
    let all: Vec<Nemesis> = Nemesis::PROCESS
        .into_iter()
        .chain(Nemesis::NETWORK)
        .collect();
    let start = Instant::now();
    let mut round = Instant::now();
    let mut total = schedule::Figures::default();
    while start.elapsed() < duration {
        let nemesis = all[run.rng.below(all.len() as u64) as usize];
        let pause = run.rng.between(Duration::ZERO, Duration::from_secs(2));
        run.hold(pause);
        run.inflict(nemesis);
        if round.elapsed() > Duration::from_secs(60) || start.elapsed() >= duration {
            let figures = run.check(start.elapsed() < duration);
            total.operations += figures.operations;
            total.faults = figures.faults;
            total.recovery_max = figures.recovery_max;
            round = Instant::now();
        }
    }
    eprintln!(
        "soak: {} operations checked, {} faults, longest recovery {:.2?}",
        total.operations, total.faults, total.recovery_max
    );
}

/// Crash loops only, for hunting (`PAXON_FAULTS_ROUNDS`, default 20).
#[test]
#[ignore = "by hand"]
fn crash_loops() {
    let _serial = serial();
    let rounds = std::env::var("PAXON_FAULTS_ROUNDS").map_or(20, |r| r.parse().expect("a number"));
    let mut run = Run::start("crash-loops", Cluster::on_loopback(3, "crash-loops"));
    for _ in 0..rounds {
        run.inflict(Nemesis::CrashLoop);
    }
    run.check(false);
}

/// What a wiped member must not do: vote with amnesia. A write is
/// acknowledged by the leader and one follower W while the third member P
/// is down; W's data dir is lost and the leader dies; P (intact, never saw
/// the write) and W (empty) are two of three members. Before
/// `paxon-core/src/amnesia.rs`, W voted as if it had never voted, the new
/// leader's phase 1 (§3.1) found no vote for the write's slot, and the
/// acknowledged write was gone. Now P and W do not form a quorum (W does
/// not count until it recovers): reads wait; once the old leader is back,
/// the write is there on every member, W's included.
#[test]
fn a_wiped_member_does_not_vote_with_amnesia() {
    let _serial = serial();
    let mut cluster = Cluster::on_loopback(3, "amnesia");
    cluster.start_all();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut run = schedule::Run::start_quiet("amnesia", cluster, rt);
    let leader = run.wait_leader();
    let (paused, wiped) = ((leader + 1) % 3, (leader + 2) % 3);
    run.cluster.kill(paused);
    run.fault(&format!("kill -9 m{}", paused + 1));
    run.put_through(leader, "amnesia", "acknowledged");
    run.note(&format!(
        "put amnesia=acknowledged through the leader m{}: acknowledged",
        leader + 1
    ));
    run.cluster.kill(wiped);
    std::fs::remove_dir_all(run.cluster.data_dir(wiped)).expect("wipe");
    run.cluster.kill(leader);
    run.fault(&format!(
        "kill -9 m{} and wipe its data dir; kill -9 the leader m{}",
        wiped + 1,
        leader + 1
    ));
    run.cluster.start(paused);
    run.cluster.start(wiped);
    run.note(&format!(
        "restart m{} (intact) and m{} (empty)",
        paused + 1,
        wiped + 1
    ));
    let meanwhile = run.try_get_through(paused, "amnesia", Duration::from_secs(5));
    run.note(&format!(
        "linearizable get amnesia through m{} (5 s): {meanwhile:?}",
        paused + 1
    ));
    if meanwhile.is_some_and(|value| value.as_deref() != Some("acknowledged")) {
        run.fail("the acknowledged write is lost: the wiped member voted with amnesia");
    }
    run.cluster.start(leader);
    let value = run.get_through(paused, "amnesia");
    run.note(&format!(
        "restart the old leader m{}; linearizable get amnesia through m{}: {value:?}",
        leader + 1,
        paused + 1
    ));
    if value.as_deref() != Some("acknowledged") {
        run.fail("the acknowledged write is lost");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let on_wiped = run.get_serializable_through(wiped, "amnesia");
        if on_wiped.as_deref() == Some("acknowledged") {
            run.note(&format!("m{} (wiped) holds the write", wiped + 1));
            break;
        }
        if std::time::Instant::now() > deadline {
            run.fail("the wiped member never caught up");
        }
        run.hold(Duration::from_millis(200));
    }
}

/// Issue 10's acceptance: each of the three original members is replaced
/// in turn (add a learner, let it catch up, promote it, remove the old one)
/// while the clients keep reading and writing; the history stays
/// linearizable and no acknowledged write is lost.
#[test]
fn a_rolling_replacement_of_every_member_under_load_loses_no_acknowledged_write() {
    let _serial = serial();
    let mut run = Run::start("rolling", Cluster::on_loopback(3, "rolling"));
    for old in 0..3 {
        run.hold(Duration::from_millis(500));
        let (new, added) = run.add_member();
        let removed = run.remove_member(old);
        println!(
            "rolling: m{} replaced by m{}: add+catch up+promote {added}; remove {removed}",
            old + 1,
            new + 1
        );
        // Clients of the removed member move to the members left.
        let figures = run.check(true);
        assert!(figures.ok > 0, "no client operation succeeded");
    }
    run.hold(Duration::from_millis(500));
    run.check(false);
}

/// Issue 10's acceptance: 3 → 5 → 3 voters under load, same checks.
#[test]
fn growing_to_five_and_shrinking_back_to_three_under_load_loses_no_acknowledged_write() {
    let _serial = serial();
    let mut run = Run::start("grow-shrink", Cluster::on_loopback(3, "grow-shrink"));
    for _ in 0..2 {
        run.hold(Duration::from_millis(500));
        let (new, added) = run.add_member();
        println!("grow: m{} added and promoted: {added}", new + 1);
    }
    run.check(true);
    for old in [0, 1] {
        run.hold(Duration::from_millis(500));
        let removed = run.remove_member(old);
        println!("shrink: m{} removed: {removed}", old + 1);
        run.check(true);
    }
    run.hold(Duration::from_millis(500));
    run.check(false);
}
