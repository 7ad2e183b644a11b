//! Changing the parliament (§3.3.6; Lamport, *Reconfiguring a State
//! Machine*, 2010): a configuration chosen as the decree of slot `i`
//! governs the slots from `i + α` on.
//!
//! - A leader proposes in slot `s` only while `s ≤ commit + α`, so every
//!   configuration that governs a slot it proposes in is already known
//!   (it was chosen in a slot ≤ `s − α ≤ commit`).
//! - Phase 1 needs a quorum of *every* configuration governing the slots
//!   `commit + 1 ..= commit + α` (the window). When the commit point moves
//!   and a configuration whose quorum did not promise enters the window,
//!   the leader runs phase 1 again before it proposes there.
//! - One change at a time: a new one is refused until the last one
//!   governs the next slot. After proposing one, a leader with nothing
//!   else to propose fills the α slots with `Noop`s, so the change takes
//!   effect without waiting for client traffic.
//! - Learners receive every decree but do not count; a learner is promoted
//!   only when it is at most `promote_lag_slots_max` slots behind.
//! - A replica that the configuration governing its next slot leaves out
//!   (and the newest known too: a replica just added is not in force yet)
//!   has voted in every slot that needed it and learned them all: it
//!   steps down and *retires*. It may be the only one that knows the last
//!   slots of its configuration are chosen (a leader that removed itself),
//!   so for a while it still teaches every peer that shows it lags (a
//!   `Prepare`, `CatchUp`, `Heartbeat` or `Accept` with an older commit
//!   point) the decrees it lacks. It stops for good (`Action::Removed`)
//!   once a quorum of the configuration that left it out has shown it
//!   learned every decree the retiring replica knows (those members can
//!   then teach the others, and elect a leader whose window no longer
//!   needs the old configuration), and [`RETIRE_QUIET_TIMEOUTS`] election
//!   timeouts passed without a lagging peer. It asks them: every heartbeat
//!   interval it sends each such voter not yet caught up a `CatchUp` from
//!   its own commit point, which one that knows that slot answers with a
//!   `Learn` (and one that lags answers by asking to be taught). Until
//!   then it stays: stopping earlier could leave the slots its old
//!   configuration governed without a quorum that knows them.

use std::collections::BTreeSet;

use crate::action::Action;
use crate::election::Role;
use crate::membership::{Membership, Memberships};
use crate::message::Message;
use crate::planted::PlantedBug;
use crate::replica::Replica;
use crate::types::{Ballot, NodeId, Slot, Value};

/// Election timeouts a retiring replica waits, with no peer lagging behind
/// it, before it stops.
pub(crate) const RETIRE_QUIET_TIMEOUTS: u64 = 4;

/// Why a configuration change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReconfigureError {
    /// Only the leader proposes a change; `leader` is a hint.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// An earlier change has not taken effect yet.
    #[error("a configuration change is already in progress")]
    Pending,
    /// A learner to promote is too far behind the leader, or still
    /// recovers from its empty disk (`amnesia.rs`).
    #[error("learner {0} has not caught up with the leader")]
    LearnerNotReady(NodeId),
    /// Too few voters of the new configuration were heard lately, whole
    /// (not recovering from an empty disk), to form its quorum: the change
    /// would stop the cluster.
    #[error("not enough started members in the new configuration")]
    NotEnoughStarted,
}

impl Replica {
    /// α of §3.3.6: a configuration chosen in slot `i` governs from
    /// `i + α` (planted bug 12: from `i + 1`).
    pub(crate) fn alpha(&self) -> u64 {
        if self.config.planted(PlantedBug::ReconfigureAtOnce) {
            return 1;
        }
        self.config.pipeline_slots_max
    }

    /// Every configuration known, by the first slot it governs.
    pub fn memberships(&self) -> &Memberships {
        &self.memberships
    }

    /// The configuration that governs the next slot to be chosen.
    pub fn membership(&self) -> &Membership {
        self.memberships.at(self.commit.next())
    }

    /// Whether this replica has left the configuration and stopped.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Whether this replica has left the configuration and is retiring:
    /// it only teaches, until its successors have learned what it knows.
    pub fn is_retiring(&self) -> bool {
        self.retiring.is_some() && !self.removed
    }

