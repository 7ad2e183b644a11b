//! Messages between replicas (the messengers of the paper).

use crate::types::{Ballot, Entry, NodeId, Slot, Value};

/// One slot's vote as reported in a [`Message::Promise`] (the paper's
/// `LastVote` carries one per decree number ≥ n, §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The slot voted on.
    pub slot: Slot,
    /// The vote, with `chosen` set when the sender knows it is chosen.
    pub entry: Entry,
}

/// A message between two replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// §3.1 `NextBallot(b, n)`: phase 1a for every slot from `from_slot` on.
    Prepare {
        /// The ballot the sender wants to lead.
        ballot: Ballot,
        /// The first slot the sender does not know to be chosen.
        from_slot: Slot,
    },
    /// §3.1 `LastVote`: phase 1b, a promise not to vote in any ballot below
    /// `ballot`, with every vote the sender holds from `from_slot` on.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// Echo of the Prepare's `from_slot`.
        from_slot: Slot,
        /// The first slot the sender still holds: slots before it were
        /// folded into a snapshot (the law book, §3.3.2).
        log_start: Slot,
        /// The sender's commit point.
        commit: Slot,
        /// Votes for slots ≥ `max(from_slot, log_start)`, in slot order.
        votes: Vec<Vote>,
        /// Non-zero when the sender started from an empty disk and has not
        /// yet recovered: its votes may be incomplete, so this promise does
        /// not count toward a quorum unless every member answered. The
        /// number identifies the disk (a new one is drawn at every wipe).
        amnesia: u64,
    },
    /// §2.3 `BeginBallot`: phase 2a for the consecutive slots from
    /// `first_slot`, with the commit point piggybacked (§3.3.1).
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot of `values[0]`.
        first_slot: Slot,
        /// One decree per slot.
        values: Vec<Value>,
        /// Every slot up to here is chosen.
        commit: Slot,
    },
    /// §2.3 `Voted`: phase 2b for `count` slots from `first_slot`.
    Accepted {
        /// The ballot voted in.
        ballot: Ballot,
        /// The first slot voted on.
        first_slot: Slot,
        /// Number of consecutive slots voted on.
        count: u64,
    },
    /// A rejection: the sender has promised `promised`, above `ballot`.
    Nack {
        /// The ballot that was refused.
        ballot: Ballot,
        /// The higher ballot the sender has promised.
        promised: Ballot,
    },
    /// The leader is alive; every slot up to `commit` is chosen. `read_seq`
    /// numbers the heartbeat round that confirms pending reads.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's commit point.
        commit: Slot,
        /// Heartbeat round, echoed in the ack.
        read_seq: u64,
    },
    /// Answer to a heartbeat: the sender still follows `ballot`.
    HeartbeatAck {
        /// The ballot followed.
        ballot: Ballot,
        /// Echo of the heartbeat's round.
        read_seq: u64,
        /// Non-zero while the sender recovers from an empty disk: the
        /// disk's number, as in `Promise`.
        amnesia: u64,
    },
    /// A laggard asks for the chosen decrees from `from_slot` on.
    CatchUp {
        /// The first slot the sender lacks.
        from_slot: Slot,
    },
    /// §2.3 `Success`: chosen decrees for consecutive slots from
    /// `first_slot`.
    Learn {
        /// The slot of `values[0]`.
        first_slot: Slot,
        /// Chosen decrees (with the ballots of the votes they come from).
        entries: Vec<(Ballot, Value)>,
    },
    /// Every member promised `ballot`, the recovering ones from the disks
    /// numbered in `amnesiacs`; so every decree such a member may have voted
    /// for before it lost its disk is known to the leader of `ballot` and
    /// lies at or below `through`. Once it has learned the chosen decrees
    /// through `through`, it is whole again. Kept by every member, to vouch
    /// for a recovering member later (see `amnesia.rs`).
    Recovered {
        /// The ballot every member promised.
        ballot: Ballot,
        /// The last slot its leader re-proposed after phase 1.
        through: Slot,
        /// The recovering promisers and their disk numbers.
        amnesiacs: Vec<(NodeId, u64)>,
    },
    /// A learner's answer to a heartbeat: how far it has learned, so the
    /// leader promotes it to voter only once it caught up (§3.3.6).
    Progress {
        /// The heartbeat's ballot.
        ballot: Ballot,
        /// The learner's commit point.
        commit: Slot,
    },
}

impl Message {
    /// The message's name, for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "Prepare",
            Message::Promise { .. } => "Promise",
            Message::Accept { .. } => "Accept",
            Message::Accepted { .. } => "Accepted",
            Message::Nack { .. } => "Nack",
            Message::Heartbeat { .. } => "Heartbeat",
            Message::HeartbeatAck { .. } => "HeartbeatAck",
            Message::CatchUp { .. } => "CatchUp",
            Message::Learn { .. } => "Learn",
            Message::Recovered { .. } => "Recovered",
            Message::Progress { .. } => "Progress",
        }
    }
}
