//! The recorded history: what each client asked for, when, and what it was
//! told.
//!
//! A history is a list of [`Operation`]s. Each one has an invocation time and
//! either a return (a [`Ret`] at a return time) or an [`Outcome::Unknown`]: the
//! client timed out or lost its connection, so the operation may have taken
//! effect at any moment after its invocation, or never.

use std::fmt;

/// A client of the service. Only used to describe operations in reports: the
/// checker does not require a client's operations to be sequential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// A moment of the recording, in whatever unit the recorder uses (simulator
/// ticks, nanoseconds since the start of a run).
///
/// Operation `a` precedes operation `b` in real time iff `a` returned strictly
/// before `b` was invoked; equal times are treated as concurrent, which can
/// only make the checker more permissive, never report a false violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

/// The position of an operation in its [`History`], as returned by
/// [`History::push`] and [`History::invoke`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// What a client asked of one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op<V> {
    /// Read the key's value.
    Read,
    /// Set the key's value.
    Write(V),
    /// Compare-and-swap: set the value to `new` iff the current value equals
    /// `expect`, where `None` means "the key is absent".
    Cas {
        /// The value the key must hold (`None`: must be absent) for the swap.
        expect: Option<V>,
        /// The value the key holds after a successful swap.
        new: V,
    },
    /// Remove the key.
    Delete,
}

/// What the service answered; each variant answers the [`Op`] of the same
/// name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret<V> {
    /// The value read, `None` if the key was absent.
    Read(Option<V>),
    /// The write took effect.
    Written,
    /// Whether the compare-and-swap swapped. A `false` changed nothing.
    Cas(bool),
    /// The delete took effect.
    Deleted,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome<V> {
    /// The client received `ret` at `time`.
    Returned {
        /// The answer.
        ret: Ret<V>,
        /// When the client received it.
        time: Time,
    },
    /// The client never learned the outcome (time-out, lost connection, crash
    /// of the client): the operation may have taken effect at any time after
    /// its invocation, or not at all. Its return is "infinitely late".
    Unknown,
}

/// One operation of one client on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operation<K, V> {
    /// Who issued it.
    pub client: ClientId,
    /// The key it touched.
    pub key: K,
    /// What was asked.
    pub op: Op<V>,
    /// When the client sent it.
    pub invoke: Time,
    /// How it ended.
    pub outcome: Outcome<V>,
}

impl<K, V> Operation<K, V> {
    /// The time the client received the answer; `None` if it never did.
    pub fn return_time(&self) -> Option<Time> {
        match self.outcome {
            Outcome::Returned { time, .. } => Some(time),
            Outcome::Unknown => None,
        }
    }
}

/// Why an operation could not be added to a [`History`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// [`History::complete`] named an operation that was never invoked.
    NoSuchOperation(OpId),
    /// [`History::complete`] named an operation that already returned.
    AlreadyReturned(OpId),
    /// The answer is of another kind than the request (say, `Written` for a
    /// `Read`).
    ReturnDoesNotMatchOp {
        /// The operation.
        id: OpId,
        /// The kind of request, e.g. `"read"`.
        op: &'static str,
        /// The kind of answer, e.g. `"written"`.
        ret: &'static str,
    },
    /// The answer arrived before the request was sent.
    ReturnBeforeInvoke {
        /// The operation.
        id: OpId,
        /// Its invocation time.
        invoke: Time,
        /// Its return time.
        ret: Time,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchOperation(id) => write!(f, "operation #{} was never invoked", id.0),
            Self::AlreadyReturned(id) => write!(f, "operation #{} already returned", id.0),
            Self::ReturnDoesNotMatchOp { id, op, ret } => {
                write!(f, "operation #{}: a {op} cannot return {ret}", id.0)
            }
            Self::ReturnBeforeInvoke { id, invoke, ret } => write!(
                f,
                "operation #{}: returned at {} before its invocation at {}",
                id.0, ret.0, invoke.0
            ),
        }
    }
}

impl std::error::Error for HistoryError {}

/// The operations of all clients on all keys, in the order they were added.
///
/// Two ways to fill it: [`push`](Self::push) a finished operation, or
/// [`invoke`](Self::invoke) then [`complete`](Self::complete) as the events
/// happen; an invoked operation never completed has an unknown outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<K, V> {
    operations: Vec<Operation<K, V>>,
}

