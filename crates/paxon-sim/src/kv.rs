//! The simulated clients' state machine: a map of a few keys to numbers,
//! with write, compare-and-set and delete commands carried in decrees.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

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
}

/// Identifies one attempt of one client request across the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The client.
    pub client: u32,
    /// The client's request number.
    pub seq: u64,
}

/// A command as carried in a decree: who asked, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The request.
    pub id: RequestId,
    /// What it does (never a `Read`).
    pub request: Request,
}

impl Command {
    /// Encodes the command for a decree.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(32);
        out.put_u32_le(self.id.client);
        out.put_u64_le(self.id.seq);
        match self.request {
            Request::Write(k, v) => {
                out.put_u8(1);
                out.put_u8(k);
                out.put_u64_le(v);
            }
            Request::Cas(k, expect, new) => {
                out.put_u8(2);
                out.put_u8(k);
                out.put_u8(u8::from(expect.is_some()));
                out.put_u64_le(expect.unwrap_or(0));
                out.put_u64_le(new);
            }
            Request::Delete(k) => {
                out.put_u8(3);
                out.put_u8(k);
            }
            Request::Read(_) => unreachable!("reads never enter the ledger"),
        }
        out.freeze()
    }

    /// Decodes a command the simulator itself encoded.
    pub fn decode(bytes: &[u8]) -> Command {
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let client = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let id = RequestId {
            client,
            seq: u64_at(4),
        };
        let key = bytes[13];
        let request = match bytes[12] {
            1 => Request::Write(key, u64_at(14)),
            2 => Request::Cas(key, (bytes[14] == 1).then(|| u64_at(15)), u64_at(23)),
            3 => Request::Delete(key),
            tag => panic!("unknown command tag {tag}"),
        };
        Command { id, request }
    }
}

/// The state machine: applied in slot order, identical on every replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    map: BTreeMap<Key, Val>,
}

impl Store {
    /// Applies a command and returns its answer.
    pub fn apply(&mut self, request: &Request) -> Reply {
        match *request {
            Request::Write(k, v) => {
                self.map.insert(k, v);
                Reply::Written
            }
            Request::Cas(k, expect, new) => {
                let swapped = self.map.get(&k).copied() == expect;
                if swapped {
                    self.map.insert(k, new);
                }
                Reply::Cas(swapped)
            }
            Request::Delete(k) => {
                self.map.remove(&k);
                Reply::Deleted
            }
            Request::Read(k) => Reply::Read(self.map.get(&k).copied()),
        }
    }

    /// Reads a key.
    pub fn read(&self, key: Key) -> Option<Val> {
        self.map.get(&key).copied()
    }

    /// Every key and value (for snapshots).
    pub fn entries(&self) -> BTreeMap<Key, Val> {
        self.map.clone()
    }

    /// A store holding `entries`.
    pub fn from_entries(map: BTreeMap<Key, Val>) -> Store {
        Store { map }
    }
}
