//! The event loop: one queue of timed events, one seeded random source,
//! a safety phase with faults and a liveness phase without.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use paxon_core::{Ballot, Config, Memberships, Message, NodeId, Rng, Slot, Value};

use crate::client::{Answer, Client, KvHistory};
use crate::kv::{Request, Store};
use crate::network::Network;
use crate::node::Node;
use crate::options::{Micros, Options, Swarm};
use crate::trace::Trace;

/// Something that happens at a point of simulated time.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A peer message arrives.
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: Message,
    },
    /// A snapshot arrives at a laggard.
    DeliverSnapshot {
        from: NodeId,
        to: NodeId,
        slot: Slot,
        store: Box<Store>,
        memberships: Memberships,
    },
    /// A client request arrives at a node.
    Request {
        client: u32,
        to: NodeId,
        seq: u64,
        request: Request,
    },
    /// A node's answer arrives at a client.
    Answer {
        client: u32,
        seq: u64,
        answer: Answer,
    },
    /// A replica's clock ticks (of one incarnation).
    Tick { node: NodeId, incarnation: u64 },
    /// A replica's group commit finished.
    SyncDone { node: NodeId, incarnation: u64 },
    /// A client wakes up: to send its next request, or to give up on
    /// request `timeout_of`.
    ClientWake {
        client: u32,
        timeout_of: Option<u64>,
    },
    /// The fault scheduler acts.
    Fault,
    /// A crashed replica restarts.
    Restart { node: NodeId },
    /// A paused replica resumes.
    Resume { node: NodeId },
    /// A partition ends.
    Heal,
}

/// Which checker failed, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The checker's name.
    pub checker: &'static str,
    /// What it found.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.checker, self.message)
    }
}

/// How a seed ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every checker passed.
    Passed,
    /// A checker failed.
    Failed(Failure),
}

/// What one seed did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Hash of every step: the same seed gives the same hash.
    pub trace_hash: u64,
    /// Steps run.
    pub steps: u64,
    /// Client requests completed, and with an unknown outcome.
    pub completed: u64,
    /// Requests whose outcome stayed unknown.
    pub unknown: u64,
    /// Faults injected.
    pub faults: u64,
    /// Slots chosen.
    pub slots: u64,
    /// Configuration changes chosen (§3.3.6).
    pub reconfigurations: u64,
    /// Replicas that left the configuration and stopped.
    pub removed: u64,
    /// Ticks from the heal to the last client's first completed request.
    pub liveness_ticks: u64,
    /// The last steps, in words (when the run failed or was verbose).
    pub trace_tail: String,
}

pub(crate) struct Sim {
    pub(crate) options: Options,
    pub(crate) swarm: Swarm,
    pub(crate) rng: Rng,
    pub(crate) now: Micros,
    queue: BTreeMap<(Micros, u64), Event>,
    queue_seq: u64,
    pub(crate) nodes: BTreeMap<NodeId, Node>,
    pub(crate) network: Network,
    pub(crate) clients: Vec<Client>,
    pub(crate) history: KvHistory,
    pub(crate) trace: Trace,
    /// Every decree applied anywhere, by slot (agreement).
    pub(crate) chosen: BTreeMap<Slot, Value>,
    /// The store's (revision, HashKV) after each slot, as the first replica
    /// to apply it found it (state machine agreement).
    pub(crate) states: BTreeMap<Slot, (i64, u32, u64)>,
    /// Commands the simulator itself proposed (compactions, leases).
    pub(crate) system_seq: u64,
    /// Highest ballot each replica revealed in a Promise or Accepted.
    pub(crate) revealed: BTreeMap<NodeId, Ballot>,
    /// Set once the faults have healed.
    pub(crate) healed_at: Option<Micros>,
    pub(crate) faults_injected: u64,
    pub(crate) failure: Option<Failure>,
    pub(crate) seed: u64,
    /// Replicas ever proposed as members (the initial voters included): a
    /// spare is added at most once, a removed member never comes back.
    pub(crate) enlisted: BTreeSet<NodeId>,
    /// The fewest voters of any configuration proposed so far (the
    /// initial one included): the disk damage budget (`faults.rs`).
    pub(crate) fewest_voters: u64,
}

/// Runs one seed under `options`.
pub fn run_seed(options: &Options, seed: u64, verbose: bool) -> Report {
    let mut sim = Sim::new(options.clone(), seed);
    sim.trace.verbose = verbose;
    let result = catch_unwind(AssertUnwindSafe(|| sim.run()));
    if let Err(panic) = result {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".to_string());
        sim.fail("panic (an assertion in the code under test)", message);
    }
    sim.report()
}

