//! End-to-end: Watch and Lease on a real 3-member cluster, driven by
//! Debian's `etcdctl`, with the exact output etcd 3.4 gives (checked
//! against /usr/bin/etcd with PAXON_E2E_ETCD=/usr/bin/etcd).

mod cluster;

use std::time::{Duration, Instant};

use cluster::{expect, expect_error, stderr, stdout, Background, Cluster};

/// Writes four revisions from `r`: put foo bar, put foo baz, del foo, put
/// fop x; returns `r` (the harness's readiness check wrote before).
fn write_history(cluster: &Cluster) -> i64 {
    expect(cluster, &["put", "foo", "bar"], "OK\n");
    let json = stdout(&cluster.etcdctl(&["get", "foo", "-w", "json"]));
    let rev: i64 = json
        .split("\"mod_revision\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("mod_revision in {json}"));
    expect(cluster, &["put", "foo", "baz"], "OK\n");
    expect(cluster, &["del", "foo"], "1\n");
    expect(cluster, &["put", "fop", "x"], "OK\n");
    rev
}

#[test]
fn etcdctl_watch_replays_history_with_prefix_and_prev_kv_on_every_member() {
    let cluster = Cluster::start(3, "watch-history");
    let rev = write_history(&cluster);
    let (first, second) = (rev.to_string(), (rev + 1).to_string());
    for i in 0..3 {
        let watch = Background::start(&cluster.endpoint(i), &["watch", "foo", "--rev", &first]);
        watch.expect_output("PUT\nfoo\nbar\nPUT\nfoo\nbaz\nDELETE\nfoo\n\n");
    }
    let watch = Background::start(
        &cluster.endpoint(1),
        &["watch", "fo", "--prefix", "--prev-kv", "--rev", &second],
    );
    watch.expect_output("PUT\nfoo\nbar\nfoo\nbaz\nDELETE\nfoo\nbaz\nfoo\n\nPUT\nfop\nx\n");
}

#[test]
fn etcdctl_watch_on_a_follower_sees_new_writes_in_order_exactly_once() {
    let cluster = Cluster::start(3, "watch-live");
    let watchers: Vec<Background> = (0..3)
        .map(|i| Background::start(&cluster.endpoint(i), &["watch", "k", "--prefix"]))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut expected = String::new();
    for n in 0..20 {
        let (key, value) = (format!("k{}", n % 3), format!("v{n}"));
        expect(&cluster, &["put", &key, &value], "OK\n");
        expected.push_str(&format!("PUT\n{key}\n{value}\n"));
    }
    expect(&cluster, &["del", "k", "--prefix"], "3\n");
    expected.push_str("DELETE\nk0\n\nDELETE\nk1\n\nDELETE\nk2\n\n");
    for watch in &watchers {
        watch.expect_output(&expected);
    }
}

#[test]
fn etcdctl_watch_from_a_compacted_revision_is_canceled_as_etcd_does() {
    let cluster = Cluster::start(3, "watch-compacted");
    let rev = write_history(&cluster);
    let (delete, last) = ((rev + 2).to_string(), (rev + 3).to_string());
    expect(
        &cluster,
        &["compact", &delete],
        &format!("compacted revision {delete}\n"),
    );
    let out = cluster.etcdctl(&["watch", "foo", "--rev", &rev.to_string()]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n\
         Error: watch is canceled by the server\n"
    );
    // From just after the compaction point the history is all there.
    let watch = Background::start(
        &cluster.endpoint(2),
        &["watch", "fo", "--prefix", "--rev", &last],
    );
    watch.expect_output("PUT\nfop\nx\n");
}

/// The id etcdctl printed in "lease <hex id> granted with TTL(..s)".
fn granted_id(out: &str) -> String {
    out.split_whitespace().nth(1).expect("lease id").to_string()
}

#[test]
fn etcdctl_lease_commands_give_etcds_exact_output() {
    let cluster = Cluster::start(3, "lease-cmds");
    let out = cluster.etcdctl(&["lease", "grant", "100"]);
    let id = granted_id(&stdout(&out));
    assert_eq!(stdout(&out), format!("lease {id} granted with TTL(100s)\n"));
    expect(&cluster, &["put", "--lease", &id, "lk", "lv"], "OK\n");
    expect(&cluster, &["put", "--lease", &id, "lk2", "lv"], "OK\n");
    let ttl = stdout(&cluster.etcdctl(&["lease", "timetolive", &id]));
    assert!(
        [99, 100]
            .map(|s| format!("lease {id} granted with TTL(100s), remaining({s}s)\n"))
            .contains(&ttl),
        "{ttl}"
    );
    let keys = stdout(&cluster.etcdctl(&["lease", "timetolive", "--keys", &id]));
    // etcd lists a lease's keys in no particular order (Paxon: key order).
    assert!(
        ["[lk lk2]", "[lk2 lk]"]
            .iter()
            .any(|k| keys.ends_with(&format!("s), attached keys({k})\n"))),
        "{keys}"
    );
    expect(
        &cluster,
        &["lease", "keep-alive", "--once", &id],
        &format!("lease {id} keepalived with TTL(100)\n"),
    );
    expect(
        &cluster,
        &["lease", "list"],
        &format!("found 1 leases\n{id}\n"),
    );
    let watch = Background::start(
        &cluster.endpoint(1),
        &["watch", "lk", "--prefix", "--rev", "2"],
    );
    expect(
        &cluster,
        &["lease", "revoke", &id],
        &format!("lease {id} revoked\n"),
    );
    watch.expect_output("PUT\nlk\nlv\nPUT\nlk2\nlv\nDELETE\nlk\n\nDELETE\nlk2\n\n");
    expect(&cluster, &["get", "lk", "--prefix"], "");
    expect(
        &cluster,
        &["lease", "timetolive", &id],
        &format!("lease {id} already expired\n"),
    );
}

#[test]
fn bad_lease_requests_get_etcds_code_and_message() {
    let cluster = Cluster::start(3, "lease-bad");
    expect_error(
        &cluster,
        &["lease", "grant", "9000000001"],
        "failed to grant lease (etcdserver: too large lease TTL)",
    );
    expect_error(
        &cluster,
        &["lease", "revoke", "1234"],
        "failed to revoke lease (etcdserver: requested lease not found)",
    );
    expect_error(
        &cluster,
        &["lease", "keep-alive", "--once", "1234"],
        "etcdserver: requested lease not found",
    );
    expect_error(
        &cluster,
        &["put", "--lease", "1234", "k", "v"],
        "etcdserver: requested lease not found",
    );
    expect(
        &cluster,
        &["lease", "timetolive", "1234"],
        "lease 0000000000001234 already expired\n",
    );
    expect(&cluster, &["lease", "list"], "found 0 leases\n");
}

/// Reads `key` (linearizable, any live member), retrying while a new
/// leader is being chosen: `Some(value)` or `None` if absent.
fn read_key(cluster: &Cluster, key: &str) -> Option<String> {
    let start = Instant::now();
    loop {
        let out = cluster.etcdctl(&["get", key, "--print-value-only"]);
        if out.status.success() {
            let value = stdout(&out);
            return (!value.is_empty()).then(|| value.trim_end().to_string());
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no read in 20 s: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kill -9 of the leader, then its restart once a new leader serves.
fn kill_and_restart_leader(cluster: &mut Cluster) {
    let start = Instant::now();
    let leader = loop {
        if let Some(leader) = cluster.leader() {
            break leader;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no leader");
        std::thread::sleep(Duration::from_millis(50));
    };
    cluster.kill(leader);
    cluster.wait_ready();
    cluster.start_member(leader);
}

fn grant(cluster: &Cluster, ttl_s: &str) -> String {
    let out = cluster.etcdctl(&["lease", "grant", ttl_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    granted_id(&stdout(&out))
}

/// docs/leases.md: a kept-alive lease survives leader failures; once
/// keep-alives stop it expires no earlier than its TTL after the last one
/// and within TTL + the stated slack (asserted generously: the machine is
/// shared).
#[test]
fn keys_under_a_kept_alive_lease_survive_leader_kills_then_expire_when_keep_alives_stop() {
    let mut cluster = Cluster::start(3, "lease-failover");
    // etcdctl renews every TTL/3 and needs a moment to reach another member
    // after its own dies: 5 s leaves room on a loaded machine.
    let ttl = Duration::from_secs(5);
    let id = grant(&cluster, "5");
    expect(&cluster, &["put", "--lease", &id, "held", "yes"], "OK\n");
    let keep_alive = Background::start(&cluster.endpoints(), &["lease", "keep-alive", &id]);
    for round in 0..3 {
        kill_and_restart_leader(&mut cluster);
        std::thread::sleep(ttl);
        assert_eq!(
            read_key(&cluster, "held").as_deref(),
            Some("yes"),
            "round {round}; keep-alive said: {}",
            keep_alive.output()
        );
    }
    assert!(keep_alive
        .output()
        .contains(&format!("lease {id} keepalived with TTL(5)\n")));
    drop(keep_alive);
    let stopped = Instant::now();
    // The last keep-alive was at most TTL/3 before: the key must live at
    // least 2/3 of the TTL more.
    std::thread::sleep(ttl * 2 / 3 - Duration::from_millis(500));
    assert_eq!(
        read_key(&cluster, "held").as_deref(),
        Some("yes"),
        "expired early"
    );
    while read_key(&cluster, "held").is_some() {
        assert!(
            stopped.elapsed() < ttl + Duration::from_secs(10),
            "the lease outlived its TTL by far"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// docs/leases.md: a new leader gives every lease a full TTL from when it
/// takes office, so a lease granted just before the leader died outlives
/// its original deadline.
#[test]
fn a_leader_change_never_expires_a_lease_early() {
    if std::env::var_os("PAXON_E2E_ETCD").is_some() {
        // etcd promotes leases too, but its election takes longer than
        // this test's margins assume.
        return;
    }
    let mut cluster = Cluster::start(3, "lease-promote");
    let id = grant(&cluster, "4");
    let granted = Instant::now();
    expect(&cluster, &["put", "--lease", &id, "held", "yes"], "OK\n");
    std::thread::sleep(Duration::from_secs(1));
    let killed = Instant::now();
    kill_and_restart_leader(&mut cluster);
    // The new leader took office after the kill: the lease lives at least
    // until kill + 4 s, past its original deadline (grant + 4 s).
    let deadline = killed + Duration::from_secs(4);
    std::thread::sleep(
        deadline.saturating_duration_since(Instant::now()) - Duration::from_millis(300),
    );
    assert!(granted.elapsed() > Duration::from_secs(4));
    assert_eq!(
        read_key(&cluster, "held").as_deref(),
        Some("yes"),
        "expired early"
    );
    while read_key(&cluster, "held").is_some() {
        assert!(killed.elapsed() < Duration::from_secs(20), "never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
}
