//! The simulated clients' requests, carried out by the server's own state
//! machine: `paxon-kv`'s MVCC store, with etcd's Put, Txn (compare-and-set
//! on the value or on the key's absence), DeleteRange, Range and Compact.
//!
//! The clients keep a small model (a few keys holding numbers) so that the
//! linearizability checker can follow them; this module translates each
//! request to the etcd command a real client would send and each etcd
//! response back.

use bytes::{BufMut, Bytes, BytesMut};
use paxon_kv::{
    Command as KvCommand, CompactionRequest, Compare, CompareResult, CompareTarget,
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, Response, Revision, TxnRequest,
};

/// A key of the simulated store.
pub type Key = u8;
/// A value of the simulated store.
pub type Val = u64;

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Linearizable read, served by read index (no decree).
    Read(Key),
    /// Set the key.
    Write(Key, Val),
    /// Set the key to `new` iff it holds `expect` (`None`: absent).
    Cas(Key, Option<Val>, Val),
    /// Remove the key.
    Delete(Key),
}

impl Request {
    /// The key the request touches.
    pub fn key(&self) -> Key {
        match self {
            Request::Read(k)
            | Request::Write(k, _)
            | Request::Cas(k, _, _)
            | Request::Delete(k) => *k,
        }
    }

    /// The etcd command a client sends for a write (`None` for a read).
    fn to_kv(&self) -> Option<KvCommand> {
        let key = key_bytes(self.key());
        Some(match *self {
            Request::Read(_) => return None,
            Request::Write(_, v) => KvCommand::Put(put(key, v)),
            Request::Cas(_, expect, new) => {
                // Absent: create revision 0; present: the value itself.
                let (result, target) = match expect {
                    None => (CompareResult::Equal, CompareTarget::Create(Revision(0))),
                    Some(v) => (CompareResult::Equal, CompareTarget::Value(value_bytes(v))),
                };
                let compare = Compare {
                    result,
                    target,
                    key: key.clone(),
                    range_end: Vec::new(),
                };
                KvCommand::Txn(TxnRequest {
                    compare: vec![compare],
                    success: vec![RequestOp::Put(put(key, new))],
                    failure: Vec::new(),
                })
            }
            Request::Delete(_) => KvCommand::DeleteRange(DeleteRangeRequest {
                key,
                ..DeleteRangeRequest::default()
            }),
        })
    }
}

fn put(key: Vec<u8>, value: Val) -> PutRequest {
    PutRequest {
        key,
        value: value_bytes(value),
        ..PutRequest::default()
    }
}

fn key_bytes(key: Key) -> Vec<u8> {
    format!("k{key}").into_bytes()
}

fn value_bytes(value: Val) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn value_of(bytes: &[u8]) -> Val {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("the simulated clients only write numbers")
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The value read.
    Read(Option<Val>),
    /// The write took effect.
    Written,
    /// Whether the compare-and-set swapped.
    Cas(bool),
    /// The delete took effect.
    Deleted,
    /// A command outside the clients' model (a compaction) was applied.
    Other,
}

/// Identifies one attempt of one client request across the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The client.
    pub client: u32,
    /// The client's request number.
    pub seq: u64,
}

/// The client number of the commands the simulator itself proposes
/// (compactions); they have no entry in the history.
pub const SYSTEM_CLIENT: u32 = u32::MAX;

/// A command as carried in a decree: who asked, and the etcd command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The request.
    pub id: RequestId,
    /// What it does.
    pub command: KvCommand,
}

impl Command {
    /// The decree a client's write becomes (`None` for a read).
    pub fn from_request(id: RequestId, request: &Request) -> Option<Command> {
        let command = request.to_kv()?;
        Some(Command { id, command })
    }

    /// A compaction of the history before `revision`, proposed by the
    /// simulator as an operator would.
    pub fn compact(seq: u64, revision: i64) -> Command {
        Command::system(
            seq,
            KvCommand::Compact(CompactionRequest {
                revision: Revision(revision),
                physical: false,
            }),
        )
    }

