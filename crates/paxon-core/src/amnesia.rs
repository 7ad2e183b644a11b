//! A replica that lost its disk (§2.3 assumes a priest's ledger survives:
//! the priests wrote in indelible ink).
//!
//! A replica that starts from an empty disk cannot tell a brand-new member
//! from one whose data directory was wiped: it may have promised ballots
//! and voted for decrees it no longer remembers. Counting it as a full
//! acceptor can choose two decrees for one slot (the simulator's `wipes`
//! fault shows it does). So a replica on an empty disk is *recovering*:
//!
//! - it draws a random number for its disk and writes
//!   [`Record::Amnesiac`] before anything else, so a restart mid-recovery
//!   is still recovering, and a wipe gives a new number;
//! - its promises carry that number, and a candidate counts them only when
//!   every member answered (at the birth of a cluster every member is
//!   new); otherwise it needs a quorum of promises from members that are
//!   not recovering, which between them hold every vote a chosen decree
//!   could depend on;
//! - it casts no votes until it knows a ballot `b` every member promised,
//!   itself on its current disk (below): a promise it forgot may still be
//!   counted by a live candidate, and voting below it would break that
//!   promise. From then on it votes in ballots ≥ `b`, since no candidacy
//!   below `b` is alive;
//! - it recovers once some ballot `b` was promised by every member, itself
//!   on its current disk (so no candidacy below `b` is alive anywhere, and
//!   every vote it lost is known to the leader of `b`, who re-proposed them
//!   in slots up to `through`), and it has learned the chosen decrees
//!   through `through`. Then it writes [`Record::Recovered`] and is an
//!   acceptor like any other.
//!
//! "Every member" means every voter of every configuration governing the
//! window of slots a leader may propose in (`reconfigure.rs`): the
//! configuration in force, not the one the cluster was born with. A
//! learner starts on an empty disk too: it recovers the same way, by
//! promising in a phase 1 every voter promised, and is promoted only once
//! recovered (a leader that runs phase 1 for a recovering member waits for
//! the learners' promises as well as the voters').
//!
//! The leader of such a ballot tells every member (`Message::Recovered`);
//! each keeps the news, to vouch later for a recovering member that missed
//! it. A leader whose phase 1 did not hear from every member, and that
//! hears from a recovering member nobody can vouch for while every member
//! is live, runs phase 1 again and waits for all of them (at most once per
//! [`FULL_PHASE1_EVERY_TIMEOUTS`] election timeouts). A recovering member
//! nobody vouched for waits twice as long as the others before it
//! campaigns, so that it does not keep pre-empting whole members.

use std::collections::BTreeSet;

use crate::election::Role;
use crate::message::Message;
use crate::record::Record;
use crate::replica::Replica;
use crate::types::{Ballot, NodeId, Slot};

/// Election timeouts between two extra phase 1 runs for a recovering member.
pub(crate) const FULL_PHASE1_EVERY_TIMEOUTS: u64 = 8;

/// What a member knows of a ballot every member promised: for each
/// recovering promiser, its disk number, the ballot and the horizon.
pub(crate) type Vouchers = std::collections::BTreeMap<NodeId, (u64, Ballot, Slot)>;

impl Replica {
    /// Whether this replica started from an empty disk and has not yet
    /// recovered (see the module doc).
    pub fn is_recovering(&self) -> bool {
        self.disk != 0
    }

    /// Whether promises for `ballot` from `promisers` (this replica
    /// included when its promise is durable), of which `recovering` are
    /// recovering, complete a phase 1: every voter of the configurations
    /// governing the window, or a quorum of each of them that are whole. A recovering candidate that may not vote in
    /// `ballot` needs every member: as leader it votes for its proposals.
    pub(crate) fn phase1_complete(
        &self,
        ballot: Ballot,
        promisers: &BTreeSet<NodeId>,
        recovering: &BTreeSet<NodeId>,
    ) -> bool {
        let counts_all = self
            .config
            .planted(crate::PlantedBug::CountRecoveringPromises);
        let everyone = self.window_voters().is_subset(promisers);
        let whole_quorum =
            self.window_quorum(|n| promisers.contains(&n) && !recovering.contains(&n));
        everyone
            || (whole_quorum && self.may_vote(ballot))
            || (counts_all && self.window_quorum(|n| promisers.contains(&n)))
    }

