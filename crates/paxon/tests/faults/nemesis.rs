//! The faults: each injects, holds while the clients keep going, heals,
//! and waits until every member serves again.

use std::time::Duration;

use crate::cluster::ELECTION_TIMEOUT;
use crate::schedule::Run;

/// Every nemesis of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nemesis {
    KillOne,
    KillLeader,
    KillMinority,
    KillMajority,
    KillAll,
    CrashLoop,
    PauseLeader,
    IsolateLeader,
    SplitLeaderInMinority,
    SplitLeaderInMajority,
    OneWayFromLeader,
    OneWayToLeader,
    Flapping,
}

impl Nemesis {
    /// The nemeses that need only processes (loopback).
    pub const PROCESS: [Nemesis; 7] = [
        Nemesis::KillOne,
        Nemesis::KillLeader,
        Nemesis::KillMinority,
        Nemesis::KillMajority,
        Nemesis::KillAll,
        Nemesis::CrashLoop,
        Nemesis::PauseLeader,
    ];
    /// The nemeses that need the cluster in network namespaces.
    pub const NETWORK: [Nemesis; 6] = [
        Nemesis::IsolateLeader,
        Nemesis::SplitLeaderInMinority,
        Nemesis::SplitLeaderInMajority,
        Nemesis::OneWayFromLeader,
        Nemesis::OneWayToLeader,
        Nemesis::Flapping,
    ];
}

impl Run {
    /// Injects `nemesis`, holds it, heals, and waits for recovery.
    pub fn inflict(&mut self, nemesis: Nemesis) {
        let hold = self.rng.between(ELECTION_TIMEOUT * 2, ELECTION_TIMEOUT * 5);
        match nemesis {
            Nemesis::KillOne => {
                let victim = self.rng.below(self.cluster.len() as u64) as usize;
                self.kill_and_restart(vec![victim], hold);
            }
            Nemesis::KillLeader => {
                let leader = self.wait_leader();
                self.kill_and_restart(vec![leader], hold);
            }
            Nemesis::KillMinority => {
                let victims = self.pick(self.cluster.len() / 2);
                self.kill_and_restart(victims, hold);
            }
            Nemesis::KillMajority => {
                let victims = self.pick(self.cluster.len() / 2 + 1);
                self.kill_and_restart(victims, hold);
            }
            Nemesis::KillAll => {
                let victims = self.pick(self.cluster.len());
                self.kill_and_restart(victims, hold);
            }
            Nemesis::CrashLoop => self.crash_loop(),
            Nemesis::PauseLeader => self.pause_leader(hold),
            Nemesis::Flapping => self.flap(hold * 2),
            partition => self.partition(partition, hold),
        }
        self.wait_recovered();
    }

    /// `count` distinct members, at random.
    fn pick(&mut self, count: usize) -> Vec<usize> {
        let all = self.rng.shuffled((0..self.cluster.len()).collect());
        all[..count].to_vec()
    }

    /// `kill -9` of `victims` at once, then restarts in a random order
    /// with random gaps.
    fn kill_and_restart(&mut self, victims: Vec<usize>, hold: Duration) {
        for &i in &victims {
            self.cluster.kill(i);
        }
        let names: Vec<String> = victims.iter().map(|i| format!("m{}", i + 1)).collect();
        self.fault(&format!("kill -9 {}", names.join(" ")));
        self.hold(hold);
        for i in self.rng.shuffled(victims) {
            self.cluster.start(i);
            self.note(&format!("restart m{}", i + 1));
            let gap = self.rng.between(Duration::ZERO, ELECTION_TIMEOUT * 2);
            self.hold(gap);
        }
    }

    /// A member killed again and again shortly after each restart, while
    /// its clients reconnect: its ledger, the requests it forwarded and the
    /// frames its peers queued for it span several short lives.
    fn crash_loop(&mut self) {
        let victim = self.rng.below(self.cluster.len() as u64) as usize;
        self.fault(&format!(
            "crash loop of m{}: kill -9, restart, 8 times",
            victim + 1
        ));
        for _ in 0..8 {
            self.cluster.kill(victim);
            let down = self
                .rng
                .between(Duration::from_millis(50), Duration::from_millis(300));
            self.hold(down);
            self.cluster.start(victim);
            let up = self
                .rng
                .between(Duration::from_millis(100), Duration::from_millis(600));
            self.hold(up);
        }
        self.note(&format!("m{} left running", victim + 1));
    }

    /// SIGSTOP of the leader for longer than the election timeout, then
    /// SIGCONT: the clients connected to it are answered when it wakes,
    /// and its linearizable reads must not be stale.
    fn pause_leader(&mut self, hold: Duration) {
        let leader = self.wait_leader();
        self.cluster.pause(leader);
        self.fault(&format!("SIGSTOP m{} (leader)", leader + 1));
        self.hold(hold.max(ELECTION_TIMEOUT * 3));
        self.cluster.resume(leader);
        self.note(&format!("SIGCONT m{}", leader + 1));
    }

    /// One of the partitions around the leader, held, then healed.
    fn partition(&mut self, nemesis: Nemesis, hold: Duration) {
        let leader = self.wait_leader();
        let n = self.cluster.len();
        let others: Vec<usize> = (0..n).filter(|i| *i != leader).collect();
        let others = self.rng.shuffled(others);
        let net = self.cluster.net.as_mut().expect("a cluster in namespaces");
        let what = match nemesis {
            Nemesis::IsolateLeader => {
                net.isolate(&[leader]).expect("cut");
                format!("isolate the leader m{}", leader + 1)
            }
            Nemesis::SplitLeaderInMinority => {
                let mut side = others[..(n - 1) / 2 - 1].to_vec();
                side.push(leader);
                net.isolate(&side).expect("cut");
                format!("split: minority {} with the leader", names(&side))
            }
            Nemesis::SplitLeaderInMajority => {
                let side = others[..(n - 1) / 2].to_vec();
                net.isolate(&side).expect("cut");
                format!("split: minority {} without the leader", names(&side))
            }
            Nemesis::OneWayFromLeader => {
                for &o in &others {
                    net.cut(leader, o).expect("cut");
                }
                format!("drop every packet from the leader m{}", leader + 1)
            }
            Nemesis::OneWayToLeader => {
                for &o in &others {
                    net.cut(o, leader).expect("cut");
                }
                format!("drop every packet to the leader m{}", leader + 1)
            }
            other => unreachable!("{other:?} is not a partition"),
        };
        self.fault(&what);
        self.hold(hold);
        self.heal();
    }

    /// A random partition changes every 100 to 600 ms for `duration`.
    fn flap(&mut self, duration: Duration) {
        let n = self.cluster.len();
        let start = std::time::Instant::now();
        self.fault("flapping links: random partitions every 100-600 ms");
        while start.elapsed() < duration {
            let side = {
                let size = 1 + self.rng.below((n / 2) as u64) as usize;
                self.pick(size)
            };
            let net = self.cluster.net.as_mut().expect("a cluster in namespaces");
            net.heal().expect("heal");
            net.isolate(&side).expect("cut");
            self.note(&format!("  isolate {}", names(&side)));
            let gap = self
                .rng
                .between(Duration::from_millis(100), Duration::from_millis(600));
            self.hold(gap);
        }
        self.heal();
    }

    fn heal(&mut self) {
        let net = self.cluster.net.as_mut().expect("a cluster in namespaces");
        net.heal().expect("heal");
        self.note("network healed");
    }
}

fn names(members: &[usize]) -> String {
    let names: Vec<String> = members.iter().map(|i| format!("m{}", i + 1)).collect();
    names.join(" ")
}
