//! Linearizable reads without a ledger write: the read index. The leader
//! notes its commit point when a read arrives, confirms with one heartbeat
//! round that no higher ballot has a majority, and lets the read be served
//! once that point is applied.

use std::collections::{BTreeMap, VecDeque};

use crate::action::Action;
use crate::election::Role;
use crate::message::Message;
use crate::planted::PlantedBug;
use crate::replica::Replica;
use crate::types::{Ballot, NodeId, ReadId, Slot};

/// Reads in their stages.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Arrived before the leader committed its phase-1 re-proposals.
    not_ready: Vec<ReadId>,
    /// Need a heartbeat round that starts after they arrived.
    waiting_round: Vec<(ReadId, Slot)>,
    /// Waiting for the round `seq` to be acknowledged by a majority.
    pending: VecDeque<(ReadId, Slot, u64)>,
    /// Confirmed, waiting for `applied` to reach their index.
    confirmed: VecDeque<(ReadId, Slot)>,
    /// Heartbeat rounds started.
    next_seq: u64,
    /// Highest round each peer acknowledged at our ballot.
    acked_seq: BTreeMap<NodeId, u64>,
}

impl Replica {
    pub(crate) fn queue_read(&mut self, id: ReadId) {
        let Role::Leader(leadership) = &self.role else {
            unreachable!("checked by read_index");
        };
        if self.config.planted(PlantedBug::ReadWithoutReadIndex) {
            self.reads.confirmed.push_back((id, self.commit));
            self.release_reads();
        } else if self.commit < leadership.recovery_end {
            self.reads.not_ready.push(id);
        } else {
            self.reads.waiting_round.push((id, self.commit));
        }
    }

    /// Starts a heartbeat round if reads wait for one (called from `poll`,
    /// so all reads of one step share a round).
    pub(crate) fn start_read_round(&mut self) {
        if self.is_leader() && !self.reads.waiting_round.is_empty() {
            self.send_heartbeat_round();
        }
    }

    /// Sends a heartbeat to every peer; it doubles as a read round.
    pub(crate) fn send_heartbeat_round(&mut self) {
        let now = self.now_ticks;
        let commit = self.announced_commit();
        let Role::Leader(leadership) = &mut self.role else {
            unreachable!("only a leader sends heartbeats");
        };
        leadership.last_heartbeat_ticks = now;
        leadership.commit_told = commit;
        let ballot = leadership.ballot;
        let reads = &mut self.reads;
        reads.next_seq += 1;
        let read_seq = reads.next_seq;
        for (id, index) in reads.waiting_round.drain(..) {
            reads.pending.push_back((id, index, read_seq));
        }
        self.broadcast(Message::Heartbeat {
            ballot,
            commit,
            read_seq,
        });
        self.confirm_reads();
    }

    /// A peer still follows `ballot` after heartbeat round `read_seq`.
    pub(crate) fn handle_heartbeat_ack(&mut self, from: NodeId, ballot: Ballot, read_seq: u64) {
        let now = self.now_ticks;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.ballot != ballot {
            return;
        }
        leadership.heard_ticks.insert(from, now);
        let acked = self.reads.acked_seq.entry(from).or_default();
        *acked = (*acked).max(read_seq);
        self.confirm_reads();
    }

    /// Rounds acknowledged by a quorum of every configuration in the window
    /// confirm the reads that waited for them.
    fn confirm_reads(&mut self) {
        let me = self.config.id;
        let minority = self.config.planted(PlantedBug::MinorityQuorum);
        let seq_of = |n: &NodeId| match n {
            n if *n == me => self.reads.next_seq,
            n => self.reads.acked_seq.get(n).copied().unwrap_or(0),
        };
        let mut majority_seq = u64::MAX;
        for membership in self.window() {
            let mut seqs: Vec<u64> = membership.voters().iter().map(seq_of).collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            majority_seq = majority_seq.min(seqs[membership.quorum(minority) - 1]);
        }
        let reads = &mut self.reads;
        while let Some((id, index, seq)) = reads.pending.front().copied() {
            if seq > majority_seq {
                break;
            }
            reads.pending.pop_front();
            reads.confirmed.push_back((id, index));
        }
        self.release_reads();
    }

    /// Hands out confirmed reads whose index is applied.
    fn release_reads(&mut self) {
        while let Some((id, slot)) = self.reads.confirmed.front().copied() {
            if slot > self.applied {
                break;
            }
            self.reads.confirmed.pop_front();
            self.outbox.push_back(Action::ReadReady { id, slot });
        }
    }

    /// The commit point moved: reads held back for phase 1 may proceed.
    pub(crate) fn reads_after_commit(&mut self) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        if self.commit >= leadership.recovery_end && !self.reads.not_ready.is_empty() {
            let commit = self.commit;
            let ready = self.reads.not_ready.drain(..).map(|id| (id, commit));
            self.reads.waiting_round.extend(ready);
        }
        self.release_reads();
    }

    /// Leadership is gone: unconfirmed reads fail; confirmed ones stay valid
    /// and are released as they apply.
    pub(crate) fn fail_reads(&mut self, leader: Option<NodeId>) {
        let reads = &mut self.reads;
        let failed: Vec<ReadId> = reads
            .not_ready
            .drain(..)
            .chain(reads.waiting_round.drain(..).map(|(id, _)| id))
            .chain(reads.pending.drain(..).map(|(id, _, _)| id))
            .collect();
        reads.acked_seq.clear();
        for id in failed {
            self.outbox.push_back(Action::ReadFailed { id, leader });
        }
    }
}
