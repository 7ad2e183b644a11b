//! The history of one key: every version still retained, oldest first.
//!
//! This is etcd's `keyIndex` (`server/mvcc/key_index.go`) with the value
//! stored beside each revision instead of in a separate backend: a version
//! is a put (the value, create revision, version and lease) or a tombstone
//! (a delete). Several changes to one key in one transaction share the main
//! revision and differ in `sub`, their place among the transaction's
//! changes, as in etcd's `revision{main, sub}`.

use crate::types::{KeyValue, LeaseId, Revision};

/// Approximate bytes a version costs beyond its key and value: revision,
/// counters and index entry. Feeds [`crate::Store::size_bytes`].
pub(crate) const VERSION_OVERHEAD_BYTES: u64 = 64;

/// A key's state after one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// The key exists.
    Live(Live),
    /// The key was deleted.
    Tombstone,
}

/// A key that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) value: Box<[u8]>,
    pub(crate) create: Revision,
    pub(crate) version: i64,
    pub(crate) lease: LeaseId,
}

impl Live {
    /// This state as etcd shows it, modified at `modified`.
    pub(crate) fn to_key_value(&self, key: &[u8], modified: Revision) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            create_revision: self.create,
            mod_revision: modified,
            version: self.version,
            value: self.value.to_vec(),
            lease: self.lease,
        }
    }
}

/// One change to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    /// The revision of the write transaction.
    pub(crate) rev: Revision,
    /// The change's place among the transaction's changes.
    pub(crate) sub: u32,
    /// The key after the change.
    pub(crate) state: State,
}

impl Version {
    /// What this version adds to [`crate::Store::size_bytes`].
    pub(crate) fn size_bytes(&self, key_len: usize) -> u64 {
        let value_len = match &self.state {
            State::Live(live) => live.value.len(),
            State::Tombstone => 0,
        };
        (key_len + value_len) as u64 + VERSION_OVERHEAD_BYTES
    }
}

/// The retained versions of one key, ordered by `(rev, sub)`; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyHistory {
    versions: Vec<Version>,
}

impl KeyHistory {
    /// A history of one version.
    pub(crate) fn new(first: Version) -> KeyHistory {
        KeyHistory {
            versions: vec![first],
        }
    }

    /// A history from decoded versions; [`KeyHistory::check`] validates it.
    pub(crate) fn from_versions(versions: Vec<Version>) -> KeyHistory {
        KeyHistory { versions }
    }

    /// Every retained version, oldest first.
    pub(crate) fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// The key as a read at `rev` sees it: its mod revision and state, or
    /// `None` if it did not exist then. The caller has checked that `rev`
    /// is not compacted.
    pub(crate) fn at(&self, rev: Revision) -> Option<(Revision, &Live)> {
        let newer = self.versions.partition_point(|v| v.rev <= rev);
        let version = &self.versions[newer.checked_sub(1)?];
        match &version.state {
            State::Live(live) => Some((version.rev, live)),
            State::Tombstone => None,
        }
    }

    /// The key now, if it exists.
    pub(crate) fn latest(&self) -> Option<&Live> {
        match &self.versions.last()?.state {
            State::Live(live) => Some(live),
            State::Tombstone => None,
        }
    }

    /// Appends a change.
    ///
    /// # Panics
    ///
    /// If the change is not after every retained one, or deletes a key
    /// that does not exist: the store never makes such a change.
    pub(crate) fn push(&mut self, version: Version) {
        let last = self.versions.last().expect("a key history is never empty");
        assert!(
            (version.rev, version.sub) > (last.rev, last.sub),
            "key history out of order: {}.{} after {}.{}",
            version.rev,
            version.sub,
            last.rev,
            last.sub
        );
        assert!(
            !(version.state == State::Tombstone && last.state == State::Tombstone),
            "tombstone of a deleted key"
        );
        self.versions.push(version);
    }

