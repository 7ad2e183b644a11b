//! The run's trace: a hash of every step (the same seed must give the same
//! hash) and the last steps in words, printed when a checker fails.

use std::collections::VecDeque;
use std::fmt::Write;

/// Lines kept for a failure report, unless `PAXON_SIM_TRACE_LINES` says
/// how many (a whole trace for a replay worth reading end to end).
const LINES_KEPT: usize = 200;

fn lines_kept() -> usize {
    std::env::var("PAXON_SIM_TRACE_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LINES_KEPT)
}

/// The trace of one run.
#[derive(Default)]
pub struct Trace {
    hash: u64,
    lines: VecDeque<String>,
    /// Whether to keep lines in words (costly; on for replays and when a
    /// failure is being reported).
    pub verbose: bool,
    /// Steps recorded.
    pub steps: u64,
    keep: usize,
}

impl Trace {
    /// Folds a step into the hash (FNV-1a over the words given).
    pub fn step(&mut self, words: &[u64]) {
        self.steps += 1;
        for word in words {
            for byte in word.to_le_bytes() {
                self.hash ^= u64::from(byte);
                self.hash = self.hash.wrapping_mul(0x100_0000_01b3);
            }
        }
    }

    /// Keeps a line in words, if verbose.
    pub fn line(&mut self, make: impl FnOnce() -> String) {
        if !self.verbose {
            return;
        }
        if self.keep == 0 {
            self.keep = lines_kept();
        }
        if self.lines.len() >= self.keep {
            self.lines.pop_front();
        }
        self.lines.push_back(make());
    }

    /// The hash of every step so far.
    pub fn hash(&self) -> u64 {
        self.hash ^ 0xcbf2_9ce4_8422_2325
    }

    /// The last lines kept.
    pub fn tail(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}
