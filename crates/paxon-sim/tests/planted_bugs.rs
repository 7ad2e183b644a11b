//! Each planted bug — a real way to break Paxos — must be caught by the
//! simulator within 1,000 seeds. Run with `--features planted-bugs`.
#![cfg(feature = "planted-bugs")]

use paxon_core::PlantedBug;
use paxon_sim::{run_seed, Options, Outcome};

const SEEDS_MAX: u64 = 1_000;

/// Seeds run until the first failure, and the checker that caught it.
fn seeds_until_caught(bug: PlantedBug) -> Option<(u64, String)> {
    let options = Options {
        planted_bug: Some(bug as u8),
        ..Options::default()
    };
    (0..SEEDS_MAX).find_map(|seed| match run_seed(&options, seed, false).outcome {
        Outcome::Failed(failure) => Some((seed + 1, failure.checker.to_string())),
        Outcome::Passed => None,
    })
}

#[test]
fn every_planted_bug_is_caught_within_a_thousand_seeds() {
    let mut missed = Vec::new();
    for bug in PlantedBug::ALL {
        match seeds_until_caught(bug) {
            Some((seeds, checker)) => println!(
                "planted bug {:>2} {bug:?}: caught after {seeds} seeds by {checker}",
                bug as u8
            ),
            None => missed.push(bug),
        }
    }
    assert!(
        missed.is_empty(),
        "not caught within {SEEDS_MAX} seeds: {missed:?}"
    );
}
