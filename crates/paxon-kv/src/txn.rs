//! Txn: compares, then one branch, atomically at one revision, as etcd
//! 3.5's `applierV3backend.Txn` (`server/etcdserver/apply.go`): the path
//! through nested txns is decided first from the state before the txn
//! (`compareToPath`), every operation on it is checked (`checkRequests`:
//! puts, then ranges), and only then does anything execute (`applyTxn`),
//! so a txn fails whole or succeeds whole.

use std::cmp::Ordering;

use crate::error::KvError;
use crate::request::{Compare, CompareResult, CompareTarget, RequestOp, TxnRequest};
use crate::response::{Header, ResponseOp, TxnResponse};
use crate::store::Store;
use crate::types::{KeyValue, Revision};
use crate::write::WriteTxn;

/// The branch a txn takes, and the paths of the nested txns on it in
/// operation order (etcd's `txnPath`, as a tree).
struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

impl Path {
    fn branch<'r>(&self, req: &'r TxnRequest) -> &'r [RequestOp] {
        if self.succeeded {
            &req.success
        } else {
            &req.failure
        }
    }
}

impl Store {
    /// A `Txn` decree. The revision advances iff the branch that ran
    /// changed something: a txn that only reads, or deletes nothing, does
    /// not advance it.
    pub(crate) fn apply_txn(&mut self, req: &TxnRequest) -> Result<TxnResponse, KvError> {
        let begin = self.revision;
        let path = self.path(req, begin);
        self.check_puts(req, &path, &mut None)?;
        self.check_ranges(req, &path, begin)?;
        let mut txn = self.begin_write();
        let mut resp = self.exec(&mut txn, req, &path);
        resp.header = Header {
            revision: self.end_write(txn),
        };
        Ok(resp)
    }

    /// Serves a read-only txn ([`TxnRequest::is_read_only`]) without a
    /// decree, at the current revision: what a replica answers after a
    /// read index confirms it is up to date.
    ///
    /// # Panics
    ///
    /// If `req` is not read-only: writes go through [`Store::apply`].
    pub fn read_txn(&self, req: &TxnRequest) -> Result<TxnResponse, KvError> {
        assert!(req.is_read_only(), "read_txn given a txn that writes");
        crate::validate::check_txn(req, usize::MAX)?;
        let path = self.path(req, self.revision);
        self.check_ranges(req, &path, self.revision)?;
        let mut responses = Vec::new();
        for op in path.branch(req) {
            let RequestOp::Range(range) = op else {
                unreachable!("checked read-only")
            };
            let resp = self.range_at(range, self.revision).expect("range checked");
            responses.push(ResponseOp::Range(resp));
        }
        Ok(TxnResponse {
            header: Header {
                revision: self.revision,
            },
            succeeded: path.succeeded,
            responses,
        })
    }

    /// etcd's `compareToPath`: every compare against the state at `at`.
    fn path(&self, req: &TxnRequest, at: Revision) -> Path {
        let succeeded = req.compare.iter().all(|c| self.compare_holds(c, at));
        let mut path = Path {
            succeeded,
            nested: Vec::new(),
        };
        for op in path.branch(req) {
            if let RequestOp::Txn(nested) = op {
                let nested_path = self.path(nested, at);
                path.nested.push(nested_path);
            }
        }
        path
    }

    /// etcd's `applyCompare`: every key of the range must satisfy the
    /// compare; with no key, a value compare fails and the others compare
    /// against zero (version, create, mod and lease 0).
    fn compare_holds(&self, c: &Compare, at: Revision) -> bool {
        let mut any = false;
        for (key, history) in self.histories(&c.key, &c.range_end) {
            let Some((modified, live)) = history.at(at) else {
                continue;
            };
            any = true;
            if !compare_kv(c, &live.to_key_value(key, modified)) {
                return false;
            }
        }
        any || (!matches!(c.target, CompareTarget::Value(_)) && compare_kv(c, &KeyValue::default()))
    }

    /// etcd's `checkRequests` with `checkRequestPut`, in execution order:
    /// a put's lease must exist and, with `ignore_*`, its key must exist
    /// when the put runs. `deleted_from` tracks the lowest start of the
    /// "from key to the end" deletes run so far: etcd lets them overlap
    /// puts, and an `ignore_*` put on a key they deleted fails here with
    /// `KeyNotFound` instead of half-applying the txn (etcd panics).
    fn check_puts(
        &self,
        req: &TxnRequest,
        path: &Path,
        deleted_from: &mut Option<Vec<u8>>,
    ) -> Result<(), KvError> {
        let mut nested = path.nested.iter();
        for op in path.branch(req) {
            match op {
                RequestOp::Put(put) => {
                    self.check_put_state(put, self.revision)?;
                    let gone = deleted_from
                        .as_deref()
                        .is_some_and(|from| put.key.as_slice() >= from);
                    if gone && (put.ignore_value || put.ignore_lease) {
                        return Err(KvError::KeyNotFound);
                    }
                }
                RequestOp::DeleteRange(del) if del.range_end == [0] => {
                    if deleted_from.as_ref().is_none_or(|from| del.key < *from) {
                        *deleted_from = Some(del.key.clone());
                    }
                }
                RequestOp::Txn(t) => {
                    self.check_puts(t, nested.next().expect("path per txn"), deleted_from)?
                }
                RequestOp::Range(_) | RequestOp::DeleteRange(_) => {}
            }
        }
        Ok(())
    }

    /// etcd's `checkRequestRange` against the state before the txn: a
    /// revision after it is a future one, one below the compaction floor is
    /// compacted (etcd compares even a negative revision with the floor).
    fn check_ranges(&self, req: &TxnRequest, path: &Path, begin: Revision) -> Result<(), KvError> {
        let mut nested = path.nested.iter();
        for op in path.branch(req) {
            match op {
                RequestOp::Range(r) if r.revision == Revision(0) => {}
                RequestOp::Range(r) if r.revision > begin => return Err(KvError::FutureRevision),
                RequestOp::Range(r) if r.revision < self.compact_floor() => {
                    return Err(KvError::Compacted)
                }
                RequestOp::Txn(t) => {
                    self.check_ranges(t, nested.next().expect("path per txn"), begin)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// etcd's `applyTxn`: the operations of the branch in order, each
    /// seeing the writes before it. Nested responses keep header revision 0.
    fn exec(&mut self, txn: &mut WriteTxn, req: &TxnRequest, path: &Path) -> TxnResponse {
        let mut nested = path.nested.iter();
        let mut responses = Vec::new();
        for op in path.branch(req) {
            let resp = match op {
                RequestOp::Range(r) => {
                    ResponseOp::Range(self.range_at(r, txn.read_rev()).expect("range checked"))
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put_in(txn, p)),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_in(txn, d)),
                RequestOp::Txn(t) => {
                    ResponseOp::Txn(self.exec(txn, t, nested.next().expect("path per txn")))
                }
            };
            responses.push(resp);
        }
        TxnResponse {
            header: Header::default(),
            succeeded: path.succeeded,
            responses,
        }
    }
}

/// etcd's `compareKV`.
fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ordering = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::Create(r) => kv.create_revision.cmp(r),
        CompareTarget::Mod(r) => kv.mod_revision.cmp(r),
        CompareTarget::Value(v) => kv.value.cmp(v),
        CompareTarget::Lease(l) => kv.lease.cmp(l),
    };
    match c.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}
