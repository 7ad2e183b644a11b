//! What a replica writes to its ledger, and how a restart folds it back.
//!
//! The driver appends the records of each `Persist` action in order and
//! makes them durable (one `fdatasync` for many actions). A crash may lose an
//! unsynced *suffix*, never a record in the middle, so a replay sees a prefix
//! of what was written.

use std::collections::BTreeMap;

use crate::membership::Membership;
use crate::types::{Ballot, Entry, NodeId, Slot, Value};

/// One durable record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// §2.3 `nextBal`: the replica promised not to vote below `ballot`.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
    },
    /// §2.3 `prevVote`: the replica voted for `value` at `ballot` in `slot`.
    Vote {
        /// The slot.
        slot: Slot,
        /// The ballot of the vote.
        ballot: Ballot,
        /// The decree voted for.
        value: Value,
    },
    /// A chosen decree learned from another replica (§2.3 `Success`).
    Chosen {
        /// The slot.
        slot: Slot,
        /// The ballot of the vote it was learned from.
        ballot: Ballot,
        /// The chosen decree.
        value: Value,
    },
    /// Every slot up to `slot` is chosen, and the entry stored for each of
    /// them (written before this record) is the chosen decree.
    Commit {
        /// The commit point.
        slot: Slot,
    },
    /// The state machine was saved in a snapshot at `slot` (§3.3.2); the
    /// entries up to it are no longer needed. Written inside snapshot files
    /// (see [`crate::Replica::snapshot_records`]) and, after a snapshot
    /// installed from a peer, to the log, where it marks the votes before
    /// it as superseded.
    Snapshot {
        /// The last slot the snapshot includes.
        slot: Slot,
    },
    /// The replica started from an empty disk, numbered `disk`: until
    /// [`Record::Recovered`] it may have forgotten promises and votes (see
    /// `amnesia.rs`).
    Amnesiac {
        /// A random non-zero number naming this disk's life.
        disk: u64,
    },
    /// The replica has recovered from an empty disk.
    Recovered,
    /// Every member promised `ballot`, `node` from its disk numbered
    /// `disk` while recovering: kept to vouch for it later (`amnesia.rs`).
    Vouch {
        /// The recovering member.
        node: NodeId,
        /// Its disk's number.
        disk: u64,
        /// The ballot every member promised.
        ballot: Ballot,
        /// The last slot the leader of `ballot` re-proposed.
        through: Slot,
    },
    /// §3.3.6: `membership` governs every slot from `from` on. Written
    /// inside snapshot files (the decree that chose it may be folded into
    /// the snapshot), never on its own.
    Membership {
        /// The first slot the configuration governs.
        from: Slot,
        /// The configuration.
        membership: Membership,
    },
}

/// The durable state a replica restarts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistedState {
    /// The highest ballot promised.
    pub promised: Ballot,
    /// The last slot folded into the state machine's snapshot (0: none).
    pub snapshot: Slot,
    /// Every slot up to here is chosen.
    pub commit: Slot,
    /// Votes and chosen decrees after `snapshot`.
    pub entries: BTreeMap<Slot, Entry>,
    /// Started from an empty disk and not yet recovered (see `amnesia.rs`).
    pub recovering: bool,
    /// The number of the disk while recovering (0: not drawn yet).
    pub disk: u64,
    /// Per recovering member: disk number, a ballot every member promised,
    /// and its horizon (`Record::Vouch`).
    pub vouchers: BTreeMap<NodeId, (u64, Ballot, Slot)>,
    /// Configurations a snapshot recorded, by the first slot each governs
    /// (`Record::Membership`); empty: the initial one of `Config`.
    pub memberships: BTreeMap<Slot, Membership>,
}

impl PersistedState {
    /// The state of a replica whose disk holds nothing: a new member, or
    /// one whose data directory was lost. Drivers must use this, not
    /// `default()`, when they find an empty disk: such a replica cannot
    /// tell whether it promised or voted before, so it does not count in a
    /// phase 1 until it recovers.
    pub fn empty_disk() -> PersistedState {
        PersistedState {
            recovering: true,
            ..PersistedState::default()
        }
    }

    /// Folds records, in the order they were written, into the state they
    /// describe.
    pub fn replay<'a>(records: impl IntoIterator<Item = &'a Record>) -> PersistedState {
        let mut state = PersistedState::default();
        for record in records {
            state.apply(record);
        }
        state
    }

    /// Folds one more record into the state.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Promise { ballot } => self.promised = self.promised.max(*ballot),
            Record::Vote {
                slot,
                ballot,
                value,
            } => {
                self.promised = self.promised.max(*ballot);
                if *slot <= self.snapshot {
                    return;
                }
                let entry = self.entries.entry(*slot);
                let entry = entry.or_insert_with(|| Entry {
                    ballot: *ballot,
                    value: value.clone(),
                    chosen: false,
                });
                if !entry.chosen && *ballot >= entry.ballot {
                    entry.ballot = *ballot;
                    entry.value = value.clone();
                }
            }
            Record::Chosen {
                slot,
                ballot,
                value,
            } => {
                if *slot > self.snapshot {
                    let chosen = Entry {
                        ballot: *ballot,
                        value: value.clone(),
                        chosen: true,
                    };
                    self.entries.insert(*slot, chosen);
                }
            }
            Record::Commit { slot } => self.commit_to(*slot),
            Record::Snapshot { slot } => {
                self.snapshot = self.snapshot.max(*slot);
                self.commit_to(*slot);
                self.entries = self.entries.split_off(&self.snapshot.next());
            }
            Record::Amnesiac { disk } => {
                self.recovering = true;
                self.disk = *disk;
            }
            Record::Recovered => {
                self.recovering = false;
                self.disk = 0;
            }
            Record::Vouch {
                node,
                disk,
                ballot,
                through,
            } => {
                let newer = self.vouchers.get(node).is_none_or(|(_, b, _)| b < ballot);
                if newer {
                    self.vouchers.insert(*node, (*disk, *ballot, *through));
                }
            }
            Record::Membership { from, membership } => {
                self.memberships.insert(*from, membership.clone());
            }
        }
    }

    fn commit_to(&mut self, slot: Slot) {
        if slot <= self.commit {
            return;
        }
        let from = self.commit.next();
        for (_, entry) in self.entries.range_mut(from..=slot) {
            entry.chosen = true;
        }
        self.commit = slot;
    }
}
