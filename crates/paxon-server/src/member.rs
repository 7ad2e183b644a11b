//! The member's driver: one task owns the replica, the ledger handle and
//! the state machine, and turns inputs (peer frames, client requests,
//! ticks, finished syncs) into the core's actions carried out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use paxon_core::{Action, NodeId, ProposeError, ReadId, Replica, Slot, Value};
use paxon_kv::SnapshotEncoder;
use tokio::sync::{mpsc, oneshot};

use crate::catchup::{ChunkOf, Incoming, Outgoing, Received};
use crate::disk::{encode_snapshot, Disk, DiskEvent};
use crate::error::ServeError;
use crate::lease::{LeaseClock, LeaseQuery};
use crate::metrics::Metrics;
use crate::peer::PeerFrame;
use crate::probe::Prober;
use crate::reconfig::Asker;
use crate::roster::Roster;
use crate::state::{self, StateMachine};
use crate::transport::{Inbound, Transport};
use crate::watch::{Hub, WatchOp};

/// How often watchers that ask for it get a progress notification (etcd's
/// default).
pub const WATCH_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);

/// The ledger after a snapshot may grow to this before the next one is
/// due, whatever the snapshot's size (see `Member::maybe_snapshot`).
pub const SNAPSHOT_LEDGER_BYTES_MIN: u64 = 64 << 20;

/// Keys of the store encoded into a snapshot between two inputs (a few
/// milliseconds' work).
pub const SNAPSHOT_KEYS_PER_STEP: usize = 10_000;

/// A request not answered by then fails with "request timed out".
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);

/// A client request handed to the driver.
pub enum ClientOp {
    /// A write (or a transaction): goes through the ledger.
    Write {
        /// The command.
        command: paxon_kv::Command,
        /// Where the answer goes.
        reply: WriteReply,
    },
    /// A Range.
    Read {
        /// The request.
        request: paxon_kv::RangeRequest,
        /// Linearizable (read index) or serializable (local).
        linearizable: bool,
        /// Where the answer goes.
        reply: ReadReply,
    },
    /// A watch stream's request to the hub.
    Watch(WatchOp),
    /// A read of the lease table.
    Lease(LeaseQuery),
    /// What `Maintenance.Status` and `Cluster.MemberList` report.
    Status {
        /// Where the answer goes.
        reply: oneshot::Sender<StatusInfo>,
    },
    /// `MemberAdd`, `MemberRemove` or `MemberPromote` (`reconfig.rs`).
    Reconfigure {
        /// The change.
        change: crate::reconfig::MemberChange,
        /// Where the answer goes.
        reply: crate::reconfig::ChangeReply,
    },
    /// etcd's `HashKV` of this member's store at `revision` (0: current),
    /// with the ballot round.
    HashKv {
        /// The revision.
        revision: i64,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(state::Hashed, u64), ServeError>>,
    },
    /// This member's store as snapshot bytes, with its revision and the
    /// ballot round (for `Maintenance.Snapshot`).
    Backup {
        /// Where the answer goes.
        reply: oneshot::Sender<(Vec<u8>, i64, u64)>,
    },
}

/// The member's state as `Status` reports it.
#[derive(Clone, Debug)]
pub struct StatusInfo {
    /// This member.
    pub me: NodeId,
    /// The leader, if known.
    pub leader: Option<NodeId>,
    /// Ballot round of the highest promise (etcd's raft term).
    pub term: u64,
    /// Commit point (etcd's raft index).
    pub commit: Slot,
    /// Applied slot.
    pub applied: Slot,
    /// The store's revision.
    pub revision: i64,
    /// Approximate size of the store.
    pub db_size: u64,
    /// Client URLs each peer announced.
    pub client_urls: BTreeMap<NodeId, String>,
    /// Raised alarms, as this member applied them.
    pub alarms: Vec<paxon_kv::AlarmMember>,
    /// The configurations known, by the first slot each governs.
    pub memberships: paxon_core::Memberships,
    /// Names and peer URLs of the members of those configurations, as far
    /// as known (`roster.rs`).
    pub directory: BTreeMap<NodeId, crate::grpc::MemberInfo>,
}

