//! The lease table, as etcd's lessor (`server/lease/lessor.go`), with time
//! taken only from decrees (§3.3.3: the cheese inspector's license lasts
//! until a time written in the decree, so every priest agrees when it ran
//! out).
//!
//! The store keeps the *decree time* `now_ms`: the largest time any
//! [`crate::Command::LeaseTick`] or [`crate::Command::LeasePromote`] has
//! carried. A lease expires at the first tick whose time reaches its
//! deadline; every replica applies that tick at the same slot, so every
//! replica revokes the lease there. The proposer (the leader) reads its
//! clock when it proposes a tick; the store never reads one.

use std::collections::BTreeSet;

use crate::error::KvError;
use crate::request::DeleteRangeRequest;
use crate::response::{
    Header, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseRevokeResponse, LeaseTickResponse,
};
use crate::store::Store;
use crate::types::LeaseId;

/// Longest lease TTL etcd grants (`lease.MaxLeaseTTL`), in seconds.
pub const LEASE_TTL_MAX_S: i64 = 9_000_000_000;

/// A granted lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub(crate) ttl_s: i64,
    /// The decree time at which it expires.
    pub(crate) expiry_ms: i64,
    /// The live keys attached to it.
    pub(crate) keys: BTreeSet<Box<[u8]>>,
}

impl Lease {
    /// The TTL it was granted with.
    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    /// The decree time at which it expires: the first tick at or past it
    /// revokes it.
    pub fn expiry_ms(&self) -> i64 {
        self.expiry_ms
    }

    /// The live keys attached to it, in key order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(|k| &**k)
    }
}

/// `now + ttl`, in milliseconds, without overflow.
fn deadline_ms(now_ms: i64, ttl_s: i64) -> i64 {
    now_ms.saturating_add(ttl_s.saturating_mul(1000))
}

impl Store {
    /// The lease `id`, if granted.
    pub fn lease(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every granted lease, by id.
    pub fn leases(&self) -> impl Iterator<Item = (LeaseId, &Lease)> {
        self.leases.iter().map(|(id, lease)| (*id, lease))
    }

    /// The decree time: the largest time a tick or promotion carried (0
    /// before the first).
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// A `LeaseGrant` decree (etcd's `lessor.Grant`). The proposer chose a
    /// non-zero id and the TTL, already raised to the minimum it enforces;
    /// the lease expires TTL after the decree time. Granting does not
    /// advance the revision.
    pub(crate) fn grant_lease(
        &mut self,
        id: LeaseId,
        ttl_s: i64,
    ) -> Result<LeaseGrantResponse, KvError> {
        if id.is_none() {
            return Err(KvError::LeaseNotFound);
        }
        if ttl_s > LEASE_TTL_MAX_S {
            return Err(KvError::LeaseTtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(KvError::LeaseExists);
        }
        let lease = Lease {
            ttl_s,
            expiry_ms: deadline_ms(self.now_ms, ttl_s),
            keys: BTreeSet::new(),
        };
        self.leases.insert(id, lease);
        Ok(LeaseGrantResponse {
            header: Header {
                revision: self.revision,
            },
            id,
            ttl_s,
        })
    }

    /// A `LeaseKeepAlive` decree (etcd's `lessor.Renew`): the lease now
    /// expires a full TTL after the decree time.
    pub(crate) fn keep_alive(&mut self, id: LeaseId) -> Result<LeaseKeepAliveResponse, KvError> {
        let now_ms = self.now_ms;
        let lease = self.leases.get_mut(&id).ok_or(KvError::LeaseNotFound)?;
        lease.expiry_ms = deadline_ms(now_ms, lease.ttl_s);
        Ok(LeaseKeepAliveResponse {
            header: Header {
                revision: self.revision,
            },
            id,
            ttl_s: lease.ttl_s,
        })
    }

    /// A `LeaseTick` decree (§3.3.3): the decree time moves to `now_ms`
    /// (never back), and every lease whose deadline it reaches is revoked,
    /// in id order, each in its own revision as etcd's leader revokes them.
    pub(crate) fn tick(&mut self, now_ms: i64) -> LeaseTickResponse {
        self.now_ms = self.now_ms.max(now_ms);
        let expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, lease)| lease.expiry_ms <= self.now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.revoke_lease(*id)
                .expect("an expired lease is in the table");
        }
        LeaseTickResponse {
            header: Header {
                revision: self.revision,
            },
            expired,
        }
    }

    /// A `LeasePromote` decree, proposed by a new leader before its first
    /// tick (etcd's `lessor.Promote`): the decree time moves to `now_ms`,
    /// and every lease lives at least a full TTL from then, so time spent
    /// without a leader (when no keep-alive could be chosen) never expires
    /// a lease.
    pub(crate) fn promote(&mut self, now_ms: i64) -> LeaseTickResponse {
        self.now_ms = self.now_ms.max(now_ms);
        for lease in self.leases.values_mut() {
            lease.expiry_ms = lease.expiry_ms.max(deadline_ms(self.now_ms, lease.ttl_s));
        }
        LeaseTickResponse {
            header: Header {
                revision: self.revision,
            },
            expired: Vec::new(),
        }
    }

    /// A `LeaseRevoke` decree (etcd's `lessor.Revoke`): deletes the
    /// lease's keys in key order in one write transaction (one revision,
    /// none if it had no keys), then forgets the lease.
    pub(crate) fn revoke_lease(&mut self, id: LeaseId) -> Result<LeaseRevokeResponse, KvError> {
        let keys: Vec<Box<[u8]>> = match self.leases.get(&id) {
            Some(lease) => lease.keys.iter().cloned().collect(),
            None => return Err(KvError::LeaseNotFound),
        };
        let mut txn = self.begin_write();
        for key in keys {
            let req = DeleteRangeRequest {
                key: key.into_vec(),
                ..DeleteRangeRequest::default()
            };
            self.delete_in(&mut txn, &req);
        }
        let revision = self.end_write(txn);
        let lease = self.leases.remove(&id).expect("the lease was found above");
        assert!(
            lease.keys.is_empty(),
            "revoking deleted every key of the lease"
        );
        Ok(LeaseRevokeResponse {
            header: Header { revision },
        })
    }
}
