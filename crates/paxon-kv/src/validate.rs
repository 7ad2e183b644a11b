//! The checks etcd makes before a request reaches the state machine
//! (etcd 3.5 `server/etcdserver/api/v3rpc/key.go`: `checkPutRequest`,
//! `checkTxnRequest`, `checkIntervals`). They read no state, so a proposer
//! runs them before it proposes and every replica runs them again in
//! [`crate::Store::apply`], where only the configured operation limit is
//! left out: applying must not depend on a replica's own configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::error::KvError;
use crate::request::{DeleteRangeRequest, PutRequest, RequestOp, TxnRequest};

/// Deepest nesting of transactions accepted (the outermost is depth 1).
/// etcd bounds nesting only through its operation budget; a fixed bound
/// keeps decoding and applying within a small, known stack.
pub const TXN_DEPTH_MAX: usize = 64;

/// The limits a proposer enforces before proposing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most compares, or operations in one branch, of a txn (etcd's
    /// `--max-txn-ops`, default 128). A nested txn gets what its parent
    /// leaves: this minus the parent's own count.
    pub txn_ops_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { txn_ops_max: 128 }
    }
}

/// etcd's `checkPutRequest`.
pub(crate) fn check_put(req: &PutRequest) -> Result<(), KvError> {
    if req.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(KvError::ValueProvided);
    }
    if req.ignore_lease && !req.lease.is_none() {
        return Err(KvError::LeaseProvided);
    }
    Ok(())
}

/// etcd's `checkDeleteRequest` (and `checkRangeRequest`): a key is required.
pub(crate) fn check_key(key: &[u8]) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    Ok(())
}

/// etcd's `checkTxnRequest` followed by `checkIntervals` on each branch.
pub(crate) fn check_txn(req: &TxnRequest, ops_max: usize) -> Result<(), KvError> {
    check_txn_ops(req, ops_max, 1)?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

/// etcd's `checkTxnRequest`: the operation budget, then empty keys and
/// flags, compares first, then `success`, then `failure`.
fn check_txn_ops(req: &TxnRequest, ops_max: usize, depth: usize) -> Result<(), KvError> {
    let ops = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len());
    if ops > ops_max || depth > TXN_DEPTH_MAX {
        return Err(KvError::TooManyOps);
    }
    for compare in &req.compare {
        check_key(&compare.key)?;
    }
    for op in req.success.iter().chain(&req.failure) {
        match op {
            RequestOp::Range(r) => check_key(&r.key)?,
            RequestOp::Put(p) => check_put(p)?,
            RequestOp::DeleteRange(d) => check_key(&d.key)?,
            RequestOp::Txn(t) => check_txn_ops(t, ops_max - ops, depth + 1)?,
        }
    }
    Ok(())
}

/// etcd's `checkIntervals`: within one branch (nested txns included), no
/// key is put twice and no put falls in a deleted interval. Returns the
/// branch's puts and deleted intervals for the parent's check.
///
/// Order matters as in etcd: this level's deletes are gathered first, then
/// each nested txn's puts are checked against them and against the deletes
/// of the nested txns before it, then this level's puts against all. A key
/// put in both branches of one nested txn is fine (only one runs).
fn check_intervals(ops: &[RequestOp]) -> Result<(BTreeSet<&[u8]>, Intervals), KvError> {
    let mut dels = Intervals::default();
    for op in ops {
        if let RequestOp::DeleteRange(d) = op {
            dels.insert_delete(d);
        }
    }
    let mut puts = BTreeSet::new();
    for op in ops {
        let RequestOp::Txn(txn) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&txn.success)?;
        let (puts_else, dels_else) = check_intervals(&txn.failure)?;
        for &key in &puts_then {
            if puts.contains(key) || dels.contains(key) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(key);
        }
        for &key in &puts_else {
            let clash = puts.contains(key) && !puts_then.contains(key);
            if clash || dels.contains(key) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(key);
        }
        dels.union(dels_then);
        dels.union(dels_else);
    }
    for op in ops {
        let RequestOp::Put(put) = op else { continue };
        if !puts.insert(put.key.as_slice()) || dels.contains(&put.key) {
            return Err(KvError::DuplicateKey);
        }
    }
    Ok((puts, dels))
}

/// A union of half-open key intervals `[start, end)`, kept as disjoint
/// intervals by start, so a membership test is one lookup.
///
/// etcd's interval tree compares a `range_end` of `[0]` bytewise, so a
/// delete "from `key` to the end" is the inverted interval `[key, "\0")`,
/// which contains no key: such deletes clash with no put. Inverted and
/// empty intervals are dropped here to the same effect.
#[derive(Default)]
struct Intervals(BTreeMap<Vec<u8>, Vec<u8>>);

impl Intervals {
    fn insert_delete(&mut self, req: &DeleteRangeRequest) {
        if req.range_end.is_empty() {
            let mut end = req.key.clone();
            end.push(0);
            self.insert(req.key.clone(), end);
        } else {
            self.insert(req.key.clone(), req.range_end.clone());
        }
    }

    fn insert(&mut self, mut start: Vec<u8>, mut end: Vec<u8>) {
        if end <= start {
            return;
        }
        let before = self.0.range(..=start.clone()).next_back();
        if let Some((s, e)) = before.filter(|(_, e)| **e >= start) {
            let (s, e) = (s.clone(), e.clone());
            self.0.remove(&s);
            start = s;
            end = end.max(e);
        }
        while let Some((s, e)) = self.0.range(start.clone()..).next() {
            if *s > end {
                break;
            }
            let (s, e) = (s.clone(), e.clone());
            self.0.remove(&s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    fn union(&mut self, other: Intervals) {
        for (start, end) in other.0 {
            self.insert(start, end);
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.0
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
            .next_back()
            .is_some_and(|(_, end)| key < end.as_slice())
    }
}
