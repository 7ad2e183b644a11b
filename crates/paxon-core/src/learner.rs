//! The learner (§2.3 `Success`, §3.3.2): finding out which decrees are
//! chosen, applying them strictly in slot order, catching up from peers and
//! from the law book (snapshots).

use crate::action::Action;
use crate::election::Role;
use crate::membership::Memberships;
use crate::message::Message;
use crate::planted::PlantedBug;
use crate::record::Record;
use crate::replica::Replica;
use crate::types::{Ballot, Entry, NodeId, Slot, Value};

impl Replica {
    /// The leader of `ballot` says every slot up to `leader_commit` is
    /// chosen. Our vote in such a slot is the chosen decree when it was cast
    /// in that same ballot (a leader proposes one decree per slot per
    /// ballot); other slots must be learned from a peer.
    pub(crate) fn follow_commit(&mut self, leader: NodeId, ballot: Ballot, leader_commit: Slot) {
        self.leader_commit = self.leader_commit.max(leader_commit);
        let mut slot = self.commit.next();
        let skip_holes = self.config.planted(PlantedBug::SkipSlot);
        while slot <= leader_commit {
            match self.log.get_mut(slot) {
                Some(entry) if entry.chosen || entry.ballot == ballot => entry.chosen = true,
                _ if skip_holes => {}
                _ => break,
            }
            slot = slot.next();
        }
        self.advance_commit_locally();
        if self.leader_commit > self.commit {
            self.request_catch_up(leader);
        }
    }

    /// Moves the commit point over every consecutive chosen entry, records
    /// it, and hands the new decrees out for application.
    pub(crate) fn advance_commit_locally(&mut self) {
        let before = self.commit;
        if self.config.planted(PlantedBug::SkipSlot) {
            self.skip_hole();
        }
        while self.log.get(self.commit.next()).is_some_and(|e| e.chosen) {
            self.commit = self.commit.next();
        }
        if self.commit == before {
            return;
        }
        assert!(self.commit > before, "the commit point never moves back");
        self.leader_commit = self.leader_commit.max(self.commit);
        self.stage(Record::Commit { slot: self.commit });
        self.maybe_recovered();
        self.after_commit_advanced();
    }

    /// Planted bug 6: takes a slot it has no chosen decree for, followed by
    /// a chosen one, for a `Noop` instead of waiting to learn it.
    fn skip_hole(&mut self) {
        let hole = self.commit.next();
        let after = self.log.get(hole.next()).is_some_and(|e| e.chosen);
        if !self.log.get(hole).is_some_and(|e| e.chosen) && after {
            let noop = Entry {
                ballot: self.promised,
                value: Value::Noop,
                chosen: true,
            };
            self.log.set(hole, noop);
        }
    }

    /// Applies newly committed decrees, then lets a leader retire settled
    /// slots and serve reads.
    pub(crate) fn after_commit_advanced(&mut self) {
        while self.applied < self.commit {
            let slot = self.applied.next();
            let entry = self.log.get(slot).expect("committed slots are in the log");
            assert!(entry.chosen, "applying {slot} which is not chosen");
            let value = entry.value.clone();
            self.applied = slot;
            if let Value::Reconfigure(membership) = &value {
                self.apply_reconfigure(slot, membership);
            }
            self.outbox.push_back(Action::Apply { slot, value });
        }
        let commit = self.commit;
        if let Role::Leader(leadership) = &mut self.role {
            leadership.inflight = leadership.inflight.split_off(&commit.next());
            // Decrees learned from a peer may overtake phase 1's
            // re-proposals still waiting for the window.
            leadership.recovered = leadership.recovered.split_off(&commit.next());
            leadership.next_slot = leadership.next_slot.max(commit.next());
        }
        self.reads_after_commit();
        self.after_membership_change();
    }

    /// Asks `peer` for the chosen decrees we lack, at most once per
    /// heartbeat interval.
    pub(crate) fn request_catch_up(&mut self, peer: NodeId) {
        if self.now_ticks < self.catch_up_not_before || peer == self.config.id {
            return;
        }
        self.catch_up_not_before = self.now_ticks + self.config.heartbeat_interval_ticks;
        let from_slot = self.commit.next();
        self.send(peer, Message::CatchUp { from_slot });
    }

