//! End-to-end: etcd's Maintenance calls that operators script — `endpoint
//! hashkv`, `defrag`, `snapshot save` — and `paxon snapshot restore`
//! seeding a new cluster from the saved file.

mod cluster;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cluster::{etcdctl, stderr, stdout, Cluster};

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed: {}", stderr(out));
    stdout(out)
}

fn paxon(args: &[&str], data_dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paxon"));
    command.args(args);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    command.output().expect("run paxon")
}

/// `endpoint hashkv` on every member, once they all applied the same
/// decrees (followers may lag a moment behind the leader).
fn hashes_agree(cluster: &Cluster) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hashes: Vec<String> = (0..cluster.members.len())
            .map(|i| {
                let out = etcdctl(&cluster.endpoint(i), &["endpoint", "hashkv"], None);
                let line = ok(&out, "endpoint hashkv");
                let (endpoint, hash) = line.trim_end().split_once(", ").expect("ENDPOINT, HASH");
                assert_eq!(endpoint, cluster.endpoint(i));
                hash.to_string()
            })
            .collect();
        if hashes.iter().all(|h| *h == hashes[0]) {
            return hashes[0].clone();
        }
        assert!(Instant::now() < deadline, "hashes never agreed: {hashes:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The store's revision as `endpoint` reports it.
fn revision(endpoint: &str) -> i64 {
    let out = etcdctl(endpoint, &["endpoint", "status", "-w", "fields"], None);
    let fields = ok(&out, "endpoint status");
    fields
        .lines()
        .find_map(|line| line.strip_prefix("\"Revision\" : "))
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("no revision in {fields}"))
}

#[test]
fn snapshot_save_then_restore_seeds_a_new_cluster_with_the_same_keys_and_hash() {
    let source = Cluster::start(3, "backup-src");
    for i in 0..20 {
        ok(
            &source.etcdctl(&["put", &format!("key{i:02}"), &format!("value{i}")]),
            "put",
        );
    }
    ok(&source.etcdctl(&["del", "key05"]), "del");
    let hash = hashes_agree(&source);
    assert_eq!(
        ok(&etcdctl(&source.endpoint(1), &["defrag"], None), "defrag"),
        format!(
            "Finished defragmenting etcd member[{}]\n",
            source.endpoint(1)
        )
    );

    let file = source.dir.join("backup.db");
    let out = etcdctl(
        &source.endpoint(2),
        &["snapshot", "save", file.to_str().expect("utf-8 path")],
        None,
    );
    assert_eq!(
        ok(&out, "snapshot save"),
        format!("Snapshot saved at {}\n", file.display())
    );
    let expected_keys = ok(&source.etcdctl(&["get", "key", "--prefix"]), "get");
    let revision = revision(&source.endpoint(2));

    // A new cluster, every member seeded from the same file.
    let mut restored = Cluster::start(3, "backup-dst");
    for i in 0..3 {
        restored.kill(i);
        let dir = restored.data_dir(i);
        std::fs::remove_dir_all(&dir).expect("wipe the new member");
        let name = restored.members[i].name.clone();
        let out = paxon(
            &[
                "snapshot",
                "restore",
                file.to_str().unwrap(),
                "--name",
                &name,
            ],
            Some(&dir),
        );
        assert_eq!(
            ok(&out, "paxon snapshot restore"),
            format!(
                "restored snapshot {} (revision {revision}) into {}\n",
                file.display(),
                dir.display()
            )
        );
    }
    for i in 0..3 {
        restored.start_member(i);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = restored.etcdctl(&["get", "key", "--prefix"]);
        if out.status.success() {
            assert_eq!(stdout(&out), expected_keys);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restored cluster never served: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(hashes_agree(&restored), hash, "same history, same HashKV");
    ok(
        &restored.etcdctl(&["put", "after", "restore"]),
        "put after restore",
    );
    let out = restored.etcdctl(&["get", "after", "-w", "fields"]);
    assert!(
        ok(&out, "get").contains(&format!("\"ModRevision\" : {}\n", revision + 1)),
        "revisions continue from the snapshot's"
    );
}

#[test]
fn restore_refuses_a_corrupt_file_and_an_existing_data_dir_and_creates_nothing() {
    let cluster = Cluster::start(1, "backup-bad");
    ok(&cluster.etcdctl(&["put", "k", "v"]), "put");
    let file = cluster.dir.join("backup.db");
    ok(
        &etcdctl(
            &cluster.endpoint(0),
            &["snapshot", "save", file.to_str().unwrap()],
            None,
        ),
        "snapshot save",
    );
    let bytes = std::fs::read(&file).expect("saved file");

    let corrupt = cluster.dir.join("corrupt.db");
    let mut flipped = bytes.clone();
    flipped[20] ^= 1;
    std::fs::write(&corrupt, &flipped).expect("write");
    let target = cluster.dir.join("new-member");
    let out = paxon(
        &["snapshot", "restore", corrupt.to_str().unwrap()],
        Some(&target),
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        "paxon snapshot restore: snapshot file corrupted: its SHA-256 does not match\n"
    );
    assert!(!target.exists(), "nothing created");

    let truncated = cluster.dir.join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1]).expect("write");
    let out = paxon(
        &["snapshot", "restore", truncated.to_str().unwrap()],
        Some(&target),
    );
    assert!(stderr(&out).contains("is not a multiple of 512 plus a 32-byte SHA-256"));
    assert!(!target.exists(), "nothing created");

    let existing = cluster.data_dir(0);
    let out = paxon(
        &["snapshot", "restore", file.to_str().unwrap()],
        Some(&existing),
    );
    assert_eq!(
        stderr(&out),
        format!(
            "paxon snapshot restore: data-dir {} exists; restore into a new directory\n",
            existing.display()
        )
    );
}
