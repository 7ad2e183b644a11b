//! `etcdctl member add` and `member update` with real processes, and a new
//! member joining with `--initial-cluster-state existing`: it asks the
//! cluster for its seat, receives a snapshot, publishes its name, is
//! promoted, and keeps its seat across a `kill -9` of every member.

mod cluster;

use std::time::{Duration, Instant};

use cluster::{cluster_id, stderr, stdout, Cluster};

/// `etcdctl member list` lines, sorted.
fn member_list(cluster: &Cluster) -> Vec<String> {
    let out = cluster.etcdctl(&["member", "list"]);
    assert!(out.status.success(), "member list: {}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Runs `args` until it succeeds (bounded), returning its stdout.
fn eventually(cluster: &Cluster, endpoints: &str, args: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let out = cluster.etcdctl_at(endpoints, args);
        if out.status.success() {
            return stdout(&out);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{args:?} never succeeded; last: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// etcdctl 3.4 prints the refusal as its last line; the code is in the
/// retry warning before it.
fn assert_refused(out: &std::process::Output, code: &str, message: &str) {
    assert!(!out.status.success(), "expected a refusal: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(
        err.lines().last(),
        Some(format!("Error: {message}").as_str())
    );
    assert!(
        err.contains(&format!("code = {code} desc = {message}")),
        "{err}"
    );
}

#[test]
fn a_learner_joins_from_a_snapshot_is_promoted_and_keeps_its_seat_through_a_crash_of_all() {
    let mut cluster = Cluster::start_with(3, "join-snapshot", &["--snapshot-count", "20"]);
    cluster.wait_ready();
    for i in 0..60 {
        let key = format!("k{i:02}");
        let out = cluster.etcdctl(&["put", &key, &format!("v{i}")]);
        assert!(out.status.success(), "put: {}", stderr(&out));
    }
    let (new, id) = cluster.add_member(true);
    let endpoint = cluster.endpoint(new);
    // Its serializable read answers from its own store: the snapshot and
    // the decrees after it reached it.
    let start = Instant::now();
    loop {
        let out = cluster.etcdctl_at(&endpoint, &["get", "k59", "--consistency=s"]);
        if stdout(&out) == "k59\nv59\n" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never caught up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(cluster.dir.join("m4.log")).unwrap();
    assert!(log.contains("installed a snapshot from a peer"), "{log}");
    let promoted = eventually(
        &cluster,
        &cluster.endpoints(),
        &["member", "promote", &format!("{id:x}")],
    );
    let cid = cluster_id(&cluster.endpoint(0));
    assert_eq!(
        promoted,
        format!("Member {id:16x} promoted in cluster {cid:16x}\n")
    );
    let peer = cluster.members[new].peer_port;
    let client = cluster.members[new].client_port;
    let line =
        format!("{id:x}, started, m4, http://127.0.0.1:{peer}, http://127.0.0.1:{client}, false");
    let start = Instant::now();
    while !member_list(&cluster).contains(&line) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            member_list(&cluster)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = cluster.etcdctl_at(&endpoint, &["put", "from-m4", "yes"]);
    assert!(out.status.success(), "put via m4: {}", stderr(&out));

    // Every member dies at once; the new one comes back with its seat (its
    // --initial-cluster-state existing flag is ignored, as etcd ignores
    // it once the data directory exists).
    for i in 0..cluster.members.len() {
        cluster.kill(i);
    }
    for i in 0..cluster.members.len() {
        cluster.start_member(i);
    }
    cluster.wait_ready();
    let read = eventually(&cluster, &endpoint, &["get", "from-m4"]);
    assert_eq!(read, "from-m4\nyes\n");
    assert_eq!(
        eventually(&cluster, &endpoint, &["get", "k00"]),
        "k00\nv0\n"
    );
    assert!(member_list(&cluster).contains(&line));
    let log = std::fs::read_to_string(cluster.dir.join("m4.log")).unwrap();
    assert_eq!(log.matches("joined id=").count(), 1, "{log}");
}

#[test]
fn member_add_and_update_answer_as_etcd_and_bad_input_changes_nothing() {
    let cluster = Cluster::start(3, "join-add-update");
    cluster.wait_ready();
    let cid = cluster_id(&cluster.endpoint(0));
    let before = member_list(&cluster);
    let peer = "http://127.0.0.1:1";
    let out = cluster.etcdctl(&["member", "add", "m4", &format!("--peer-urls={peer}")]);
    assert!(out.status.success(), "member add: {}", stderr(&out));
    let text = stdout(&out);
    let id = u64::from_str_radix(text.split_whitespace().nth(1).unwrap(), 16).unwrap();
    let initial: Vec<String> = cluster
        .members
        .iter()
        .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
        .chain([format!("m4={peer}")])
        .collect();
    let printed = text
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER="))
        .unwrap()
        .trim_matches('"');
    let mut printed: Vec<&str> = printed.split(',').collect();
    printed.sort();
    assert_eq!(
        printed,
        initial.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let expected_head = format!("Member {id:16x} added to cluster {cid:16x}\n\nETCD_NAME=\"m4\"\n");
    assert!(text.starts_with(&expected_head), "{text}");
    assert!(text.ends_with(&format!(
        "ETCD_INITIAL_ADVERTISE_PEER_URLS=\"{peer}\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
    )));
    // Added, never started: listed without a name, as etcd lists it.
    let unstarted = format!("{id:x}, unstarted, , {peer}, , false");
    let mut with_m4 = before.clone();
    with_m4.push(unstarted);
    with_m4.sort();
    assert_eq!(member_list(&cluster), with_m4);

    // A peer URL that is taken, by the new member or an original one.
    let m1_peer = format!("http://127.0.0.1:{}", cluster.members[0].peer_port);
    for taken in [peer, m1_peer.as_str()] {
        let out = cluster.etcdctl(&["member", "add", "m5", &format!("--peer-urls={taken}")]);
        assert_refused(
            &out,
            "FailedPrecondition",
            "etcdserver: Peer URLs already exists",
        );
        let out = cluster.etcdctl(&[
            "member",
            "add",
            "m5",
            &format!("--peer-urls={taken}"),
            "--learner",
        ]);
        assert_refused(
            &out,
            "FailedPrecondition",
            "etcdserver: Peer URLs already exists",
        );
    }
    let out = cluster.etcdctl(&["member", "add", "m5", "--peer-urls=unix://localhost:1"]);
    assert_refused(
        &out,
        "InvalidArgument",
        "etcdserver: given member URLs are invalid",
    );
    let update = |id: u64, url: &str| {
        cluster.etcdctl(&[
            "member",
            "update",
            &format!("{id:x}"),
            &format!("--peer-urls={url}"),
        ])
    };
    assert_refused(
        &update(id, &m1_peer),
        "FailedPrecondition",
        "etcdserver: Peer URLs already exists",
    );
    assert_refused(
        &update(0xdead, "http://127.0.0.1:2"),
        "NotFound",
        "etcdserver: member not found",
    );
    assert_eq!(member_list(&cluster), with_m4);

    // An update is a decree: every member lists the new URL.
    let out = update(id, "http://127.0.0.1:2");
    assert!(out.status.success(), "member update: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("Member {id:16x} updated in cluster {cid:16x}\n")
    );
    let mut updated = before.clone();
    updated.push(format!("{id:x}, unstarted, , http://127.0.0.1:2, , false"));
    updated.sort();
    for i in 0..3 {
        let start = Instant::now();
        loop {
            let out = cluster.etcdctl_at(&cluster.endpoint(i), &["member", "list"]);
            let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
            lines.sort();
            if lines == updated {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "member {i}: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let out = cluster.etcdctl(&["member", "remove", &format!("{id:x}")]);
    assert!(out.status.success(), "member remove: {}", stderr(&out));
    assert_eq!(member_list(&cluster), before);
}

#[test]
fn promoting_a_learner_that_has_not_caught_up_is_refused_and_changes_nothing() {
    let cluster = Cluster::start(3, "join-promote-early");
    cluster.wait_ready();
    let peer = "http://127.0.0.1:1";
    let args = [
        "member",
        "add",
        "m4",
        &format!("--peer-urls={peer}"),
        "--learner",
    ];
    let out = cluster.etcdctl(&args);
    assert!(out.status.success(), "member add: {}", stderr(&out));
    let id = u64::from_str_radix(stdout(&out).split_whitespace().nth(1).unwrap(), 16).unwrap();
    let before = member_list(&cluster);
    assert!(
        before.contains(&format!("{id:x}, unstarted, , {peer}, , true")),
        "{before:?}"
    );
    // Never started: it has neither caught up nor recovered.
    let out = cluster.etcdctl(&["member", "promote", &format!("{id:x}")]);
    assert_refused(
        &out,
        "FailedPrecondition",
        "etcdserver: can only promote a learner member which is in sync with leader",
    );
    assert_eq!(member_list(&cluster), before);
}
