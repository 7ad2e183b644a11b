//! The law book: the whole state as bytes, and back; and the state's hash.
//!
//! # Snapshot format, version 5
//!
//! Primitives as in `wire.rs`: minimal LEB128 varints, zigzag `i64`,
//! length-prefixed bytes.
//!
//! `[SNAPSHOT_VERSION u8]`, `revision` i64, `compacted` (bool, then i64 if
//! set), the decree time `now_ms` i64, leases (count, then `id` i64,
//! `ttl_s` i64, `expiry_ms` i64 each, ids strictly increasing), keys
//! (count, then per key in strictly increasing order:
//! `key` bytes, a count ≥ 1 of versions, each `rev` i64, `sub` u64,
//! state u8 0 = tombstone or 1 = put followed by `value` bytes, `create`
//! i64, `version` i64, `lease` i64), alarms (count, then `member` u64,
//! `alarm` u8 each, strictly increasing), auth (`enabled` bool; users:
//! count, then per user in strictly increasing name order `name`,
//! `password_hash` bytes and a count of role names; roles: count, then
//! per role `name` and a count of permissions, each `kind` u8, `key`,
//! `range_end` bytes; tokens are not saved), the member directory
//! (count, then per member by increasing `id` u64: `name`, a count of
//! `peer_url`s; see `directory.rs`), then the crc32c of everything before
//! it, 4 bytes little-endian. Version 4 (the same without the directory)
//! and version 3 (without auth either) are still read, as a store with an
//! empty directory and no users and roles;
//! earlier versions (1: no decree time, lease deadlines or alarms; 2: no
//! alarms) are refused: they were never released.
//!
//! Which keys a lease holds is not stored: it follows from the keys. The
//! encoding is canonical and [`Store::restore`] checks every invariant of
//! the state ([`Store::check_invariants`]), so a restored store is one
//! that applying commands could have produced.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::alarm::{AlarmMember, AlarmType};
use crate::auth::Auth;
use crate::directory::{get_directory, put_directory};
use crate::error::KvError;
use crate::lease::{Lease, LEASE_TTL_MAX_S};
use crate::mvcc::{KeyHistory, Live, State, Version};
use crate::store::Store;
use crate::types::{LeaseId, Revision};
use crate::wire::{put_bool, put_bytes, put_i64, put_len, put_u64, DecodeError, Reader};

/// The version byte that starts every snapshot.
pub const SNAPSHOT_VERSION: u8 = 5;
/// The last version without the member directory, still read.
const SNAPSHOT_VERSION_WITHOUT_DIRECTORY: u8 = 4;
/// The last version without auth, still read.
const SNAPSHOT_VERSION_WITHOUT_AUTH: u8 = 3;

const CHECKSUM_BYTES: usize = 4;
const LEASE_BYTES_MIN: u64 = 3;
const KEY_BYTES_MIN: u64 = 5;
const VERSION_BYTES_MIN: u64 = 3;
const ALARM_BYTES_MIN: u64 = 2;

/// A snapshot of the store at one revision, encoded some keys at a time
/// while the store goes on applying commands, so that a member never
/// stops for the whole store (§3.3.2's law book may be copied out while
/// the parliament keeps passing decrees).
///
/// It reads the store as of `at` through the multiversion history: later
/// versions are skipped, keys created later too. Only a compaction can
/// change the history at or below `at`; [`Store::continue_snapshot`] then
/// gives up ([`SnapshotAborted`]). The lease table, decree time and alarms
/// are small and are copied when the snapshot begins.
#[derive(Debug)]
pub struct SnapshotEncoder {
    at: Revision,
    compacted: Option<Revision>,
    /// Version, revision, compaction, decree time and leases.
    head: Vec<u8>,
    /// The keys encoded so far, and how many.
    keys: Vec<u8>,
    count: usize,
    /// The last key encoded: the next call resumes after it.
    last: Option<Box<[u8]>>,
    done: bool,
    /// Alarms.
    tail: Vec<u8>,
}

/// A compaction changed the history a snapshot was reading: begin again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a compaction ran while the snapshot was being encoded")]
pub struct SnapshotAborted;

impl SnapshotEncoder {
    /// The revision the snapshot is of.
    pub fn revision(&self) -> Revision {
        self.at
    }

    /// Bytes the finished snapshot will have.
    pub fn encoded_len(&self) -> usize {
        let mut count = Vec::new();
        put_len(&mut count, self.count);
        self.head.len() + count.len() + self.keys.len() + self.tail.len() + CHECKSUM_BYTES
    }

    /// Whether every key has been encoded.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The finished snapshot, appended to `out` (which may hold a header
    /// of the caller's: the checksum covers only the snapshot). Equal to
    /// [`Store::snapshot`] of the store as it was at the revision.
    ///
    /// # Panics
    ///
    /// If keys are left to encode.
    pub fn finish(self, out: &mut Vec<u8>) {
        assert!(self.done, "snapshot finished before its last key");
        let start = out.len();
        out.reserve(self.encoded_len());
        out.extend_from_slice(&self.head);
        put_len(out, self.count);
        out.extend_from_slice(&self.keys);
        drop(self.keys);
        out.extend_from_slice(&self.tail);
        let checksum = crc32c::crc32c(&out[start..]);
        out.extend_from_slice(&checksum.to_le_bytes());
    }
}

