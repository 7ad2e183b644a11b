//! What each simulated process does with an event: the driver of the core
//! (as `paxon-server` will be, minus threads and sockets) and the clients.

use paxon_core::{Action, Memberships, Message, NodeId, ReadId, Slot, Value};

use crate::client::{self, Answer, Outstanding, REQUEST_TIMEOUT};
use crate::kv::{Command, Reply, Request, RequestId, Store};
use crate::network::Fate;
use crate::node::Waiting;
use crate::sim::{Event, Sim};

/// Slots applied between two snapshots of a replica.
const SNAPSHOT_EVERY_SLOTS: u64 = 24;

impl Sim {
    pub(crate) fn dispatch(&mut self, event: Event) {
        if let Some(node) = event_node(&event) {
            if let Some(resume) = self.nodes[&node].paused_until {
                self.defer_while_paused(resume, event);
                return;
            }
        }
        match event {
            Event::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Event::DeliverSnapshot {
                from,
                to,
                slot,
                store,
                memberships,
            } => self.install_snapshot(from, to, slot, *store, &memberships),
            Event::Request {
                client,
                to,
                seq,
                request,
            } => self.take_request(client, to, seq, request),
            Event::Answer {
                client,
                seq,
                answer,
            } => self.client_answer(client, seq, answer),
            Event::Tick { node, incarnation } => self.tick(node, incarnation),
            Event::SyncDone { node, incarnation } => self.sync_done(node, incarnation),
            Event::ClientWake { client, timeout_of } => self.client_wake(client, timeout_of),
            Event::Fault => self.inject_fault(),
            Event::Restart { node } => self.start_node(node),
            Event::Resume { node } => self.resume(node),
            Event::Heal => self.network.heal(),
        }
    }

    /// A paused process does nothing; what reaches it waits (ticks are
    /// simply missed, as a stopped process misses its timers).
    fn defer_while_paused(&mut self, resume: u64, event: Event) {
        if !matches!(event, Event::Tick { .. }) {
            self.schedule(resume.saturating_sub(self.now) + 1, event);
        }
    }

    pub(crate) fn start_node(&mut self, id: NodeId) {
        let seed = self.rng.next_u64();
        let node = self.nodes.get_mut(&id).expect("member");
        if node.is_up() || node.refused.is_some() || node.removed {
            return;
        }
        if let Err(error) = node.start(seed) {
            self.trace
                .line(|| format!("{id} refuses to start: {error}"));
            node.refused = Some(error);
            return;
        }
        let incarnation = node.incarnation;
        let tick = node.tick_micros;
        let (slot, store) = node.snapshot.clone();
        let applied = node.replica.as_ref().expect("started").applied();
        self.trace.line(|| {
            format!(
                "t={} {id} starts from snapshot {slot} {store:?} applied {applied}",
                self.now
            )
        });
        self.trace.step(&[1, id.0]);
        self.check_promise_kept(id);
        self.schedule(
            tick,
            Event::Tick {
                node: id,
                incarnation,
            },
        );
        self.drain(id);
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Message) {
        self.trace.step(&[2, from.0, to.0, kind_code(&msg)]);
        self.trace
            .line(|| format!("t={} {from}->{to} {msg:?}", self.now));
        let Some(replica) = self.nodes.get_mut(&to).and_then(|n| n.replica.as_mut()) else {
            return;
        };
        if let Err(error) = replica.handle_message(from, msg) {
            self.fail(
                "message validation",
                format!("{to} rejected a message from {from}: {error}"),
            );
            return;
        }
        self.drain(to);
    }

    fn tick(&mut self, id: NodeId, incarnation: u64) {
        let node = self.nodes.get_mut(&id).expect("member");
        if node.incarnation != incarnation || !node.is_up() {
            return;
        }
        self.trace.step(&[3, id.0]);
        node.replica.as_mut().expect("up").handle_tick();
        self.maybe_compact(id);
        self.maybe_lease_work(id);
        let node = self.node_mut(id);
        let tick = node.tick_micros;
        self.schedule(
            tick,
            Event::Tick {
                node: id,
                incarnation,
            },
        );
        self.drain(id);
    }

    fn sync_done(&mut self, id: NodeId, incarnation: u64) {
        let node = self.nodes.get_mut(&id).expect("member");
        if node.incarnation != incarnation || !node.is_up() {
            return;
        }
        self.trace.step(&[4, id.0]);
        node.syncing = false;
        if let Some(token) = node.storage.sync() {
            node.replica.as_mut().expect("up").handle_persisted(token);
        }
        self.drain(id);
        self.maybe_snapshot(id);
        self.schedule_sync(id);
    }

