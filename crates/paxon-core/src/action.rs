//! What a replica asks its driver to do.

use bytes::Bytes;

use crate::message::Message;
use crate::record::Record;
use crate::types::{Ballot, NodeId, PersistToken, ReadId, Slot, Value};

/// An output of the replica, drained with [`crate::Replica::poll`] and
/// carried out by the driver in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Append `records` to the ledger and make them durable, then call
    /// [`crate::Replica::handle_persisted`] with `token`. Tokens increase;
    /// acknowledging a token acknowledges every earlier one.
    Persist {
        /// Names this batch of records.
        token: PersistToken,
        /// Records to append, in order.
        records: Vec<Record>,
    },
    /// Send `msg` to `to`. Anything that reveals a promise or a vote is only
    /// emitted after the records it depends on were acknowledged.
    Send {
        /// Destination replica.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// Apply the chosen decree of `slot` to the state machine. Slots arrive
    /// in order, each exactly once per incarnation (after a restart,
    /// application resumes after the snapshot).
    Apply {
        /// The slot.
        slot: Slot,
        /// The chosen decree.
        value: Value,
    },
    /// The linearizable read `id` may be served from the state machine now:
    /// every decree up to `slot` has been applied (§ read index).
    ReadReady {
        /// The read.
        id: ReadId,
        /// The read index.
        slot: Slot,
    },
    /// The read `id` cannot be confirmed here: leadership was lost.
    ReadFailed {
        /// The read.
        id: ReadId,
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// Commands that were proposed here but never given a slot (leadership
    /// was lost first); they will never be chosen through this replica.
    ProposalsDropped {
        /// The commands, in proposal order.
        commands: Vec<Bytes>,
    },
    /// `to` needs decrees this replica has folded into its snapshot: send it
    /// the snapshot (the law book, §3.3.2), taken at or after
    /// `snapshot_slot`.
    SnapshotNeeded {
        /// The laggard.
        to: NodeId,
        /// This replica's latest snapshot slot.
        snapshot_slot: Slot,
    },
    /// The configuration governing the slots after `at` leaves this
    /// replica out (§3.3.6): it has learned every decree that needed its
    /// vote, stepped down, and ignores every input from now on. The driver
    /// should stop it.
    Removed {
        /// The replica's commit point.
        at: Slot,
    },
    /// The leader this replica knows of changed.
    LeaderChanged {
        /// The new leader, or `None` while an election runs.
        leader: Option<NodeId>,
        /// The ballot of that leader (or the highest promised).
        ballot: Ballot,
    },
}
