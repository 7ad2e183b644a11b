//! An in-memory cluster for the core's tests: replicas, a message queue
//! that the test controls, and a disk per replica that keeps only what was
//! acknowledged as durable.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use paxon_core::{
    Action, Config, Memberships, Message, NodeId, PersistToken, PersistedState, ReadId, Record,
    Replica, Rng, Slot, Value,
};

/// A message on the wire.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message,
}

/// One replica's disk: durable records and the ones written but not synced.
#[derive(Default, Clone)]
pub struct Disk {
    pub durable: Vec<Record>,
    pub pending: Vec<(PersistToken, Vec<Record>)>,
}

pub struct Cluster {
    /// Every replica that was ever started (ticked in this order).
    pub members: Vec<NodeId>,
    /// The voters of the configuration the ledger starts with.
    pub initial: Vec<NodeId>,
    /// Replicas that left the configuration and stopped (`Action::Removed`).
    pub removed: BTreeSet<NodeId>,
    pub replicas: BTreeMap<NodeId, Replica>,
    pub disks: BTreeMap<NodeId, Disk>,
    pub network: VecDeque<Envelope>,
    /// Decrees applied by each replica in this incarnation, by slot.
    pub applied: BTreeMap<NodeId, BTreeMap<Slot, Value>>,
    /// Every decree any replica ever applied, by slot (checks agreement).
    pub chosen: BTreeMap<Slot, Value>,
    pub reads_ready: Vec<(NodeId, ReadId, Slot)>,
    pub reads_failed: Vec<(NodeId, ReadId)>,
    pub snapshots_needed: Vec<(NodeId, NodeId, Slot)>,
    /// Sync each Persist as soon as it is emitted.
    pub auto_sync: bool,
    /// Install a snapshot on the laggard as soon as one is needed.
    pub ship_snapshots: bool,
    /// Links that drop every message (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub down: BTreeSet<NodeId>,
    pub tweak: fn(&mut Config),
    pub seed: u64,
    /// Start a replica whose disk holds nothing as a real driver does:
    /// recovering (`PersistedState::empty_disk`).
    pub empty_disks_recover: bool,
    restarts: u64,
}

impl Cluster {
    pub fn new(n: u64, seed: u64) -> Cluster {
        Cluster::with_config(n, seed, |_| {})
    }

    pub fn with_config(n: u64, seed: u64, tweak: fn(&mut Config)) -> Cluster {
        Cluster::build(n, seed, tweak, false)
    }

    /// A cluster whose replicas start from empty disks as a real driver
    /// starts them: recovering until every member has promised one ballot.
    pub fn recovering(n: u64, seed: u64) -> Cluster {
        Cluster::build(n, seed, |_| {}, true)
    }

    fn build(n: u64, seed: u64, tweak: fn(&mut Config), empty_disks_recover: bool) -> Cluster {
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let mut cluster = Cluster {
            members: members.clone(),
            initial: members.clone(),
            removed: BTreeSet::new(),
            replicas: BTreeMap::new(),
            disks: BTreeMap::new(),
            network: VecDeque::new(),
            applied: BTreeMap::new(),
            chosen: BTreeMap::new(),
            reads_ready: Vec::new(),
            reads_failed: Vec::new(),
            snapshots_needed: Vec::new(),
            auto_sync: true,
            ship_snapshots: false,
            cut: BTreeSet::new(),
            down: BTreeSet::new(),
            tweak,
            seed,
            empty_disks_recover,
            restarts: 0,
        };
        for id in members {
            cluster.disks.insert(id, Disk::default());
            cluster.start(id);
        }
        cluster
    }

    pub fn config(&self, id: NodeId) -> Config {
        let mut config = Config::new(id, self.initial.clone());
        config.election_timeout_ticks = 10;
        config.heartbeat_interval_ticks = 2;
        config.accept_retry_ticks = 4;
        (self.tweak)(&mut config);
        config
    }