    /// A command the simulator itself proposes (request number `seq`).
    pub fn system(seq: u64, command: KvCommand) -> Command {
        Command {
            id: RequestId {
                client: SYSTEM_CLIENT,
                seq,
            },
            command,
        }
    }

    /// `[client u32][seq u64]` then the command in `paxon-kv`'s encoding,
    /// as the server's decrees carry it.
    pub fn encode(&self) -> Bytes {
        let mut body = Vec::with_capacity(32);
        self.command.encode(&mut body);
        let mut out = BytesMut::with_capacity(12 + body.len());
        out.put_u32_le(self.id.client);
        out.put_u64_le(self.id.seq);
        out.put_slice(&body);
        out.freeze()
    }

    /// Decodes a command the simulator itself encoded.
    pub fn decode(bytes: &[u8]) -> Command {
        let client = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        let seq = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes"));
        let command = KvCommand::decode(&bytes[12..]).expect("the simulator's own command");
        Command {
            id: RequestId { client, seq },
            command,
        }
    }
}

/// The state machine: `paxon-kv`'s store, applied in slot order,
/// identical on every replica.
#[derive(Clone)]
pub struct Store {
    store: paxon_kv::Store,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            store: paxon_kv::Store::new(),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Store {
    /// Applies a chosen command and returns its answer. A command the store
    /// refuses (a compaction of an already compacted revision) changes
    /// nothing and answers [`Reply::Other`], identically on every replica.
    pub fn apply(&mut self, command: &KvCommand) -> Reply {
        let response = self.store.apply(command);
        self.store.check_invariants();
        match response {
            Ok(Response::Put(_)) => Reply::Written,
            Ok(Response::Txn(txn)) => Reply::Cas(txn.succeeded),
            Ok(Response::DeleteRange(_)) => Reply::Deleted,
            Ok(_) | Err(_) => Reply::Other,
        }
    }

    /// Reads a key at the current revision.
    pub fn read(&self, key: Key) -> Option<Val> {
        let request = RangeRequest {
            key: key_bytes(key),
            ..RangeRequest::default()
        };
        let response = self.store.range(&request).expect("a current read succeeds");
        response.kvs.first().map(|kv| value_of(&kv.value))
    }

    /// The store's revision.
    pub fn revision(&self) -> i64 {
        self.store.revision().0
    }

    /// The revision compacted to, if any.
    pub fn compacted(&self) -> i64 {
        self.store.compact_revision().map_or(0, |r| r.0)
    }

    /// etcd's HashKV of the whole store: equal on replicas that applied
    /// the same decrees.
    pub fn hash(&self) -> u32 {
        self.store.hash()
    }

    /// A digest of the decree time and the lease table (HashKV leaves
    /// leases out): id, TTL and deadline of every lease.
    pub fn lease_digest(&self) -> u64 {
        let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |word: i64| {
            for byte in word.to_le_bytes() {
                digest ^= u64::from(byte);
                digest = digest.wrapping_mul(0x100_0000_01b3);
            }
        };
        mix(self.store.now_ms());
        for (id, lease) in self.store.leases() {
            mix(id.0);
            mix(lease.ttl_s());
            mix(lease.expiry_ms());
        }
        digest
    }

    /// The store encoded for a snapshot (the server's format).
    pub fn snapshot(&self) -> Vec<u8> {
        self.store.snapshot()
    }

    /// The store a snapshot holds.
    pub fn restore(bytes: &[u8]) -> Result<Store, String> {
        let store = paxon_kv::Store::restore(bytes).map_err(|e| e.to_string())?;
        Ok(Store { store })
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "store(rev {}, compacted {}, hash {:08x})",
            self.revision(),
            self.compacted(),
            self.hash()
        )
    }
}
