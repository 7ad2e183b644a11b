//! End-to-end: a real 3-member Paxon cluster and Debian's `etcdctl`, with
//! the exact output etcd 3.4/3.5 gives for the same commands.

mod cluster;

use std::time::{Duration, Instant};

use cluster::{etcdctl, expect, expect_error, first_segment, stderr, stdout, Cluster};

/// Writes until a write goes through (bounded): right after a member is
/// killed, a write may fail as etcd's would ("leader changed", "request
/// timed out, possibly due to previous leader failure") until a new leader
/// is known.
fn put_until_ok(cluster: &Cluster, key: &str, value: &str) {
    let start = Instant::now();
    loop {
        let out = cluster.etcdctl(&["put", key, value]);
        if out.status.success() {
            assert_eq!(stdout(&out), "OK\n");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no write in 20 s: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn etcdctl_key_value_commands_give_etcds_exact_output() {
    let cluster = Cluster::start(3, "kv");
    expect(&cluster, &["put", "k1", "v1"], "OK\n");
    expect(&cluster, &["put", "k2", "v2"], "OK\n");
    expect(&cluster, &["put", "k3", "v3"], "OK\n");
    expect(&cluster, &["get", "k1"], "k1\nv1\n");
    expect(
        &cluster,
        &["get", "--prefix", "k"],
        "k1\nv1\nk2\nv2\nk3\nv3\n",
    );
    expect(&cluster, &["get", "k1", "k3"], "k1\nv1\nk2\nv2\n");
    expect(
        &cluster,
        &["get", "--prefix", "k", "--limit", "1"],
        "k1\nv1\n",
    );
    expect(
        &cluster,
        &["get", "--from-key", "k2", "--keys-only"],
        "k2\n\nk3\n\n",
    );
    expect(&cluster, &["del", "k2"], "1\n");
    expect(&cluster, &["del", "nope"], "0\n");
    expect(
        &cluster,
        &["get", "--prefix", "k", "--keys-only"],
        "k1\n\nk3\n\n",
    );
    expect(&cluster, &["put", "k1", "v1b", "--prev-kv"], "OK\nk1\nv1\n");
    expect(&cluster, &["get", "k1", "--consistency=s"], "k1\nv1b\n");
    expect(
        &cluster,
        &["del", "--prefix", "k", "--prev-kv"],
        "2\nk1\nv1b\nk3\nv3\n",
    );
    expect(&cluster, &["get", "--prefix", "k"], "");
}

#[test]
fn etcdctl_history_compaction_and_revisions_behave_as_in_etcd() {
    let cluster = Cluster::start(3, "rev");
    expect(&cluster, &["put", "a", "1"], "OK\n");
    let out = cluster.etcdctl(&["get", "a", "-w", "json"]);
    let json = stdout(&out);
    let rev: i64 = json
        .split("\"mod_revision\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("mod_revision in {json}"));
    expect(&cluster, &["put", "a", "2"], "OK\n");
    expect(&cluster, &["put", "a", "3"], "OK\n");
    let first = rev.to_string();
    expect(&cluster, &["get", "a", "--rev", &first], "a\n1\n");
    let second = (rev + 1).to_string();
    expect(&cluster, &["get", "a", "--rev", &second], "a\n2\n");
    expect(
        &cluster,
        &["compaction", &second],
        &format!("compacted revision {second}\n"),
    );
    expect_error(
        &cluster,
        &["get", "a", "--rev", &first],
        "etcdserver: mvcc: required revision has been compacted",
    );
    expect(&cluster, &["get", "a", "--rev", &second], "a\n2\n");
    let future = (rev + 100).to_string();
    expect_error(
        &cluster,
        &["get", "a", "--rev", &future],
        "etcdserver: mvcc: required revision is a future revision",
    );
    expect_error(
        &cluster,
        &["put", "", "x"],
        "etcdserver: key is not provided",
    );
}

#[test]
fn etcdctl_interactive_txn_takes_the_right_branch() {
    let cluster = Cluster::start(3, "txn");
    expect(&cluster, &["put", "k1", "v1"], "OK\n");
    expect(&cluster, &["put", "k3", "v3"], "OK\n");
    let prompts =
        "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n";
    let success = "value(\"k1\") = \"v1\"\n\nput k1 swapped\nget k1\n\nget k3\n\n";
    let out = etcdctl(&cluster.endpoints(), &["txn", "-i"], Some(success));
    assert_eq!(
        stdout(&out),
        format!("{prompts}SUCCESS\n\nOK\n\nk1\nswapped\n")
    );
    let failure = "value(\"k1\") = \"nope\"\n\nput k1 x\n\nget k3\n\n";
    let out = etcdctl(&cluster.endpoints(), &["txn", "-i"], Some(failure));
    assert_eq!(stdout(&out), format!("{prompts}FAILURE\n\nk3\nv3\n"));
    expect(&cluster, &["get", "k1"], "k1\nswapped\n");
}

#[test]
fn bad_requests_get_etcds_code_and_message_and_change_nothing() {
    let cluster = Cluster::start_with(
        3,
        "bad",
        &["--max-request-bytes", "1024", "--max-txn-ops", "2"],
    );
    expect(&cluster, &["put", "k", "v"], "OK\n");
    let big = "x".repeat(2000);
    expect_error(
        &cluster,
        &["put", "k", &big],
        "etcdserver: request is too large",
    );
    expect_error(
        &cluster,
        &["put", "k", "v2", "--lease=1234"],
        "etcdserver: requested lease not found",
    );
    let duplicate = "\nput d 1\nput d 2\n\n\n";
    let out = etcdctl(&cluster.endpoints(), &["txn", "-i"], Some(duplicate));
    assert!(
        stderr(&out).contains("Error: etcdserver: duplicate key given in txn request"),
        "{}",
        stderr(&out)
    );
    let too_many = "\nput a 1\nput b 2\nput c 3\n\n\n";
    let out = etcdctl(&cluster.endpoints(), &["txn", "-i"], Some(too_many));
    assert!(
        stderr(&out).contains("Error: etcdserver: too many operations in txn request"),
        "{}",
        stderr(&out)
    );
    expect(&cluster, &["get", "--from-key", ""], "k\nv\n");
}

#[test]
fn member_list_and_endpoint_status_show_the_three_members_and_one_leader() {
    let cluster = Cluster::start(3, "members");
    let out = cluster.etcdctl(&["member", "list"]);
    let listed = stdout(&out);
    for m in &cluster.members {
        let line = format!(
            ", started, {}, http://127.0.0.1:{}, http://127.0.0.1:{}, false",
            m.name, m.peer_port, m.client_port
        );
        assert!(listed.contains(&line), "{line} in\n{listed}");
    }
    assert_eq!(listed.lines().count(), 3);
    let out = cluster.etcdctl(&["endpoint", "status"]);
    let status = stdout(&out);
    assert_eq!(status.lines().count(), 3, "{status}");
    assert_eq!(
        status.matches(", true, false,").count(),
        1,
        "one leader:\n{status}"
    );
    assert!(status.lines().all(|l| l.contains(", 3.5.0, ")), "{status}");
    // `--cluster` asks each member found in `member list` at its client
    // URL, with that URL (`http://…`) as the HTTP/2 `:authority`
    // (`paxon-server/src/authority.rs`).
    let first = cluster.endpoint(0);
    let out = etcdctl(&first, &["endpoint", "status", "--cluster"], None);
    assert!(out.status.success(), "status --cluster: {}", stderr(&out));
    let status = stdout(&out);
    for m in &cluster.members {
        let line = format!("http://127.0.0.1:{}, ", m.client_port);
        assert!(status.contains(&line), "{line} in\n{status}");
    }
    assert_eq!(status.lines().count(), 3, "{status}");
    let out = etcdctl(&first, &["endpoint", "health", "--cluster"], None);
    assert!(out.status.success(), "health --cluster: {}", stderr(&out));
    let health = stderr(&out) + &stdout(&out);
    assert_eq!(
        health
            .matches(" is healthy: successfully committed proposal")
            .count(),
        3,
        "{health}"
    );
}

#[test]
fn every_acknowledged_key_is_back_after_all_members_are_killed_at_once() {
    let mut cluster = Cluster::start(3, "killall");
    for i in 0..50 {
        expect(
            &cluster,
            &["put", &format!("key{i:02}"), &format!("value{i}")],
            "OK\n",
        );
    }
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.start_member(i);
    }
    cluster.wait_ready();
    let out = cluster.etcdctl(&["get", "--prefix", "key", "--keys-only"]);
    let keys: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let expected: Vec<String> = (0..50).map(|i| format!("key{i:02}")).collect();
    assert_eq!(keys, expected);
}

#[test]
fn a_new_leader_serves_writes_within_seconds_after_the_leader_is_killed() {
    let mut cluster = Cluster::start(3, "failover");
    let leader = cluster.leader().expect("a leader");
    expect(&cluster, &["put", "before", "1"], "OK\n");
    cluster.kill(leader);
    let start = Instant::now();
    loop {
        let out = etcdctl(&cluster.endpoints(), &["put", "after", "1"], None);
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no leader 20 s after the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "writes resumed {:?} after kill -9 of the leader",
        start.elapsed()
    );
    expect(&cluster, &["get", "before"], "before\n1\n");
    cluster.start_member(leader);
    let out = etcdctl(&cluster.endpoint(leader), &["get", "after"], None);
    assert_eq!(
        stdout(&out),
        "after\n1\n",
        "the old leader catches up and forwards reads"
    );
}

#[test]
fn a_member_with_a_damaged_ledger_refuses_to_start_and_says_how_to_recover() {
    let mut cluster = Cluster::start(3, "corrupt");
    for i in 0..20 {
        expect(&cluster, &["put", &format!("c{i}"), "x"], "OK\n");
    }
    cluster.kill(2);
    let segment = first_segment(&cluster.data_dir(2));
    let mut bytes = std::fs::read(&segment).expect("read segment");
    bytes[12] ^= 0x40;
    std::fs::write(&segment, &bytes).expect("damage segment");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paxon"))
        .arg("serve")
        .args(["--name", "m3"])
        .arg("--data-dir")
        .arg(cluster.data_dir(2))
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{}", cluster.members[2].peer_port),
        ])
        .args([
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{}", cluster.members[2].peer_port),
        ])
        .args([
            "--initial-cluster",
            &format!("m3=http://127.0.0.1:{}", cluster.members[2].peer_port),
        ])
        .output()
        .expect("run paxon serve");
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("ledger corruption in"), "{message}");
    assert!(message.contains("wipe"), "{message}");
    put_until_ok(&cluster, "still", "serving");
}