    fn start(&mut self, id: NodeId) {
        let disk = &self.disks[&id];
        let state = if self.empty_disks_recover && disk.durable.is_empty() {
            PersistedState::empty_disk()
        } else {
            PersistedState::replay(&disk.durable)
        };
        let seed = self.seed.wrapping_mul(31).wrapping_add(self.restarts);
        self.restarts += 1;
        let replica = Replica::new(self.config(id), state, seed).expect("valid config");
        self.replicas.insert(id, replica);
        self.applied.insert(id, BTreeMap::new());
        self.down.remove(&id);
        self.drain(id);
    }

    /// Starts a new replica `id` on an empty disk, outside the initial
    /// configuration: it joins once a decree adds it.
    pub fn join(&mut self, id: NodeId) {
        assert!(!self.members.contains(&id));
        self.members.push(id);
        self.disks.insert(id, Disk::default());
        let seed = self.seed.wrapping_mul(31).wrapping_add(self.restarts);
        self.restarts += 1;
        let state = PersistedState::empty_disk();
        let replica = Replica::new(self.config(id), state, seed).expect("valid config");
        self.replicas.insert(id, replica);
        self.applied.insert(id, BTreeMap::new());
        self.drain(id);
    }

    /// kill -9: the replica and its unsynced writes are gone.
    pub fn crash(&mut self, id: NodeId) {
        self.replicas.remove(&id);
        self.disks.get_mut(&id).unwrap().pending.clear();
        self.down.insert(id);
    }

    /// kill -9, then the operator wipes its data directory.
    pub fn wipe(&mut self, id: NodeId) {
        self.crash(id);
        self.disks.insert(id, Disk::default());
    }

    pub fn restart(&mut self, id: NodeId) {
        assert!(self.down.contains(&id));
        self.start(id);
    }

    pub fn replica(&self, id: NodeId) -> &Replica {
        &self.replicas[&id]
    }

    pub fn replica_mut(&mut self, id: NodeId) -> &mut Replica {
        self.replicas.get_mut(&id).unwrap()
    }

    /// Makes `id`'s written records durable and tells it so.
    pub fn sync(&mut self, id: NodeId) {
        let disk = self.disks.get_mut(&id).unwrap();
        let Some(last) = disk.pending.last().map(|(t, _)| *t) else {
            return;
        };
        for (_, records) in disk.pending.drain(..) {
            disk.durable.extend(records);
        }
        if let Some(replica) = self.replicas.get_mut(&id) {
            replica.handle_persisted(last);
        }
        self.drain(id);
    }

    /// Carries out every action `id` has queued.
    pub fn drain(&mut self, id: NodeId) {
        loop {
            let Some(replica) = self.replicas.get_mut(&id) else {
                return;
            };
            let Some(action) = replica.poll() else {
                return;
            };
            self.perform(id, action);
        }
    }

    fn perform(&mut self, id: NodeId, action: Action) {
        match action {
            Action::Persist { token, records } => {
                self.disks
                    .get_mut(&id)
                    .unwrap()
                    .pending
                    .push((token, records));
                if self.auto_sync {
                    self.sync(id);
                }
            }
            Action::Send { to, msg } => self.network.push_back(Envelope { from: id, to, msg }),
            Action::Apply { slot, value } => self.record_apply(id, slot, value),
            Action::ReadReady { id: read, slot } => self.reads_ready.push((id, read, slot)),
            Action::ReadFailed { id: read, .. } => self.reads_failed.push((id, read)),
            Action::SnapshotNeeded { to, snapshot_slot } => {
                self.snapshots_needed.push((id, to, snapshot_slot));
                if self.ship_snapshots {
                    let memberships = self.replicas[&id].memberships().clone();
                    self.ship_snapshot(id, to, snapshot_slot, &memberships);
                }
            }
            Action::Removed { .. } => {
                self.removed.insert(id);
            }
            Action::ProposalsDropped { .. } | Action::LeaderChanged { .. } => {}
        }
    }