impl Store {
    /// The whole state (history not yet compacted, compaction, leases) as
    /// deterministic bytes: equal stores give equal snapshots.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut encoder = self.begin_snapshot();
        self.continue_snapshot(&mut encoder, usize::MAX)
            .expect("nothing compacts between begin and continue");
        let mut out = Vec::new();
        encoder.finish(&mut out);
        out
    }

    /// Begins a snapshot of the store as it is now; see [`SnapshotEncoder`].
    pub fn begin_snapshot(&self) -> SnapshotEncoder {
        let mut head = Vec::new();
        head.push(SNAPSHOT_VERSION);
        put_i64(&mut head, self.revision.0);
        put_bool(&mut head, self.compacted.is_some());
        if let Some(c) = self.compacted {
            put_i64(&mut head, c.0);
        }
        put_i64(&mut head, self.now_ms);
        put_len(&mut head, self.leases.len());
        for (id, lease) in &self.leases {
            put_i64(&mut head, id.0);
            put_i64(&mut head, lease.ttl_s);
            put_i64(&mut head, lease.expiry_ms);
        }
        let mut tail = Vec::new();
        put_len(&mut tail, self.alarms.len());
        for alarm in &self.alarms {
            put_u64(&mut tail, alarm.member);
            tail.push(alarm.alarm.code());
        }
        self.auth.encode(&mut tail);
        put_directory(&mut tail, &self.members);
        SnapshotEncoder {
            at: self.revision,
            compacted: self.compacted,
            head,
            keys: Vec::new(),
            count: 0,
            last: None,
            done: false,
            tail,
        }
    }

    /// Encodes up to `keys_max` more keys of `encoder`'s snapshot, as they
    /// were at its revision. Returns whether it is done.
    pub fn continue_snapshot(
        &self,
        encoder: &mut SnapshotEncoder,
        keys_max: usize,
    ) -> Result<bool, SnapshotAborted> {
        if self.compacted != encoder.compacted {
            return Err(SnapshotAborted);
        }
        let from = match &encoder.last {
            Some(last) => Bound::Excluded(&last[..]),
            None => Bound::Unbounded,
        };
        let at = encoder.at;
        let mut resume = None;
        let mut exhausted = true;
        let keys = self.keys.range::<[u8], _>((from, Bound::Unbounded));
        for (taken, (key, history)) in keys.enumerate() {
            if taken == keys_max {
                exhausted = false;
                break;
            }
            resume = Some(key);
            let versions = history.versions();
            let retained = versions.partition_point(|v| v.rev <= at);
            if retained == 0 {
                continue;
            }
            put_bytes(&mut encoder.keys, key);
            put_len(&mut encoder.keys, retained);
            for version in &versions[..retained] {
                put_version(&mut encoder.keys, version);
            }
            encoder.count += 1;
        }
        if let Some(key) = resume {
            encoder.last = Some(key.clone());
        }
        encoder.done = exhausted;
        Ok(exhausted)
    }

    /// The store a [`Store::snapshot`] was taken of. Any other input gives
    /// an error, never a panic.
    pub fn restore(bytes: &[u8]) -> Result<Store, DecodeError> {
        let body_len = bytes
            .len()
            .checked_sub(CHECKSUM_BYTES)
            .ok_or(DecodeError::Truncated {
                needed: CHECKSUM_BYTES as u64,
                remaining: bytes.len(),
            })?;
        let (body, tail) = bytes.split_at(body_len);
        let stored = u32::from_le_bytes(tail.try_into().expect("four bytes"));
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(DecodeError::Checksum { stored, computed });
        }
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if !(SNAPSHOT_VERSION_WITHOUT_AUTH..=SNAPSHOT_VERSION).contains(&version) {
            return Err(DecodeError::UnknownVersion(version));
        }
        let mut store = Store::new();
        store.revision = Revision(r.i64()?);
        store.compacted = if r.bool()? {
            Some(Revision(r.i64()?))
        } else {
            None
        };
        store.now_ms = r.i64()?;
        store.leases = get_leases(&mut r)?;
        store.keys = get_keys(&mut r)?;
        store.alarms = get_alarms(&mut r)?;
        if version >= SNAPSHOT_VERSION_WITHOUT_DIRECTORY {
            store.auth = Auth::decode(&mut r)?;
        }
        if version >= SNAPSHOT_VERSION {
            store.members = get_directory(&mut r)?;
        }
        r.finish()?;
        store.attach_leases()?;
        store.size_bytes = store.keys.iter().map(|(k, h)| h.size_bytes(k.len())).sum();
        store.check_state().map_err(DecodeError::Invalid)?;
        Ok(store)
    }

    /// The crc32c of the key-value history at the current revision (see
    /// [`Store::hash_kv`]).
    pub fn hash(&self) -> u32 {
        self.hash_kv(Revision(0))
            .expect("the current revision is readable")
    }

    /// etcd's `HashKV`: the crc32c of the compacted revision and of every
    /// retained version at or below `at` (0 or negative: the current
    /// revision), in key order. Replicas that applied the same decrees
    /// agree on it; leases are not part of it.
    pub fn hash_kv(&self, at: Revision) -> Result<u32, KvError> {
        if at > self.revision {
            return Err(KvError::FutureRevision);
        }
        let at = if at <= Revision(0) { self.revision } else { at };
        if at < self.compact_floor() {
            return Err(KvError::Compacted);
        }
        let mut buf = Vec::new();
        put_i64(&mut buf, self.compact_floor().0);
        let mut crc = crc32c::crc32c(&buf);
        for (key, history) in &self.keys {
            let upto = history.versions().partition_point(|v| v.rev <= at);
            if upto == 0 {
                continue;
            }
            buf.clear();
            put_bytes(&mut buf, key);
            for version in &history.versions()[..upto] {
                put_version(&mut buf, version);
            }
            crc = crc32c::crc32c_append(crc, &buf);
        }
        Ok(crc)
    }

    /// Fills each lease's key set from the live keys that name it.
    fn attach_leases(&mut self) -> Result<(), DecodeError> {
        for (key, history) in &self.keys {
            let Some(live) = history.latest().filter(|l| !l.lease.is_none()) else {
                continue;
            };
            let lease = self
                .leases
                .get_mut(&live.lease)
                .ok_or(DecodeError::Invalid("a key names a missing lease"))?;
            lease.keys.insert(key.clone());
        }
        Ok(())
    }
}