    /// The last commit point learner `node` reported to this leader.
    pub fn learner_progress(&self, node: NodeId) -> Option<Slot> {
        match &self.role {
            Role::Leader(leadership) => leadership.progress.get(&node).copied(),
            _ => None,
        }
    }

    /// The configurations governing the window `commit + 1 ..= commit + α`.
    pub(crate) fn window(&self) -> Vec<&Membership> {
        let first = self.commit.next();
        let last = Slot(self.commit.0.saturating_add(self.alpha()));
        self.memberships.governing(first, last)
    }

    /// Whether the nodes for which `has` holds include a quorum of every
    /// configuration in the window.
    pub(crate) fn window_quorum(&self, has: impl Fn(NodeId) -> bool) -> bool {
        let minority = self.config.planted(PlantedBug::MinorityQuorum);
        self.window().iter().all(|m| m.has_quorum(minority, &has))
    }

    /// The voters of the window's configurations.
    pub(crate) fn window_voters(&self) -> BTreeSet<NodeId> {
        let window = self.window();
        window.iter().flat_map(|m| m.voters()).copied().collect()
    }

    /// Voters and learners of the window's configurations, but this one.
    pub(crate) fn window_peers(&self) -> Vec<NodeId> {
        let window = self.window();
        let all: BTreeSet<NodeId> = window.iter().flat_map(|m| m.all()).collect();
        all.into_iter().filter(|n| *n != self.config.id).collect()
    }

    /// The chosen decree of `slot` is a configuration: it governs from
    /// `slot + α`.
    pub(crate) fn apply_reconfigure(&mut self, slot: Slot, membership: &Membership) {
        let from = Slot(slot.0 + self.alpha());
        assert!(from > slot, "a configuration governs later slots");
        if membership.contains(self.config.id) {
            self.admitted = true;
        }
        self.memberships.insert(from, membership.clone());
    }

    /// The commit point moved: a replica left out stops, a leader that no
    /// longer votes steps down, and a leader whose phase 1 lacks a quorum
    /// of a configuration now in its window runs phase 1 again.
    pub(crate) fn after_membership_change(&mut self) {
        let me = self.config.id;
        if self.retiring.is_some() || !self.admitted {
            return;
        }
        let left = !self.membership().contains(me) && !self.memberships.latest().1.contains(me);
        if left {
            if self.retiring.is_none() {
                self.set_role(Role::follower());
                self.retiring = Some(self.now_ticks);
                self.successors_caught_up.clear();
            }
            return;
        }
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        if !self.membership().is_voter(me) {
            self.set_role(Role::follower());
        } else if !self.window_quorum(|n| leadership.promisers.contains(&n)) {
            self.start_campaign();
        }
    }

    /// A retiring replica asks its successors how far they learned, and
    /// stops once a quorum of them caught up and no peer lagged for a
    /// while (see the module doc).
    pub(crate) fn tick_retiring(&mut self) {
        let last = self.retiring.expect("retiring");
        let successors = self.membership().clone();
        let caught_up = |n: NodeId| self.successors_caught_up.contains(&n);
        let quorum = successors.has_quorum(false, caught_up);
        let quiet = RETIRE_QUIET_TIMEOUTS * self.config.election_timeout_ticks;
        if quorum && self.now_ticks >= last + quiet {
            self.removed = true;
            self.outbox.push_back(Action::Removed { at: self.commit });
            return;
        }
        if quorum
            || !self
                .now_ticks
                .is_multiple_of(self.config.heartbeat_interval_ticks)
        {
            return;
        }
        let from_slot = self.commit;
        for voter in successors.voters() {
            if !self.successors_caught_up.contains(voter) {
                self.send(*voter, Message::CatchUp { from_slot });
            }
        }
    }

    /// While retiring: a `Learn` that reaches this replica's commit point
    /// (the answer to its `CatchUp`) shows the sender knows every decree
    /// it knows (a commit point has no gaps).
    pub(crate) fn note_successor(&mut self, from: NodeId, msg: &Message) {
        let Message::Learn {
            first_slot,
            entries,
        } = msg
        else {
            return;
        };
        let last = Slot(first_slot.0 + entries.len() as u64).prev();
        self.peer_holds(from, last);
    }

