//! What one simulation run does: cluster size, length, the fault classes
//! allowed, and the per-seed "swarm" draw of how hard each one hits.

use paxon_core::Rng;

/// Fault classes a run may use (TigerBeetle's VOPR calls the per-seed
/// random subset "swarm testing": each seed gets its own mix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultMix {
    /// Message drop, duplication, delay and reordering.
    pub network: bool,
    /// Partitions: symmetric, one-way, leader isolated, majority/minority,
    /// bridge, flapping links.
    pub partitions: bool,
    /// Crashes of one, a minority, a majority or all replicas, with
    /// unsynced writes lost or torn.
    pub crashes: bool,
    /// Clock skew between replicas and pauses longer than an election.
    pub clocks: bool,
    /// A bit flipped in a stored ledger file of a replica that is down.
    pub bit_flips: bool,
    /// The data directory of a replica that is down is wiped (an operator
    /// error): it restarts with an empty disk and must not vote with
    /// amnesia.
    pub wipes: bool,
    /// The leader is asked to change the configuration (§3.3.6): add a
    /// spare as learner, promote a learner, remove a member, or replace a
    /// voter by a learner in one decree.
    pub reconfigurations: bool,
}

impl FaultMix {
    /// Every fault class.
    pub const ALL: FaultMix = FaultMix {
        network: true,
        partitions: true,
        crashes: true,
        clocks: true,
        bit_flips: true,
        wipes: true,
        reconfigurations: true,
    };

    /// No faults at all.
    pub const NONE: FaultMix = FaultMix {
        network: false,
        partitions: false,
        crashes: false,
        clocks: false,
        bit_flips: false,
        wipes: false,
        reconfigurations: false,
    };

    /// Parses a comma-separated list (`all`, `none`, `network`,
    /// `partitions`, `crashes`, `clocks`, `bit-flips`, `wipes`,
    /// `reconfigurations`).
    pub fn parse(text: &str) -> Result<FaultMix, String> {
        let mut mix = FaultMix::NONE;
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "all" => mix = FaultMix::ALL,
                "none" => mix = FaultMix::NONE,
                "network" => mix.network = true,
                "partitions" => mix.partitions = true,
                "crashes" => mix.crashes = true,
                "clocks" => mix.clocks = true,
                "bit-flips" => mix.bit_flips = true,
                "wipes" => mix.wipes = true,
                "reconfigurations" => mix.reconfigurations = true,
                other => return Err(format!("unknown fault class `{other}`")),
            }
        }
        Ok(mix)
    }
}

/// Settings of a run, shared by every seed.
#[derive(Clone, Debug)]
pub struct Options {
    /// Voters of the initial configuration.
    pub nodes: u64,
    /// Replicas running from the start outside the configuration, ready to
    /// be added (`reconfigurations`).
    pub spares: u64,
    /// Events in the safety phase (faults on).
    pub steps: u64,
    /// Concurrent simulated clients.
    pub clients: u32,
    /// Keys they share.
    pub keys: u8,
    /// Fault classes allowed.
    pub faults: FaultMix,
    /// After the faults heal, every client must complete a request within
    /// this many ticks.
    pub liveness_bound_ticks: u64,
    /// A planted bug to switch on (needs the `planted-bugs` feature).
    pub planted_bug: Option<u8>,
    /// The leader runs a lease workload beside the clients (`leases.rs`).
    pub leases: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            nodes: 3,
            spares: 3,
            steps: 10_000,
            clients: 6,
            keys: 4,
            faults: FaultMix::ALL,
            liveness_bound_ticks: 1_000,
            planted_bug: None,
            leases: true,
        }
    }
}

/// Microseconds of simulated time.
pub type Micros = u64;

/// The per-seed draw: probabilities and timings for this seed.
#[derive(Clone, Debug)]
pub struct Swarm {
    /// Probability a message is lost.
    pub drop_per_mille: u64,
    /// Probability a message is delivered twice.
    pub duplicate_per_mille: u64,
    /// Network delay range.
    pub delay_min: Micros,
    /// Upper end of the usual delay.
    pub delay_max: Micros,
    /// Probability a message takes the long tail (reordering).
    pub long_tail_per_mille: u64,
    /// Mean time between two faults.
    pub fault_interval: Micros,
    /// Enabled classes for this seed (a subset of the options' mix).
    pub faults: FaultMix,
    /// Tick length of each replica (clock skew).
    pub tick_micros: Vec<Micros>,
    /// A crash keeps a torn prefix of unsynced writes.
    pub torn_writes: bool,
    /// The leaders announce a new commit point at once, as `paxon serve`
    /// runs them, rather than with the next heartbeat.
    pub announce_commit_at_once: bool,
}

impl Swarm {
    /// Draws the mix of seed `rng` within `options`.
    pub fn draw(options: &Options, rng: &mut Rng) -> Swarm {
        let mut coin = |p: u64| rng.range(0, 100) < p;
        let allowed = options.faults;
        let faults = FaultMix {
            network: allowed.network && coin(80),
            partitions: allowed.partitions && coin(60),
            crashes: allowed.crashes && coin(70),
            clocks: allowed.clocks && coin(50),
            bit_flips: allowed.bit_flips && coin(20),
            wipes: allowed.wipes && coin(50),
            reconfigurations: allowed.reconfigurations && coin(60),
        };
        let torn_writes = coin(50);
        let announce_commit_at_once = coin(50);
        let pick =
            |rng: &mut Rng, choices: &[u64]| choices[rng.range(0, choices.len() as u64) as usize];
        let (drop, dup, tail) = if faults.network {
            (
                pick(rng, &[0, 5, 50, 200]),
                pick(rng, &[0, 10, 50]),
                pick(rng, &[0, 10, 50]),
            )
        } else {
            (0, 0, 0)
        };
        let delay_min = pick(rng, &[50, 200, 500]);
        let delay_max = delay_min * pick(rng, &[2, 5, 20]);
        let tick_micros = (0..options.nodes + options.spares)
            .map(|_| match faults.clocks {
                true => rng.range(600, 1_600),
                false => 1_000,
            })
            .collect();
        Swarm {
            drop_per_mille: drop,
            duplicate_per_mille: dup,
            delay_min,
            delay_max,
            long_tail_per_mille: tail,
            fault_interval: pick(rng, &[20_000, 60_000, 200_000]),
            faults,
            tick_micros,
            torn_writes,
            announce_commit_at_once,
        }
    }
}
