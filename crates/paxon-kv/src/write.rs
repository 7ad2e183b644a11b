//! Writes: one write transaction at a time, all its changes at one
//! revision, as etcd 3.5's `storeTxnWrite` (`server/mvcc/kvstore_txn.go`)
//! and `applierV3backend.Put`/`DeleteRange` (`server/etcdserver/apply.go`).

use crate::error::KvError;
use crate::mvcc::{KeyHistory, Live, State, Version};
use crate::request::{DeleteRangeRequest, PutRequest};
use crate::response::{DeleteRangeResponse, Event, EventKind, Header, PutResponse};
use crate::store::Store;
use crate::types::{KeyValue, LeaseId, Revision};

/// An open write transaction: it began at `begin` and writes at
/// `begin + 1`; the revision advances at the end only if it changed
/// something.
pub(crate) struct WriteTxn {
    begin: Revision,
    changes: u32,
}

impl WriteTxn {
    /// The revision the transaction writes at.
    pub(crate) fn write_rev(&self) -> Revision {
        self.begin.next()
    }

    /// The revision its reads see: its own once it has written, so reads
    /// see its earlier writes (etcd's `storeTxnWrite.Range`).
    pub(crate) fn read_rev(&self) -> Revision {
        if self.changes > 0 {
            self.write_rev()
        } else {
            self.begin
        }
    }

    /// The revision it began at.
    pub(crate) fn begin_rev(&self) -> Revision {
        self.begin
    }
}

impl Store {
    /// Opens a write transaction at the current revision.
    pub(crate) fn begin_write(&self) -> WriteTxn {
        WriteTxn {
            begin: self.revision,
            changes: 0,
        }
    }

    /// Closes a write transaction: the revision advances if it changed
    /// anything. Returns the revision now current.
    pub(crate) fn end_write(&mut self, txn: WriteTxn) -> Revision {
        assert_eq!(
            txn.begin, self.revision,
            "write transactions do not overlap"
        );
        if txn.changes > 0 {
            self.revision = txn.write_rev();
        }
        self.revision
    }

    /// A `Put` decree: the lease must exist, and with `ignore_value` or
    /// `ignore_lease` so must the key (checked in that order, as etcd).
    pub(crate) fn apply_put(&mut self, req: &PutRequest) -> Result<PutResponse, KvError> {
        self.check_put_state(req, self.revision)?;
        let mut txn = self.begin_write();
        let resp = self.put_in(&mut txn, req);
        self.end_write(txn);
        Ok(resp)
    }

    /// The state a put needs: its lease, and its key under `ignore_*`.
    pub(crate) fn check_put_state(&self, req: &PutRequest, at: Revision) -> Result<(), KvError> {
        if !req.lease.is_none() && !self.leases.contains_key(&req.lease) {
            return Err(KvError::LeaseNotFound);
        }
        if (req.ignore_value || req.ignore_lease) && self.live_at(&req.key, at).is_none() {
            return Err(KvError::KeyNotFound);
        }
        Ok(())
    }

    /// A `DeleteRange` decree; deleting nothing leaves the revision as is.
    pub(crate) fn apply_delete_range(&mut self, req: &DeleteRangeRequest) -> DeleteRangeResponse {
        let mut txn = self.begin_write();
        let resp = self.delete_in(&mut txn, req);
        self.end_write(txn);
        resp
    }

    /// A put inside `txn`, its checks already passed. The header is the
    /// txn's revision.
    pub(crate) fn put_in(&mut self, txn: &mut WriteTxn, req: &PutRequest) -> PutResponse {
        let rev = txn.write_rev();
        let prev = self
            .keys
            .get(&req.key[..])
            .and_then(|h| h.at(txn.read_rev()));
        let needs_prev = req.ignore_value || req.ignore_lease;
        assert!(
            !needs_prev || prev.is_some(),
            "ignore_* put on a missing key passed its checks"
        );
        let (create, version) = match prev {
            Some((_, live)) => (live.create, live.version + 1),
            None => (rev, 1),
        };
        let value = match prev {
            Some((_, live)) if req.ignore_value => live.value.clone(),
            _ => req.value.as_slice().into(),
        };
        let lease = match prev {
            Some((_, live)) if req.ignore_lease => live.lease,
            _ => req.lease,
        };
        let prev_kv = prev
            .filter(|_| req.prev_kv)
            .map(|(modified, live)| live.to_key_value(&req.key, modified));
        let live = Live {
            value,
            create,
            version,
            lease,
        };
        self.change(txn, &req.key, State::Live(live));
        PutResponse {
            header: Header { revision: rev },
            prev_kv,
        }
    }