    /// A laggard asks for chosen decrees from `from_slot`: send what we
    /// know, or ask the driver to ship our snapshot when we folded them away.
    /// An asker that knows more than we do (its `from_slot` is past our
    /// commit point) is asked in turn.
    pub(crate) fn handle_catch_up(&mut self, from: NodeId, from_slot: Slot) {
        if from_slot.prev() > self.commit {
            self.leader_commit = self.leader_commit.max(from_slot.prev());
            self.request_catch_up(from);
            return;
        }
        if from_slot <= self.log.snapshot() {
            let snapshot_slot = self.log.snapshot();
            self.outbox.push_back(Action::SnapshotNeeded {
                to: from,
                snapshot_slot,
            });
            return;
        }
        let mut entries = Vec::new();
        let mut slot = from_slot;
        while entries.len() < self.config.learn_slots_max {
            match self.log.get(slot) {
                Some(entry) if entry.chosen => entries.push((entry.ballot, entry.value.clone())),
                _ => break,
            }
            slot = slot.next();
        }
        if !entries.is_empty() {
            let first_slot = from_slot;
            self.send(
                from,
                Message::Learn {
                    first_slot,
                    entries,
                },
            );
        }
    }

    /// §2.3 `Success`: chosen decrees from a peer. Written to the ledger as
    /// chosen, then applied in order; ask for more while behind.
    pub(crate) fn handle_learn(
        &mut self,
        from: NodeId,
        first_slot: Slot,
        entries: Vec<(Ballot, Value)>,
    ) {
        for (i, (ballot, value)) in entries.into_iter().enumerate() {
            let slot = Slot(first_slot.0 + i as u64);
            if slot <= self.log.snapshot() || self.log.get(slot).is_some_and(|e| e.chosen) {
                continue;
            }
            self.stage(Record::Chosen {
                slot,
                ballot,
                value: value.clone(),
            });
            let chosen = Entry {
                ballot,
                value,
                chosen: true,
            };
            self.log.set(slot, chosen);
        }
        self.advance_commit_locally();
        if self.leader_commit > self.commit {
            self.catch_up_not_before = 0;
            self.request_catch_up(from);
        }
    }

    /// The driver is saving a snapshot of the state machine through `slot`
    /// (≤ `applied`): the votes up to it may go (§3.3.2). The driver must
    /// store [`Replica::snapshot_records`] (taken after this call) inside
    /// the snapshot: the snapshot, not the ledger, records the trim, so a
    /// snapshot found damaged on restart leaves a log that still replays.
    pub fn compact(&mut self, slot: Slot) {
        assert!(slot <= self.applied, "snapshot at {slot} beyond applied");
        if slot <= self.log.snapshot() {
            return;
        }
        self.log.trim_through(slot);
        self.memberships.trim_through(slot);
    }

    /// The durable state of this replica as records, for the driver to
    /// store inside a snapshot: replaying them (then any later ledger
    /// records) gives back promise, votes and commit point, so the ledger
    /// before the snapshot can be dropped. Includes state not yet
    /// acknowledged as durable, which only makes it durable sooner.
    pub fn snapshot_records(&self) -> Vec<Record> {
        let mut records = vec![Record::Snapshot {
            slot: self.log.snapshot(),
        }];
        for (slot, entry) in self.log.range_from(self.log.start()) {
            let (slot, ballot, value) = (*slot, entry.ballot, entry.value.clone());
            records.push(if entry.chosen {
                Record::Chosen {
                    slot,
                    ballot,
                    value,
                }
            } else {
                Record::Vote {
                    slot,
                    ballot,
                    value,
                }
            });
        }
        records.push(Record::Commit { slot: self.commit });
        records.push(Record::Promise {
            ballot: self.promised,
        });
        if self.is_recovering() {
            records.push(Record::Amnesiac { disk: self.disk });
        }
        for (node, (disk, ballot, through)) in &self.vouchers {
            records.push(Record::Vouch {
                node: *node,
                disk: *disk,
                ballot: *ballot,
                through: *through,
            });
        }
        for (from, membership) in self.memberships.entries() {
            let membership = membership.clone();
            records.push(Record::Membership { from, membership });
        }
        records
    }

    /// The driver restored the state machine from a peer's snapshot through
    /// `slot`, which carried the peer's `memberships` (§3.3.6: the
    /// configuration is part of the law book); it must then save it, with [`Replica::snapshot_records`],
    /// before it makes any later `Persist` durable: the `Snapshot` record
    /// staged here tells a replay that the older votes up to `slot` are
    /// superseded by that snapshot. Returns `false` (and changes nothing)
    /// when this replica has already applied that far, or leads (a leader
    /// learned every chosen decree in its phase 1).
    pub fn install_snapshot(&mut self, slot: Slot, memberships: &Memberships) -> bool {
        if slot <= self.applied || self.is_leader() {
            return false;
        }
        self.log.trim_through(slot);
        self.merge_memberships(memberships, slot);
        self.commit = slot;
        self.applied = slot;
        self.leader_commit = self.leader_commit.max(slot);
        // The votes this replica still has for slots up to `slot` may be
        // stale; later Commit records must not bless them on replay.
        self.stage(Record::Snapshot { slot });
        self.advance_commit_locally();
        // The snapshot may be how this replica learns it was removed.
        self.after_membership_change();
        true
    }
}
