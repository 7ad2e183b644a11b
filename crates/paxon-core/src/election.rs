//! Choosing a president (§3.1, §3.3.1): randomised election timeouts, phase 1
//! for every slot from the first unchosen one, and stepping down on a NACK.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::Action;
use crate::message::{Message, Vote};
use crate::planted::PlantedBug;
use crate::proposer::Leadership;
use crate::record::Record;
use crate::replica::{Deferred, Replica};
use crate::types::{Ballot, Entry, NodeId, Slot, Value};

/// What this replica is doing in the parliament.
#[derive(Debug)]
pub(crate) enum Role {
    /// Follows `leader` (when known), whose ballot is `ballot`.
    Follower {
        leader: Option<NodeId>,
        ballot: Ballot,
    },
    /// Runs phase 1 for its own ballot.
    Candidate(Candidacy),
    /// Phase 1 is done: proposes in phase 2 only.
    Leader(Box<Leadership>),
}

impl Role {
    pub(crate) fn follower() -> Role {
        Role::Follower {
            leader: None,
            ballot: Ballot::ZERO,
        }
    }

    pub(crate) fn leader(&self, me: NodeId) -> Option<NodeId> {
        match self {
            Role::Follower { leader, .. } => *leader,
            Role::Candidate(_) => None,
            Role::Leader(_) => Some(me),
        }
    }
}

/// A phase 1 in progress (§3.1: `NextBallot` sent, `LastVote`s arriving).
#[derive(Debug)]
pub(crate) struct Candidacy {
    pub(crate) ballot: Ballot,
    pub(crate) from_slot: Slot,
    /// Votes reported by each promising peer.
    pub(crate) promises: BTreeMap<NodeId, Vec<Vote>>,
    /// Promising peers recovering from an empty disk, with the disk's
    /// number (amnesia.rs).
    pub(crate) amnesiacs: Vec<(NodeId, u64)>,
    /// Whether this replica's own promise is durable.
    pub(crate) self_promised: bool,
    /// Run for a recovering member: wait for every member's promise until
    /// the election timer fires (amnesia.rs).
    pub(crate) wants_everyone: bool,
}

impl Replica {
    /// Draws a new random election deadline (§3.3.1 is silent on how a
    /// president is chosen; randomised timeouts make duels rare).
    pub(crate) fn reset_election_timer(&mut self) {
        let timeout = self.config.election_timeout_ticks;
        // A recovering replica that nobody vouched for can only win a
        // phase 1 that every member answers: it waits longer, so that
        // whole members campaign first and it does not keep pre-empting
        // them (amnesia.rs).
        let (low, high) = if self.is_recovering() && self.recovery.is_none() {
            (2 * timeout, 4 * timeout)
        } else {
            (timeout, 2 * timeout)
        };
        self.election_deadline = self.now_ticks + self.rng.range(low, high);
    }

    /// A follower or candidate that heard no leader in time tries to lead.
    pub(crate) fn tick_election(&mut self) {
        if self.now_ticks < self.election_deadline {
            return;
        }
        if self.membership().is_voter(self.config.id) {
            self.start_campaign();
        } else {
            // A learner, or a replica not yet admitted, never leads. A
            // learner asks everyone for the decrees it lacks (the last
            // leader may have retired, and one of them may have made it a
            // voter); one not admitted waits to be contacted.
            if self.admitted {
                let from_slot = self.commit.next();
                for peer in self.window_peers() {
                    self.send(peer, Message::CatchUp { from_slot });
                }
            }
            self.reset_election_timer();
        }
    }

    /// Whether this replica hears a live leader (stickiness: while it does,
    /// it refuses a new Prepare from anybody else).
    pub(crate) fn hears_live_leader(&self) -> bool {
        match &self.role {
            Role::Follower {
                leader: Some(_), ..
            } => self.now_ticks < self.leader_contact_ticks + self.config.election_timeout_ticks,
            Role::Leader(leadership) => self.has_live_quorum(leadership),
            _ => false,
        }
    }

    /// §3.1: choose a ballot above every one seen, promise it to ourselves
    /// and send `NextBallot(b, n)` for every slot from the first unchosen.
    pub(crate) fn start_campaign(&mut self) {
        self.campaign(false);
    }

