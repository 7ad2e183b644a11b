//! The president at work (§3.1, §3.3): phase 2 for many slots at once,
//! batching, pipelining, re-sending, and the commit point it announces.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::action::Action;
use crate::election::Role;
use crate::message::Message;
use crate::planted::PlantedBug;
use crate::record::Record;
use crate::replica::{Deferred, Replica};
use crate::types::{Ballot, Batch, Entry, NodeId, Slot, Value};

/// State only a leader keeps.
#[derive(Debug)]
pub(crate) struct Leadership {
    pub(crate) ballot: Ballot,
    /// The next slot to propose in.
    pub(crate) next_slot: Slot,
    /// The last slot re-proposed after phase 1; reads wait until it is
    /// committed, so they see every decree an earlier leader chose.
    pub(crate) recovery_end: Slot,
    /// Proposed, not yet known chosen.
    pub(crate) inflight: BTreeMap<Slot, Inflight>,
    /// Tick at which each peer was last heard at our ballot.
    pub(crate) heard_ticks: BTreeMap<NodeId, u64>,
    /// Who promised our ballot in phase 1, this replica included.
    pub(crate) promisers: BTreeSet<NodeId>,
    /// Decrees phase 1 found, by slot, not yet re-proposed: the window
    /// (`reconfigure.rs`) may not reach them yet.
    pub(crate) recovered: BTreeMap<Slot, Value>,
    /// Commit points learners reported (`Message::Progress`).
    pub(crate) progress: BTreeMap<NodeId, Slot>,
    /// Whether each peer's last heartbeat ack said it is whole (not
    /// recovering from an empty disk, `amnesia.rs`).
    pub(crate) whole: BTreeMap<NodeId, bool>,
    /// Propose `Noop`s up to (excluding) this slot when nothing else waits,
    /// so a configuration change takes effect (§3.3.6).
    pub(crate) pad_until: Slot,
    pub(crate) last_heartbeat_ticks: u64,
    /// The commit point last sent to every peer (on an Accept or a
    /// heartbeat).
    pub(crate) commit_told: Slot,
    pub(crate) last_retry_ticks: u64,
    pub(crate) last_quorum_check_ticks: u64,
}

/// A slot proposed by this leader.
#[derive(Debug)]
pub(crate) struct Inflight {
    pub(crate) value: Value,
    /// Replicas whose vote for it is durable.
    pub(crate) acks: BTreeSet<NodeId>,
    pub(crate) sent_ticks: u64,
}

impl Leadership {
    pub(crate) fn new(
        ballot: Ballot,
        next_slot: Slot,
        recovery_end: Slot,
        replica: &Replica,
    ) -> Leadership {
        let now = replica.now_ticks;
        Leadership {
            ballot,
            next_slot,
            recovery_end,
            inflight: BTreeMap::new(),
            heard_ticks: replica
                .window_peers()
                .into_iter()
                .map(|n| (n, now))
                .collect(),
            promisers: BTreeSet::new(),
            recovered: BTreeMap::new(),
            progress: BTreeMap::new(),
            whole: BTreeMap::new(),
            pad_until: replica.memberships.latest().0,
            last_heartbeat_ticks: now,
            commit_told: replica.commit,
            last_retry_ticks: now,
            last_quorum_check_ticks: now,
        }
    }
}

impl Replica {
    /// Fills the pipeline while it has room (§3.3.6: never more than α
    /// slots beyond the commit point).
    pub(crate) fn fill_pipeline(&mut self) {
        let mut values = Vec::new();
        while let Some(value) = self.next_value(values.len() as u64) {
            values.push(value);
        }
        if !values.is_empty() {
            self.propose_values(values);
        }
    }

    /// The decree for slot `next_slot + offset`, if the window reaches it
    /// and something waits: first the decrees phase 1 found, then a
    /// configuration change, then queued commands, then a `Noop` while a
    /// change waits to take effect.
    fn next_value(&mut self, offset: u64) -> Option<Value> {
        let Role::Leader(leadership) = &mut self.role else {
            return None;
        };
        let in_flight = leadership.next_slot.0 - self.commit.0 - 1 + offset;
        if in_flight >= self.config.pipeline_slots_max {
            return None;
        }
        let slot = Slot(leadership.next_slot.0 + offset);
        if let Some((at, value)) = leadership.recovered.pop_first() {
            assert_eq!(at, slot, "phase 1's decrees are re-proposed in order");
            return Some(value);
        }
        let pad = slot < leadership.pad_until;
        if let Some(membership) = self.queued_reconfig.take() {
            return Some(Value::Reconfigure(membership));
        }
        if !self.queued.is_empty() {
            return Some(Value::Batch(self.cut_batch()));
        }
        pad.then_some(Value::Noop)
    }