/// Where a write's answer goes: the response and the ballot round.
pub type WriteReply = oneshot::Sender<Result<(state::Applied, u64), ServeError>>;
/// Where a read's answer goes: the response and the ballot round.
pub type ReadReply = oneshot::Sender<Result<(state::Ranged, u64), ServeError>>;

/// Everything that wakes the driver.
pub enum Input {
    /// A peer's frame or hello.
    Peer(Inbound),
    /// A client request.
    Client(ClientOp),
}

enum Pending {
    /// Proposed here (`None`) or forwarded to that leader.
    Write(WriteReply, Option<NodeId>),
}

enum ReadWaiter {
    /// A local client's read.
    Local(paxon_kv::RangeRequest, ReadReply),
    /// A follower's read index request.
    Remote(NodeId, u64),
}

/// The driver.
pub struct Member {
    pub(crate) me: NodeId,
    pub(crate) replica: Replica,
    disk: Disk,
    pub(crate) machine: StateMachine,
    pub(crate) transport: Transport,
    next_id: u64,
    /// Writes proposed or forwarded from here, by request id.
    pending: BTreeMap<u64, (Instant, Pending)>,
    /// Reads waiting for a read index, by read id.
    reads: BTreeMap<ReadId, ReadWaiter>,
    /// Local reads waiting for `applied` to reach their index.
    reads_after_apply: BTreeMap<Slot, Vec<(paxon_kv::RangeRequest, ReadReply)>>,
    /// Reads asked of the leader, by id.
    remote_reads: BTreeMap<u64, (Instant, NodeId, paxon_kv::RangeRequest, ReadReply)>,
    /// Bytes of the latest snapshot begun: the next one is due when the
    /// ledger after it has grown by a part of that (see `maybe_snapshot`).
    snapshot_bytes: u64,
    /// The slot of the newest durable snapshot.
    saved_slot: Slot,
    /// The commit point the member restarted with, and when it started:
    /// the replay of the ledger is done when the store reaches it.
    replay: Option<(Slot, Instant)>,
    /// The snapshot being encoded, as of the slot it began at.
    encoding: Option<(Slot, SnapshotEncoder)>,
    /// Laggards that asked for a snapshot while one was being written:
    /// they get the new one once it is durable.
    laggards: BTreeSet<NodeId>,
    client_urls: BTreeMap<NodeId, String>,
    /// Where the store's size is published for the quota check.
    db_size: Arc<AtomicU64>,
    /// Applied slots between two snapshots (`--snapshot-count`).
    snapshot_every_slots: u64,
    /// The last slot the state machine has applied. The core's `applied()`
    /// runs ahead of it while `Apply` actions wait in its outbox, so reads
    /// must wait on this one.
    machine_applied: Slot,
    /// Snapshots being sent to laggards.
    outgoing: Outgoing,
    /// The snapshot being received, if any.
    incoming: Incoming,
    /// Every watcher on this member.
    watch: Hub,
    /// When this member, leading, last proposed its time (§3.3.3).
    lease_clock: LeaseClock,
    /// What `/metrics` shows, published after every round of actions.
    pub(crate) metrics: Arc<Metrics>,
    /// Round-trip probes of the peers.
    prober: Prober,
    /// Configuration changes proposed here, waiting to be applied, or
    /// forwarded to the leader.
    pub(crate) reconfig: crate::reconfig::Waiting,
    /// Names and peer URLs of the members (`roster.rs`).
    pub(crate) roster: Roster,
}

