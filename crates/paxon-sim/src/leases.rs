//! Leases in the simulator (§3.3.3: time carried in decrees). Outside the
//! clients' linearizability model, the leader keeps a small lease workload
//! going: it proposes its clock (`LeaseTick`), grants leases with short
//! TTLs, attaches keys to them, keeps some alive, and promotes every lease
//! when it takes office (`LeasePromote`), as `paxon serve` does. Expiry
//! deletes keys, so a replica that expired a lease at another slot than the
//! others breaks the state machine agreement checker (revision, HashKV and
//! the lease table after every slot).

use paxon_core::NodeId;
use paxon_kv::{Command as KvCommand, LeaseId, PutRequest};

use crate::kv::Command;
use crate::sim::Sim;

/// Lease ids the workload uses (small, so keep-alives and puts hit leases
/// that exist, expired, or never did).
const LEASE_IDS: u64 = 6;

impl Sim {
    /// At a leader's tick, now and then one lease decree.
    pub(crate) fn maybe_lease_work(&mut self, id: NodeId) {
        if !self.options.leases {
            return;
        }
        let now_ms = (self.now / 1_000) as i64;
        let command = match self.rng.range(0, 40) {
            0..4 => KvCommand::LeaseTick { now_ms },
            4 => KvCommand::LeaseGrant {
                id: LeaseId(self.rng.range(1, LEASE_IDS + 1) as i64),
                ttl_s: self.rng.range(1, 3) as i64,
            },
            5 => KvCommand::LeaseKeepAlive {
                id: LeaseId(self.rng.range(1, LEASE_IDS + 1) as i64),
            },
            6 => KvCommand::Put(PutRequest {
                key: format!("leased{}", self.rng.range(0, 4)).into_bytes(),
                value: b"x".to_vec(),
                lease: LeaseId(self.rng.range(1, LEASE_IDS + 1) as i64),
                ..PutRequest::default()
            }),
            _ => return,
        };
        self.propose_system(id, command);
    }

    /// A new leader gives every lease a full TTL from its clock (etcd's
    /// `lessor.Promote`), so a leader change never expires one early.
    pub(crate) fn promote_leases(&mut self, id: NodeId) {
        if !self.options.leases {
            return;
        }
        let now_ms = (self.now / 1_000) as i64;
        self.propose_system(id, KvCommand::LeasePromote { now_ms });
    }

    /// Proposes a command of the simulator's own (no client waits for it).
    pub(crate) fn propose_system(&mut self, id: NodeId, command: KvCommand) {
        self.system_seq += 1;
        let command = Command::system(self.system_seq, command);
        let node = self.nodes.get_mut(&id).expect("member");
        if let Some(replica) = node.replica.as_mut().filter(|r| r.is_leader()) {
            let _ = replica.propose(command.encode());
        }
    }
}
