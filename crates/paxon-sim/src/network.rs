//! The simulated network: per-message delay, loss, duplication and
//! reordering, and partitions the fault scheduler switches on and off.

use std::collections::BTreeSet;

use paxon_core::{NodeId, Rng};

use crate::options::{Micros, Swarm};

/// How a partition cuts the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKind {
    /// A random subset cannot talk to the rest, both ways.
    Symmetric,
    /// Messages from one side to the other are lost; the other way works.
    OneWay,
    /// The leader cannot talk to anyone.
    LeaderIsolated,
    /// A majority and a minority, both ways.
    MajorityMinority,
    /// Two halves that cannot talk, joined by one bridge member that
    /// talks to both.
    Bridge,
}

/// Links and their current cuts.
#[derive(Debug, Default)]
pub struct Network {
    /// Directed links that lose every message.
    pub cut: BTreeSet<(NodeId, NodeId)>,
}

/// What happens to one message.
pub enum Fate {
    /// Lost.
    Dropped,
    /// Delivered after these delays (two for a duplicate).
    Delivered(Vec<Micros>),
}

impl Network {
    /// Decides the fate of a message from `from` to `to`.
    pub fn send(&self, swarm: &Swarm, rng: &mut Rng, from: NodeId, to: NodeId) -> Fate {
        if self.cut.contains(&(from, to)) || rng.range(0, 1000) < swarm.drop_per_mille {
            return Fate::Dropped;
        }
        let mut delays = vec![delay(swarm, rng)];
        if rng.range(0, 1000) < swarm.duplicate_per_mille {
            delays.push(delay(swarm, rng));
        }
        Fate::Delivered(delays)
    }

    /// Cuts the cluster by `kind`; `leader` is the current leader, if any.
    pub fn partition(
        &mut self,
        kind: PartitionKind,
        members: &[NodeId],
        leader: Option<NodeId>,
        rng: &mut Rng,
    ) {
        let mut shuffled = members.to_vec();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.range(0, i as u64 + 1) as usize);
        }
        let n = members.len();
        if n < 2 {
            return;
        }
        match kind {
            PartitionKind::Symmetric => {
                let k = rng.range(1, n as u64) as usize;
                self.cut_between(&shuffled[..k], &shuffled[k..], true);
            }
            PartitionKind::OneWay => {
                let k = rng.range(1, n as u64) as usize;
                self.cut_between(&shuffled[..k], &shuffled[k..], false);
            }
            PartitionKind::LeaderIsolated => {
                let leader = leader.unwrap_or(shuffled[0]);
                let rest: Vec<NodeId> = members.iter().copied().filter(|m| *m != leader).collect();
                self.cut_between(&[leader], &rest, true);
            }
            PartitionKind::MajorityMinority => {
                let k = n / 2;
                self.cut_between(&shuffled[..k], &shuffled[k..], true);
            }
            PartitionKind::Bridge => {
                let (bridge, rest) = shuffled.split_first().expect("members");
                let half = rest.len() / 2;
                let _ = bridge;
                self.cut_between(&rest[..half], &rest[half..], true);
            }
        }
    }

    fn cut_between(&mut self, a: &[NodeId], b: &[NodeId], both_ways: bool) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                if both_ways {
                    self.cut.insert((*y, *x));
                }
            }
        }
    }

    /// Toggles one directed link (a flapping link).
    pub fn flap(&mut self, from: NodeId, to: NodeId) {
        if !self.cut.remove(&(from, to)) {
            self.cut.insert((from, to));
        }
    }

    /// Every link works again.
    pub fn heal(&mut self) {
        self.cut.clear();
    }
}

fn delay(swarm: &Swarm, rng: &mut Rng) -> Micros {
    if rng.range(0, 1000) < swarm.long_tail_per_mille {
        return rng.range(swarm.delay_max, swarm.delay_max * 20 + 1);
    }
    rng.range(swarm.delay_min, swarm.delay_max + 1)
}
