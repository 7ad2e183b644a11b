//! In-process throughput of a 3-replica cluster: no disk, no network, just
//! the protocol. Messages are handed over directly and every `Persist` is
//! acknowledged at once. Reports commands chosen and applied per second.
//!
//! Run: `cargo bench -p paxon-core --bench throughput`
//! (set `PAXON_BENCH_COMMANDS` to change the number of commands).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use paxon_core::{Action, Config, Message, NodeId, PersistedState, Replica, Value};

const BATCH: usize = 64;

struct Bench {
    replicas: Vec<Replica>,
    network: VecDeque<(NodeId, NodeId, Message)>,
    applied_commands: Vec<u64>,
}

impl Bench {
    fn new() -> Bench {
        let members = vec![NodeId(1), NodeId(2), NodeId(3)];
        let replicas = members
            .iter()
            .map(|id| {
                let mut config = Config::new(*id, members.clone());
                config.batch_commands_max = BATCH;
                config.pipeline_slots_max = 64;
                Replica::new(config, PersistedState::default(), 1).unwrap()
            })
            .collect();
        Bench {
            replicas,
            network: VecDeque::new(),
            applied_commands: vec![0; 3],
        }
    }

    fn drain(&mut self, i: usize) {
        while let Some(action) = self.replicas[i].poll() {
            match action {
                Action::Persist { token, .. } => self.replicas[i].handle_persisted(token),
                Action::Send { to, msg } => self.network.push_back((NodeId(i as u64 + 1), to, msg)),
                Action::Apply {
                    value: Value::Batch(batch),
                    ..
                } => self.applied_commands[i] += batch.commands().len() as u64,
                _ => {}
            }
        }
    }

    fn deliver_all(&mut self) {
        while let Some((from, to, msg)) = self.network.pop_front() {
            let i = (to.0 - 1) as usize;
            self.replicas[i].handle_message(from, msg).unwrap();
            self.drain(i);
        }
    }

    fn elect(&mut self) -> usize {
        loop {
            for i in 0..3 {
                self.replicas[i].handle_tick();
                self.drain(i);
            }
            self.deliver_all();
            if let Some(i) = self.replicas.iter().position(|r| r.is_leader()) {
                return i;
            }
        }
    }
}

fn main() {
    let total: u64 = std::env::var("PAXON_BENCH_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let mut bench = Bench::new();
    let leader = bench.elect();
    let payload = Bytes::from_static(&[7u8; 16]);
    let start = Instant::now();
    let mut proposed = 0;
    while bench.applied_commands.iter().min().copied().unwrap_or(0) < total {
        while proposed < total && bench.replicas[leader].queued_commands() < 16 * BATCH {
            bench.replicas[leader].propose(payload.clone()).unwrap();
            proposed += 1;
        }
        bench.drain(leader);
        bench.deliver_all();
        // Time passes too: heartbeats carry the last commit point.
        for i in 0..3 {
            bench.replicas[i].handle_tick();
            bench.drain(i);
        }
    }
    let elapsed = start.elapsed();
    let per_s = total as f64 / elapsed.as_secs_f64();
    println!(
        "paxon-core in-process: 3 replicas, batches of {BATCH}, 16-byte commands: \
         {total} commands applied on every replica in {:.2} s = {:.0} commands/s ({:.0} decrees/s)",
        elapsed.as_secs_f64(),
        per_s,
        per_s / BATCH as f64
    );
}
