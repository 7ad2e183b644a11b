//! Watch replay: the events of past revisions, rebuilt from the retained
//! MVCC history, as etcd's `watchableStore.syncWatchers` reads them from
//! its backend (`server/mvcc/watchable_store.go`) for a watcher that
//! starts in the past or fell behind.

use crate::error::KvError;
use crate::mvcc::{State, Version};
use crate::response::{Event, EventKind};
use crate::store::Store;
use crate::types::{KeyValue, Revision};

impl Store {
    /// Every change at revision `from` or later to the keys `key` and
    /// `range_end` select (as in a range), in `(revision, change)` order,
    /// each exactly as [`Store::take_events`] gave it when it was applied
    /// (with `prev_kv`, the key at the revision before).
    ///
    /// A `from` below the last compaction fails with
    /// [`KvError::Compacted`] (etcd: a watch may start at the compacted
    /// revision itself, never before).
    pub fn events_since(
        &self,
        key: &[u8],
        range_end: &[u8],
        from: Revision,
    ) -> Result<Vec<Event>, KvError> {
        if from < self.compact_floor() {
            return Err(KvError::Compacted);
        }
        let mut changes: Vec<(Revision, u32, Event)> = Vec::new();
        for (key, history) in self.histories(key, range_end) {
            let versions = history.versions();
            let first = versions.partition_point(|v| v.rev < from);
            for (i, version) in versions.iter().enumerate().skip(first) {
                let prev = before(&versions[..i], version.rev, key);
                changes.push((version.rev, version.sub, event(key, version, prev)));
            }
        }
        changes.sort_by_key(|(rev, sub, _)| (*rev, *sub));
        Ok(changes.into_iter().map(|(_, _, e)| e).collect())
    }
}

/// The key at the revision before `rev`, from the versions older than the
/// change at `rev` (`None` if it did not exist or was compacted away).
fn before(older: &[Version], rev: Revision, key: &[u8]) -> Option<KeyValue> {
    let last = older.iter().rev().find(|v| v.rev < rev)?;
    match &last.state {
        State::Live(live) => Some(live.to_key_value(key, last.rev)),
        State::Tombstone => None,
    }
}

fn event(key: &[u8], version: &Version, prev_kv: Option<KeyValue>) -> Event {
    match &version.state {
        State::Live(live) => Event {
            kind: EventKind::Put,
            kv: live.to_key_value(key, version.rev),
            prev_kv,
        },
        State::Tombstone => Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: key.to_vec(),
                mod_revision: version.rev,
                ..KeyValue::default()
            },
            prev_kv,
        },
    }
}
