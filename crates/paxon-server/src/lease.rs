//! Leases at the leader: the clock that §3.3.3 puts in decrees.
//!
//! The store expires leases by *decree time* only (`paxon_kv`'s
//! `lease.rs`); this module is where the leader reads its wall clock and
//! proposes that time:
//!
//! - every [`LEASE_TICK_INTERVAL`], while leases exist, a `LeaseTick`;
//! - right before each `LeaseGrant` and `LeaseKeepAlive` it proposes (its
//!   own clients' or forwarded ones), a `LeaseTick`, so the lease's new
//!   deadline counts from a time no earlier than when the request reached
//!   the leader — never early;
//! - on taking office, a `LeasePromote` before anything else of its own,
//!   giving every lease a full TTL from then (etcd's `lessor.Promote`), so
//!   the time without a leader, when no keep-alive could be chosen, never
//!   expires a lease.
//!
//! Keep-alives are decrees: durable and applied at the same slot on every
//! replica, so any new leader knows every deadline. docs/leases.md states
//! the bounds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paxon_kv::{Command, LeaseId, Store};
use tokio::sync::oneshot;

/// How often the leader proposes its time while leases exist: the slack
/// on expiry beyond the TTL.
pub const LEASE_TICK_INTERVAL: Duration = Duration::from_millis(500);

/// The leader's wall clock, in milliseconds since the Unix epoch.
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// When the leader last proposed its time.
#[derive(Debug)]
pub struct LeaseClock {
    last_tick: Instant,
}

impl Default for LeaseClock {
    fn default() -> Self {
        LeaseClock::new()
    }
}

impl LeaseClock {
    /// A clock that has not ticked.
    pub fn new() -> LeaseClock {
        LeaseClock {
            last_tick: Instant::now(),
        }
    }

    /// The tick to propose now, if one is due while `store` holds leases.
    pub fn due(&mut self, store: &Store) -> Option<Command> {
        if store.leases().next().is_none() || self.last_tick.elapsed() < LEASE_TICK_INTERVAL {
            return None;
        }
        Some(self.tick())
    }

    /// The tick to propose right before `command`, if it sets a deadline.
    pub fn before(&mut self, command: &[u8]) -> Option<Command> {
        Command::sets_lease_deadline(command).then(|| self.tick())
    }

    /// A tick at the current time.
    pub fn tick(&mut self) -> Command {
        self.last_tick = Instant::now();
        Command::LeaseTick {
            now_ms: wall_clock_ms(),
        }
    }

    /// What a new leader proposes first.
    pub fn promote(&mut self) -> Command {
        self.last_tick = Instant::now();
        Command::LeasePromote {
            now_ms: wall_clock_ms(),
        }
    }
}

/// One lease as `LeaseTimeToLive` shows it.
#[derive(Clone, Debug)]
pub struct LeaseInfo {
    /// Granted TTL.
    pub ttl_s: i64,
    /// Seconds left by this member's clock (truncated, as etcd), 0 if due.
    pub remaining_s: i64,
    /// Attached keys, in key order.
    pub keys: Vec<Vec<u8>>,
}

/// A read of the lease table, answered from this member's applied state.
pub enum LeaseQuery {
    /// `LeaseTimeToLive`.
    TimeToLive {
        /// The lease.
        id: LeaseId,
        /// Where the answer goes, with the revision and term.
        reply: oneshot::Sender<(Option<LeaseInfo>, i64, u64)>,
    },
    /// `LeaseLeases`.
    List {
        /// Where the ids go, with the revision and term.
        reply: oneshot::Sender<(Vec<LeaseId>, i64, u64)>,
    },
}

impl LeaseQuery {
    /// Answers from `store`.
    pub fn answer(self, store: &Store, term: u64) {
        let revision = store.revision().0;
        match self {
            LeaseQuery::TimeToLive { id, reply } => {
                let info = store.lease(id).map(|lease| LeaseInfo {
                    ttl_s: lease.ttl_s(),
                    remaining_s: ((lease.expiry_ms() - wall_clock_ms()) / 1000).max(0),
                    keys: lease.keys().map(<[u8]>::to_vec).collect(),
                });
                let _ = reply.send((info, revision, term));
            }
            LeaseQuery::List { reply } => {
                let ids = store.leases().map(|(id, _)| id).collect();
                let _ = reply.send((ids, revision, term));
            }
        }
    }
}
