//! The fault scheduler: at random intervals, one fault from the classes
//! this seed enabled — and, at the end of the safety phase, the heal.

use paxon_core::NodeId;

use crate::network::PartitionKind;
use crate::sim::{Event, Sim};

/// How long a crashed replica stays down, a pause lasts, a partition holds.
const DOWN_MICROS: (u64, u64) = (5_000, 300_000);

impl Sim {
    pub(crate) fn inject_fault(&mut self) {
        let next = self.rng.range(1, self.swarm.fault_interval * 2);
        self.schedule(next, Event::Fault);
        let faults = self.swarm.faults;
        let mut kinds = Vec::new();
        if faults.crashes {
            kinds.extend([0, 0, 1]);
        }
        if faults.partitions {
            kinds.extend([2, 2, 3]);
        }
        if faults.clocks {
            kinds.push(4);
        }
        if faults.bit_flips {
            kinds.push(5);
        }
        if faults.wipes {
            kinds.push(6);
        }
        if faults.reconfigurations {
            kinds.extend([7, 7]);
        }
        if kinds.is_empty() {
            return;
        }
        self.faults_injected += 1;
        match kinds[self.rng.range(0, kinds.len() as u64) as usize] {
            0 => self.crash_some(),
            1 => self.crash_all(),
            2 => self.partition(),
            3 => self.flap(),
            4 => self.pause(),
            5 => self.flip_bit(),
            6 => self.wipe(),
            _ => self.reconfigure(),
        }
    }

    /// Crashes one replica, a minority or a majority, each restarting later.
    fn crash_some(&mut self) {
        let n = self.options.nodes;
        let count = match self.rng.range(0, 3) {
            0 => 1,
            1 => (n / 2).max(1),
            _ => n / 2 + 1,
        };
        for _ in 0..count {
            let id = self.random_node();
            self.crash(id);
        }
    }

    /// Every replica at once (power loss in the whole room).
    fn crash_all(&mut self) {
        for id in self.members() {
            self.crash(id);
        }
    }

    fn crash(&mut self, id: NodeId) {
        if !self.nodes[&id].is_up() {
            return;
        }
        let torn = self.swarm.torn_writes;
        let node = self.nodes.get_mut(&id).expect("member");
        node.crash(torn, &mut self.rng);
        self.trace.step(&[10, id.0]);
        self.trace.line(|| format!("t={} CRASH {id}", self.now));
        let down = self.rng.range(DOWN_MICROS.0, DOWN_MICROS.1);
        self.schedule(down, Event::Restart { node: id });
    }

    fn partition(&mut self) {
        let kinds = [
            PartitionKind::Symmetric,
            PartitionKind::OneWay,
            PartitionKind::LeaderIsolated,
            PartitionKind::MajorityMinority,
            PartitionKind::Bridge,
        ];
        let kind = kinds[self.rng.range(0, kinds.len() as u64) as usize];
        let members = self.members();
        let leader = self.current_leader();
        self.network.heal();
        self.network
            .partition(kind, &members, leader, &mut self.rng);
        self.trace.step(&[11, kind as u64]);
        self.trace
            .line(|| format!("t={} PARTITION {kind:?}", self.now));
        let hold = self.rng.range(DOWN_MICROS.0, DOWN_MICROS.1);
        self.schedule(hold, Event::Heal);
    }

    /// A link goes down and up a few times in quick succession.
    fn flap(&mut self) {
        let (a, b) = (self.random_node(), self.random_node());
        if a == b {
            return;
        }
        self.network.flap(a, b);
        self.trace.step(&[12, a.0, b.0]);
        let hold = self.rng.range(1_000, 30_000);
        self.schedule(hold, Event::Heal);
    }

    /// SIGSTOP for longer than an election timeout, then SIGCONT.
    fn pause(&mut self) {
        let id = self.current_leader().unwrap_or(NodeId(1));
        let tick = self.nodes[&id].tick_micros;
        let timeout = self.nodes[&id].config.election_timeout_ticks;
        let length = self.rng.range(timeout * tick, 4 * timeout * tick);
        let node = self.nodes.get_mut(&id).expect("member");
        if !node.is_up() || node.paused_until.is_some() {
            return;
        }
        node.paused_until = Some(self.now + length);
        self.trace.step(&[13, id.0]);
        self.trace.line(|| format!("t={} PAUSE {id}", self.now));
        self.schedule(length, Event::Resume { node: id });
    }