impl<K, V> Default for History<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> History<K, V> {
    /// An empty history.
    pub fn new() -> Self {
        Self {
            operations: Vec::new(),
        }
    }

    /// Adds a finished operation (or one whose outcome is unknown).
    pub fn push(&mut self, operation: Operation<K, V>) -> Result<OpId, HistoryError> {
        let id = OpId(self.operations.len());
        if let Outcome::Returned { ret, time } = &operation.outcome {
            validate_return(id, &operation, ret, *time)?;
        }
        self.operations.push(operation);
        Ok(id)
    }

    /// Records that `client` sent `op` on `key` at `time`. Until
    /// [`complete`](Self::complete)d, its outcome is unknown.
    pub fn invoke(&mut self, client: ClientId, key: K, op: Op<V>, time: Time) -> OpId {
        let id = OpId(self.operations.len());
        self.operations.push(Operation {
            client,
            key,
            op,
            invoke: time,
            outcome: Outcome::Unknown,
        });
        id
    }

    /// Records that operation `id` returned `ret` at `time`.
    pub fn complete(&mut self, id: OpId, ret: Ret<V>, time: Time) -> Result<(), HistoryError> {
        let operation = self
            .operations
            .get_mut(id.0)
            .ok_or(HistoryError::NoSuchOperation(id))?;
        if !matches!(operation.outcome, Outcome::Unknown) {
            return Err(HistoryError::AlreadyReturned(id));
        }
        validate_return(id, operation, &ret, time)?;
        operation.outcome = Outcome::Returned { ret, time };
        Ok(())
    }

    /// All operations, indexed by [`OpId`].
    pub fn operations(&self) -> &[Operation<K, V>] {
        &self.operations
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// Whether no operation was recorded.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

/// Checks that `ret` answers `operation`'s request and comes after it.
fn validate_return<K, V>(
    id: OpId,
    operation: &Operation<K, V>,
    ret: &Ret<V>,
    time: Time,
) -> Result<(), HistoryError> {
    let matches = matches!(
        (&operation.op, ret),
        (Op::Read, Ret::Read(_))
            | (Op::Write(_), Ret::Written)
            | (Op::Cas { .. }, Ret::Cas(_))
            | (Op::Delete, Ret::Deleted)
    );
    if !matches {
        return Err(HistoryError::ReturnDoesNotMatchOp {
            id,
            op: op_kind(&operation.op),
            ret: ret_kind(ret),
        });
    }
    if time < operation.invoke {
        return Err(HistoryError::ReturnBeforeInvoke {
            id,
            invoke: operation.invoke,
            ret: time,
        });
    }
    Ok(())
}

fn op_kind<V>(op: &Op<V>) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Write(_) => "write",
        Op::Cas { .. } => "cas",
        Op::Delete => "delete",
    }
}

fn ret_kind<V>(ret: &Ret<V>) -> &'static str {
    match ret {
        Ret::Read(_) => "read",
        Ret::Written => "written",
        Ret::Cas(_) => "cas",
        Ret::Deleted => "deleted",
    }
}

impl<V: fmt::Debug> fmt::Display for Op<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read => write!(f, "read"),
            Op::Write(value) => write!(f, "write({value:?})"),
            Op::Cas { expect, new } => write!(f, "cas({expect:?} -> {new:?})"),
            Op::Delete => write!(f, "delete"),
        }
    }
}

impl<V: fmt::Debug> fmt::Display for Ret<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Read(value) => write!(f, "{value:?}"),
            Ret::Written => write!(f, "written"),
            Ret::Cas(true) => write!(f, "swapped"),
            Ret::Cas(false) => write!(f, "not swapped"),
            Ret::Deleted => write!(f, "deleted"),
        }
    }
}

/// `client 1 key "a": write(5) [10, 14] -> written`, or
/// `... [10, ?] -> unknown` for an unknown outcome.
impl<K: fmt::Debug, V: fmt::Debug> fmt::Display for Operation<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} key {:?}: {} [{}, ",
            self.client.0, self.key, self.op, self.invoke.0
        )?;
        match &self.outcome {
            Outcome::Returned { ret, time } => write!(f, "{}] -> {ret}", time.0),
            Outcome::Unknown => write!(f, "?] -> unknown"),
        }
    }
}
