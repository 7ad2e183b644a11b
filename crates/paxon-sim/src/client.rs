//! Simulated clients: each issues one request at a time on a few shared
//! keys, follows leader hints, retries what was surely not executed, and
//! gives up (outcome unknown) after a time-out.

use paxon_core::{NodeId, Rng};
use paxon_linz::{ClientId, History, Op, OpId, Ret, Time};

use crate::kv::{Key, Reply, Request, Val};
use crate::options::Micros;

/// What a node answered a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Done.
    Ok(Reply),
    /// Not executed: ask `hint` (or anybody) instead.
    NotLeader(Option<NodeId>),
    /// Not executed (dropped before it got a slot): try again.
    Retry,
}

/// The request a client is waiting for.
#[derive(Clone, Debug)]
pub struct Outstanding {
    /// Request number (also in the command).
    pub seq: u64,
    /// What it asks.
    pub request: Request,
    /// Its entry in the history.
    pub op: OpId,
    /// Node it was last sent to.
    pub target: NodeId,
}

/// One client.
pub struct Client {
    /// Its number.
    pub id: u32,
    /// The request in flight.
    pub outstanding: Option<Outstanding>,
    /// Next request number.
    pub next_seq: u64,
    /// Where it thinks the leader is.
    pub leader_hint: Option<NodeId>,
    /// The last value it saw per key (for compare-and-set).
    pub seen: Vec<Option<Val>>,
    /// Requests completed with an answer.
    pub completed: u64,
    /// Requests whose outcome stayed unknown.
    pub unknown: u64,
    /// Completed after the faults healed.
    pub completed_after_heal: u64,
}

/// How long a client waits before it declares an outcome unknown.
pub const REQUEST_TIMEOUT: Micros = 150_000;

impl Client {
    /// A client with nothing in flight.
    pub fn new(id: u32, keys: Key) -> Client {
        Client {
            id,
            outstanding: None,
            next_seq: 1,
            leader_hint: None,
            seen: vec![None; usize::from(keys)],
            completed: 0,
            unknown: 0,
            completed_after_heal: 0,
        }
    }

    /// Draws the next request: reads, writes of unique values,
    /// compare-and-set from the last value seen, and deletes.
    pub fn next_request(&mut self, keys: Key, rng: &mut Rng) -> Request {
        let key = rng.range(0, u64::from(keys)) as Key;
        let unique = (u64::from(self.id) << 40) | self.next_seq;
        match rng.range(0, 100) {
            0..40 => Request::Read(key),
            40..70 => Request::Write(key, unique),
            70..92 => Request::Cas(key, self.seen[usize::from(key)], unique),
            _ => Request::Delete(key),
        }
    }

    /// Records what an answer teaches the client.
    pub fn learn(&mut self, request: &Request, reply: &Reply) {
        let key = usize::from(request.key());
        match (request, reply) {
            (Request::Read(_), Reply::Read(value)) => self.seen[key] = *value,
            (Request::Write(_, v), _) => self.seen[key] = Some(*v),
            (Request::Cas(_, _, new), Reply::Cas(true)) => self.seen[key] = Some(*new),
            (Request::Delete(_), _) => self.seen[key] = None,
            _ => {}
        }
    }
}

/// The history as the linearizability checker wants it.
pub type KvHistory = History<Key, Val>;

/// Records an invocation.
pub fn invoke(history: &mut KvHistory, client: u32, request: &Request, now: Micros) -> OpId {
    let op = match *request {
        Request::Read(_) => Op::Read,
        Request::Write(_, v) => Op::Write(v),
        Request::Cas(_, expect, new) => Op::Cas { expect, new },
        Request::Delete(_) => Op::Delete,
    };
    history.invoke(ClientId(u64::from(client)), request.key(), op, Time(now))
}

/// Records a return.
pub fn complete(history: &mut KvHistory, op: OpId, reply: &Reply, now: Micros) {
    let ret = match reply {
        Reply::Read(value) => Ret::Read(*value),
        Reply::Written => Ret::Written,
        Reply::Cas(swapped) => Ret::Cas(*swapped),
        Reply::Deleted => Ret::Deleted,
        Reply::Other => unreachable!("clients only send requests of their model"),
    };
    history
        .complete(op, ret, Time(now))
        .expect("the simulator records well-formed histories");
}
