//! The replica: one priest of the parliament, as a sans-IO state machine.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;

use crate::action::Action;
use crate::config::{Config, ConfigError};
use crate::election::Role;
use crate::log::Log;
use crate::membership::{Membership, Memberships};
use crate::message::Message;
use crate::read_index::Reads;
use crate::record::{PersistedState, Record};
use crate::rng::Rng;
use crate::types::{Ballot, NodeId, PersistToken, ReadId, Slot};
use crate::validate::MessageError;

/// A Multi-Paxos replica: acceptor, proposer (when leading) and learner in
/// one deterministic state machine that performs no I/O.
///
/// # How to drive it
///
/// * **Getters** (`id`, `leader`, `is_leader`, `promised`, `commit`,
///   `applied`, …) never change state.
/// * **Inputs** — `handle_message` for a peer's message, `handle_tick` when
///   one tick of logical time passes, `handle_persisted` when the ledger
///   made a `Persist` durable, `install_snapshot` / `compact` for the law
///   book — change state and queue actions.
/// * **Commands** — `propose` a client command, `read_index` for a
///   linearizable read — are accepted only by the leader.
/// * **Outputs** — call `poll` after every input until it returns `None`,
///   and carry out each [`Action`] in order. `poll` also cuts queued
///   commands into decrees, so proposing many commands before polling
///   batches them.
///
/// Durability ordering is enforced inside: a message that reveals a
/// promise or a vote leaves `poll` only after `handle_persisted` covered the
/// records it depends on (§2.3: a priest writes in his ledger *before*
/// sending the message).
pub struct Replica {
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    /// Logical time: ticks seen by this incarnation.
    pub(crate) now_ticks: u64,
    /// Tick at which a follower or candidate starts a new campaign.
    pub(crate) election_deadline: u64,
    /// Tick at which the followed leader was last heard.
    pub(crate) leader_contact_ticks: u64,
    /// §2.3 `nextBal`: the highest ballot promised (durable once acked).
    pub(crate) promised: Ballot,
    /// Highest round seen anywhere, so a new ballot goes above it.
    pub(crate) round_seen: u64,
    /// Votes and chosen decrees after the snapshot.
    pub(crate) log: Log,
    /// Every slot up to here is chosen and its decree is in `log`
    /// (or folded into the snapshot).
    pub(crate) commit: Slot,
    /// Highest commit point a leader told us about.
    pub(crate) leader_commit: Slot,
    /// Every slot up to here has been handed out as `Action::Apply`.
    pub(crate) applied: Slot,
    pub(crate) role: Role,
    pub(crate) reads: Reads,
    /// Client commands waiting for a slot (leader only).
    pub(crate) queued: VecDeque<Bytes>,
    pub(crate) queued_bytes: usize,
    /// Tick of the next catch-up request we may send.
    pub(crate) catch_up_not_before: u64,
    pub(crate) durability: Durability,
    pub(crate) outbox: VecDeque<Action>,
    /// While recovering from an empty disk, the disk's number; else 0
    /// (`amnesia.rs`).
    pub(crate) disk: u64,
    /// While recovering: a ballot every member promised, this disk
    /// included, and the slot through which this replica must learn the
    /// chosen decrees to recover.
    pub(crate) recovery: Option<(Ballot, Slot)>,
    /// Ballots every member promised, per recovering member (`amnesia.rs`).
    pub(crate) vouchers: crate::amnesia::Vouchers,
    /// Tick before which a leader does not re-run phase 1 for a recovering
    /// member.
    pub(crate) full_phase1_not_before: u64,
    /// The configurations, by the first slot each governs (§3.3.6).
    pub(crate) memberships: Memberships,
    /// Whether some configuration known included this replica (a replica
    /// joining a running cluster is not admitted until a decree adds it).
    pub(crate) admitted: bool,
    /// Left out of the configuration: the tick of the last contact from a
    /// peer that lagged behind it (`reconfigure.rs`).
    pub(crate) retiring: Option<u64>,
    /// While retiring: the voters of the configuration that left this
    /// replica out that have shown they learned every decree it knows.
    pub(crate) successors_caught_up: BTreeSet<NodeId>,
    /// Left out of the configuration and retired: stopped.
    pub(crate) removed: bool,
    /// A configuration change waiting for a slot (leader only).
    pub(crate) queued_reconfig: Option<Membership>,
}

