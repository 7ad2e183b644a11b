//! Messages come from the network: they are checked, never trusted.

use crate::membership::MEMBERS_MAX;
use crate::message::Message;
use crate::replica::Replica;
use crate::types::{Ballot, NodeId, Slot};

/// Why a peer's message was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The sender is this replica, or node 0.
    #[error("message from {0}, which is not a member")]
    UnknownSender(NodeId),
    /// A field no correct peer would send.
    #[error("impossible {kind} from {from}: {reason}")]
    Impossible {
        /// The sender.
        from: NodeId,
        /// The message's kind.
        kind: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Replica {
    pub(crate) fn validate_message(&self, from: NodeId, msg: &Message) -> Result<(), MessageError> {
        if from == self.config.id || from.0 == 0 {
            return Err(MessageError::UnknownSender(from));
        }
        let fail = |reason| {
            Err(MessageError::Impossible {
                from,
                kind: msg.kind(),
                reason,
            })
        };
        match self.check_fields(from, msg) {
            Ok(()) => Ok(()),
            Err(reason) => fail(reason),
        }
    }

    fn check_fields(&self, from: NodeId, msg: &Message) -> Result<(), &'static str> {
        match msg {
            Message::Prepare { ballot, from_slot } => {
                self.own_ballot(from, *ballot)?;
                positive(*from_slot)
            }
            Message::Promise {
                ballot,
                from_slot,
                log_start,
                votes,
                ..
            } => {
                self.own_ballot(self.config.id, *ballot)?;
                positive(*from_slot)?;
                positive(*log_start)?;
                let first = (*from_slot).max(*log_start);
                let ascending = votes.windows(2).all(|w| w[0].slot < w[1].slot);
                let in_range = votes.first().is_none_or(|v| v.slot >= first);
                check(ascending && in_range, "votes out of order or range")?;
                let ballots_ok = votes.iter().all(|v| self.is_member_ballot(v.entry.ballot));
                check(ballots_ok, "vote with a foreign ballot")
            }
            Message::Accept {
                ballot,
                first_slot,
                values,
                ..
            } => {
                self.own_ballot(from, *ballot)?;
                positive(*first_slot)?;
                self.count_ok(values.len() as u64)?;
                check(
                    first_slot.0.checked_add(values.len() as u64).is_some(),
                    "slot overflow",
                )
            }
            Message::Accepted {
                ballot,
                first_slot,
                count,
            } => {
                self.own_ballot(self.config.id, *ballot)?;
                positive(*first_slot)?;
                self.count_ok(*count)?;
                check(first_slot.0.checked_add(*count).is_some(), "slot overflow")
            }
            Message::Nack { ballot, promised } => {
                self.own_ballot(self.config.id, *ballot)?;
                check(self.is_member_ballot(*promised), "foreign ballot")?;
                check(promised > ballot, "NACK without a higher ballot")
            }
            Message::Heartbeat { ballot, .. } => self.own_ballot(from, *ballot),
            Message::HeartbeatAck { ballot, .. } => self.own_ballot(self.config.id, *ballot),
            Message::Recovered {
                ballot, amnesiacs, ..
            } => {
                check(self.is_member_ballot(*ballot), "foreign ballot")?;
                check(amnesiacs.len() <= MEMBERS_MAX, "too many amnesiacs")?;
                let ok = amnesiacs
                    .iter()
                    .all(|(node, disk)| *disk != 0 && node.0 != 0);
                check(ok, "amnesiac node 0, or disk 0")
            }
            Message::CatchUp { from_slot } => positive(*from_slot),
            Message::Progress { ballot, .. } => self.own_ballot(self.config.id, *ballot),
            Message::Learn {
                first_slot,
                entries,
            } => {
                positive(*first_slot)?;
                let count = entries.len();
                check(
                    count > 0 && count <= self.config.learn_slots_max,
                    "bad entry count",
                )?;
                check(
                    first_slot.0.checked_add(count as u64).is_some(),
                    "slot overflow",
                )
            }
        }
    }

    /// A ballot must belong to `owner` (B1: each proposer uses its own).
    fn own_ballot(&self, owner: NodeId, ballot: Ballot) -> Result<(), &'static str> {
        check(ballot.round > 0, "ballot round 0")?;
        check(ballot.node == owner, "ballot of another node")
    }

    /// A ballot some replica may own (a past member's is fine: it may have
    /// been removed since, §3.3.6).
    fn is_member_ballot(&self, ballot: Ballot) -> bool {
        ballot.round > 0 && ballot.node.0 != 0
    }

    /// Whether `node` belongs to a configuration known here. A replica not
    /// yet admitted (joining a running cluster) knows too little to refuse
    /// anyone but node 0.
    pub(crate) fn knows(&self, node: NodeId) -> bool {
        node.0 != 0 && (!self.admitted || self.memberships.knows(node))
    }

    fn count_ok(&self, count: u64) -> Result<(), &'static str> {
        let max = self.config.accept_values_max as u64;
        check(count > 0 && count <= max, "bad slot count")
    }
}

fn positive(slot: Slot) -> Result<(), &'static str> {
    check(slot.0 > 0, "slot 0")
}

fn check(ok: bool, reason: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(reason)
    }
}