    /// One decree's worth of queued commands (§3.3.1 says nothing of
    /// batching; a decree holding many commands is still one decree).
    fn cut_batch(&mut self) -> Batch {
        let mut commands: Vec<Bytes> = Vec::new();
        let mut bytes = 0;
        while let Some(next) = self.queued.front() {
            let full = commands.len() >= self.config.batch_commands_max
                || (!commands.is_empty() && bytes + next.len() > self.config.batch_bytes_max);
            if full {
                break;
            }
            let command = self.queued.pop_front().expect("front exists");
            bytes += command.len();
            commands.push(command);
        }
        self.queued_bytes -= bytes;
        Batch::new(commands)
    }

    /// §2.3 `BeginBallot` for consecutive slots from `next_slot`: vote for
    /// them ourselves (counted once durable) and ask every peer to.
    pub(crate) fn propose_values(&mut self, values: Vec<Value>) {
        let commit = self.announced_commit();
        let alpha = self.alpha();
        let Role::Leader(leadership) = &mut self.role else {
            unreachable!("only a leader proposes");
        };
        let ballot = leadership.ballot;
        let first_slot = leadership.next_slot;
        let now = self.now_ticks;
        for (i, value) in values.iter().enumerate() {
            let slot = Slot(first_slot.0 + i as u64);
            if let Value::Reconfigure(_) = value {
                leadership.pad_until = leadership.pad_until.max(Slot(slot.0 + alpha));
            }
            let inflight = Inflight {
                value: value.clone(),
                acks: BTreeSet::new(),
                sent_ticks: now,
            };
            assert!(leadership.inflight.insert(slot, inflight).is_none());
        }
        leadership.next_slot = Slot(first_slot.0 + values.len() as u64);
        leadership.commit_told = commit;
        for (i, value) in values.iter().enumerate() {
            self.vote(Slot(first_slot.0 + i as u64), ballot, value);
        }
        self.after_persist(Deferred::SelfAccepted {
            ballot,
            first_slot,
            count: values.len() as u64,
        });
        for chunk_start in (0..values.len()).step_by(self.config.accept_values_max) {
            let end = (chunk_start + self.config.accept_values_max).min(values.len());
            let msg = Message::Accept {
                ballot,
                first_slot: Slot(first_slot.0 + chunk_start as u64),
                values: values[chunk_start..end].to_vec(),
                commit,
            };
            self.broadcast(msg);
        }
    }

    /// This replica, as acceptor, votes for `value` in `slot` at `ballot`
    /// (§2.3 `Voted`), unless it already holds that vote or a chosen
    /// decree there. The vote is staged for the ledger.
    pub(crate) fn vote(&mut self, slot: Slot, ballot: Ballot, value: &Value) {
        assert!(ballot <= self.promised, "voting above the promise");
        if slot <= self.log.snapshot() {
            return;
        }
        if let Some(entry) = self.log.get(slot) {
            if entry.chosen {
                return;
            }
            if entry.ballot == ballot {
                assert_eq!(&entry.value, value, "two decrees in one ballot for {slot}");
                return;
            }
        }
        let entry = Entry {
            ballot,
            value: value.clone(),
            chosen: false,
        };
        self.log.set(slot, entry);
        let value = value.clone();
        self.stage(Record::Vote {
            slot,
            ballot,
            value,
        });
    }

    /// §2.3 `Voted(b, q)` received: a decree voted by a majority of the
    /// voters of the configuration governing its slot, at our ballot, is
    /// chosen.
    pub(crate) fn handle_accepted(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first: Slot,
        count: u64,
    ) {
        let minority = self.config.planted(PlantedBug::MinorityQuorum);
        let now = self.now_ticks;
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        if leadership.ballot != ballot {
            return;
        }
        if from != self.config.id {
            leadership.heard_ticks.insert(from, now);
        }
        let mut newly_chosen = Vec::new();
        let last = Slot(first.0 + count - 1);
        for (slot, inflight) in leadership.inflight.range_mut(first..=last) {
            // Only voters of the configuration governing the slot count.
            let voters = self.memberships.at(*slot);
            if inflight.acks.insert(from)
                && voters.is_voter(from)
                && voters.has_quorum(minority, |n| inflight.acks.contains(&n))
            {
                newly_chosen.push(*slot);
            }
        }
        for slot in newly_chosen {
            let entry = self
                .log
                .get_mut(slot)
                .expect("the leader voted for its proposal");
            assert!(
                entry.chosen || entry.ballot == ballot,
                "own vote replaced under us"
            );
            entry.chosen = true;
        }
        self.advance_commit_locally();
    }