/// Something that may happen only once a `Persist` is durable.
#[derive(Clone, Debug)]
pub(crate) enum Deferred {
    /// Send a message that reveals a promise or a vote.
    Send(NodeId, Message),
    /// Count this replica's own promise for `ballot` (it is now durable).
    SelfPromise(Ballot),
    /// Count this replica's own votes (now durable).
    SelfAccepted {
        ballot: Ballot,
        first_slot: Slot,
        count: u64,
    },
}

/// Staged records and the work waiting for them to become durable.
#[derive(Default)]
pub(crate) struct Durability {
    /// Records of the current step, emitted as one `Persist`.
    pub(crate) staged: Vec<Record>,
    /// Highest token emitted.
    pub(crate) issued: PersistToken,
    /// Highest token acknowledged.
    pub(crate) persisted: PersistToken,
    /// Deferred work with the token it waits for, in token order.
    pub(crate) waiting: VecDeque<(PersistToken, Deferred)>,
}

impl Replica {
    /// A replica starting from `state` (what its ledger kept; `default()`
    /// for a new member). The driver must already have restored the state
    /// machine from the snapshot at `state.snapshot`.
    pub fn new(config: Config, state: PersistedState, seed: u64) -> Result<Replica, ConfigError> {
        config.validate()?;
        let mut state = state;
        if config.planted(crate::PlantedBug::ForgetPromiseOnRestart) {
            let votes = state.entries.values().filter(|e| !e.chosen);
            state.promised = votes.map(|e| e.ballot).max().unwrap_or_default();
        }
        let log = Log::restore(state.snapshot, state.entries);
        assert!(state.commit >= state.snapshot, "commit below snapshot");
        let initial = config
            .initial_membership()
            .map_err(|e| ConfigError(e.to_string()))?;
        let memberships = Memberships::from_entries(state.memberships.clone())
            .unwrap_or_else(|| Memberships::new(initial));
        let admitted = memberships.knows(config.id);
        let mut replica = Replica {
            rng: Rng::new(seed ^ config.id.0.rotate_left(32)),
            config,
            now_ticks: 0,
            election_deadline: 0,
            leader_contact_ticks: 0,
            promised: state.promised,
            round_seen: state.promised.round,
            log,
            commit: state.snapshot,
            leader_commit: state.commit,
            applied: state.snapshot,
            role: Role::follower(),
            reads: Reads::default(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            catch_up_not_before: 0,
            durability: Durability::default(),
            outbox: VecDeque::new(),
            disk: 0,
            recovery: None,
            vouchers: state.vouchers.clone(),
            full_phase1_not_before: 0,
            memberships,
            admitted,
            retiring: None,
            successors_caught_up: BTreeSet::new(),
            removed: false,
            queued_reconfig: None,
        };
        if state.recovering {
            replica.disk = state.disk;
            while replica.disk == 0 {
                replica.disk = replica.rng.next_u64();
            }
            if state.disk == 0 {
                // Durable before any promise this disk makes.
                let disk = replica.disk;
                replica.stage(Record::Amnesiac { disk });
            }
        }
        replica.reset_election_timer();
        replica.advance_commit_locally();
        replica.check_invariants();
        Ok(replica)
    }

    // ---- getters -------------------------------------------------------

    /// This replica's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The leader this replica follows (itself when leading), if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.role.leader(self.config.id)
    }

    /// Whether this replica leads (phase 1 done for its ballot).
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The highest ballot promised.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// Every slot up to here is chosen and known here.
    pub fn commit(&self) -> Slot {
        self.commit
    }

