//! `paxon bench --smoke`: the bench starts both clusters, runs every
//! workload and phase briefly and writes its tables and plot. It checks that
//! the bench works, never how fast anything is.

use std::path::Path;
use std::process::Command;

/// Where etcd is, if this machine has it (Debian package etcd-server).
fn etcd() -> Option<&'static str> {
    Path::new("/usr/bin/etcd")
        .exists()
        .then_some("/usr/bin/etcd")
}

#[test]
fn smoke_run_writes_a_table_per_workload_and_the_plot() {
    let Some(etcd) = etcd() else {
        panic!("etcd is not installed: scripts/install-deps.sh installs etcd-server");
    };
    let out = std::env::temp_dir().join(format!("paxon-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_paxon"))
        .args(["bench", "--smoke", "--etcd", etcd, "--out-dir"])
        .arg(&out)
        .output()
        .expect("run paxon bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "paxon bench failed:\n{stderr}");
    let table = std::fs::read_to_string(out.join("bench.md")).expect("bench.md written");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), table.trim());
    for workload in [
        "put",
        "get-linearizable",
        "get-serializable",
        "txn-cas",
        "mix",
    ] {
        assert!(
            table.contains(&format!("\n## {workload}\n")),
            "no table for {workload}:\n{table}"
        );
    }
    // --smoke: 1 and 16 clients over at most 4 connections.
    for (clients, connections) in [(1, 1), (16, 4)] {
        for system in ["paxon", "etcd", "**paxon/etcd**"] {
            let row = format!("| {clients} | {connections} | {system} | ");
            assert!(table.contains(&row), "no row {row}:\n{table}");
        }
    }
    assert!(table.contains("## memory and restart"), "{table}");
    assert!(!table.contains("failed:"), "a restart failed:\n{table}");
    assert!(table.contains("## sustained puts"), "{table}");
    let svg = std::fs::read_to_string(out.join("bench.svg")).expect("bench.svg written");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<polyline").count(),
        5 * 2 * 2,
        "p50 and p99 lines per system per workload"
    );
    let _ = std::fs::remove_dir_all(&out);
}
