//! End-to-end: `etcdctl lock` and `etcdctl elect` on a real 3-member
//! cluster, and the lock-safety test of docs/locks.md: several clients
//! take one lock in a loop while the leader is killed and restarted, and
//! a fencing record checks the tokens.

mod cluster;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{Background, Cluster};

/// What the record of a fenced resource accepts: a write carries the
/// writer's fencing token and is refused if a higher token has been seen
/// (docs/locks.md). Returns the accepted writes and the refused ones.
fn fence(lines: &[(i64, String, String)]) -> (Vec<(i64, String, String)>, Vec<String>) {
    let mut highest = i64::MIN;
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for (token, what, who) in lines {
        if *token < highest {
            refused.push(format!("{what} {token} {who} after token {highest}"));
        } else {
            highest = *token;
            accepted.push((*token, what.clone(), who.clone()));
        }
    }
    (accepted, refused)
}

#[test]
fn lock_holders_fenced_by_revision_never_overlap_across_leader_kills() {
    let mut cluster = Cluster::start(3, "lock-safety");
    let record = cluster.dir.join("record");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let (endpoints, record, stop) = (cluster.endpoints(), record.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let script = format!(
                    "echo \"$ETCD_LOCK_REV begin c{c}\" >> {r}; sleep 0.05; echo \"$ETCD_LOCK_REV end c{c}\" >> {r}",
                    r = record.display()
                );
                let mut held = 0;
                while !stop.load(Ordering::Relaxed) {
                    let status = Command::new("etcdctl")
                        .env("ETCDCTL_API", "3")
                        .arg(format!("--endpoints={endpoints}"))
                        .args(["lock", "safety", "--", "sh", "-c", &script])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("etcdctl lock");
                    held += usize::from(status.success());
                }
                held
            })
        })
        .collect();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        let leader = loop {
            if let Some(leader) = cluster.leader() {
                break leader;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no leader");
        };
        cluster.kill(leader);
        std::thread::sleep(Duration::from_secs(1));
        cluster.start_member(leader);
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let held: usize = clients.into_iter().map(|c| c.join().expect("client")).sum();
    let text = std::fs::read_to_string(&record).expect("record");
    let lines: Vec<(i64, String, String)> = text
        .lines()
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            let token = parts[0]
                .parse()
                .unwrap_or_else(|_| panic!("token in {line:?}"));
            (token, parts[1].to_string(), parts[2].to_string())
        })
        .collect();
    assert!(held >= 10, "only {held} acquisitions");
    let (accepted, refused) = fence(&lines);
    assert_eq!(
        refused,
        Vec::<String>::new(),
        "stale tokens reached the record"
    );
    // Never two holders at once: begin and end alternate, each pair with
    // one token and one client, and tokens strictly increase between
    // holders.
    let mut holders: BTreeMap<i64, String> = BTreeMap::new();
    for pair in accepted.chunks(2) {
        let [(t1, w1, c1), (t2, w2, c2)] = pair else {
            panic!("an unfinished hold at the end: {pair:?}");
        };
        assert_eq!((w1.as_str(), w2.as_str()), ("begin", "end"), "{pair:?}");
        assert_eq!((t1, c1), (t2, c2), "two holders at once: {pair:?}");
        if let Some((last, _)) = holders.last_key_value() {
            assert!(t1 > last, "token {t1} after {last}");
        }
        holders.insert(*t1, c1.clone());
    }
    // A client whose unlock failed with the leader exits non-zero after
    // its hold: the record may hold more holds than successful exits.
    assert!(
        holders.len() >= held,
        "{} holds, {held} acquisitions",
        holders.len()
    );
}

#[test]
fn fence_refuses_a_token_lower_than_one_already_seen() {
    let line = |t: i64, w: &str, c: &str| (t, w.to_string(), c.to_string());
    let (accepted, refused) = fence(&[
        line(5, "begin", "a"),
        line(9, "begin", "b"),
        line(5, "end", "a"),
        line(9, "end", "b"),
    ]);
    assert_eq!(accepted.len(), 3);
    assert_eq!(refused, ["end 5 a after token 9"]);
}

/// "<prefix>/<lease id in hex>": a queue key of etcdctl's session lease.
fn assert_queue_key(line: &str, prefix: &str) {
    let hex = line
        .strip_prefix(&format!("{prefix}/"))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(
        (1..=16).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{line:?}"
    );
}

#[test]
fn etcdctl_lock_waits_for_the_holder_and_elect_follows_the_leader() {
    let cluster = Cluster::start(3, "lock-elect");
    let first = Background::start(&cluster.endpoint(1), &["lock", "mylock"]);
    let held = first.lines(1);
    assert_queue_key(held.trim_end(), "mylock");
    let second = Background::start(
        &cluster.endpoint(2),
        &["lock", "mylock", "--", "echo", "got it"],
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(second.output(), "", "the lock is held");
    drop(first);
    // etcdctl's session ends with its lease when killed: TTL 10 s.
    let start = Instant::now();
    while second.output().is_empty() && start.elapsed() < Duration::from_secs(25) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(second.output(), "got it\n");

    let leader = Background::start(&cluster.endpoint(0), &["elect", "myelection", "p1"]);
    let out = leader.lines(2);
    let lines: Vec<&str> = out.lines().collect();
    assert_queue_key(lines[0], "myelection");
    assert_eq!(&lines[1..], ["p1"]);
    let observer = Background::start(&cluster.endpoint(1), &["elect", "-l", "myelection"]);
    assert_eq!(observer.lines(2), out);
    let candidate = Background::start(&cluster.endpoint(2), &["elect", "myelection", "p2"]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(candidate.output(), "", "p1 leads");
    leader.interrupt();
    let next = candidate.lines(2);
    let lines: Vec<&str> = next.lines().collect();
    assert_queue_key(lines[0], "myelection");
    assert_eq!(&lines[1..], ["p2"]);
    assert_eq!(observer.lines(4), format!("{out}{next}"));
}