impl Member {
    /// A driver for `replica`, recovered from `disk`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        replica: Replica,
        disk: Disk,
        machine: StateMachine,
        transport: Transport,
        roster: Roster,
        snapshot_slot: Slot,
        db_size: Arc<AtomicU64>,
        snapshot_every_slots: u64,
    ) -> Member {
        let machine_applied = snapshot_slot;
        let recovered_commit = replica.commit();
        let metrics = Arc::new(Metrics::new(&[], Arc::clone(&db_size)));
        Member {
            me: replica.id(),
            replica,
            disk,
            machine,
            transport,
            next_id: first_request_id(),
            pending: BTreeMap::new(),
            reads: BTreeMap::new(),
            reads_after_apply: BTreeMap::new(),
            remote_reads: BTreeMap::new(),
            snapshot_bytes: 0,
            saved_slot: snapshot_slot,
            replay: (recovered_commit > snapshot_slot).then(|| (recovered_commit, Instant::now())),
            encoding: None,
            laggards: BTreeSet::new(),
            client_urls: BTreeMap::new(),
            db_size,
            snapshot_every_slots,
            machine_applied,
            outgoing: Outgoing::default(),
            incoming: Incoming::default(),
            watch: Hub::new(WATCH_PROGRESS_NOTIFY_INTERVAL),
            lease_clock: LeaseClock::new(),
            metrics,
            prober: Prober::new(Instant::now()),
            reconfig: Default::default(),
            roster,
        }
    }

    /// Publishes into `metrics` instead of a private set.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Member {
        self.metrics = metrics;
        self
    }

    /// The gauges a scrape reads (a few relaxed stores per round).
    fn publish_metrics(&self) {
        let m = &self.metrics;
        m.is_leader.set(i64::from(self.replica.is_leader()));
        m.ballot_round.set(self.term() as i64);
        m.proposals_committed.set(self.replica.commit().0 as i64);
        m.proposals_applied.set(self.machine_applied.0 as i64);
        m.proposals_pending.set(self.pending.len() as i64);
        m.slots_in_flight.set(self.replica.slots_in_flight() as i64);
    }

    /// The ballot round: etcd's raft term in response headers.
    fn term(&self) -> u64 {
        self.replica.promised().round
    }

    /// Every tick: lagging watchers catch up; the leader proposes its time
    /// while leases exist.
    fn on_tick(&mut self) {
        self.watch.catch_up(self.machine.store(), self.term());
        let now = Instant::now();
        if let Some(sent_ns) = self.prober.due(now) {
            let (_, latest) = self.replica.memberships().latest();
            for peer in latest.all().filter(|p| *p != self.me) {
                self.transport.send(peer, &PeerFrame::Probe { sent_ns });
            }
        }
        self.maybe_publish_name(now);
        if self.replica.is_leader() {
            if let Some(tick) = self.lease_clock.due(self.machine.store()) {
                self.propose_own(&tick);
            }
        }
    }

    /// Proposes a decree of the member's own (time, promotion); nobody
    /// waits for its answer, and if it is not chosen the next one will be.
    pub(crate) fn propose_own(&mut self, command: &paxon_kv::Command) {
        let decree = encode_decree(self.me, 0, command);
        if let Err(error) = self.replica.propose(decree) {
            tracing::debug!(?error, "could not propose the leader's time");
        }
    }

    /// Proposes a client's decree as leader, after the leader's time if
    /// the decree counts a lease deadline from it (§3.3.3).
    fn propose_client(&mut self, decree: Bytes) -> Result<(), ProposeError> {
        if let Some(tick) = self
            .lease_clock
            .before(decree.get(16..).unwrap_or_default())
        {
            self.propose_own(&tick);
        }
        self.replica.propose(decree)
    }

    /// Runs until every input channel closes.
    pub async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Input>,
        mut disk_events: mpsc::UnboundedReceiver<DiskEvent>,
        tick: Duration,
    ) {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.drain();
        loop {
            tokio::select! {
                input = inbox.recv() => {
                    let Some(input) = input else { return };
                    self.handle(input);
                    // Take what else is waiting before polling: many client
                    // requests become one decree and one fdatasync.
                    for _ in 0..1024 {
                        match inbox.try_recv() {
                            Ok(input) => self.handle(input),
                            Err(_) => break,
                        }
                    }
                }
                event = disk_events.recv() => match event {
                    Some(DiskEvent::Durable(token)) => self.replica.handle_persisted(token),
                    Some(DiskEvent::SnapshotSaved(slot)) => self.snapshot_saved(slot),
                    None => return,
                },
                _ = ticker.tick() => {
                    self.replica.handle_tick();
                    self.expire_requests();
                    for (to, frame) in self.outgoing.tick(Instant::now()) {
                        self.transport.send(to, &frame);
                    }
                    self.on_tick();
                }
            }
            self.drain();
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Peer(Inbound::Hello(from, urls)) => {
                self.client_urls.insert(from, urls);
            }
            Input::Peer(Inbound::Join { peer_urls, reply }) => self.answer_join(peer_urls, reply),
            Input::Peer(Inbound::Frame(from, frame)) => self.handle_frame(from, frame),
            Input::Client(op) => self.handle_client(op),
        }
    }

    fn handle_frame(&mut self, from: NodeId, frame: PeerFrame) {
        match frame {
            PeerFrame::Core(msg) => {
                if let Err(error) = self.replica.handle_message(from, msg) {
                    tracing::warn!(%from, %error, "rejected a peer message");
                }
            }
            PeerFrame::Forward { id, command } => {
                if let Err(error) = self.propose_client(command) {
                    let leader = leader_of(&error);
                    self.transport
                        .send(from, &PeerFrame::Rejected { id, leader });
                }
            }
            PeerFrame::Rejected { id, leader } => self.rejected(id, leader),
            PeerFrame::ReadIndex { id } => {
                let read = self.new_read_id();
                match self.replica.read_index(read) {
                    Ok(()) => {
                        self.reads.insert(read, ReadWaiter::Remote(from, id));
                    }
                    Err(error) => {
                        let leader = leader_of(&error);
                        self.transport
                            .send(from, &PeerFrame::Rejected { id, leader });
                    }
                }
            }
            PeerFrame::ReadIndexReady { id, slot } => {
                if let Some((_, _, request, reply)) = self.remote_reads.remove(&id) {
                    self.read_at(slot, request, reply);
                }
            }
            PeerFrame::SnapshotChunk {
                slot,
                total,
                crc,
                offset,
                data,
            } => {
                let chunk = ChunkOf {
                    slot,
                    total,
                    crc,
                    offset,
                    data,
                };
                self.replica.peer_holds(from, slot);
                match self.incoming.chunk(from, self.machine_applied, chunk) {
                    Ok(Received::Ack(ack)) => self.transport.send(from, &ack),
                    Ok(Received::Complete { slot, state, ack }) => {
                        self.install_snapshot(slot, state);
                        self.transport.send(from, &ack);
                    }
                    Err(error) => tracing::warn!(%from, %error, "refused a snapshot"),
                }
            }
            PeerFrame::SnapshotAck { slot, received } => {
                for frame in self.outgoing.acked(from, slot, received, Instant::now()) {
                    self.transport.send(from, &frame);
                }
            }
            PeerFrame::Probe { sent_ns } => {
                self.transport
                    .send(from, &PeerFrame::ProbeReply { sent_ns });
            }
            PeerFrame::ProbeReply { sent_ns } => {
                if let Some(rtt) = self.prober.round_trip(sent_ns, Instant::now()) {
                    self.metrics.peer_round_trip(from, rtt);
                }
            }
            PeerFrame::Reconfigure { id, change } => {
                self.reconfigure(change, Asker::Peer(from, id))
            }
            PeerFrame::Reconfigured { id, outcome } => self.reconfigured_by_leader(id, outcome),
        }
    }

    fn rejected(&mut self, id: u64, leader: Option<NodeId>) {
        let error = match leader {
            Some(_) => ServeError::LeaderChanged,
            None => ServeError::NoLeader,
        };
        if let Some((_, Pending::Write(reply, _))) = self.pending.remove(&id) {
            let _ = reply.send(Err(error));
        } else if let Some((_, _, _, reply)) = self.remote_reads.remove(&id) {
            let _ = reply.send(Err(error));
        }
    }

    fn new_read_id(&mut self) -> ReadId {
        ReadId(self.new_request_id())
    }

    /// A fresh id for a request of this member's (see
    /// [`first_request_id`]).
    pub(crate) fn new_request_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn handle_client(&mut self, op: ClientOp) {
        match op {
            ClientOp::Write { command, reply } => self.write(command, reply),
            ClientOp::Read {
                request,
                linearizable,
                reply,
            } => {
                if linearizable {
                    self.linearizable_read(request, reply);
                } else {
                    let _ = reply.send(self.termed(self.machine.range(&request)));
                }
            }
            ClientOp::Watch(op) => self.watch.handle(op, self.machine.store(), self.term()),
            ClientOp::Lease(query) => query.answer(self.machine.store(), self.term()),
            ClientOp::Status { reply } => {
                let _ = reply.send(self.status());
            }
            ClientOp::Reconfigure { change, reply } => {
                self.reconfigure(change, Asker::Local(reply))
            }
            ClientOp::HashKv { revision, reply } => {
                let _ = reply.send(self.termed(self.machine.hash_kv(revision)));
            }
            ClientOp::Backup { reply } => {
                let (state, revision) = (self.machine.snapshot(), self.machine.revision());
                let _ = reply.send((state, revision, self.term()));
            }
        }
    }

    /// Adds the ballot round (etcd's raft term) to an answer.
    fn termed<T>(&self, result: Result<T, ServeError>) -> Result<(T, u64), ServeError> {
        result.map(|value| (value, self.term()))
    }

    fn status(&self) -> StatusInfo {
        StatusInfo {
            me: self.me,
            leader: self.replica.leader(),
            term: self.term(),
            commit: self.replica.commit(),
            applied: self.replica.applied(),
            revision: self.machine.revision(),
            db_size: self.machine.size_bytes(),
            client_urls: self.client_urls.clone(),
            alarms: self.machine.alarms(),
            memberships: self.replica.memberships().clone(),
            directory: self.directory(),
        }
    }

    /// Proposes here when leading, else forwards to the leader; the answer
    /// comes when this member applies the command.
    fn write(&mut self, command: paxon_kv::Command, reply: WriteReply) {
        let id = self.new_request_id();
        let decree = encode_decree(self.me, id, &command);
        let outcome = if self.replica.is_leader() {
            self.propose_client(decree)
                .map(|()| None)
                .map_err(|e| match e {
                    ProposeError::Busy => ServeError::TooManyRequests,
                    ProposeError::NotLeader { .. } => ServeError::NoLeader,
                })
        } else if let Some(leader) = self.replica.leader() {
            let frame = PeerFrame::Forward {
                id,
                command: decree,
            };
            self.transport.send(leader, &frame);
            Ok(Some(leader))
        } else {
            Err(ServeError::NoLeader)
        };
        match outcome {
            Ok(forwarded_to) => {
                let pending = Pending::Write(reply, forwarded_to);
                self.pending.insert(id, (Instant::now(), pending));
            }
            Err(error) => {
                let _ = reply.send(Err(error));
            }
        }
    }

    fn linearizable_read(&mut self, request: paxon_kv::RangeRequest, reply: ReadReply) {
        if self.replica.is_leader() {
            let read = self.new_read_id();
            match self.replica.read_index(read) {
                Ok(()) => {
                    self.reads.insert(read, ReadWaiter::Local(request, reply));
                }
                Err(_) => {
                    let _ = reply.send(Err(ServeError::NoLeader));
                }
            }
        } else if let Some(leader) = self.replica.leader() {
            let id = self.new_request_id();
            self.transport.send(leader, &PeerFrame::ReadIndex { id });
            self.remote_reads
                .insert(id, (Instant::now(), leader, request, reply));
        } else {
            let _ = reply.send(Err(ServeError::NoLeader));
        }
    }

    /// Serves a read once everything up to `slot` is applied here.
    fn read_at(&mut self, slot: Slot, request: paxon_kv::RangeRequest, reply: ReadReply) {
        if self.machine_applied >= slot {
            let _ = reply.send(self.termed(self.machine.range(&request)));
        } else {
            self.reads_after_apply
                .entry(slot)
                .or_default()
                .push((request, reply));
        }
    }

    fn expire_requests(&mut self) {
        let now = Instant::now();
        let expired = |at: &Instant| now.duration_since(*at) > REQUEST_TIMEOUT;
        let old: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, (at, _))| expired(at))
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((_, Pending::Write(reply, _))) = self.pending.remove(&id) {
                let _ = reply.send(Err(ServeError::Timeout));
            }
        }
        let old: Vec<u64> = self
            .remote_reads
            .iter()
            .filter(|(_, (at, _, _, _))| expired(at))
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((_, _, _, reply)) = self.remote_reads.remove(&id) {
                let _ = reply.send(Err(ServeError::Timeout));
            }
        }
        self.expire_forwarded_changes(now);
    }

    /// Carries out every action the replica queued.
    fn drain(&mut self) {
        while let Some(action) = self.replica.poll() {
            self.perform(action);
        }
        self.db_size
            .store(self.machine.size_bytes(), Ordering::Relaxed);
        self.maybe_snapshot();
        self.refresh_peers();
        self.publish_metrics();
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Persist { token, records } => {
                if let Err(error) = self.disk.persist(token, &records) {
                    eprintln!("paxon: fatal: cannot write the ledger: {error}");
                    std::process::exit(1);
                }
            }
            Action::Send { to, msg } => {
                self.reach(to);
                self.transport.send(to, &PeerFrame::Core(msg));
            }
            Action::Apply { slot, value } => self.apply(slot, value),
            Action::ReadReady { id, slot } => self.read_ready(id, slot),
            Action::ReadFailed { id, leader } => match self.reads.remove(&id) {
                Some(ReadWaiter::Local(_, reply)) => {
                    let _ = reply.send(Err(ServeError::LeaderChanged));
                }
                Some(ReadWaiter::Remote(to, id)) => {
                    self.transport.send(to, &PeerFrame::Rejected { id, leader });
                }
                None => {}
            },
            Action::ProposalsDropped { commands } => self.dropped(commands),
            Action::SnapshotNeeded { to, .. } => self.send_snapshot(to),
            Action::Removed { at } => {
                // Nothing this member told a peer is lost by stopping now:
                // a promise or vote is sent only once its record is durable
                // (§2.3), and the configuration in force no longer counts it.
                tracing::warn!(%at, "removed from the cluster; stopping");
                std::process::exit(0);
            }
            Action::LeaderChanged { leader, ballot } => {
                tracing::info!(?leader, %ballot, "leader changed");
                self.metrics.leader_seen(leader, ballot.round);
                self.reconfigure_abandoned(leader);
                self.fail_forwards_not_to(leader);
                if leader == Some(self.me) {
                    let promote = self.lease_clock.promote();
                    self.propose_own(&promote);
                }
            }
        }
    }

    /// Requests forwarded to a leader that is no longer the one we know
    /// may never be answered: fail them now, as etcd does, with an error
    /// that says the outcome is unknown (a forwarded write may still have
    /// been chosen).
    fn fail_forwards_not_to(&mut self, leader: Option<NodeId>) {
        let stale = |to: &NodeId| Some(*to) != leader;
        let writes: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, (_, Pending::Write(_, to)))| to.as_ref().is_some_and(stale))
            .map(|(id, _)| *id)
            .collect();
        for id in writes {
            if let Some((_, Pending::Write(reply, _))) = self.pending.remove(&id) {
                let _ = reply.send(Err(ServeError::TimeoutLeaderFailed));
            }
        }
        let reads: Vec<u64> = self
            .remote_reads
            .iter()
            .filter(|(_, (_, to, _, _))| stale(to))
            .map(|(id, _)| *id)
            .collect();
        for id in reads {
            if let Some((_, _, _, reply)) = self.remote_reads.remove(&id) {
                let _ = reply.send(Err(ServeError::TimeoutLeaderFailed));
            }
        }
    }

    fn apply(&mut self, slot: Slot, value: Value) {
        assert_eq!(
            slot,
            self.machine_applied.next(),
            "slots are applied in order"
        );
        self.machine_applied = slot;
        if let Value::Reconfigure(membership) = &value {
            self.reconfigured(membership);
            self.roster.mark_stale();
        }
        if let Value::Batch(batch) = value {
            self.metrics
                .batch_size
                .observe(batch.commands().len() as u64);
            for decree in batch.commands() {
                let Some((origin, id, command)) = decode_decree(decree) else {
                    tracing::error!(%slot, "a chosen command does not decode; skipped on every member alike");
                    continue;
                };
                if matches!(command, paxon_kv::Command::MemberAttrs { .. }) {
                    self.roster.mark_stale();
                }
                let applied = self.machine.apply(&command);
                let events = self.machine.take_events();
                self.watch
                    .publish(&events, self.machine.store(), self.term());
                let applied = self.termed(applied);
                if origin == self.me {
                    if let Some((_, Pending::Write(reply, _))) = self.pending.remove(&id) {
                        let _ = reply.send(applied);
                    }
                }
            }
        }
        if self.replay.is_some_and(|(through, _)| slot >= through) {
            let (through, began) = self.replay.take().expect("replaying");
            let ms = began.elapsed().as_millis() as u64;
            tracing::info!(%through, ms, "applied the decrees recovered from the ledger");
        }
        self.serve_reads_through(slot);
    }

    /// Serves the reads that waited for the state machine to reach `slot`.
    fn serve_reads_through(&mut self, slot: Slot) {
        let mut waiting = self.reads_after_apply.split_off(&slot.next());
        std::mem::swap(&mut waiting, &mut self.reads_after_apply);
        for (request, reply) in waiting.into_values().flatten() {
            let _ = reply.send(self.termed(self.machine.range(&request)));
        }
    }

    fn read_ready(&mut self, id: ReadId, slot: Slot) {
        match self.reads.remove(&id) {
            Some(ReadWaiter::Local(request, reply)) => self.read_at(slot, request, reply),
            Some(ReadWaiter::Remote(to, id)) => {
                self.transport
                    .send(to, &PeerFrame::ReadIndexReady { id, slot });
            }
            None => {}
        }
    }

    /// Commands that never got a slot were not applied: their origin may
    /// say so ("leader changed") at once.
    fn dropped(&mut self, commands: Vec<Bytes>) {
        let leader = self.replica.leader();
        for decree in commands {
            let Some((origin, id, _)) = decode_decree(&decree) else {
                continue;
            };
            if origin != self.me {
                self.transport
                    .send(origin, &PeerFrame::Rejected { id, leader });
            } else if let Some((_, Pending::Write(reply, _))) = self.pending.remove(&id) {
                let _ = reply.send(Err(ServeError::LeaderChanged));
            }
        }
    }

    /// §3.3.2: every so often, write the law book and let the ledger go:
    /// after `--snapshot-count` slots, or once the ledger after the last
    /// snapshot holds [`SNAPSHOT_LEDGER_BYTES_MIN`] or a quarter of that
    /// snapshot's size, whichever is more (a slot may carry one command or
    /// a thousand, so bytes bound the work a restart replays; the quarter
    /// bounds what snapshots cost in writes to 4× the ledger's).
    ///
    /// The member never stops for it: the store is encoded
    /// [`SNAPSHOT_KEYS_PER_STEP`] keys at a time between inputs, as of the
    /// slot it began at (paxon-kv's `SnapshotEncoder`), and a thread of the
    /// disk's writes it.
    fn maybe_snapshot(&mut self) {
        if let Some((slot, encoder)) = &mut self.encoding {
            let store = self.machine.store();
            match store.continue_snapshot(encoder, SNAPSHOT_KEYS_PER_STEP) {
                Ok(false) => {}
                Ok(true) => {
                    let (slot, encoder) = self.encoding.take().expect("encoding");
                    self.save_snapshot(slot, encoder);
                }
                Err(aborted) => {
                    tracing::debug!(%slot, %aborted, "snapshot abandoned; the next one starts over");
                    self.encoding = None;
                }
            }
            return;
        }
        let applied = self.machine_applied;
        let slots = applied.0.saturating_sub(self.replica.snapshot_slot().0);
        let bytes_due = SNAPSHOT_LEDGER_BYTES_MIN.max(self.snapshot_bytes / 4);
        if slots == 0
            || self.disk.is_saving()
            || (slots < self.snapshot_every_slots
                && self.disk.appended_since_snapshot() < bytes_due)
        {
            return;
        }
        tracing::debug!(%applied, "encoding a snapshot");
        self.encoding = Some((applied, self.machine.store().begin_snapshot()));
    }

    /// The store is encoded as of `slot`: the core's votes up to it go,
    /// and what is left of them is saved with it, from which a restart
    /// replays the decrees chosen since.
    fn save_snapshot(&mut self, slot: Slot, encoder: SnapshotEncoder) {
        if !self.disk.can_begin_snapshot() {
            // Nothing new to cover: keep the log (laggards may need it).
            return;
        }
        self.replica.compact(slot);
        let core = encode_snapshot(&self.replica.snapshot_records());
        let len = (core.len() + encoder.encoded_len()) as u64;
        if self.disk.save_snapshot_in_background(slot, core, encoder) {
            self.snapshot_bytes = len;
            tracing::debug!(%slot, bytes = len, "saving a snapshot");
        }
    }

    /// The snapshot begun at `slot` is durable: the laggards that asked
    /// meanwhile get it.
    fn snapshot_saved(&mut self, slot: Slot) {
        self.disk.finish_saving();
        // A snapshot installed from a peer meanwhile may be newer.
        self.saved_slot = self.saved_slot.max(slot);
        tracing::debug!(%slot, "snapshot saved");
        for to in std::mem::take(&mut self.laggards) {
            self.send_snapshot(to);
        }
    }

    /// Ships the newest durable snapshot to `to` with the configurations
    /// it recorded, read back from disk unless a transfer of it is under
    /// way (the store is not kept encoded in memory).
    fn send_snapshot(&mut self, to: NodeId) {
        if self.disk.is_saving() {
            self.laggards.insert(to);
            return;
        }
        let snapshot = match self.outgoing.state_at(self.saved_slot) {
            Some(state) => Some((self.saved_slot, state)),
            None => match self.disk.load_snapshot() {
                Ok(snapshot) => snapshot.map(|(slot, core, state)| {
                    (slot, crate::reconfig::wrap_snapshot(&core, &state))
                }),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the snapshot back for a laggard");
                    return;
                }
            },
        };
        let Some((slot, state)) = snapshot else {
            return;
        };
        for frame in self.outgoing.start(to, slot, &state, Instant::now()) {
            self.transport.send(to, &frame);
        }
    }

    fn install_snapshot(&mut self, slot: Slot, state: Bytes) {
        if slot <= self.machine_applied || self.replica.is_leader() {
            return;
        }
        let unwrapped = crate::reconfig::unwrap_snapshot(&state);
        let Some((memberships, state)) = unwrapped else {
            tracing::warn!(%slot, "a peer sent a snapshot that does not decode");
            return;
        };
        let Ok(machine) = StateMachine::restore(&state, self.machine.limits()) else {
            tracing::warn!(%slot, "a peer sent a snapshot that does not decode");
            return;
        };
        if !self.replica.install_snapshot(slot, &memberships) {
            return;
        }
        self.machine.install(machine);
        self.roster.mark_stale();
        self.machine_applied = slot;
        self.encoding = None;
        let core = self.replica.snapshot_records();
        if let Err(error) = self.disk.save_snapshot(&core, &state) {
            eprintln!("paxon: fatal: cannot save a snapshot: {error}");
            std::process::exit(1);
        }
        self.snapshot_bytes = state.len() as u64;
        self.saved_slot = slot;
        tracing::info!(%slot, "installed a snapshot from a peer");
        self.watch.restart_all(self.machine.store(), self.term());
        self.serve_reads_through(slot);
    }
}