    /// A delete inside `txn`. The header is the txn's revision if the txn
    /// has changed anything by now, else the revision it began at.
    pub(crate) fn delete_in(
        &mut self,
        txn: &mut WriteTxn,
        req: &DeleteRangeRequest,
    ) -> DeleteRangeResponse {
        let at = txn.read_rev();
        let doomed: Vec<KeyValue> = self
            .histories(&req.key, &req.range_end)
            .filter_map(|(key, history)| history.at(at).map(|(m, live)| live.to_key_value(key, m)))
            .collect();
        for kv in &doomed {
            self.change(txn, &kv.key, State::Tombstone);
        }
        DeleteRangeResponse {
            header: Header {
                revision: txn.read_rev(),
            },
            deleted: doomed.len() as i64,
            prev_kvs: if req.prev_kv { doomed } else { Vec::new() },
        }
    }

    /// The key as a read at `at` sees it.
    pub(crate) fn live_at(&self, key: &[u8], at: Revision) -> Option<KeyValue> {
        let (modified, live) = self.keys.get(key)?.at(at)?;
        Some(live.to_key_value(key, modified))
    }

    /// Records one change of `key` in `txn`: the version, the size, the
    /// lease table and the watch event (whose `prev_kv` is the key at the
    /// revision before the txn, as etcd's watch reads it).
    fn change(&mut self, txn: &mut WriteTxn, key: &[u8], state: State) {
        let rev = txn.write_rev();
        let (kind, kv, new_lease) = match &state {
            State::Live(live) => (
                EventKind::Put,
                live.to_key_value(key, rev),
                Some(live.lease),
            ),
            State::Tombstone => (EventKind::Delete, tombstone_kv(key, rev), None),
        };
        let version = Version {
            rev,
            sub: txn.changes,
            state,
        };
        self.size_bytes += version.size_bytes(key.len());
        // One search of the key: its state before the txn and its lease
        // are read from the history the change is then appended to.
        let (prev_kv, old_lease) = match self.keys.get_mut(key) {
            Some(history) => {
                let before = history.at(txn.begin_rev());
                let prev_kv = before.map(|(modified, live)| live.to_key_value(key, modified));
                let old_lease = history.latest().map(|live| live.lease);
                history.push(version);
                (prev_kv, old_lease)
            }
            None => {
                self.keys.insert(key.into(), KeyHistory::new(version));
                (None, None)
            }
        };
        self.move_lease(key, old_lease, new_lease);
        self.events.push(Event { kind, kv, prev_kv });
        txn.changes += 1;
    }

    /// Detaches `key` from its old lease and attaches it to its new one.
    fn move_lease(&mut self, key: &[u8], old: Option<LeaseId>, new: Option<LeaseId>) {
        if let Some(old) = old.filter(|l| !l.is_none()) {
            let lease = self
                .leases
                .get_mut(&old)
                .expect("a live key's lease exists");
            lease.keys.remove(key);
        }
        if let Some(new) = new.filter(|l| !l.is_none()) {
            let lease = self
                .leases
                .get_mut(&new)
                .expect("a put's lease was checked");
            lease.keys.insert(key.into());
        }
    }
}

/// A deleted key as etcd's delete event shows it: the key and the
/// deleting revision, nothing else.
fn tombstone_kv(key: &[u8], rev: Revision) -> KeyValue {
    KeyValue {
        key: key.to_vec(),
        mod_revision: rev,
        ..KeyValue::default()
    }
}
