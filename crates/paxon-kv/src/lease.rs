//! The lease table: just enough of etcd's lessor (`server/lease/lessor.go`)
//! for keys to carry leases. A put naming an unknown lease fails; revoking
//! a lease deletes its keys. Expiry, keep-alives and checkpoints belong to
//! the Lease service: time enters only through decrees.

use std::collections::BTreeSet;

use crate::error::KvError;
use crate::request::DeleteRangeRequest;
use crate::response::{Header, LeaseGrantResponse, LeaseRevokeResponse};
use crate::store::Store;
use crate::types::LeaseId;

/// Longest lease TTL etcd grants (`lease.MaxLeaseTTL`), in seconds.
pub const LEASE_TTL_MAX_S: i64 = 9_000_000_000;

/// A granted lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub(crate) ttl_s: i64,
    /// The live keys attached to it.
    pub(crate) keys: BTreeSet<Box<[u8]>>,
}

impl Lease {
    /// The TTL it was granted with.
    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    /// The live keys attached to it, in key order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(|k| &**k)
    }
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

    /// A `LeaseGrant` decree (etcd's `lessor.Grant`). The proposer chose a
    /// non-zero id and the TTL, already raised to the minimum it enforces;
    /// granting does not advance the revision.
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
        self.leases.insert(
            id,
            Lease {
                ttl_s,
                keys: BTreeSet::new(),
            },
        );
        Ok(LeaseGrantResponse {
            header: Header {
                revision: self.revision,
            },
            id,
            ttl_s,
        })
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
