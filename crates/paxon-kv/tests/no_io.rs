//! The store is sans-IO: it must never grow a dependency or a use of
//! anything that touches the outside world or reads a clock (DESIGN.md).

use std::path::Path;

/// Dependencies the store may have: none of them does I/O.
const ALLOWED_DEPENDENCIES: &[&str] = &["crc32c", "thiserror"];

/// Paths whose mere mention in the store's source is a violation.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::io",
    "std::thread",
    "std::process",
    "std::env",
    "std::time",
    "Instant",
    "SystemTime",
    "tokio",
    "tonic",
    "prost",
    "thread_rng",
    "rand::",
    "HashMap",
    "HashSet",
];

#[test]
fn store_dependencies_are_on_the_no_io_allowlist() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("read Cargo.toml");
    let mut section = String::new();
    let mut found = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if section == "[dependencies]" && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap().trim().to_string();
            found.push(name);
        } else if section.starts_with("[target")
            || section.starts_with("[dependencies.")
            || section == "[build-dependencies]"
        {
            panic!("unexpected dependency section {section}: keep the store's dependencies flat");
        }
    }
    for name in &found {
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name.as_str()),
            "paxon-kv depends on `{name}`, which is not on the no-I/O allowlist"
        );
    }
    assert_eq!(found, ALLOWED_DEPENDENCIES, "the allowlist is exact");
}

#[test]
fn store_source_uses_no_io_clock_or_unordered_map() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(&src).expect("read src") {
        let path = entry.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("read source");
        for (number, line) in text.lines().enumerate() {
            for word in FORBIDDEN {
                if line.contains(word) {
                    violations.push(format!("{}:{}: {word}", path.display(), number + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "paxon-kv must stay sans-IO:\n{}",
        violations.join("\n")
    );
}
