//! The member's driver: one task owns the replica, the ledger handle and
//! the state machine, and turns inputs (peer frames, client requests,
//! ticks, finished syncs) into the core's actions carried out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use paxon_core::{Action, NodeId, PersistToken, ProposeError, ReadId, Replica, Slot, Value};
use tokio::sync::{mpsc, oneshot};

use crate::catchup::{ChunkOf, Incoming, Outgoing, Received};
use crate::disk::Disk;
use crate::error::ServeError;
use crate::lease::{LeaseClock, LeaseQuery};
use crate::peer::PeerFrame;
use crate::state::{self, StateMachine};
use crate::transport::{Inbound, Transport};
use crate::watch::{Hub, WatchOp};

/// How often watchers that ask for it get a progress notification (etcd's
/// default).
pub const WATCH_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);

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
    /// `MemberRemove` or `MemberPromote` (`reconfig.rs`).
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
    me: NodeId,
    pub(crate) replica: Replica,
    disk: Disk,
    machine: StateMachine,
    transport: Transport,
    next_id: u64,
    /// Writes proposed or forwarded from here, by request id.
    pending: BTreeMap<u64, (Instant, Pending)>,
    /// Reads waiting for a read index, by read id.
    reads: BTreeMap<ReadId, ReadWaiter>,
    /// Local reads waiting for `applied` to reach their index.
    reads_after_apply: BTreeMap<Slot, Vec<(paxon_kv::RangeRequest, ReadReply)>>,
    /// Reads asked of the leader, by id.
    remote_reads: BTreeMap<u64, (Instant, NodeId, paxon_kv::RangeRequest, ReadReply)>,
    /// The latest snapshot saved: its slot, and what a laggard is sent of
    /// it (`reconfig::wrap_snapshot`: the configurations and the store).
    snapshot: (Slot, Bytes),
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
    /// Configuration changes proposed here, waiting to be applied.
    pub(crate) reconfig: crate::reconfig::Waiting,
}

impl Member {
    /// A driver for `replica`, recovered from `disk`.
    pub fn new(
        replica: Replica,
        disk: Disk,
        machine: StateMachine,
        transport: Transport,
        snapshot: (Slot, Bytes),
        db_size: Arc<AtomicU64>,
        snapshot_every_slots: u64,
    ) -> Member {
        let machine_applied = snapshot.0;
        let shipped = crate::reconfig::wrap_snapshot(replica.memberships(), &snapshot.1);
        let snapshot = (snapshot.0, shipped);
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
            snapshot,
            client_urls: BTreeMap::new(),
            db_size,
            snapshot_every_slots,
            machine_applied,
            outgoing: Outgoing::default(),
            incoming: Incoming::default(),
            watch: Hub::new(WATCH_PROGRESS_NOTIFY_INTERVAL),
            lease_clock: LeaseClock::new(),
            reconfig: Default::default(),
        }
    }

    /// The ballot round: etcd's raft term in response headers.
    fn term(&self) -> u64 {
        self.replica.promised().round
    }

    /// Every tick: lagging watchers catch up; the leader proposes its time
    /// while leases exist.
    fn on_tick(&mut self) {
        self.watch.catch_up(self.machine.store(), self.term());
        if self.replica.is_leader() {
            if let Some(tick) = self.lease_clock.due(self.machine.store()) {
                self.propose_own(&tick);
            }
        }
    }

    /// Proposes a decree of the member's own (time, promotion); nobody
    /// waits for its answer, and if it is not chosen the next one will be.
    fn propose_own(&mut self, command: &paxon_kv::Command) {
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
        mut persisted: mpsc::UnboundedReceiver<PersistToken>,
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
                token = persisted.recv() => {
                    let Some(token) = token else { return };
                    self.replica.handle_persisted(token);
                }
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
        self.next_id += 1;
        ReadId(self.next_id)
    }

    fn handle_client(&mut self, op: ClientOp) {
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
            ClientOp::Reconfigure { change, reply } => self.reconfigure(change, reply),
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
        }
    }

    /// Proposes here when leading, else forwards to the leader; the answer
    /// comes when this member applies the command.
    fn write(&mut self, command: paxon_kv::Command, reply: WriteReply) {
        self.next_id += 1;
        let id = self.next_id;
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
            self.next_id += 1;
            let id = self.next_id;
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
    }

    /// Carries out every action the replica queued.
    fn drain(&mut self) {
        while let Some(action) = self.replica.poll() {
            self.perform(action);
        }
        self.db_size
            .store(self.machine.size_bytes(), Ordering::Relaxed);
        self.maybe_snapshot();
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Persist { token, records } => {
                if let Err(error) = self.disk.persist(token, &records) {
                    eprintln!("paxon: fatal: cannot write the ledger: {error}");
                    std::process::exit(1);
                }
            }
            Action::Send { to, msg } => self.transport.send(to, &PeerFrame::Core(msg)),
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
            Action::SnapshotNeeded { to, .. } => {
                let (slot, state) = &self.snapshot;
                for frame in self.outgoing.start(to, *slot, state, Instant::now()) {
                    self.transport.send(to, &frame);
                }
            }
            Action::Removed { at } => {
                // Every record the core asked for was made durable before
                // this action (the ledger writes each Persist at once).
                tracing::warn!(%at, "removed from the cluster; stopping");
                std::process::exit(0);
            }
            Action::LeaderChanged { leader, ballot } => {
                tracing::info!(?leader, %ballot, "leader changed");
                if leader != Some(self.me) {
                    self.reconfigure_abandoned();
                }
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
        }
        if let Value::Batch(batch) = value {
            for decree in batch.commands() {
                let Some((origin, id, command)) = decode_decree(decree) else {
                    tracing::error!(%slot, "a chosen command does not decode; skipped on every member alike");
                    continue;
                };
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

    /// §3.3.2: every so often, write the law book and let the ledger go.
    fn maybe_snapshot(&mut self) {
        let applied = self.replica.applied();
        if applied.0 < self.replica.snapshot_slot().0 + self.snapshot_every_slots
            || !self.disk.can_snapshot()
        {
            return;
        }
        self.replica.compact(applied);
        let core = self.replica.snapshot_records();
        let state = self.machine.snapshot();
        if let Err(error) = self.disk.save_snapshot(&core, &state) {
            eprintln!("paxon: fatal: cannot save a snapshot: {error}");
            std::process::exit(1);
        }
        let shipped = crate::reconfig::wrap_snapshot(self.replica.memberships(), &state);
        self.snapshot = (applied, shipped);
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
        self.machine = machine;
        self.machine_applied = slot;
        let core = self.replica.snapshot_records();
        if let Err(error) = self.disk.save_snapshot(&core, &state) {
            eprintln!("paxon: fatal: cannot save a snapshot: {error}");
            std::process::exit(1);
        }
        let shipped = crate::reconfig::wrap_snapshot(self.replica.memberships(), &state);
        self.snapshot = (slot, shipped);
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