    pub(crate) fn resume(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("member");
        if node.paused_until.take().is_none() {
            return;
        }
        if node.is_up() {
            let incarnation = node.incarnation;
            let tick = node.tick_micros;
            self.schedule(
                tick,
                Event::Tick {
                    node: id,
                    incarnation,
                },
            );
        }
    }

    /// Whether one more disk may be damaged (a bit flipped, or wiped):
    /// a majority of whole disks must remain in every configuration, or no
    /// protocol could bring back a decree only the damaged ones held. The
    /// configuration with the fewest voters ever proposed counts (a change
    /// may shrink the cluster after a disk was damaged; seed 372 with 5
    /// nodes lost two disks of four voters that way). A replica still
    /// recovering from an empty disk counts as damaged: it cannot count
    /// in a quorum before every voter answered it (seed 4421 with 3 nodes
    /// lost one voter's disk while another never finished recovering).
    fn may_damage_a_disk(&self) -> bool {
        let voters = self.newest_voters();
        let damaged = self
            .nodes
            .values()
            .filter(|n| {
                n.refused.is_some()
                    || n.bit_flipped
                    || n.wiped
                    || (n.is_recovering() && voters.contains(&n.id))
            })
            .count() as u64;
        damaged < (self.fewest_voters - 1) / 2
    }

    /// Media decay on a replica that is down: it must notice and refuse to
    /// start, never run on damaged state.
    fn flip_bit(&mut self) {
        if !self.may_damage_a_disk() {
            return;
        }
        let down: Vec<NodeId> = self
            .members()
            .into_iter()
            .filter(|id| !self.nodes[id].is_up())
            .collect();
        let Some(id) = down.first().copied() else {
            return;
        };
        let node = self.nodes.get_mut(&id).expect("member");
        if let Some((path, offset)) = node.storage.flip_bit(&mut self.rng) {
            node.bit_flipped = true;
            self.trace.step(&[14, id.0, offset]);
            self.trace
                .line(|| format!("t={} BITFLIP {id} {} @{offset}", self.now, path.display()));
        }
    }

    /// An operator wipes the data directory of a replica that is down.
    fn wipe(&mut self) {
        if !self.may_damage_a_disk() {
            return;
        }
        let down: Vec<NodeId> = self
            .members()
            .into_iter()
            .filter(|id| !self.nodes[id].is_up() && self.nodes[id].refused.is_none())
            .collect();
        let Some(id) = down.first().copied() else {
            return;
        };
        let node = self.nodes.get_mut(&id).expect("member");
        node.durable_before_wipe = Some(node.storage.durable.clone());
        node.storage = crate::storage::Storage::new();
        node.wiped = true;
        // What it revealed before is gone with its disk; the checker of
        // kept promises follows the new disk from here.
        self.revealed.remove(&id);
        self.trace.step(&[15, id.0]);
        self.trace.line(|| format!("t={} WIPE {id}", self.now));
    }

    /// The leader with the highest ballot among running replicas.
    /// The voters of the newest configuration a running replica knows;
    /// with none running, every replica ever in a configuration.
    fn newest_voters(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.replica.as_ref())
            .map(|r| r.memberships().latest())
            .max_by_key(|(from, _)| *from)
            .map_or_else(
                || self.enlisted.iter().copied().collect(),
                |(_, latest)| latest.voters().to_vec(),
            )
    }

    pub(crate) fn current_leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.replica.as_ref())
            .filter(|r| r.is_leader())
            .max_by_key(|r| r.promised())
            .map(|r| r.id())
    }

    /// End of the safety phase: links heal, paused replicas resume, every
    /// replica that can start is started.
    pub(crate) fn heal_everything(&mut self) {
        self.network.heal();
        self.swarm.drop_per_mille = 0;
        self.swarm.duplicate_per_mille = 0;
        self.swarm.long_tail_per_mille = 0;
        self.swarm.faults = crate::options::FaultMix::NONE;
        for id in self.members() {
            if self.nodes[&id].paused_until.is_some() {
                self.resume(id);
            }
            self.start_node(id);
        }
        self.healed_at = Some(self.now);
        for client in &mut self.clients {
            client.completed_after_heal = 0;
        }
        self.trace.line(|| format!("t={} HEAL", self.now));
    }
}