    /// Every slot up to here was handed out for application.
    pub fn applied(&self) -> Slot {
        self.applied
    }

    /// The last slot folded into the snapshot.
    pub fn snapshot_slot(&self) -> Slot {
        self.log.snapshot()
    }

    /// Ticks seen by this incarnation.
    pub fn now_ticks(&self) -> u64 {
        self.now_ticks
    }

    /// The highest token acknowledged by `handle_persisted`.
    pub fn persisted_token(&self) -> PersistToken {
        self.durability.persisted
    }

    /// The vote or chosen decree held for `slot`, if any.
    pub fn entry(&self, slot: Slot) -> Option<&crate::types::Entry> {
        self.log.get(slot)
    }

    /// Slots this leader proposed that are not chosen yet (§3.3.1: the
    /// pipeline); 0 when not leading.
    pub fn slots_in_flight(&self) -> u64 {
        match &self.role {
            Role::Leader(leadership) => leadership.next_slot.0.saturating_sub(self.commit.0 + 1),
            _ => 0,
        }
    }

    /// Client commands queued and not yet in a decree.
    pub fn queued_commands(&self) -> usize {
        self.queued.len()
    }

    // ---- inputs ----------------------------------------------------------

    /// A message from peer `from`. A message that could not come from a
    /// correct peer is rejected with an error and changes nothing; the
    /// driver should drop that peer's connection. A message from a replica
    /// outside every configuration known here (one removed, or one added by
    /// a decree not learned yet) is ignored but for teaching it the decrees
    /// it lacks, as is every message once this replica is removed; while it
    /// retires, it only teaches laggards.
    pub fn handle_message(&mut self, from: NodeId, msg: Message) -> Result<(), MessageError> {
        self.validate_message(from, &msg)?;
        if self.removed {
            return Ok(());
        }
        if self.retiring.is_some() {
            if self.teach_laggard(from, &msg) {
                self.retiring = Some(self.now_ticks);
            }
            self.note_successor(from, &msg);
            return Ok(());
        }
        if !self.knows(from) {
            self.teach_laggard(from, &msg);
            return Ok(());
        }
        self.dispatch(from, msg);
        self.check_invariants_cheap();
        Ok(())
    }

