//! Membership changes with real processes and Debian's `etcdctl` (§3.3.6):
//! `member remove` under a stream of writes, and the refusals etcd gives.

mod cluster;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{cluster_id, etcdctl, stderr, stdout, Cluster};

/// `etcdctl member list` as (id, name, is learner), in listed order.
fn members(endpoints: &str) -> Vec<(u64, String, bool)> {
    let out = etcdctl(endpoints, &["member", "list"], None);
    assert!(out.status.success(), "member list: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(", ").collect();
            let id = u64::from_str_radix(fields[0], 16).expect("hex id");
            (id, fields[2].to_string(), fields[5] == "true")
        })
        .collect()
}

/// Writes numbered keys through every endpoint until stopped; returns the
/// keys acknowledged.
fn writer(endpoints: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("load-{i:05}");
            if etcdctl(&endpoints, &["put", &key, "v"], None)
                .status
                .success()
            {
                acked.push(key);
            }
            i += 1;
        }
        acked
    })
}

/// etcdctl 3.4 logs the gRPC status of a refused call, then prints the
/// message as its last line.
fn assert_refused(stderr: &str, code: &str, message: &str) {
    assert_eq!(
        stderr.lines().last(),
        Some(format!("Error: {message}").as_str())
    );
    let status = format!("code = {code} desc = {message}");
    assert!(stderr.contains(&status), "{stderr}");
}

#[test]
fn member_remove_under_writes_stops_the_member_and_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3, "mb-remove");
    let leader = (0..50)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            cluster.leader()
        })
        .expect("a leader");
    let gone = (leader + 1) % 3;
    let listed = members(&cluster.endpoints());
    let gone_name = cluster.members[gone].name.clone();
    let gone_id = listed.iter().find(|m| m.1 == gone_name).expect("listed").0;
    let stop = Arc::new(AtomicBool::new(false));
    let rest = [0, 1, 2]
        .into_iter()
        .filter(|i| *i != gone)
        .map(|i| cluster.endpoint(i))
        .collect::<Vec<_>>()
        .join(",");
    let load = writer(rest.clone(), Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let id = format!("{gone_id:x}");
    let out = etcdctl(&cluster.endpoint(leader), &["member", "remove", &id], None);
    assert!(out.status.success(), "member remove: {}", stderr(&out));
    let expected = format!(
        "Member {gone_id:16x} removed from cluster {:16x}\n",
        cluster_id(&cluster.endpoint(leader))
    );
    assert_eq!(stdout(&out), expected);

    // The removed member learns every decree that needed it, retires and
    // exits by itself with status 0.
    let child = cluster.members[gone].child.as_mut().expect("running");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never stopped");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status}");
    println!("member removed and stopped after {:?}", started.elapsed());
    cluster.members[gone].child = None;
    let log = std::fs::read_to_string(cluster.dir.join(format!("{gone_name}.log"))).unwrap();
    assert!(log.contains("removed from the cluster; stopping"), "{log}");

    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let acked = load.join().expect("writer");
    assert!(acked.len() > 10, "writes went on: {}", acked.len());
    let names: Vec<String> = members(&rest).into_iter().map(|m| m.1).collect();
    assert_eq!(names.len(), 2);
    assert!(!names.contains(&gone_name), "{names:?}");
    let out = etcdctl(&rest, &["get", "load-", "--prefix", "--keys-only"], None);
    let text = stdout(&out);
    let found: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    for key in &acked {
        assert!(found.contains(&key.as_str()), "acknowledged {key} lost");
    }
}

#[test]
fn bad_membership_requests_get_etcds_errors_and_change_nothing() {
    let cluster = Cluster::start(3, "mb-bad");
    let leader = (0..50)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            cluster.leader()
        })
        .expect("a leader");
    let endpoint = cluster.endpoint(leader);
    let before = members(&endpoint);
    let refused = |args: &[&str], code: &str, message: &str| {
        let out = etcdctl(&endpoint, args, None);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_refused(&stderr(&out), code, message);
    };
    refused(
        &["member", "remove", "1234abcd"],
        "NotFound",
        "etcdserver: member not found",
    );
    let voter = format!("{:x}", before[0].0);
    refused(
        &["member", "promote", &voter],
        "FailedPrecondition",
        "etcdserver: can only promote a learner member",
    );
    refused(
        &["member", "promote", "1234abcd"],
        "NotFound",
        "etcdserver: member not found",
    );
    assert_eq!(members(&endpoint), before);
}

#[test]
fn removing_the_last_voter_is_refused() {
    let cluster = Cluster::start(1, "mb-last");
    let only = members(&cluster.endpoints());
    let id = format!("{:x}", only[0].0);
    let out = cluster.etcdctl(&["member", "remove", &id]);
    assert!(!out.status.success());
    assert_refused(
        &stderr(&out),
        "FailedPrecondition",
        "etcdserver: re-configuration failed due to not enough started members",
    );
    assert_eq!(members(&cluster.endpoints()), only);
    assert!(cluster.etcdctl(&["put", "still", "here"]).status.success());
}
