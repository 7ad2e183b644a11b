//! The simulator's main tests: many seeds with every fault class pass all
//! checkers, and a seed replays exactly.

use paxon_sim::{run_seed, FaultMix, Options, Outcome, Report};

/// Runs `seeds` on two threads and returns their reports in seed order.
fn run_many(options: &Options, seeds: std::ops::Range<u64>) -> Vec<Report> {
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let reports = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let report = run_seed(options, seed, false);
                reports.lock().unwrap().push(report);
            });
        }
    });
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by_key(|r| r.seed);
    reports
}

fn assert_all_pass(options: &Options, reports: &[Report]) {
    for report in reports {
        if let Outcome::Failed(failure) = &report.outcome {
            let again = run_seed(options, report.seed, true);
            panic!(
                "seed {} failed: {failure}\nlast steps:\n{}\nreplay: cargo run -p paxon-sim --release -- --replay {} --nodes {}",
                report.seed, again.trace_tail, report.seed, options.nodes
            );
        }
    }
}

#[test]
fn thousand_seeds_of_three_replicas_with_every_fault_class_pass_every_checker() {
    let options = Options::default();
    let reports = run_many(&options, 0..1000);
    assert_all_pass(&options, &reports);
    let faults: u64 = reports.iter().map(|r| r.faults).sum();
    let completed: u64 = reports.iter().map(|r| r.completed).sum();
    let slots: u64 = reports.iter().map(|r| r.slots).sum();
    assert!(faults > 10_000, "faults were injected: {faults}");
    assert!(completed > 100_000, "clients got answers: {completed}");
    assert!(slots > 100_000, "decrees were chosen: {slots}");
}

#[test]
fn two_hundred_seeds_of_five_replicas_with_every_fault_class_pass_every_checker() {
    let options = Options {
        nodes: 5,
        ..Options::default()
    };
    assert_all_pass(&options, &run_many(&options, 0..200));
}

/// §3.3.6: learners added, promoted and removed, voters replaced, among
/// crashes, partitions and a lossy network; every checker still passes.
#[test]
fn reconfigurations_among_crashes_and_partitions_pass_every_checker() {
    let options = Options {
        faults: FaultMix::parse("network,partitions,crashes,reconfigurations").unwrap(),
        ..Options::default()
    };
    let reports = run_many(&options, 0..300);
    assert_all_pass(&options, &reports);
    let changes: u64 = reports.iter().map(|r| r.reconfigurations).sum();
    let removed: u64 = reports.iter().map(|r| r.removed).sum();
    assert!(
        changes > 200,
        "configuration changes were chosen: {changes}"
    );
    assert!(removed > 10, "removed replicas stopped: {removed}");
    println!("{changes} configuration changes, {removed} replicas removed");
}

#[test]
fn without_faults_every_seed_makes_progress_and_never_loses_an_answer() {
    let options = Options {
        faults: FaultMix::NONE,
        steps: 5_000,
        ..Options::default()
    };
    let reports = run_many(&options, 0..50);
    assert_all_pass(&options, &reports);
    for report in &reports {
        assert_eq!(report.faults, 0);
        assert_eq!(
            report.unknown, 0,
            "seed {}: no fault, no lost answer",
            report.seed
        );
        assert!(
            report.completed > 100,
            "seed {}: {}",
            report.seed,
            report.completed
        );
    }
}

#[test]
fn same_seed_replays_to_a_byte_identical_trace() {
    let options = Options::default();
    for seed in [3, 77, 1234] {
        let first = run_seed(&options, seed, false);
        let second = run_seed(&options, seed, true);
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed}");
        assert_eq!(first.steps, second.steps);
        assert_eq!(first.completed, second.completed);
    }
    let other = run_seed(&options, 4, false);
    assert_ne!(run_seed(&options, 3, false).trace_hash, other.trace_hash);
}

#[test]
fn a_single_replica_cluster_survives_its_own_crashes() {
    let options = Options {
        nodes: 1,
        steps: 5_000,
        ..Options::default()
    };
    assert_all_pass(&options, &run_many(&options, 0..50));
}

/// Seeds that once failed (see docs/testing.md) replay clean, with their
/// cluster sizes.
#[test]
fn seeds_that_found_bugs_stay_fixed() {
    for (nodes, seed) in [
        (3, 155),
        (3, 678),
        (3, 2517),
        (3, 3851),
        (3, 7822),
        (3, 9895),
        (3, 4421),
        (5, 372),
    ] {
        let options = Options {
            nodes,
            ..Options::default()
        };
        assert_all_pass(&options, &[run_seed(&options, seed, false)]);
    }
}
