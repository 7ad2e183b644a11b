//! End-to-end: `paxon demo` kills all three members of its cluster with
//! `kill -9` mid-stream and must find every acknowledged write afterwards.

use std::process::Command;

/// The number in `line` after `label`, e.g. `found: 600 of 600`.
fn numbers_after<'a>(stdout: &'a str, label: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{stdout}"));
    line[line.find(label).expect("label") + label.len()..]
        .split_whitespace()
        .collect()
}

#[test]
fn the_demo_finds_every_acknowledged_write_after_killing_all_members() {
    let dir = std::env::temp_dir().join(format!("paxon-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_paxon"))
        .args(["demo", "--writes", "600", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run paxon demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "paxon demo failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("2. kill -9 of all three members at once, mid-stream"),
        "{stdout}"
    );
    assert_eq!(
        numbers_after(&stdout, "writes acknowledged:"),
        ["600"],
        "{stdout}"
    );
    assert_eq!(
        numbers_after(&stdout, "acknowledged writes found:"),
        ["600", "of", "600"],
        "{stdout}"
    );
    assert_eq!(
        numbers_after(&stdout, "m3 caught up:"),
        ["yes,", "600", "keys"],
        "{stdout}"
    );
    assert!(
        stdout.contains("result: every acknowledged write survived the total kill"),
        "{stdout}"
    );
    // The data dir given is kept, with each member's ledger.
    for member in ["m1", "m2", "m3"] {
        assert!(
            dir.join(member).join("member").join("wal").is_dir(),
            "{member}'s ledger"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
