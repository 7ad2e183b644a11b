//! Identifiers and values of the parliament: priests, decree numbers,
//! ballot numbers and the decrees themselves.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// A replica (a *priest* of the paper). Zero is never a valid id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A position in the ledger (a *decree number*). Slot 0 is never used for a
/// decree: it stands for "before the first decree", so `Slot(0)` is the
/// commit point of an empty ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Slot(pub u64);

impl Slot {
    /// The slot that follows this one.
    pub fn next(self) -> Slot {
        Slot(self.0.checked_add(1).expect("slot overflow"))
    }

    /// The slot before this one (saturating at zero).
    pub fn prev(self) -> Slot {
        Slot(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A ballot number (§2.2, B1). Ballots are totally ordered by
/// `(round, node)`; a proposer only ever uses ballots carrying its own
/// `node`, so no two proposers share a ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ballot {
    /// Increases with every new attempt to lead.
    pub round: u64,
    /// The proposer that owns this ballot.
    pub node: NodeId,
}

impl Ballot {
    /// The ballot below every real ballot: "promised nothing yet".
    pub const ZERO: Ballot = Ballot {
        round: 0,
        node: NodeId(0),
    };

    /// A ballot of `node` at `round`.
    pub fn new(round: u64, node: NodeId) -> Ballot {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}.{}", self.round, self.node.0)
    }
}

/// A decree: what one slot of the ledger holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An olive-day decree (§3.1): fills a gap a new leader found, changes
    /// nothing.
    Noop,
    /// A batch of client commands, opaque to the core, applied in order.
    Batch(Batch),
    /// §3.3.6: the parliament changes. Chosen in slot `i`, the new
    /// configuration governs every slot from `i + α` on (`membership.rs`).
    Reconfigure(crate::membership::Membership),
}

impl Value {
    /// Bytes of client payload carried (0 for `Noop` and `Reconfigure`).
    pub fn payload_bytes(&self) -> usize {
        match self {
            Value::Noop | Value::Reconfigure(_) => 0,
            Value::Batch(batch) => batch.payload_bytes(),
        }
    }
}

/// An immutable, cheaply cloned batch of client commands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Batch(Arc<[Bytes]>);

impl Batch {
    /// A batch holding `commands` in order. A batch is never empty.
    pub fn new(commands: Vec<Bytes>) -> Batch {
        assert!(!commands.is_empty(), "a batch holds at least one command");
        Batch(commands.into())
    }

    /// The commands, in the order they are applied.
    pub fn commands(&self) -> &[Bytes] {
        &self.0
    }

    /// Total bytes of the commands.
    pub fn payload_bytes(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

/// An acceptor's vote for one slot (the paper's `prevVote`), or, when
/// `chosen`, a decree the replica knows to be chosen (written in its ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The ballot at which the vote was cast (for a learned chosen value,
    /// the ballot of the vote it was learned from).
    pub ballot: Ballot,
    /// The decree voted for.
    pub value: Value,
    /// Whether this replica knows the decree is chosen.
    pub chosen: bool,
}

/// Identifies a linearizable read request of the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadId(pub u64);

/// Identifies a `Persist` action; acknowledged with
/// [`crate::Replica::handle_persisted`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PersistToken(pub u64);