    /// [`Replica::start_campaign`], waiting for every member's promise when
    /// `wants_everyone` (until the election timer fires).
    pub(crate) fn campaign(&mut self, wants_everyone: bool) {
        let round = self.promised.round.max(self.round_seen) + 1;
        let ballot = Ballot::new(round, self.config.id);
        assert!(ballot > self.promised, "a new ballot exceeds every promise");
        self.round_seen = round;
        self.promised = ballot;
        self.stage(Record::Promise { ballot });
        let from_slot = self.commit.next();
        self.set_role(Role::Candidate(Candidacy {
            ballot,
            from_slot,
            promises: BTreeMap::new(),
            amnesiacs: Vec::new(),
            self_promised: false,
            wants_everyone,
        }));
        self.after_persist(Deferred::SelfPromise(ballot));
        self.broadcast(Message::Prepare { ballot, from_slot });
        self.reset_election_timer();
    }

    /// Our own promise for `ballot` is durable: it counts toward phase 1.
    pub(crate) fn handle_self_promise(&mut self, ballot: Ballot) {
        if let Role::Candidate(candidacy) = &mut self.role {
            if candidacy.ballot == ballot {
                candidacy.self_promised = true;
                self.maybe_become_leader();
            }
        }
    }

    /// §3.1 `LastVote(b, v)` received.
    pub(crate) fn handle_promise(&mut self, from: NodeId, ballot: Ballot, msg: Message) {
        let Message::Promise {
            from_slot,
            log_start,
            votes,
            amnesia,
            ..
        } = msg
        else {
            unreachable!("dispatched a Promise");
        };
        let Role::Candidate(candidacy) = &mut self.role else {
            return;
        };
        if candidacy.ballot != ballot || candidacy.from_slot != from_slot {
            return;
        }
        if log_start > from_slot {
            // The peer folded slots we lack into its law book: we cannot
            // learn their decrees from votes. Step aside and catch up.
            self.set_role(Role::follower());
            self.catch_up_not_before = 0;
            self.request_catch_up(from);
            return;
        }
        if candidacy.promises.insert(from, votes).is_none() && amnesia != 0 {
            candidacy.amnesiacs.push((from, amnesia));
        }
        if amnesia != 0 {
            // It may recover, and count in the next phase 1.
            self.vouch_for(from, amnesia);
        }
        self.maybe_become_leader();
    }

    fn maybe_become_leader(&mut self) {
        let Role::Candidate(candidacy) = &self.role else {
            return;
        };
        let (promisers, recovering) = self.promisers(candidacy);
        let everyone = self.window_voters().is_subset(&promisers);
        let peers = self.window_peers();
        let all_promised = peers.iter().all(|n| promisers.contains(n));
        let waits = candidacy.wants_everyone && !all_promised;
        if candidacy.self_promised
            && !waits
            && self.phase1_complete(candidacy.ballot, &promisers, &recovering)
        {
            let Role::Candidate(candidacy) = std::mem::replace(&mut self.role, Role::follower())
            else {
                unreachable!("checked above");
            };
            self.become_leader(candidacy, promisers, everyone);
        }
    }

    /// The replicas whose promise counts so far, and the recovering ones
    /// among them (`amnesia.rs`).
    fn promisers(&self, candidacy: &Candidacy) -> (BTreeSet<NodeId>, BTreeSet<NodeId>) {
        let mut promisers: BTreeSet<NodeId> = candidacy.promises.keys().copied().collect();
        let mut recovering: BTreeSet<NodeId> = candidacy.amnesiacs.iter().map(|a| a.0).collect();
        if candidacy.self_promised {
            promisers.insert(self.config.id);
        }
        if self.is_recovering() {
            recovering.insert(self.config.id);
        }
        (promisers, recovering)
    }