    fn dispatch(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::Prepare { ballot, from_slot } => self.handle_prepare(from, ballot, from_slot),
            Message::Promise { ballot, .. } => self.handle_promise(from, ballot, msg),
            Message::Accept {
                ballot,
                first_slot,
                values,
                commit,
            } => self.handle_accept(from, ballot, first_slot, values, commit),
            Message::Accepted {
                ballot,
                first_slot,
                count,
            } => self.handle_accepted(from, ballot, first_slot, count),
            Message::Nack { ballot, promised } => self.handle_nack(from, ballot, promised),
            Message::Heartbeat {
                ballot,
                commit,
                read_seq,
            } => self.handle_heartbeat(from, ballot, commit, read_seq),
            Message::HeartbeatAck {
                ballot,
                read_seq,
                amnesia,
            } => {
                self.handle_heartbeat_ack(from, ballot, read_seq);
                self.note_amnesia(from, ballot, amnesia);
                if amnesia != 0 {
                    self.heard_recovering(from, ballot, amnesia);
                }
            }
            Message::CatchUp { from_slot } => self.handle_catch_up(from, from_slot),
            Message::Learn {
                first_slot,
                entries,
            } => self.handle_learn(from, first_slot, entries),
            Message::Recovered { .. } => self.handle_recovered(msg),
            Message::Progress { ballot, commit } => self.handle_progress(from, ballot, commit),
        }
    }

    /// One tick of logical time passed.
    pub fn handle_tick(&mut self) {
        if self.removed {
            return;
        }
        self.now_ticks += 1;
        if self.retiring.is_some() {
            self.tick_retiring();
            return;
        }
        if self.is_leader() {
            self.tick_leader();
        } else {
            self.tick_election();
        }
        self.check_invariants_cheap();
    }

    /// The ledger made every `Persist` up to `token` durable.
    pub fn handle_persisted(&mut self, token: PersistToken) {
        assert!(
            token <= self.durability.issued,
            "acknowledged {token:?} which was never issued (issued {:?})",
            self.durability.issued
        );
        if token <= self.durability.persisted {
            return;
        }
        self.durability.persisted = token;
        while let Some((waits_for, _)) = self.durability.waiting.front() {
            if *waits_for > token {
                break;
            }
            let (_, deferred) = self.durability.waiting.pop_front().expect("front exists");
            self.run_deferred(deferred);
        }
        self.check_invariants_cheap();
    }

    fn run_deferred(&mut self, deferred: Deferred) {
        match deferred {
            Deferred::Send(to, msg) => self.outbox.push_back(Action::Send { to, msg }),
            Deferred::SelfPromise(ballot) => self.handle_self_promise(ballot),
            Deferred::SelfAccepted {
                ballot,
                first_slot,
                count,
            } => self.handle_accepted(self.config.id, ballot, first_slot, count),
        }
    }

    /// Drains the next action. Call until `None` after every input.
    pub fn poll(&mut self) -> Option<Action> {
        if self.outbox.is_empty() {
            self.fill_pipeline();
            self.start_read_round();
            self.announce_commit();
            self.flush_staged();
        }
        self.outbox.pop_front()
    }

    // ---- durability plumbing --------------------------------------------

    /// Stages a record for the next `Persist`.
    pub(crate) fn stage(&mut self, record: Record) {
        self.durability.staged.push(record);
    }

    /// Runs `deferred` once everything staged or issued so far is durable.
    pub(crate) fn after_persist(&mut self, deferred: Deferred) {
        let durability = &mut self.durability;
        let waits_for = if durability.staged.is_empty() {
            durability.issued
        } else {
            PersistToken(durability.issued.0 + 1)
        };
        if waits_for <= durability.persisted {
            self.run_deferred(deferred);
        } else {
            durability.waiting.push_back((waits_for, deferred));
        }
    }

    /// Emits the staged records as one `Persist`.
    pub(crate) fn flush_staged(&mut self) {
        if self.durability.staged.is_empty() {
            return;
        }
        let token = PersistToken(self.durability.issued.0 + 1);
        self.durability.issued = token;
        let records = std::mem::take(&mut self.durability.staged);
        self.outbox.push_back(Action::Persist { token, records });
    }

    /// Sends `msg` now (it reveals nothing that is not yet durable).
    pub(crate) fn send(&mut self, to: NodeId, msg: Message) {
        assert_ne!(to, self.config.id, "a replica does not message itself");
        self.outbox.push_back(Action::Send { to, msg });
    }

    /// Sends `msg` to every other voter and learner of the configurations
    /// governing the window (`reconfigure.rs`).
    pub(crate) fn broadcast(&mut self, msg: Message) {
        for to in self.window_peers() {
            self.send(to, msg.clone());
        }
    }

    /// A client command for the ledger. Only the leader accepts; commands
    /// are cut into decrees when the driver next calls `poll`.
    pub fn propose(&mut self, command: Bytes) -> Result<(), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::NotLeader {
                leader: self.leader(),
            });
        }
        if self.queued.len() >= self.config.pending_commands_max {
            return Err(ProposeError::Busy);
        }
        self.queued_bytes += command.len();
        self.queued.push_back(command);
        Ok(())
    }

    /// Asks for a linearizable read. Only the leader accepts; the answer is
    /// `Action::ReadReady` (serve it then) or `Action::ReadFailed`.
    pub fn read_index(&mut self, id: ReadId) -> Result<(), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::NotLeader {
                leader: self.leader(),
            });
        }
        self.queue_read(id);
        Ok(())
    }
}

/// Why a command or read was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Only the leader takes commands; `leader` is a hint.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// Too many commands are waiting for a slot.
    #[error("too many pending proposals")]
    Busy,
}