    /// Heartbeats, re-sent Accepts and the check that a majority still
    /// follows.
    pub(crate) fn tick_leader(&mut self) {
        let now = self.now_ticks;
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        if now >= leadership.last_quorum_check_ticks + self.config.election_timeout_ticks {
            if !self.has_live_quorum(leadership) {
                self.set_role(Role::follower());
                return;
            }
            if let Role::Leader(leadership) = &mut self.role {
                leadership.last_quorum_check_ticks = now;
            }
        }
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        if now >= leadership.last_heartbeat_ticks + self.config.heartbeat_interval_ticks {
            self.send_heartbeat_round();
        }
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        if now >= leadership.last_retry_ticks + self.config.accept_retry_ticks {
            self.resend_accepts();
        }
    }

    /// §3.3.1 `Success`, sent at once (`announce_commit_at_once`): a
    /// heartbeat round if the commit point moved since peers last heard it.
    pub(crate) fn announce_commit(&mut self) {
        if !self.config.announce_commit_at_once {
            return;
        }
        let commit = self.announced_commit();
        if let Role::Leader(leadership) = &self.role {
            if commit > leadership.commit_told {
                self.send_heartbeat_round();
            }
        }
    }

    /// The commit point a leader announces (planted bug 9 announces every
    /// slot it proposed, chosen or not).
    pub(crate) fn announced_commit(&self) -> Slot {
        match &self.role {
            Role::Leader(l) if self.config.planted(PlantedBug::CommitPastMajority) => {
                l.next_slot.prev()
            }
            _ => self.commit,
        }
    }

    /// Whether a quorum of every configuration in the window (ourselves
    /// included) was heard from within an election timeout.
    pub(crate) fn has_live_quorum(&self, leadership: &Leadership) -> bool {
        let horizon = self
            .now_ticks
            .saturating_sub(self.config.election_timeout_ticks);
        let me = self.config.id;
        self.window_quorum(|n| n == me || leadership.heard_ticks.get(&n) >= Some(&horizon))
    }

    /// The messengers are forgetful (§1): re-send every Accept a peer has
    /// not voted for after `accept_retry_ticks`.
    fn resend_accepts(&mut self) {
        let now = self.now_ticks;
        let retry = self.config.accept_retry_ticks;
        let commit = self.announced_commit();
        let peers = self.window_peers();
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        leadership.last_retry_ticks = now;
        let ballot = leadership.ballot;
        let mut sends = Vec::new();
        for peer in peers {
            let mut run: Option<(Slot, Vec<Value>)> = None;
            for (slot, inflight) in &leadership.inflight {
                let due = inflight.sent_ticks + retry <= now && !inflight.acks.contains(&peer);
                match (&mut run, due) {
                    (Some((first, values)), true) if first.0 + values.len() as u64 == slot.0 => {
                        values.push(inflight.value.clone())
                    }
                    (_, true) => {
                        if let Some(done) = run.replace((*slot, vec![inflight.value.clone()])) {
                            sends.push((peer, done));
                        }
                    }
                    (_, false) => sends.extend(run.take().map(|done| (peer, done))),
                }
            }
            sends.extend(run.map(|done| (peer, done)));
        }
        for inflight in leadership.inflight.values_mut() {
            if inflight.sent_ticks + retry <= now {
                inflight.sent_ticks = now;
            }
        }
        for (peer, (first_slot, values)) in sends {
            for (i, chunk) in values.chunks(self.config.accept_values_max).enumerate() {
                let first_slot = Slot(first_slot.0 + (i * self.config.accept_values_max) as u64);
                let values = chunk.to_vec();
                let msg = Message::Accept {
                    ballot,
                    first_slot,
                    values,
                    commit,
                };
                self.send(peer, msg);
            }
        }
    }

    /// Leaving the presidency: commands without a slot and reads without
    /// confirmation fail here (the driver retries them elsewhere).
    /// A configuration change not yet given a slot is dropped too: the
    /// driver sees it never applied.
    pub(crate) fn abandon_leadership(&mut self, leader: Option<NodeId>) {
        self.queued_reconfig = None;
        if !self.queued.is_empty() {
            let commands: Vec<Bytes> = self.queued.drain(..).collect();
            self.queued_bytes = 0;
            self.outbox.push_back(Action::ProposalsDropped { commands });
        }
        self.fail_reads(leader);
    }
}