/// Request ids of this life of the member start at the wall clock in
/// nanoseconds, past every id an earlier life can have used (one id per
/// nanosecond of its uptime at most). A decree the member proposed or
/// forwarded before a crash can be applied, and a peer's answer to an old
/// request (`Rejected`, `ReadIndexReady`) can arrive, after it restarted:
/// with ids counted from 1 again they would complete a new request that
/// happened to get the same id, with another request's answer or at a
/// stale read index.
fn first_request_id() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64)
}

fn leader_of(error: &ProposeError) -> Option<NodeId> {
    match error {
        ProposeError::NotLeader { leader } => *leader,
        ProposeError::Busy => None,
    }
}

/// A decree's command: `[origin u64][request id u64][state machine command]`.
fn encode_decree(origin: NodeId, id: u64, command: &paxon_kv::Command) -> Bytes {
    let mut body = Vec::with_capacity(64);
    command.encode(&mut body);
    let mut out = BytesMut::with_capacity(16 + body.len());
    out.put_u64_le(origin.0);
    out.put_u64_le(id);
    out.put_slice(&body);
    out.freeze()
}

fn decode_decree(bytes: &[u8]) -> Option<(NodeId, u64, paxon_kv::Command)> {
    let origin = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let id = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    let command = paxon_kv::Command::decode(bytes.get(16..)?).ok()?;
    Some((NodeId(origin), id, command))
}