    /// etcd's `keyIndex.compact`: drops every version older than the newest
    /// one at or below `at`, and that one too if it is a tombstone older
    /// than `at` (a tombstone exactly at `at` stays, as in etcd 3.5.16 on,
    /// so a watch from `at` still sees the delete). Returns the bytes freed
    /// for a key of `key_len` bytes; the history may be left empty.
    pub(crate) fn compact(&mut self, at: Revision, key_len: usize) -> u64 {
        let newer = self.versions.partition_point(|v| v.rev <= at);
        let Some(last_kept) = newer.checked_sub(1) else {
            return 0;
        };
        let kept = &self.versions[last_kept];
        let drop = match kept.state {
            State::Tombstone if kept.rev < at => newer,
            _ => last_kept,
        };
        let freed = self.versions[..drop]
            .iter()
            .map(|v| v.size_bytes(key_len))
            .sum();
        self.versions.drain(..drop);
        freed
    }

    /// What the whole history adds to [`crate::Store::size_bytes`].
    pub(crate) fn size_bytes(&self, key_len: usize) -> u64 {
        self.versions.iter().map(|v| v.size_bytes(key_len)).sum()
    }

    /// Whether compaction left nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// The rules every retained history obeys, checked on restore and by
    /// [`crate::Store::check_invariants`]:
    /// - versions strictly ordered by `(rev, sub)`, revisions in
    ///   `2..=current`, none at or below the compacted revision except the
    ///   first;
    /// - no tombstone follows a tombstone; a history may start with a
    ///   tombstone only exactly at the compacted revision;
    /// - a put after a tombstone (or first in a never-compacted history)
    ///   starts a generation: version 1, created at its own revision;
    /// - a put after a put continues it: version + 1, same create revision;
    /// - a first put at or below the compacted revision has a version in
    ///   `1..rev` and a create revision in `2..=rev`; a later first put
    ///   starts a generation.
    pub(crate) fn check(
        &self,
        compacted: Option<Revision>,
        current: Revision,
    ) -> Result<(), &'static str> {
        let first = self.versions.first().ok_or("empty key history")?;
        check_first(first, compacted)?;
        for pair in self.versions.windows(2) {
            check_successor(&pair[0], &pair[1])?;
        }
        for version in &self.versions {
            if version.rev < Revision(2) || version.rev > current {
                return Err("version revision outside 2..=current");
            }
        }
        let floor = compacted.unwrap_or(Revision(0));
        if self.versions[1..].iter().any(|v| v.rev <= floor) {
            return Err("a compacted version was retained");
        }
        Ok(())
    }
}

/// The first version of a history: see [`KeyHistory::check`].
fn check_first(first: &Version, compacted: Option<Revision>) -> Result<(), &'static str> {
    match (&first.state, compacted) {
        (State::Tombstone, Some(at)) if first.rev == at => Ok(()),
        (State::Tombstone, _) => Err("history starts with a tombstone off the compacted revision"),
        (State::Live(live), Some(at)) if first.rev <= at => {
            let created_ok = live.create >= Revision(2) && live.create <= first.rev;
            match live.version >= 1 && live.version < first.rev.0 && created_ok {
                true => Ok(()),
                false => Err("first put of a compacted history is inconsistent"),
            }
        }
        (State::Live(live), _) => check_new_generation(first.rev, live),
    }
}

/// A version after `prev`: see [`KeyHistory::check`].
fn check_successor(prev: &Version, next: &Version) -> Result<(), &'static str> {
    if (next.rev, next.sub) <= (prev.rev, prev.sub) {
        return Err("key history out of order");
    }
    match (&prev.state, &next.state) {
        (State::Tombstone, State::Tombstone) => Err("tombstone follows a tombstone"),
        (State::Tombstone, State::Live(live)) => check_new_generation(next.rev, live),
        (State::Live(_), State::Tombstone) => Ok(()),
        (State::Live(before), State::Live(after)) => {
            let continues = after.create == before.create
                && before.version.checked_add(1) == Some(after.version);
            match continues {
                true => Ok(()),
                false => Err("put does not continue its generation"),
            }
        }
    }
}

fn check_new_generation(rev: Revision, live: &Live) -> Result<(), &'static str> {
    match live.version == 1 && live.create == rev {
        true => Ok(()),
        false => Err("put starting a generation is inconsistent"),
    }
}