#[test]
fn bad_flags_exit_with_status_2_and_say_why() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_paxon"))
            .arg("serve")
            .args(args)
            .output()
            .expect("run paxon serve")
    };
    let out = run(&[
        "--name",
        "x",
        "--initial-cluster",
        "a=http://127.0.0.1:2380",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "paxon serve: --initial-cluster has no member named \"x\" (the value of --name)\n"
    );
    let out = run(&["--heartbeat-interval", "100", "--election-timeout", "200"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--listen-client-urls", "https://127.0.0.1:2379"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "paxon serve: https://127.0.0.1:2379: TLS needs --cert-file and --key-file\n"
    );
}

/// etcd's NOSPACE alarm: a put over `--quota-backend-bytes` fails and
/// raises the alarm for the whole cluster (a decree); until `alarm disarm`
/// every member refuses puts, even once deletes and a compaction made
/// room; the alarm survives a restart of every member.
#[test]
fn writes_over_the_quota_raise_nospace_until_disarmed_and_the_alarm_is_durable() {
    let mut cluster = Cluster::start_with(3, "quota", &["--quota-backend-bytes", "4096"]);
    let first = cluster.endpoint(0);
    let value = "v".repeat(400);
    let mut refused = None;
    let mut written = 0;
    for i in 0..40 {
        let out = etcdctl(&first, &["put", &format!("q{i:02}"), &value], None);
        if !out.status.success() {
            refused = Some(stderr(&out));
            break;
        }
        written += 1;
    }
    let refused = refused.expect("a put over the quota is refused");
    assert!(
        refused.contains("Error: etcdserver: mvcc: database space exceeded"),
        "{refused}"
    );
    let member_id = member_id(&first);
    let alarm = format!("memberID:{member_id} alarm:NOSPACE \n");
    wait_for(&cluster, &["alarm", "list"], &alarm);
    let status = stdout(&etcdctl(&first, &["endpoint", "status"], None));
    assert!(
        status.ends_with(&format!(", memberID:{member_id} alarm:NOSPACE \n")),
        "{status}"
    );

    // Deletes and compaction still run; puts stay refused on every member.
    expect(&cluster, &["del", "q", "--prefix"], &format!("{written}\n"));
    let revision = revision(&first);
    expect(
        &cluster,
        &["compaction", &revision.to_string()],
        &format!("compacted revision {revision}\n"),
    );
    for i in 0..3 {
        let out = etcdctl(&cluster.endpoint(i), &["put", "small", "1"], None);
        assert!(
            stderr(&out).contains("etcdserver: mvcc: database space exceeded"),
            "member {i}: {}",
            stderr(&out)
        );
    }

    // The alarm is state: every member restarts with it.
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.start_member(i);
    }
    wait_for(&cluster, &["alarm", "list"], &alarm);

    expect(&cluster, &["alarm", "disarm"], &alarm);
    expect(&cluster, &["alarm", "list"], "");
    put_until_ok(&cluster, "small", "1");
}

