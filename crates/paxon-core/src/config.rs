//! The replica's settings: every limit is named here and checked once.

use crate::membership::{Membership, MembershipError};
use crate::types::NodeId;

/// Settings of one replica. All members of a cluster must use the same
/// initial `members` and `learners` and the same `pipeline_slots_max` (α
/// decides when a configuration change takes effect); the timing fields
/// may differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This replica.
    pub id: NodeId,
    /// The voters of the configuration the ledger starts with (it governs
    /// slot 1, `membership.rs`). A replica joining a running cluster is in
    /// neither list: it learns the configuration from decrees or a
    /// snapshot.
    pub members: Vec<NodeId>,
    /// The learners of the configuration the ledger starts with.
    pub learners: Vec<NodeId>,
    /// A follower that hears no leader for a random number of ticks in
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)` tries to lead.
    pub election_timeout_ticks: u64,
    /// A leader sends a heartbeat every this many ticks.
    pub heartbeat_interval_ticks: u64,
    /// A leader re-sends an Accept not yet voted by a member after this
    /// many ticks.
    pub accept_retry_ticks: u64,
    /// Slots a leader may have proposed beyond its commit point (the
    /// pipeline window, α of §3.3.6).
    pub pipeline_slots_max: u64,
    /// Client commands in one decree.
    pub batch_commands_max: usize,
    /// Payload bytes in one decree (a single larger command still gets a
    /// decree of its own).
    pub batch_bytes_max: usize,
    /// Client commands waiting for a slot; `propose` refuses beyond it.
    pub pending_commands_max: usize,
    /// Chosen decrees sent in one `Learn` to a laggard.
    pub learn_slots_max: usize,
    /// Decrees in one `Accept` message (and in one message a peer accepts).
    pub accept_values_max: usize,
    /// §3.3.1 `Success`: a leader whose commit point advanced tells every
    /// peer at once with a heartbeat, rather than on its next `Accept` or
    /// heartbeat. A follower then applies (and answers the writes it
    /// forwarded, and the reads it holds) within a round trip instead of a
    /// heartbeat interval, for one small message per peer per advance.
    pub announce_commit_at_once: bool,
    /// A learner is promoted to voter only when its commit point is at most
    /// this many slots behind the leader's.
    pub promote_lag_slots_max: u64,
    /// A bug to plant (simulator tests only).
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<crate::PlantedBug>,
}

/// A setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid paxon-core config: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Settings for `id` in a cluster of `members`, with defaults suited to
    /// a 10 ms tick.
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Config {
        Config {
            id,
            members,
            learners: Vec::new(),
            election_timeout_ticks: 100,
            heartbeat_interval_ticks: 10,
            accept_retry_ticks: 20,
            pipeline_slots_max: 64,
            batch_commands_max: 1024,
            batch_bytes_max: 1 << 20,
            pending_commands_max: 1 << 16,
            learn_slots_max: 256,
            accept_values_max: 256,
            announce_commit_at_once: false,
            promote_lag_slots_max: 256,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// Checks every setting and the relations between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |msg: String| Err(ConfigError(msg));
        if self.id.0 == 0 {
            return fail("node id 0 is reserved".into());
        }
        if let Err(e) = self.initial_membership() {
            return fail(format!("initial configuration: {e}"));
        }
        if self.heartbeat_interval_ticks == 0 || self.accept_retry_ticks == 0 {
            return fail("heartbeat_interval_ticks and accept_retry_ticks must be ≥ 1".into());
        }
        if self.election_timeout_ticks < 2 * self.heartbeat_interval_ticks {
            return fail(format!(
                "election_timeout_ticks ({}) must be at least twice heartbeat_interval_ticks ({})",
                self.election_timeout_ticks, self.heartbeat_interval_ticks
            ));
        }
        let positive = [
            ("pipeline_slots_max", self.pipeline_slots_max as usize),
            ("batch_commands_max", self.batch_commands_max),
            ("batch_bytes_max", self.batch_bytes_max),
            ("pending_commands_max", self.pending_commands_max),
            ("learn_slots_max", self.learn_slots_max),
            ("accept_values_max", self.accept_values_max),
        ];
        for (name, value) in positive {
            if value == 0 {
                return fail(format!("{name} must be ≥ 1"));
            }
        }
        if (self.accept_values_max as u64) < self.pipeline_slots_max {
            return fail(format!(
                "accept_values_max ({}) must be ≥ pipeline_slots_max ({})",
                self.accept_values_max, self.pipeline_slots_max
            ));
        }
        Ok(())
    }

    /// The configuration that governs slot 1.
    pub fn initial_membership(&self) -> Result<Membership, MembershipError> {
        Membership::new(self.members.clone(), self.learners.clone())
    }
}