    fn record_apply(&mut self, id: NodeId, slot: Slot, value: Value) {
        let applied = self.applied.get_mut(&id).unwrap();
        let expected = match applied.last_key_value() {
            Some((last, _)) if *last >= self.replicas[&id].snapshot_slot() => last.next(),
            _ => self.replicas[&id].snapshot_slot().next(),
        };
        assert_eq!(slot, expected, "{id} applied out of order");
        applied.insert(slot, value.clone());
        match self.chosen.get(&slot) {
            Some(existing) => assert_eq!(existing, &value, "two decrees chosen for {slot}"),
            None => {
                self.chosen.insert(slot, value);
            }
        }
    }

    /// The law book reaches `to` at once (transfer is the driver's job).
    fn ship_snapshot(&mut self, from: NodeId, to: NodeId, slot: Slot, memberships: &Memberships) {
        let Some(replica) = self.replicas.get_mut(&to) else {
            return;
        };
        replica.peer_holds(from, slot);
        if replica.install_snapshot(slot, memberships) {
            self.applied.get_mut(&to).unwrap().clear();
            self.drain(to);
        }
    }

    /// Delivers one message; returns false when none is left.
    pub fn deliver_one(&mut self) -> bool {
        let Some(envelope) = self.network.pop_front() else {
            return false;
        };
        self.deliver(envelope);
        true
    }

    pub fn deliver(&mut self, envelope: Envelope) {
        let Envelope { from, to, msg } = envelope;
        if self.down.contains(&to) || self.cut.contains(&(from, to)) {
            return;
        }
        let replica = self.replicas.get_mut(&to).unwrap();
        replica.handle_message(from, msg).expect("valid message");
        self.drain(to);
    }

    /// Delivers until the network is quiet (bounded).
    pub fn deliver_all(&mut self) {
        for _ in 0..1_000_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("network never quiets");
    }

    pub fn tick(&mut self, id: NodeId) {
        if let Some(replica) = self.replicas.get_mut(&id) {
            replica.handle_tick();
            self.drain(id);
        }
    }

    pub fn tick_all(&mut self) {
        for id in self.members.clone() {
            self.tick(id);
        }
    }

    /// Ticks and delivers until `pred` holds (bounded).
    pub fn run_until(&mut self, mut pred: impl FnMut(&Cluster) -> bool) {
        for _ in 0..10_000 {
            if pred(self) {
                return;
            }
            self.tick_all();
            self.deliver_all();
        }
        panic!("condition never held");
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.replicas
            .values()
            .filter(|r| r.is_leader())
            .map(|r| r.id())
            .max_by_key(|id| self.replicas[id].promised())
    }

    pub fn elect(&mut self) -> NodeId {
        self.run_until(|c| c.leader().is_some());
        self.leader().unwrap()
    }

    /// Ticks `id` alone (delivering nothing) until it starts a campaign.
    pub fn campaign(&mut self, id: NodeId) {
        let before = self.replica(id).promised();
        for _ in 0..1000 {
            let promised = self.replica(id).promised();
            if promised > before && promised.node == id {
                return;
            }
            self.tick(id);
        }
        panic!("{id} never campaigned");
    }

    pub fn propose(&mut self, id: NodeId, payload: &str) {
        self.replica_mut(id)
            .propose(Bytes::copy_from_slice(payload.as_bytes()))
            .expect("leader takes proposals");
        self.drain(id);
    }

    pub fn isolate(&mut self, id: NodeId) {
        for other in self.members.clone() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Commands applied by `id`, as strings, in order.
    pub fn applied_commands(&self, id: NodeId) -> Vec<String> {
        self.applied[&id]
            .values()
            .flat_map(|value| match value {
                Value::Noop | Value::Reconfigure(_) => vec![],
                Value::Batch(batch) => batch
                    .commands()
                    .iter()
                    .map(|c| String::from_utf8(c.to_vec()).unwrap())
                    .collect(),
            })
            .collect()
    }
}

/// A seeded random source for tests.
pub fn rng(seed: u64) -> Rng {
    Rng::new(seed)
}