/// Runs `args` until etcdctl prints `expected` (bounded): for state that
/// arrives by decree, or after a restart.
fn wait_for(cluster: &Cluster, args: &[&str], expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = cluster.etcdctl(args);
        if out.status.success() && stdout(&out) == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "etcdctl {args:?} never printed {expected:?}; last: {} {}",
            stdout(&out),
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The member id `endpoint` reports in its header.
fn member_id(endpoint: &str) -> u64 {
    let out = etcdctl(endpoint, &["endpoint", "status", "-w", "fields"], None);
    field(&stdout(&out), "\"MemberID\" : ")
        .parse()
        .expect("a member id")
}

/// The store's revision as `endpoint` reports it.
fn revision(endpoint: &str) -> i64 {
    let out = etcdctl(endpoint, &["endpoint", "status", "-w", "fields"], None);
    field(&stdout(&out), "\"Revision\" : ")
        .parse()
        .expect("a revision")
}

/// The value after `label` on its line of etcdctl's `-w fields` output.
fn field(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {output}"))
        .trim()
        .to_string()
}

/// With a snapshot every 10 slots, a member that was down while 60 writes
/// went by is sent the law book (§3.3.2) and catches up; then everyone
/// restarts from snapshot + log.
#[test]
fn a_member_that_missed_trimmed_slots_is_sent_a_snapshot_and_all_restart_from_snapshots() {
    let mut cluster = Cluster::start_with(3, "snap", &["--snapshot-count", "10"]);
    let leader = cluster.leader().expect("a leader");
    let laggard = (leader + 1) % 3;
    cluster.kill(laggard);
    // ~3 MB of values: the snapshot travels as a dozen chunks.
    let big = "b".repeat(100 * 1024);
    for i in 0..60 {
        let value = if i % 2 == 1 { big.as_str() } else { "x" };
        put_until_ok(&cluster, &format!("s{i:02}"), value);
    }
    let big_keys = etcdctl(&cluster.endpoint(leader), &["get", "s57"], None);
    assert_eq!(stdout(&big_keys), format!("s57\n{big}\n"));
    cluster.start_member(laggard);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = etcdctl(
            &cluster.endpoint(laggard),
            &["get", "s58", "--consistency=s"],
            None,
        );
        if stdout(&out) == "s58\nx\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the laggard never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = cluster
        .dir
        .join(format!("{}.log", cluster.members[laggard].name));
    let log = std::fs::read_to_string(log).expect("laggard's log");
    assert!(
        log.contains("installed a snapshot from a peer"),
        "caught up through a snapshot"
    );
    let out = etcdctl(
        &cluster.endpoint(laggard),
        &["get", "s59", "--consistency=s"],
        None,
    );
    assert_eq!(
        stdout(&out),
        format!("s59\n{big}\n"),
        "the big values came across"
    );
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.start_member(i);
    }
    cluster.wait_ready();
    for i in 0..3 {
        let out = etcdctl(
            &cluster.endpoint(i),
            &["get", "--prefix", "s", "--keys-only"],
            None,
        );
        let keys = stdout(&out).lines().filter(|l| !l.is_empty()).count();
        assert_eq!(keys, 60, "member {i}: {}", stderr(&out));
    }
}
