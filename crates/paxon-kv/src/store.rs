//! The store: the key space with its history, the revision clock, the
//! lease table, and the one entry point replicas call in slot order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;

use crate::alarm::AlarmMember;
use crate::auth::Auth;
use crate::command::Command;
use crate::directory::MemberAttrs;
use crate::error::KvError;
use crate::lease::Lease;
use crate::mvcc::KeyHistory;
use crate::response::{Event, Header, Response};
use crate::types::{LeaseId, Revision};

/// etcd's MVCC key-value store as a deterministic state machine.
///
/// Every replica applies the same [`Command`]s in the same order with
/// [`Store::apply`] and ends in the same state, byte for byte
/// ([`Store::snapshot`], [`Store::hash`]): nothing here reads a clock, does
/// I/O, or iterates in an unspecified order.
///
/// - Inputs: [`Store::apply`] for decrees (writes, compaction, leases);
///   [`Store::range`] and [`Store::read_txn`] for reads served without a
///   decree.
/// - Outputs: the [`Response`], and the watch [`Event`]s of the latest
///   `apply`, taken with [`Store::take_events`].
/// - Getters: [`Store::revision`], [`Store::compact_revision`],
///   [`Store::size_bytes`], [`Store::lease`], [`Store::leases`].
/// - Law book: [`Store::snapshot`] and [`Store::restore`].
#[derive(Clone)]
pub struct Store {
    /// Every key with retained history, live or not.
    pub(crate) keys: BTreeMap<Box<[u8]>, KeyHistory>,
    /// The current revision.
    pub(crate) revision: Revision,
    /// The revision of the last compaction, if any.
    pub(crate) compacted: Option<Revision>,
    /// Granted leases and the live keys attached to each.
    pub(crate) leases: BTreeMap<LeaseId, Lease>,
    /// The decree time (see `lease.rs`).
    pub(crate) now_ms: i64,
    /// Sum of [`crate::mvcc::Version::size_bytes`] over every version.
    pub(crate) size_bytes: u64,
    /// Raised alarms (etcd's `alarmStore`).
    pub(crate) alarms: BTreeSet<AlarmMember>,
    /// Users, roles and the auth switch; tokens in memory.
    pub(crate) auth: Auth,
    /// Names and peer URLs of members added at run time (`directory.rs`).
    pub(crate) members: BTreeMap<u64, MemberAttrs>,
    /// Events of the latest `apply`; not part of the state.
    pub(crate) events: Vec<Event>,
}

impl Store {
    /// An empty store at [`Revision::EMPTY_STORE`].
    pub fn new() -> Store {
        Store {
            keys: BTreeMap::new(),
            revision: Revision::EMPTY_STORE,
            compacted: None,
            leases: BTreeMap::new(),
            now_ms: 0,
            size_bytes: 0,
            alarms: BTreeSet::new(),
            auth: Auth::default(),
            members: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Applies one decree. Replicas call this in slot order, exactly once
    /// per slot; the same commands in the same order give the same
    /// responses and the same state on every replica.
    ///
    /// A command that fails changes nothing (and produces no events). The
    /// checks of [`Command::validate`] are repeated here, except the
    /// operation limit, which is the proposer's configuration.
    pub fn apply(&mut self, cmd: &Command) -> Result<Response, KvError> {
        self.events.clear();
        cmd.check(usize::MAX)?;
        self.check_capped(cmd)?;
        match cmd {
            Command::Put(req) => self.apply_put(req).map(Response::Put),
            Command::DeleteRange(req) => Ok(Response::DeleteRange(self.apply_delete_range(req))),
            Command::Txn(req) => self.apply_txn(req).map(Response::Txn),
            Command::Compact(req) => self.compact(req).map(Response::Compact),
            Command::LeaseGrant { id, ttl_s } => {
                self.grant_lease(*id, *ttl_s).map(Response::LeaseGrant)
            }
            Command::LeaseRevoke { id } => self.revoke_lease(*id).map(Response::LeaseRevoke),
            Command::LeaseKeepAlive { id } => self.keep_alive(*id).map(Response::LeaseKeepAlive),
            Command::LeaseTick { now_ms } => Ok(Response::LeaseTick(self.tick(*now_ms))),
            Command::LeasePromote { now_ms } => Ok(Response::LeaseTick(self.promote(*now_ms))),
            Command::Alarm { action, alarm } => {
                Ok(Response::Alarm(self.apply_alarm(*action, *alarm)))
            }
            Command::Auth(command) => {
                self.auth.apply(command)?;
                Ok(Response::Auth(Header {
                    revision: self.revision,
                }))
            }
            Command::MemberAttrs { id, attrs } => {
                self.set_member(*id, attrs);
                Ok(Response::Member(Header {
                    revision: self.revision,
                }))
            }
        }
    }

    /// Users, roles, permissions and tokens.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The watch events the latest [`Store::apply`] produced, in revision
    /// order (and, within a revision, in the order of the changes). Each
    /// `apply` starts a new list, so the caller takes them after every one.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The current revision: [`Revision::EMPTY_STORE`] plus one per write
    /// transaction that changed something.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The revision of the latest compaction; reads below it fail.
    pub fn compact_revision(&self) -> Option<Revision> {
        self.compacted
    }

    /// Approximate bytes of the data and retained history: per version, its
    /// key, its value and a fixed overhead. For `--quota-backend-bytes` and
    /// `dbSize`.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The lowest revision reads may ask for: etcd's `compactMainRev`, -1
    /// before any compaction.
    pub(crate) fn compact_floor(&self) -> Revision {
        self.compacted.unwrap_or(Revision(-1))
    }

    /// The histories of the keys `key_span(key, range_end)` selects.
    pub(crate) fn histories<'a>(
        &'a self,
        key: &'a [u8],
        range_end: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a KeyHistory)> + 'a {
        self.keys
            .range::<[u8], _>(key_span(key, range_end))
            .map(|(k, h)| (&**k, h))
    }