fn put_version(out: &mut Vec<u8>, version: &Version) {
    put_i64(out, version.rev.0);
    put_u64(out, u64::from(version.sub));
    match &version.state {
        State::Tombstone => out.push(0),
        State::Live(live) => {
            out.push(1);
            put_bytes(out, &live.value);
            put_i64(out, live.create.0);
            put_i64(out, live.version);
            put_i64(out, live.lease.0);
        }
    }
}

fn get_alarms(r: &mut Reader<'_>) -> Result<BTreeSet<AlarmMember>, DecodeError> {
    let mut alarms = BTreeSet::new();
    for _ in 0..r.count(ALARM_BYTES_MIN)? {
        let member = r.u64()?;
        let alarm = AlarmType::from_code(i64::from(r.u8()?))
            .ok_or(DecodeError::Invalid("unknown alarm type"))?;
        let alarm = AlarmMember { member, alarm };
        if alarms.last().is_some_and(|last| *last >= alarm) {
            return Err(DecodeError::Invalid("alarms out of order"));
        }
        alarms.insert(alarm);
    }
    Ok(alarms)
}

fn get_leases(r: &mut Reader<'_>) -> Result<BTreeMap<LeaseId, Lease>, DecodeError> {
    let mut leases = BTreeMap::new();
    let mut last = None;
    for _ in 0..r.count(LEASE_BYTES_MIN)? {
        let (id, ttl_s, expiry_ms) = (LeaseId(r.i64()?), r.i64()?, r.i64()?);
        if id.is_none() || ttl_s > LEASE_TTL_MAX_S || last.is_some_and(|l| l >= id) {
            return Err(DecodeError::Invalid(
                "lease id zero, out of order, or TTL too large",
            ));
        }
        last = Some(id);
        leases.insert(
            id,
            Lease {
                ttl_s,
                expiry_ms,
                keys: Default::default(),
            },
        );
    }
    Ok(leases)
}

/// The keys, in strictly increasing order; the map is built from them in
/// one pass (no search per key: a restart restores millions).
fn get_keys(r: &mut Reader<'_>) -> Result<BTreeMap<Box<[u8]>, KeyHistory>, DecodeError> {
    let count = r.count(KEY_BYTES_MIN)?;
    let mut keys: Vec<(Box<[u8]>, KeyHistory)> = Vec::with_capacity(count);
    for _ in 0..count {
        let key: Box<[u8]> = r.bytes()?.into();
        if keys.last().is_some_and(|(last, _)| *last >= key) {
            return Err(DecodeError::Invalid("keys out of order"));
        }
        let versions = (0..r.count(VERSION_BYTES_MIN)?)
            .map(|_| get_version(r))
            .collect::<Result<_, _>>()?;
        keys.push((key, KeyHistory::from_versions(versions)));
    }
    Ok(keys.into_iter().collect())
}

fn get_version(r: &mut Reader<'_>) -> Result<Version, DecodeError> {
    let rev = Revision(r.i64()?);
    let sub =
        u32::try_from(r.u64()?).map_err(|_| DecodeError::Invalid("sub-revision too large"))?;
    let state = match r.u8()? {
        0 => State::Tombstone,
        1 => State::Live(Live {
            value: r.bytes()?.into(),
            create: Revision(r.i64()?),
            version: r.i64()?,
            lease: LeaseId(r.i64()?),
        }),
        _ => return Err(DecodeError::Invalid("unknown version state")),
    };
    Ok(Version { rev, sub, state })
}