    /// Now and then the leader proposes a compaction of all but the latest
    /// revisions, as an operator's `etcdctl compaction` would: history
    /// stays bounded and snapshots carry compacted stores.
    fn maybe_compact(&mut self, id: NodeId) {
        const KEEP_REVISIONS: i64 = 8;
        let node = self.nodes.get_mut(&id).expect("member");
        let replica = node.replica.as_mut().expect("up");
        let revision = node.store.revision();
        if !replica.is_leader()
            || revision - node.store.compacted() < 4 * KEEP_REVISIONS
            || self.rng.range(0, 20) != 0
        {
            return;
        }
        self.system_seq += 1;
        let command = Command::compact(self.system_seq, revision - KEEP_REVISIONS);
        let _ = replica.propose(command.encode());
    }

    /// Starts a group commit if records wait and none is under way.
    fn schedule_sync(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("member");
        if node.syncing || !node.storage.has_unsynced() {
            return;
        }
        node.syncing = true;
        let incarnation = node.incarnation;
        let latency = self.rng.range(100, 2_000);
        self.schedule(
            latency,
            Event::SyncDone {
                node: id,
                incarnation,
            },
        );
    }

    /// The law book (§3.3.2): every few slots, save the state machine with
    /// the core's durable state and let the ledger before it go.
    fn maybe_snapshot(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("member");
        let Some(replica) = node.replica.as_mut() else {
            return;
        };
        let applied = replica.applied();
        if node.storage.has_unsynced()
            || applied.0 < replica.snapshot_slot().0 + SNAPSHOT_EVERY_SLOTS
        {
            return;
        }
        replica.compact(applied);
        let records = replica.snapshot_records();
        node.storage.save_snapshot(&node.store, &records);
        node.snapshot = (applied, node.store.clone());
        let saved = self.nodes[&id].store.clone();
        self.trace
            .line(|| format!("t={} {id} snapshot at {applied} {saved:?}", self.now));
        self.drain(id);
    }

    fn install_snapshot(
        &mut self,
        from: NodeId,
        to: NodeId,
        slot: Slot,
        store: Store,
        memberships: &Memberships,
    ) {
        self.trace.step(&[5, to.0, slot.0]);
        let node = self.nodes.get_mut(&to).expect("member");
        let Some(replica) = node.replica.as_mut() else {
            return;
        };
        replica.peer_holds(from, slot);
        if node.storage.has_unsynced() || !replica.install_snapshot(slot, memberships) {
            return;
        }
        node.store = store;
        let records = replica.snapshot_records();
        node.storage.save_snapshot(&node.store, &records);
        node.snapshot = (slot, node.store.clone());
        self.trace
            .line(|| format!("t={} {to} installed snapshot at {slot}", self.now));
        self.check_state_agreement(to, slot);
        self.drain(to);
    }

