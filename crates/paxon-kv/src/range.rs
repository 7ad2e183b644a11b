//! Range: reading keys at a revision, as etcd 3.5's
//! `applierV3backend.Range` (`server/etcdserver/apply.go`) and
//! `storeTxnRead.rangeKeys` (`server/mvcc/kvstore_txn.go`) do.

use std::cmp::Ordering;

use crate::error::KvError;
use crate::request::{RangeRequest, SortOrder, SortTarget};
use crate::response::{Header, RangeResponse};
use crate::store::Store;
use crate::types::{KeyValue, Revision};
use crate::validate::check_key;

impl Store {
    /// Reads keys at the current revision, or at `req.revision` while the
    /// history is retained. Served without a decree: the caller decides
    /// how fresh the store must be (read index, or serializable).
    ///
    /// Errors: an empty key; a revision after the current one
    /// ([`KvError::FutureRevision`]) or below the compacted one
    /// ([`KvError::Compacted`]).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, KvError> {
        check_key(&req.key)?;
        self.range_at(req, self.revision)
    }

    /// `rangeKeys` then the filters, sort and limit of `Range`, as a read
    /// whose current revision is `current` (in a write txn that has
    /// written, the txn's own revision). The header carries `current`.
    pub(crate) fn range_at(
        &self,
        req: &RangeRequest,
        current: Revision,
    ) -> Result<RangeResponse, KvError> {
        if req.revision > current {
            return Err(KvError::FutureRevision);
        }
        let at = if req.revision <= Revision(0) {
            current
        } else {
            req.revision
        };
        if at < self.compact_floor() {
            return Err(KvError::Compacted);
        }
        let (mut kvs, count) = self.collect(req, at);
        prune(&mut kvs, req);
        sort(&mut kvs, req.sort_order, req.sort_target);
        let limit = usize::try_from(req.limit).unwrap_or(0);
        let more = limit > 0 && kvs.len() > limit;
        if more {
            kvs.truncate(limit);
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse {
            header: Header { revision: current },
            kvs,
            more,
            count: count as i64,
        })
    }

    /// The keys live at `at` in the range, and how many there are. As etcd
    /// does, a plain limited range fetches one key beyond the limit (to
    /// learn `more`) while a sorted or filtered one fetches all, and a
    /// `count_only` range fetches none.
    fn collect(&self, req: &RangeRequest, at: Revision) -> (Vec<KeyValue>, usize) {
        let fetch_all = req.sort_order != SortOrder::None
            || req.min_mod_revision != Revision(0)
            || req.max_mod_revision != Revision(0)
            || req.min_create_revision != Revision(0)
            || req.max_create_revision != Revision(0);
        let fetch_max = match usize::try_from(req.limit) {
            _ if req.count_only => 0,
            Ok(limit) if limit > 0 && !fetch_all => limit.saturating_add(1),
            _ => usize::MAX,
        };
        let mut kvs = Vec::new();
        let mut count = 0;
        for (key, history) in self.histories(&req.key, &req.range_end) {
            let Some((modified, live)) = history.at(at) else {
                continue;
            };
            count += 1;
            if kvs.len() < fetch_max {
                kvs.push(live.to_key_value(key, modified));
            }
        }
        (kvs, count)
    }
}

/// The min/max revision filters; a bound of 0 is no bound.
fn prune(kvs: &mut Vec<KeyValue>, req: &RangeRequest) {
    let zero = Revision(0);
    kvs.retain(|kv| {
        (req.max_mod_revision == zero || kv.mod_revision <= req.max_mod_revision)
            && (req.min_mod_revision == zero || kv.mod_revision >= req.min_mod_revision)
            && (req.max_create_revision == zero || kv.create_revision <= req.max_create_revision)
            && (req.min_create_revision == zero || kv.create_revision >= req.min_create_revision)
    });
}

/// etcd's sort: no order on a target other than the key means ascending;
/// no order on the key keeps the key order the index yields. The sort is
/// stable, so ties stay in key order (etcd's Go sort leaves them
/// unspecified).
fn sort(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let by = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|a, b| by(b, a)),
        _ => kvs.sort_by(by),
    }
}