    /// Phase 1 for `ballot` completed with a promise from every member:
    /// `amnesiacs` are the recovering ones; `through` is the last slot
    /// re-proposed. Tell everybody.
    pub(crate) fn full_phase1_done(
        &mut self,
        ballot: Ballot,
        through: Slot,
        amnesiacs: Vec<(NodeId, u64)>,
    ) {
        let msg = Message::Recovered {
            ballot,
            through,
            amnesiacs,
        };
        self.broadcast(msg.clone());
        self.handle_recovered(msg);
    }

    /// News of a ballot every member promised.
    pub(crate) fn handle_recovered(&mut self, msg: Message) {
        let Message::Recovered {
            ballot,
            through,
            amnesiacs,
        } = msg
        else {
            unreachable!("dispatched a Recovered");
        };
        for (node, disk) in amnesiacs {
            let newer = self.vouchers.get(&node).is_none_or(|(_, b, _)| *b < ballot);
            if newer {
                self.vouchers.insert(node, (disk, ballot, through));
                self.stage(Record::Vouch {
                    node,
                    disk,
                    ballot,
                    through,
                });
            }
            if node == self.config.id && disk == self.disk && self.disk != 0 {
                let later = self.recovery.is_none_or(|(b, _)| b < ballot);
                if later {
                    self.recovery = Some((ballot, through));
                }
                self.maybe_recovered();
            }
        }
    }

    /// Ends the recovery once the decrees through its horizon are learned.
    pub(crate) fn maybe_recovered(&mut self) {
        let Some((_, through)) = self.recovery else {
            return;
        };
        if self.disk != 0 && self.commit >= through {
            self.disk = 0;
            self.recovery = None;
            self.stage(Record::Recovered);
        }
    }

    /// Whether this replica may vote in `ballot`: always once whole; while
    /// recovering, only at or above a ballot every member promised.
    pub(crate) fn may_vote(&self, ballot: Ballot) -> bool {
        !self.is_recovering() || self.recovery.is_some_and(|(full, _)| ballot >= full)
    }

    /// Tells `from`, recovering on disk number `disk`, of a ballot every
    /// member promised, if this replica knows one. Returns whether it did.
    pub(crate) fn vouch_for(&mut self, from: NodeId, disk: u64) -> bool {
        let Some(&(known, ballot, through)) = self.vouchers.get(&from) else {
            return false;
        };
        if known != disk {
            return false;
        }
        let amnesiacs = vec![(from, disk)];
        let msg = Message::Recovered {
            ballot,
            through,
            amnesiacs,
        };
        self.send(from, msg);
        true
    }

    /// Whether every member was heard within an election timeout (a phase 1
    /// that waits for all of them can succeed).
    fn hears_everyone(&self, leadership: &crate::proposer::Leadership) -> bool {
        let horizon = self
            .now_ticks
            .saturating_sub(self.config.election_timeout_ticks);
        let me = self.config.id;
        self.window_voters()
            .into_iter()
            .all(|n| n == me || leadership.heard_ticks.get(&n) >= Some(&horizon))
    }

    /// A heartbeat ack from `from`, recovering on disk number `disk` (a
    /// learner too: it recovers before it may be promoted, §3.3.6).
    pub(crate) fn heard_recovering(&mut self, from: NodeId, ballot: Ballot, disk: u64) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        let everyone = self.hears_everyone(leadership);
        if leadership.ballot != ballot || self.vouch_for(from, disk) {
            return;
        }
        if self.now_ticks >= self.full_phase1_not_before && everyone {
            self.full_phase1_not_before =
                self.now_ticks + FULL_PHASE1_EVERY_TIMEOUTS * self.config.election_timeout_ticks;
            // Phase 1 again, waiting for every member this time.
            self.campaign(true);
        }
    }
}