    /// Asserts every invariant of the state (for tests and the simulator):
    /// each key history obeys the rules of `KeyHistory::check` (ordered
    /// versions, consistent generations), the lease table lists
    /// exactly the live keys that name each lease, and `size_bytes` is the
    /// sum of its parts.
    ///
    /// # Panics
    ///
    /// On the first broken invariant.
    pub fn check_invariants(&self) {
        if let Err(reason) = self.check_state() {
            panic!("store invariant broken: {reason}");
        }
    }

    /// The invariants of [`Store::check_invariants`], as an error.
    pub(crate) fn check_state(&self) -> Result<(), &'static str> {
        if self.revision < Revision::EMPTY_STORE || self.revision > Revision::PLAUSIBLE_MAX {
            return Err("revision below the empty store's or implausibly high");
        }
        if self
            .compacted
            .is_some_and(|c| c < Revision(0) || c > self.revision)
        {
            return Err("compacted revision negative or in the future");
        }
        let mut size_bytes = 0u64;
        for (key, history) in &self.keys {
            if key.is_empty() {
                return Err("empty key");
            }
            history.check(self.compacted, self.revision)?;
            size_bytes += history.size_bytes(key.len());
            self.check_lease_of(key, history)?;
        }
        let attached: usize = self.leases.values().map(|l| l.keys.len()).sum();
        let leased = self
            .keys
            .values()
            .filter(|h| h.latest().is_some_and(|l| !l.lease.is_none()))
            .count();
        if attached != leased {
            return Err("a lease lists a key that does not name it");
        }
        if size_bytes != self.size_bytes {
            return Err("size_bytes differs from the sum of the versions");
        }
        Ok(())
    }

    fn check_lease_of(&self, key: &[u8], history: &KeyHistory) -> Result<(), &'static str> {
        let Some(live) = history.latest() else {
            return Ok(());
        };
        if live.lease.is_none() {
            return Ok(());
        }
        match self.leases.get(&live.lease) {
            Some(lease) if lease.keys.contains(key) => Ok(()),
            Some(_) => Err("a live key is missing from its lease"),
            None => Err("a live key names a lease that does not exist"),
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

/// Two stores are equal when their states are: keys with history,
/// revision, compaction, leases, alarms and auth (not the pending events
/// nor the auth tokens).
impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.revision == other.revision
            && self.compacted == other.compacted
            && self.size_bytes == other.size_bytes
            && self.leases == other.leases
            && self.now_ms == other.now_ms
            && self.keys == other.keys
            && self.alarms == other.alarms
            && self.auth == other.auth
            && self.members == other.members
    }
}

impl Eq for Store {}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("revision", &self.revision)
            .field("compacted", &self.compacted)
            .field("keys", &self.keys.len())
            .field(
                "live_keys",
                &self.keys.values().filter(|h| h.latest().is_some()).count(),
            )
            .field("leases", &self.leases.len())
            .field("alarms", &self.alarms)
            .field("auth_enabled", &self.auth.enabled())
            .field("members", &self.members)
            .field("size_bytes", &self.size_bytes)
            .finish()
    }
}

/// The keys a request's `key` and `range_end` select, as bounds on the
/// ordered key space (etcd's `mkGteRange` and `treeIndex.visit`): an empty
/// `range_end` is the single key, `[0]` every key from `key` on, anything
/// else `[key, range_end)`, empty when `range_end <= key`.
pub(crate) fn key_span<'a>(
    key: &'a [u8],
    range_end: &'a [u8],
) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    match range_end {
        [] => (Bound::Included(key), Bound::Included(key)),
        [0] => (Bound::Included(key), Bound::Unbounded),
        end if end <= key => (Bound::Included(key), Bound::Excluded(key)),
        end => (Bound::Included(key), Bound::Excluded(end)),
    }
}

/// Whether `candidate` is among the keys `key` and `range_end` select, by
/// the rules of [`key_span`] (a watch's filter on the events it is sent).
pub fn range_contains(key: &[u8], range_end: &[u8], candidate: &[u8]) -> bool {
    std::ops::RangeBounds::contains(&key_span(key, range_end), &candidate)
}