impl Sim {
    fn new(options: Options, seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let swarm = Swarm::draw(&options, &mut rng);
        let members: Vec<NodeId> = (1..=options.nodes).map(NodeId).collect();
        let everyone = (1..=options.nodes + options.spares).map(NodeId);
        let mut nodes = BTreeMap::new();
        for (i, id) in everyone.enumerate() {
            let mut config = core_config(id, &members, &options);
            config.announce_commit_at_once = swarm.announce_commit_at_once;
            nodes.insert(id, Node::new(id, config, swarm.tick_micros[i]));
        }
        let clients = (0..options.clients)
            .map(|c| Client::new(c, options.keys))
            .collect();
        Sim {
            swarm,
            rng,
            now: 0,
            queue: BTreeMap::new(),
            queue_seq: 0,
            nodes,
            network: Network::default(),
            clients,
            history: KvHistory::new(),
            trace: Trace::default(),
            chosen: BTreeMap::new(),
            states: BTreeMap::new(),
            system_seq: 0,
            revealed: BTreeMap::new(),
            healed_at: None,
            faults_injected: 0,
            failure: None,
            seed,
            fewest_voters: options.nodes,
            enlisted: members.into_iter().collect(),
            options,
        }
    }

    pub(crate) fn schedule(&mut self, after: Micros, event: Event) {
        self.queue_seq += 1;
        self.queue.insert((self.now + after, self.queue_seq), event);
    }

    pub(crate) fn members(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub(crate) fn fail(&mut self, checker: &'static str, message: String) {
        if self.failure.is_none() {
            self.failure = Some(Failure { checker, message });
        }
    }

    fn run(&mut self) {
        for id in self.members() {
            self.start_node(id);
        }
        for client in 0..self.options.clients {
            let think = self.rng.range(0, 10_000);
            let timeout_of = None;
            self.schedule(think, Event::ClientWake { client, timeout_of });
        }
        if self.swarm.faults != crate::options::FaultMix::NONE {
            let first = self.rng.range(0, self.swarm.fault_interval * 2);
            self.schedule(first, Event::Fault);
        }
        while self.failure.is_none() && self.trace.steps < self.options.steps {
            self.step();
        }
        if self.failure.is_none() {
            self.heal_everything();
            self.run_liveness_phase();
        }
        if self.failure.is_none() {
            self.check_linearizable();
        }
    }

    /// Runs until every client completed a request after the heal, or the
    /// bound passes.
    fn run_liveness_phase(&mut self) {
        let healed = self.now;
        let tick = *self.swarm.tick_micros.iter().max().expect("nodes");
        let bound = healed + self.options.liveness_bound_ticks * tick;
        while self.failure.is_none() {
            if self.clients.iter().all(|c| c.completed_after_heal > 0) {
                return;
            }
            if self.now > bound {
                let stuck: Vec<u32> = self
                    .clients
                    .iter()
                    .filter(|c| c.completed_after_heal == 0)
                    .map(|c| c.id)
                    .collect();
                let message = format!(
                    "clients {stuck:?} completed no request within {} ticks of the heal",
                    self.options.liveness_bound_ticks
                );
                self.fail("liveness", message);
                return;
            }
            self.step();
        }
    }

    fn step(&mut self) {
        let Some(((at, _), event)) = self.queue.pop_first() else {
            self.fail("simulator", "event queue ran dry".into());
            return;
        };
        assert!(at >= self.now, "time never goes back");
        self.now = at;
        self.dispatch(event);
    }

    fn report(&self) -> Report {
        let outcome = match &self.failure {
            None => Outcome::Passed,
            Some(failure) => Outcome::Failed(failure.clone()),
        };
        let tick = *self.swarm.tick_micros.iter().max().expect("nodes");
        Report {
            seed: self.seed,
            outcome,
            trace_hash: self.trace.hash(),
            steps: self.trace.steps,
            completed: self.clients.iter().map(|c| c.completed).sum(),
            unknown: self.clients.iter().map(|c| c.unknown).sum(),
            faults: self.faults_injected,
            slots: self.chosen.len() as u64,
            reconfigurations: self
                .chosen
                .values()
                .filter(|v| matches!(v, Value::Reconfigure(_)))
                .count() as u64,
            removed: self.nodes.values().filter(|n| n.removed).count() as u64,
            liveness_ticks: self.healed_at.map_or(0, |h| (self.now - h) / tick),
            trace_tail: self.trace.tail(),
        }
    }
}

/// The core settings the simulator runs with: short timeouts so that a
/// seed covers many elections.
fn core_config(id: NodeId, members: &[NodeId], options: &Options) -> Config {
    let mut config = Config::new(id, members.to_vec());
    config.election_timeout_ticks = 20;
    config.heartbeat_interval_ticks = 4;
    config.accept_retry_ticks = 8;
    config.pipeline_slots_max = 8;
    config.batch_commands_max = 4;
    config.learn_slots_max = 16;
    config.accept_values_max = 16;
    #[cfg(feature = "planted-bugs")]
    {
        config.planted_bug = options
            .planted_bug
            .and_then(paxon_core::PlantedBug::from_number);
    }
    #[cfg(not(feature = "planted-bugs"))]
    let _ = options;
    config
}
