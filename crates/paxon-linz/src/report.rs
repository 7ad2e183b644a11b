//! The verdict of a check and the description of a violation.

use std::fmt;

use crate::history::{OpId, Operation};

/// At most this many operations of each list are printed by [`Violation`]'s
/// `Display`: the latest of the linearized prefix, the first of the others.
pub const OPS_SHOWN_MAX: usize = 10;

/// The verdict of [`check`](crate::check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult<K, V> {
    /// Every key's operations can be linearized.
    Linearizable {
        /// Entries examined by the search, over all keys: a measure of the
        /// work done, stable from run to run.
        steps: u64,
    },
    /// Some key's operations cannot be linearized; the first such key, in
    /// key order.
    NotLinearizable(Box<Violation<K, V>>),
    /// No key is known to be non-linearizable, but the search of `key` (the
    /// first such, in key order) ran out of steps.
    GaveUp {
        /// The key whose search was abandoned.
        key: K,
        /// The budget it exhausted ([`Config::steps_per_key_max`](crate::Config)).
        steps_per_key_max: u64,
    },
}

impl<K, V> CheckResult<K, V> {
    /// Whether the verdict is [`CheckResult::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, CheckResult::Linearizable { .. })
    }
}

/// An operation with its position in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedOp<K, V> {
    /// Its index in [`History::operations`](crate::History::operations).
    pub id: OpId,
    /// The operation.
    pub operation: Operation<K, V>,
}

/// Why one key's operations cannot be linearized, at the first deepest
/// point the search reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation<K, V> {
    /// The key.
    pub key: K,
    /// How many of the key's operations have a known outcome: all of them
    /// must be linearized.
    pub completed_count: usize,
    /// The first legal linearization found of the most operations with a
    /// known outcome, in linearization order. It may include operations with
    /// an unknown outcome.
    pub linearized: Vec<RecordedOp<K, V>>,
    /// The key's value after `linearized`; `None` if absent.
    pub value: Option<V>,
    /// Pending operations that had to take effect before their return and
    /// cannot: the first to return, when nothing that could come next is
    /// legal; or, in invocation order, every pending operation that needs a
    /// value the key does not hold and no pending operation can write any
    /// more (say, a read of an overwritten value).
    pub blocked: Vec<RecordedOp<K, V>>,
    /// The operations that could come next in real time, in invocation
    /// order; none leads to a linearization.
    pub candidates: Vec<RecordedOp<K, V>>,
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Display for RecordedOp<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.id.0, self.operation)
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Display for Violation<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.linearized.len().min(OPS_SHOWN_MAX);
        let covered = (self.linearized.iter())
            .filter(|op| op.operation.return_time().is_some())
            .count();
        write!(
            f,
            "key {:?} is not linearizable: the longest linearization found covers {covered} \
             of its {} completed operations",
            self.key, self.completed_count
        )?;
        if shown < self.linearized.len() {
            write!(f, " (the last {shown} shown)")?;
        }
        write!(f, ", leaving the value {:?}:", self.value)?;
        write_ops(f, &self.linearized[self.linearized.len() - shown..])?;
        write!(
            f,
            "\nthen these must take effect before they return, and cannot:"
        )?;
        write_ops(f, &self.blocked)?;
        write!(
            f,
            "\ncandidates for the next step, none leading to a linearization:"
        )?;
        write_ops(f, &self.candidates)
    }
}

/// Writes the first [`OPS_SHOWN_MAX`] of `ops`, each on a new line, then how
/// many were left out.
fn write_ops<K: fmt::Debug, V: fmt::Debug>(
    f: &mut fmt::Formatter<'_>,
    ops: &[RecordedOp<K, V>],
) -> fmt::Result {
    for op in ops.iter().take(OPS_SHOWN_MAX) {
        write!(f, "\n  {op}")?;
    }
    if ops.len() > OPS_SHOWN_MAX {
        write!(f, "\n  ... and {} more", ops.len() - OPS_SHOWN_MAX)?;
    }
    Ok(())
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Display for CheckResult<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Linearizable { steps } => write!(f, "linearizable ({steps} steps)"),
            CheckResult::NotLinearizable(violation) => write!(f, "{violation}"),
            CheckResult::GaveUp {
                key,
                steps_per_key_max,
            } => write!(
                f,
                "gave up on key {key:?} after {steps_per_key_max} steps: neither \
                 linearizable nor a violation found"
            ),
        }
    }
}