    /// Carries out every action the replica has queued.
    pub(crate) fn drain(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("member");
            let Some(action) = node.replica.as_mut().and_then(|r| r.poll()) else {
                break;
            };
            self.perform(id, action);
        }
        if let Some(replica) = self.nodes[&id].replica.as_ref() {
            replica.check_invariants();
        }
        self.schedule_sync(id);
    }

    fn perform(&mut self, id: NodeId, action: Action) {
        match action {
            Action::Persist { token, records } => {
                let node = self.nodes.get_mut(&id).expect("member");
                node.storage.append(token, records);
                if node
                    .config
                    .planted(paxon_core::PlantedBug::AckUnsyncedWrites)
                {
                    node.replica.as_mut().expect("up").handle_persisted(token);
                }
            }
            Action::Send { to, msg } => self.send(id, to, msg),
            Action::Apply { slot, value } => self.apply(id, slot, value),
            Action::ReadReady { id: read, .. } => self.read_ready(id, read),
            Action::ReadFailed { id: read, leader } => {
                if let Some((waiting, _)) = self.node_mut(id).reads.remove(&read) {
                    self.answer(waiting, Answer::NotLeader(leader));
                }
            }
            Action::ProposalsDropped { commands } => {
                for command in commands {
                    let command = Command::decode(&command);
                    if let Some(waiting) = self.node_mut(id).proposed.remove(&command.id) {
                        self.answer(waiting, Answer::Retry);
                    }
                }
            }
            Action::SnapshotNeeded { to, .. } => {
                let (slot, store) = self.nodes[&id].snapshot.clone();
                let replica = self.nodes[&id].replica.as_ref().expect("up");
                let memberships = replica.memberships().clone();
                self.send_snapshot(id, to, slot, store, memberships);
            }
            Action::Removed { at } => self.retire(id, at),
            Action::LeaderChanged { leader, ballot } => {
                self.trace
                    .line(|| format!("t={} {id} leader now {leader:?} ({ballot})", self.now));
                if leader == Some(id) {
                    self.promote_leases(id);
                }
            }
        }
    }

    fn node_mut(&mut self, id: NodeId) -> &mut crate::node::Node {
        self.nodes.get_mut(&id).expect("member")
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: Message) {
        self.check_reveal(from, &msg);
        match self.network.send(&self.swarm, &mut self.rng, from, to) {
            Fate::Dropped => {}
            Fate::Delivered(delays) => {
                for delay in delays {
                    let msg = msg.clone();
                    self.schedule(delay, Event::Deliver { from, to, msg });
                }
            }
        }
    }

    fn send_snapshot(
        &mut self,
        from: NodeId,
        to: NodeId,
        slot: Slot,
        store: Store,
        memberships: Memberships,
    ) {
        if slot == Slot(0) {
            return;
        }
        let delay = self
            .rng
            .range(self.swarm.delay_min, self.swarm.delay_max * 4 + 1);
        let event = Event::DeliverSnapshot {
            from,
            to,
            slot,
            store: Box::new(store),
            memberships,
        };
        self.schedule(delay, event);
    }

    fn apply(&mut self, id: NodeId, slot: Slot, value: Value) {
        self.check_agreement(id, slot, &value);
        if let Value::Batch(batch) = &value {
            for bytes in batch.commands() {
                self.apply_command(id, slot, &value, bytes);
            }
        }
        self.check_state_agreement(id, slot);
    }

    fn apply_command(&mut self, id: NodeId, slot: Slot, value: &Value, bytes: &[u8]) {
        {
            let command = Command::decode(bytes);
            let node = self.node_mut(id);
            let reply = node.store.apply(&command.command);
            let now = self.now;
            self.trace
                .line(|| format!("t={now} {id} applies {slot} {command:?} -> {reply:?}"));
            let node = self.node_mut(id);
            if let Some(waiting) = node.proposed.remove(&command.id) {
                self.check_durable_on_majority(id, slot, value);
                self.answer(waiting, Answer::Ok(reply));
            }
        }
    }

    fn read_ready(&mut self, id: NodeId, read: ReadId) {
        let node = self.node_mut(id);
        if let Some((waiting, key)) = node.reads.remove(&read) {
            let value = node.store.read(key);
            self.answer(waiting, Answer::Ok(Reply::Read(value)));
        }
    }

    fn answer(&mut self, waiting: Waiting, answer: Answer) {
        let delay = self
            .rng
            .range(self.swarm.delay_min, self.swarm.delay_max + 1);
        let (client, seq) = (waiting.client, waiting.seq);
        if self.rng.range(0, 1000) < self.swarm.drop_per_mille {
            return;
        }
        self.schedule(
            delay,
            Event::Answer {
                client,
                seq,
                answer,
            },
        );
    }

    /// A node takes a client request: proposes it or asks for a read
    /// index; a follower points at the leader.
    fn take_request(&mut self, client: u32, to: NodeId, seq: u64, request: Request) {
        self.trace.step(&[6, u64::from(client), to.0, seq]);
        let waiting = Waiting { client, seq };
        let node = self.nodes.get_mut(&to).expect("member");
        if node.removed {
            // The process exited: the client's connection is refused.
            self.answer(waiting, Answer::NotLeader(None));
            return;
        }
        let Some(replica) = node.replica.as_mut() else {
            return;
        };
        let result = match request {
            Request::Read(key) => {
                node.next_read += 1;
                let read = ReadId(node.next_read);
                let result = replica.read_index(read);
                if result.is_ok() {
                    node.reads.insert(read, (waiting, key));
                }
                result
            }
            _ => {
                let id = RequestId { client, seq };
                let command = Command::from_request(id, &request)
                    .expect("a write")
                    .encode();
                let result = replica.propose(command);
                if result.is_ok() {
                    node.proposed.insert(id, waiting);
                }
                result
            }
        };
        match result {
            Ok(()) => self.drain(to),
            Err(paxon_core::ProposeError::NotLeader { leader }) => {
                self.answer(waiting, Answer::NotLeader(leader))
            }
            Err(paxon_core::ProposeError::Busy) => self.answer(waiting, Answer::Retry),
        }
    }

    /// A client gets an answer to its request `seq`.
    fn client_answer(&mut self, client: u32, seq: u64, answer: Answer) {
        self.trace.step(&[7, u64::from(client), seq]);
        let now = self.now;
        let healed = self.healed_at.is_some();
        let c = &mut self.clients[client as usize];
        let Some(outstanding) = c.outstanding.clone().filter(|o| o.seq == seq) else {
            return;
        };
        match answer {
            Answer::Ok(reply) => {
                client::complete(&mut self.history, outstanding.op, &reply, now);
                c.learn(&outstanding.request, &reply);
                c.outstanding = None;
                c.completed += 1;
                c.completed_after_heal += u64::from(healed);
                let think = self.rng.range(0, 5_000);
                let timeout_of = None;
                self.schedule(think, Event::ClientWake { client, timeout_of });
            }
            Answer::NotLeader(hint) => {
                let target = hint.unwrap_or_else(|| self.random_node());
                self.clients[client as usize].leader_hint = hint;
                self.resend(client, target);
            }
            Answer::Retry => {
                let target = outstanding.target;
                self.resend(client, target);
            }
        }
    }

    fn resend(&mut self, client: u32, target: NodeId) {
        let c = &mut self.clients[client as usize];
        let outstanding = c.outstanding.as_mut().expect("outstanding");
        outstanding.target = target;
        let (seq, request) = (outstanding.seq, outstanding.request.clone());
        let delay = self.rng.range(1_000, 5_000);
        self.schedule(
            delay,
            Event::Request {
                client,
                to: target,
                seq,
                request,
            },
        );
    }

    pub(crate) fn random_node(&mut self) -> NodeId {
        NodeId(
            self.rng
                .range(1, self.options.nodes + self.options.spares + 1),
        )
    }

    /// A client wakes: after thinking it sends a new request; at a
    /// request's deadline it gives up on it (outcome unknown) and moves on.
    fn client_wake(&mut self, client: u32, timeout_of: Option<u64>) {
        self.trace
            .step(&[8, u64::from(client), timeout_of.unwrap_or(0)]);
        let c = &mut self.clients[client as usize];
        let current = c.outstanding.as_ref().map(|o| o.seq);
        match (timeout_of, current) {
            (Some(seq), Some(outstanding)) if seq == outstanding => {
                let silent = c.outstanding.take().expect("outstanding").target;
                c.unknown += 1;
                c.leader_hint = None;
                // A node that stayed silent may be down: try another.
                let all = self.options.nodes + self.options.spares;
                let others = all.saturating_sub(1).max(1);
                let next = (silent.0 + self.rng.range(0, others)) % all + 1;
                self.clients[client as usize].leader_hint = Some(NodeId(next));
            }
            (None, None) => {}
            _ => return,
        }
        self.send_new_request(client);
    }

    fn send_new_request(&mut self, client: u32) {
        let now = self.now;
        let keys = self.options.keys;
        let request = self.clients[client as usize].next_request(keys, &mut self.rng);
        let op = client::invoke(&mut self.history, client, &request, now);
        let target = match self.clients[client as usize].leader_hint {
            Some(hint) => hint,
            None => self.random_node(),
        };
        let c = &mut self.clients[client as usize];
        let seq = c.next_seq;
        c.next_seq += 1;
        c.outstanding = Some(Outstanding {
            seq,
            request: request.clone(),
            op,
            target,
        });
        let delay = self
            .rng
            .range(self.swarm.delay_min, self.swarm.delay_max + 1);
        self.schedule(
            delay,
            Event::Request {
                client,
                to: target,
                seq,
                request,
            },
        );
        let timeout_of = Some(seq);
        self.schedule(REQUEST_TIMEOUT, Event::ClientWake { client, timeout_of });
    }
}

/// The node an event happens at, if any (paused nodes hold them back).
fn event_node(event: &Event) -> Option<NodeId> {
    match event {
        Event::Deliver { to, .. }
        | Event::DeliverSnapshot { to, .. }
        | Event::Request { to, .. } => Some(*to),
        Event::Tick { node, .. } | Event::SyncDone { node, .. } => Some(*node),
        _ => None,
    }
}

fn kind_code(msg: &Message) -> u64 {
    match msg {
        Message::Prepare { .. } => 1,
        Message::Promise { .. } => 2,
        Message::Accept { .. } => 3,
        Message::Accepted { .. } => 4,
        Message::Nack { .. } => 5,
        Message::Heartbeat { .. } => 6,
        Message::HeartbeatAck { .. } => 7,
        Message::CatchUp { .. } => 8,
        Message::Learn { .. } => 9,
        Message::Recovered { .. } => 10,
        Message::Progress { .. } => 11,
    }
}