    /// §3.1: the new president re-proposes, for each slot, the vote with
    /// the highest ballot reported, fills the gaps with olive-day decrees
    /// (`Noop`), and from then on runs phase 2 only.
    fn become_leader(&mut self, candidacy: Candidacy, promisers: BTreeSet<NodeId>, full: bool) {
        assert_eq!(
            candidacy.ballot, self.promised,
            "leading an unpromised ballot"
        );
        assert!(
            candidacy.from_slot <= self.commit.next(),
            "phase 1 skipped a slot"
        );
        let mut amnesiacs = candidacy.amnesiacs.clone();
        if self.is_recovering() {
            amnesiacs.push((self.config.id, self.disk));
        }
        let merged = self.merge_votes(&candidacy);
        let from_slot = candidacy.from_slot.max(self.commit.next());
        let last = merged
            .last_key_value()
            .map_or(self.commit, |(slot, _)| *slot);
        let mut recovered = BTreeMap::new();
        let mut slot = from_slot;
        while slot <= last {
            let value = match merged.get(&slot) {
                Some(e) if e.chosen || !self.config.planted(PlantedBug::NoopOverReportedVote) => {
                    e.value.clone()
                }
                _ => Value::Noop,
            };
            recovered.insert(slot, value);
            slot = slot.next();
        }
        let mut leadership = Leadership::new(candidacy.ballot, from_slot, last, self);
        leadership.promisers = promisers;
        // Re-proposed as the window allows (`fill_pipeline`).
        leadership.recovered = recovered;
        self.set_role(Role::Leader(Box::new(leadership)));
        if full && !amnesiacs.is_empty() {
            self.full_phase1_done(candidacy.ballot, last, amnesiacs);
        }
        self.fill_pipeline();
        self.after_commit_advanced();
    }

    /// The vote to re-propose per slot: a decree known chosen wins, else the
    /// vote with the highest ballot (§2.2, B3).
    fn merge_votes(&self, candidacy: &Candidacy) -> BTreeMap<Slot, Entry> {
        let mut merged: BTreeMap<Slot, Entry> = BTreeMap::new();
        let own = self.log.range_from(candidacy.from_slot);
        let own = own.map(|(slot, entry)| (*slot, entry));
        let ignore_theirs = self.config.planted(PlantedBug::IgnoreReportedVotes);
        let theirs = candidacy.promises.values().flatten();
        let theirs = theirs.filter(|_| !ignore_theirs);
        let theirs = theirs.map(|vote| (vote.slot, &vote.entry));
        for (slot, entry) in own.chain(theirs) {
            if slot <= self.commit {
                continue;
            }
            match merged.get(&slot) {
                Some(best) if best.chosen => {
                    assert!(
                        !entry.chosen || entry.value == best.value,
                        "two different decrees chosen for {slot}"
                    );
                }
                Some(best) if !entry.chosen && entry.ballot <= best.ballot => {}
                _ => {
                    merged.insert(slot, entry.clone());
                }
            }
        }
        merged
    }

    /// A NACK: somebody promised a higher ballot than ours.
    pub(crate) fn handle_nack(&mut self, _from: NodeId, ballot: Ballot, promised: Ballot) {
        self.round_seen = self.round_seen.max(promised.round);
        match &self.role {
            Role::Leader(leadership) if leadership.ballot == ballot => {
                // A live president re-runs phase 1 above the NACK at once
                // instead of letting a stray ballot unseat it.
                if self.has_live_quorum(leadership) {
                    self.start_campaign();
                } else {
                    self.set_role(Role::follower());
                }
            }
            Role::Candidate(candidacy) if candidacy.ballot == ballot => {
                self.set_role(Role::follower());
            }
            _ => {}
        }
    }

    /// A valid Accept or Heartbeat from the leader of `ballot`.
    pub(crate) fn note_leader(&mut self, ballot: Ballot) {
        self.round_seen = self.round_seen.max(ballot.round);
        let leader = Some(ballot.node);
        let same = matches!(&self.role, Role::Follower { leader: l, ballot: b } if *l == leader && *b == ballot);
        if !same {
            self.set_role(Role::Follower { leader, ballot });
        }
        self.leader_contact_ticks = self.now_ticks;
        self.reset_election_timer();
    }

    /// Changes role, failing what only a leader could finish and telling
    /// the driver when the known leader changes.
    pub(crate) fn set_role(&mut self, role: Role) {
        let before = self.role.leader(self.config.id);
        let was_leader = self.is_leader();
        self.role = role;
        let after = self.role.leader(self.config.id);
        if was_leader && !self.is_leader() {
            self.abandon_leadership(after);
        }
        if before != after {
            let ballot = match &self.role {
                Role::Follower { ballot, .. } if after.is_some() => *ballot,
                _ => self.promised,
            };
            self.outbox.push_back(Action::LeaderChanged {
                leader: after,
                ballot,
            });
        }
    }
}