    /// The driver saw `peer` hold every decree through `slot`: it sent a
    /// snapshot through it (a peer whose log starts after this replica's
    /// commit point answers a `CatchUp` with a snapshot, not a `Learn`).
    /// A retiring replica counts it as caught up when that covers its
    /// commit point.
    pub fn peer_holds(&mut self, peer: NodeId, slot: Slot) {
        if self.retiring.is_some() && slot >= self.commit {
            self.successors_caught_up.insert(peer);
        }
    }

    /// Answers a peer whose message shows it has not learned every decree
    /// this replica knows, with those decrees; returns whether it did. A
    /// retiring replica teaches so (see the module doc), and so does every
    /// replica a peer outside its configurations asks: one removed while
    /// it lagged learns it was, and retires.
    pub(crate) fn teach_laggard(&mut self, from: NodeId, msg: &Message) -> bool {
        let their_next = match msg {
            Message::Prepare { from_slot, .. } | Message::CatchUp { from_slot } => *from_slot,
            Message::Heartbeat { commit, .. } | Message::Accept { commit, .. } => commit.next(),
            _ => return false,
        };
        if their_next > self.commit {
            return false;
        }
        self.handle_catch_up(from, their_next);
        true
    }

    /// Proposes `membership` as the next configuration. Only the leader
    /// accepts, one change at a time; learners it promotes must have caught
    /// up, and the voters of the new configuration heard lately must form
    /// its quorum. The change is chosen like any decree and takes effect α
    /// slots later; the driver sees it as `Action::Apply` of a
    /// `Value::Reconfigure`.
    pub fn propose_reconfigure(&mut self, membership: Membership) -> Result<(), ReconfigureError> {
        let Role::Leader(leadership) = &self.role else {
            let leader = self.leader();
            return Err(ReconfigureError::NotLeader { leader });
        };
        if self.reconfiguration_pending() {
            return Err(ReconfigureError::Pending);
        }
        let (_, latest) = self.memberships.latest();
        let lag = self.config.promote_lag_slots_max;
        for node in membership.voters() {
            if latest.learners().contains(node) {
                let progress = leadership.progress.get(node).copied().unwrap_or_default();
                let behind = progress.0.saturating_add(lag) < self.commit.0;
                let whole = leadership.whole.get(node) == Some(&true);
                if behind || !whole {
                    return Err(ReconfigureError::LearnerNotReady(*node));
                }
            }
        }
        let horizon = self
            .now_ticks
            .saturating_sub(self.config.election_timeout_ticks);
        let me = self.config.id;
        let whole = |n: NodeId| leadership.whole.get(&n) != Some(&false);
        let heard =
            |n: NodeId| n == me || (leadership.heard_ticks.get(&n) >= Some(&horizon) && whole(n));
        if !membership.has_quorum(false, heard) {
            return Err(ReconfigureError::NotEnoughStarted);
        }
        self.queued_reconfig = Some(membership);
        Ok(())
    }

    /// Whether a change was asked for, proposed or chosen and does not yet
    /// govern the next slot.
    pub fn reconfiguration_pending(&self) -> bool {
        let (from, _) = self.memberships.latest();
        if from > self.commit.next() || self.queued_reconfig.is_some() {
            return true;
        }
        let Role::Leader(leadership) = &self.role else {
            return false;
        };
        let is_change = |v: &Value| matches!(v, Value::Reconfigure(_));
        leadership.inflight.values().any(|i| is_change(&i.value))
            || leadership.recovered.values().any(is_change)
    }

    /// A peer's heartbeat ack says whether it recovers from an empty disk.
    pub(crate) fn note_amnesia(&mut self, from: NodeId, ballot: Ballot, disk: u64) {
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.ballot != ballot {
            return;
        }
        leadership.whole.insert(from, disk == 0);
    }

    /// A learner reports how far it has learned.
    pub(crate) fn handle_progress(&mut self, from: NodeId, ballot: Ballot, commit: Slot) {
        let now = self.now_ticks;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.ballot == ballot {
            leadership.heard_ticks.insert(from, now);
            leadership.progress.insert(from, commit);
        }
    }

    /// Merges the configurations a peer's snapshot recorded (it was
    /// installed through `slot`).
    pub(crate) fn merge_memberships(&mut self, theirs: &Memberships, slot: Slot) {
        for (from, membership) in theirs.entries() {
            if from > self.memberships.latest().0 {
                if membership.contains(self.config.id) {
                    self.admitted = true;
                }
                self.memberships.insert(from, membership.clone());
            }
        }
        self.memberships.trim_through(slot);
    }
}
