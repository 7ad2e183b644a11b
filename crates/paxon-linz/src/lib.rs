//! A linearizability checker for key-value histories.
//!
//! Clients of a key-value service record what they asked and what they were
//! told in a [`History`]; [`check`] decides whether some sequential order of
//! the operations, consistent with real time, explains every answer
//! (Herlihy & Wing, "Linearizability", 1990).
//!
//! # Model
//!
//! Each key is an independent register, initially absent:
//!
//! | [`Op`]                  | legal when        | effect            | [`Ret`]            |
//! |-------------------------|-------------------|-------------------|--------------------|
//! | `Read`                  | always            | none              | `Read(value)`      |
//! | `Write(v)`              | always            | value := `v`      | `Written`          |
//! | `Cas { expect, new }`   | always            | if value = expect: value := new | `Cas(swapped)` |
//! | `Delete`                | always            | value := absent   | `Deleted`          |
//!
//! `expect: None` means "the key is absent". An operation whose outcome is
//! [`Outcome::Unknown`] (the client timed out) may take effect at any time
//! after its invocation, or never: it is never required to be linearized.
//!
//! Real time: operation `a` precedes `b` iff `a`'s return time is strictly
//! less than `b`'s invocation time ([`Time`]).
//!
//! # Algorithm
//!
//! Linearizability is local (Herlihy & Wing), so each key is checked on its
//! own (Horn & Kroening's P-compositionality, 2015), in key order. Each key
//! gets Wing & Gong's depth-first search over its time-ordered call and
//! return entries, memoising (linearized set, register value) exactly, as
//! Lowe and Porcupine do. Prunings that never lose a linearization keep it
//! near-linear on the histories a simulator produces: a node where a pending
//! read needs a value that nothing pending can write any more is a dead end
//! at once; legal reads are taken without branching; unknown outcomes are
//! tried last, and only when they let a pending read or swap proceed. The
//! search of a key stops after [`Config::steps_per_key_max`] steps.
//!
//! On a violation, the search runs once more to its first deepest dead end
//! and reports it as a [`Violation`]: the longest linearization found, the
//! value it leaves, and the operations that cannot take effect after it.
//!
//! # Example
//!
//! ```
//! use paxon_linz::{check, ClientId, History, Op, Ret, Time};
//!
//! let mut history: History<&str, u64> = History::new();
//! let write = history.invoke(ClientId(1), "x", Op::Write(1), Time(0));
//! history.complete(write, Ret::Written, Time(2)).unwrap();
//! // A read that starts after the write returned must see it.
//! let read = history.invoke(ClientId(2), "x", Op::Read, Time(3));
//! history.complete(read, Ret::Read(None), Time(4)).unwrap();
//! let result = check(&history);
//! assert!(!result.is_linearizable());
//! println!("{result}");
//! ```
#![deny(missing_docs)]

mod entries;
mod history;
mod memo;
mod register;
mod report;
mod search;
mod supply;

use std::collections::BTreeMap;
use std::hash::Hash;

pub use history::{ClientId, History, HistoryError, Op, OpId, Operation, Outcome, Ret, Time};
pub use report::{CheckResult, RecordedOp, Violation, OPS_SHOWN_MAX};

use register::KeyHistory;
use search::{KeyVerdict, Stuck};

/// Limits of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The search of one key gives up after examining this many entries.
    /// Histories from a simulator with about ten clients per key need 5 to
    /// 30 steps per operation; a step takes tens of nanoseconds and stores
    /// at most one memo entry of about 50 bytes.
    pub steps_per_key_max: u64,
}

impl Config {
    /// The default budget: about a second of search and at most a few
    /// hundred megabytes of memo per key (80 MB measured when a 5,000-operation
    /// history of 32 clients exhausts it).
    pub const STEPS_PER_KEY_MAX_DEFAULT: u64 = 10_000_000;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            steps_per_key_max: Self::STEPS_PER_KEY_MAX_DEFAULT,
        }
    }
}

/// Checks `history` with the default [`Config`].
pub fn check<K, V>(history: &History<K, V>) -> CheckResult<K, V>
where
    K: Ord + Clone,
    V: Eq + Hash + Clone,
{
    check_with(history, &Config::default())
}

/// Checks `history` key by key, in key order. A key found not linearizable
/// ends the check; a key whose search gives up does not, since a later key
/// may still be found not linearizable, which takes precedence.
pub fn check_with<K, V>(history: &History<K, V>, config: &Config) -> CheckResult<K, V>
where
    K: Ord + Clone,
    V: Eq + Hash + Clone,
{
    let operations = history.operations();
    let mut by_key: BTreeMap<&K, Vec<OpId>> = BTreeMap::new();
    for (index, operation) in operations.iter().enumerate() {
        by_key.entry(&operation.key).or_default().push(OpId(index));
    }
    let mut steps = 0;
    let mut gave_up = None;
    for (key, ids) in by_key {
        let key_history = KeyHistory::new(operations, &ids);
        match search::search(&key_history, config.steps_per_key_max) {
            KeyVerdict::Linearizable { steps: key_steps } => steps += key_steps,
            KeyVerdict::GaveUp => {
                gave_up.get_or_insert_with(|| key.clone());
            }
            KeyVerdict::NotLinearizable { stuck } => {
                let violation = describe(operations, key, &key_history, stuck);
                return CheckResult::NotLinearizable(Box::new(violation));
            }
        }
    }
    match gave_up {
        Some(key) => CheckResult::GaveUp {
            key,
            steps_per_key_max: config.steps_per_key_max,
        },
        None => CheckResult::Linearizable { steps },
    }
}

/// Turns the search's dead end into operations of the history.
fn describe<K: Clone, V: Clone>(
    operations: &[Operation<K, V>],
    key: &K,
    key_history: &KeyHistory<'_, V>,
    stuck: Stuck,
) -> Violation<K, V> {
    let recorded = |index: usize| {
        let id = key_history.ops[index].id;
        RecordedOp {
            id,
            operation: operations[id.0].clone(),
        }
    };
    Violation {
        key: key.clone(),
        completed_count: key_history.known_count as usize,
        linearized: stuck.linearized.into_iter().map(recorded).collect(),
        value: key_history.value(stuck.state).cloned(),
        blocked: stuck.blocked.into_iter().map(recorded).collect(),
        candidates: stuck.candidates.into_iter().map(recorded).collect(),
    }
}
