//! The member's ledger on a real disk: records appended by the driver,
//! made durable by a sync thread with group commit (one `fdatasync` for
//! everything appended while the previous one ran), and snapshots, which a
//! thread of their own writes while the driver goes on.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use paxon_core::codec::{decode_record, decode_records, encode_record, encode_records};
use paxon_core::{PersistToken, PersistedState, Record, Slot};
use paxon_kv::SnapshotEncoder;
use paxon_ledger::{LedgerConfig, SharedLedger, StdVfs};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// What the disk tells the driver.
#[derive(Debug)]
pub enum DiskEvent {
    /// Every record of the `Persist`s up to this token is durable.
    Durable(PersistToken),
    /// The snapshot begun with [`Disk::save_snapshot_in_background`] at
    /// this slot is durable and the ledger it covers is gone.
    SnapshotSaved(Slot),
}

/// Bytes of ledger records framed per record beyond the payload (length,
/// kind, sequence number, checksum), for the size-based snapshot trigger.
const RECORD_FRAME_BYTES: u64 = 24;

/// What the member restarts from.
pub struct Recovered {
    /// Promise, votes and commit point.
    pub state: PersistedState,
    /// The state machine's snapshot at `state.snapshot`, if any.
    pub snapshot: Option<Bytes>,
}

/// The ledger and the thread that syncs it.
pub struct Disk {
    ledger: Arc<SharedLedger<StdVfs>>,
    to_sync: std::sync::mpsc::Sender<(PersistToken, u64)>,
    events: mpsc::UnboundedSender<DiskEvent>,
    payload: Vec<u8>,
    /// Ledger bytes appended since the last snapshot began.
    appended_bytes: u64,
    /// The snapshot being written in the background, if any.
    saving: Option<std::thread::JoinHandle<Result<(), String>>>,
    metrics: Arc<Metrics>,
}

impl Disk {
    /// Opens (or creates) the ledger under `dir` and recovers; a damaged
    /// ledger is an error that tells the operator what to do. Syncs and
    /// snapshots are timed into `metrics`.
    pub fn open(
        dir: &Path,
        events: mpsc::UnboundedSender<DiskEvent>,
        metrics: Arc<Metrics>,
    ) -> Result<(Disk, Recovered), String> {
        let (ledger, recovered) = paxon_ledger::Ledger::open(StdVfs, dir, LedgerConfig::default())
            .map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut snapshot = None;
        let had_snapshot = recovered.snapshot.is_some();
        if let Some(saved) = recovered.snapshot {
            let (core, state) = decode_snapshot(saved.bytes)?;
            records.extend(core);
            snapshot = Some(state);
        }
        for record in &recovered.records {
            let decoded = decode_record(record.kind, &record.payload)
                .map_err(|e| format!("ledger record {} does not decode: {e}", record.seq))?;
            records.push(decoded);
        }
        // An empty disk may be a new member or a wiped one: it recovers
        // before it counts as an acceptor (paxon-core's amnesia.rs).
        let state = if !had_snapshot && recovered.records.is_empty() {
            PersistedState::empty_disk()
        } else {
            PersistedState::replay(&records)
        };
        let ledger = Arc::new(SharedLedger::new(ledger));
        let (to_sync, from_driver) = std::sync::mpsc::channel();
        let syncer = Arc::clone(&ledger);
        let persisted = events.clone();
        let sync_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("paxon-sync".into())
            .spawn(move || sync_loop(&syncer, &from_driver, &persisted, &sync_metrics))
            .map_err(|e| format!("cannot start the sync thread: {e}"))?;
        let appended_bytes = recovered
            .records
            .iter()
            .map(|r| r.payload.len() as u64 + RECORD_FRAME_BYTES)
            .sum();
        let disk = Disk {
            ledger,
            to_sync,
            events,
            payload: Vec::new(),
            appended_bytes,
            saving: None,
            metrics,
        };
        Ok((disk, Recovered { state, snapshot }))
    }

    /// Appends the records of one `Persist`; the sync thread reports
    /// `token` once they are durable.
    pub fn persist(&mut self, token: PersistToken, records: &[Record]) -> Result<(), String> {
        let mut last = 0;
        for record in records {
            self.payload.clear();
            let kind = encode_record(record, &mut self.payload);
            last = self
                .ledger
                .append(kind, &self.payload)
                .map_err(|e| e.to_string())?;
            self.appended_bytes += self.payload.len() as u64 + RECORD_FRAME_BYTES;
        }
        self.to_sync
            .send((token, last))
            .map_err(|_| "the sync thread stopped".to_string())
    }

    /// Ledger bytes appended since the last snapshot began: the work a
    /// restart would replay after it.
    pub fn appended_since_snapshot(&self) -> u64 {
        self.appended_bytes
    }

    /// Whether a snapshot can be saved now (a durable record it can cover
    /// exists beyond the last snapshot).
    pub fn can_snapshot(&self) -> bool {
        self.ledger
            .durable_seq()
            .is_ok_and(|seq| seq > self.ledger.snapshot_seq().unwrap_or(u64::MAX))
    }

    /// Whether a snapshot may begin now: none is being written, and a
    /// record was appended since the last one (it must cover a new one).
    pub fn can_begin_snapshot(&self) -> bool {
        self.uncovered_seq().is_some()
    }

    /// The last record appended, if a snapshot may begin now to cover it.
    fn uncovered_seq(&self) -> Option<u64> {
        let seq = self.ledger.last_seq().ok()?;
        let covered = self.ledger.snapshot_seq().ok()?;
        (self.saving.is_none() && seq > covered).then_some(seq)
    }

    /// Whether a snapshot begun in the background is still being written.
    pub fn is_saving(&self) -> bool {
        self.saving.is_some()
    }

    /// Begins saving the law book through `slot` on a thread of its own:
    /// `core` is [`encode_snapshot`]'s, taken after every record appended
    /// so far, so it covers them, and `store` the state machine through
    /// `slot`, finished on that thread. The records are dropped from the
    /// ledger once the snapshot is durable, and
    /// [`DiskEvent::SnapshotSaved`] tells the driver. Records appended
    /// meanwhile stay in the ledger and replay on top of it. Returns `false`
    /// (and saves nothing) when no record was appended since the last
    /// snapshot, or one is still being written.
    pub fn save_snapshot_in_background(
        &mut self,
        slot: Slot,
        core: Vec<u8>,
        store: SnapshotEncoder,
    ) -> bool {
        let Some(seq) = self.uncovered_seq() else {
            return false;
        };
        self.appended_bytes = 0;
        let ledger = Arc::clone(&self.ledger);
        let events = self.events.clone();
        let metrics = Arc::clone(&self.metrics);
        let job = move || {
            let mut snapshot = core;
            store.finish(&mut snapshot);
            ledger.wait_durable(seq).map_err(|e| e.to_string())?;
            let start = Instant::now();
            ledger
                .save_snapshot(seq, &snapshot)
                .map_err(|e| e.to_string())?;
            metrics
                .backend_commit_seconds
                .observe_duration(start.elapsed());
            drop(snapshot);
            ledger.trim_before(seq + 1).map_err(|e| e.to_string())?;
            let _ = events.send(DiskEvent::SnapshotSaved(slot));
            Ok(())
        };
        match std::thread::Builder::new()
            .name("paxon-snapshot".into())
            .spawn(job)
        {
            Ok(handle) => {
                self.saving = Some(handle);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "cannot start a snapshot thread; will try again");
                false
            }
        }
    }

    /// Waits for the snapshot being written in the background, if any.
    /// A snapshot that could not be saved stops the process, as a ledger
    /// write that fails does.
    pub fn finish_saving(&mut self) {
        let Some(handle) = self.saving.take() else {
            return;
        };
        let result = handle
            .join()
            .unwrap_or_else(|_| Err("the snapshot thread panicked".to_string()));
        if let Err(error) = result {
            eprintln!("paxon: fatal: cannot save a snapshot: {error}");
            std::process::exit(1);
        }
    }

    /// The newest snapshot on disk, read back to ship to a peer: its slot,
    /// the core's records and the state machine's bytes.
    pub fn load_snapshot(&self) -> Result<Option<(Slot, Vec<Record>, Bytes)>, String> {
        let Some(saved) = self.ledger.load_snapshot().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let (core, state) = decode_snapshot(saved.bytes)?;
        let slot = core.iter().find_map(|r| match r {
            Record::Snapshot { slot } => Some(*slot),
            _ => None,
        });
        Ok(slot.map(|slot| (slot, core, state)))
    }

    /// Saves the law book and drops the ledger it covers, before it
    /// returns: a snapshot installed from a peer must be durable before
    /// any later record is. Snapshot saves are timed as etcd's backend
    /// commit (the state machine reaching the disk).
    pub fn save_snapshot(&mut self, core: &[Record], state: &[u8]) -> Result<(), String> {
        self.finish_saving();
        let start = Instant::now();
        if !self.can_snapshot() {
            // A snapshot must cover a durable record newer than the last
            // one (a member that never wrote, or installs twice in a row):
            // write the commit point again and wait for it.
            let commit = core.iter().find(|r| matches!(r, Record::Commit { .. }));
            let commit = commit.ok_or("snapshot records without a commit point")?;
            self.payload.clear();
            let kind = encode_record(commit, &mut self.payload);
            let seq = self
                .ledger
                .append(kind, &self.payload)
                .map_err(|e| e.to_string())?;
            self.ledger.wait_durable(seq).map_err(|e| e.to_string())?;
        }
        let seq = self.ledger.durable_seq().map_err(|e| e.to_string())?;
        let mut bytes = encode_snapshot(core);
        bytes.extend_from_slice(state);
        self.ledger
            .save_snapshot(seq, &bytes)
            .map_err(|e| e.to_string())?;
        self.metrics
            .backend_commit_seconds
            .observe_duration(start.elapsed());
        self.ledger
            .trim_before(seq + 1)
            .map_err(|e| e.to_string())?;
        self.appended_bytes = 0;
        Ok(())
    }
}

/// Syncs whatever the driver appended, many `Persist`s per `fdatasync`.
/// A failed sync stops the process: after a failed `fdatasync` the page
/// cache may have dropped the data, and only a restart can tell what is
/// on disk. Each group's write and `fdatasync` is timed, and its records
/// counted, into `metrics`.
fn sync_loop(
    ledger: &SharedLedger<StdVfs>,
    from_driver: &std::sync::mpsc::Receiver<(PersistToken, u64)>,
    persisted: &mpsc::UnboundedSender<DiskEvent>,
    metrics: &Metrics,
) {
    let mut durable = ledger.durable_seq().unwrap_or(0);
    while let Ok((mut token, mut seq)) = from_driver.recv() {
        while let Ok((later_token, later_seq)) = from_driver.try_recv() {
            token = token.max(later_token);
            seq = seq.max(later_seq);
        }
        let start = Instant::now();
        match ledger.wait_durable(seq) {
            Ok(now_durable) if now_durable > durable => {
                metrics.wal_fsync_seconds.observe_duration(start.elapsed());
                metrics.fsync_batch_records.observe(now_durable - durable);
                durable = now_durable;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, "the ledger could not be made durable; stopping");
                eprintln!("paxon: fatal: the ledger could not be made durable: {error}");
                std::process::exit(1);
            }
        }
        if persisted.send(DiskEvent::Durable(token)).is_err() {
            return;
        }
    }
}

/// A snapshot begins with the core's records; the state machine's bytes
/// follow, appended by the caller to the returned buffer.
pub fn encode_snapshot(core: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_records(core, &mut out);
    out
}

/// The core's records and the state machine's bytes (not copied: a
/// million keys are hundreds of megabytes).
fn decode_snapshot(bytes: Vec<u8>) -> Result<(Vec<Record>, Bytes), String> {
    let (core, state) = decode_records(&bytes)
        .map_err(|e| format!("the snapshot's core records do not decode: {e}"))?;
    let start = bytes.len() - state.len();
    Ok((core, Bytes::from(bytes).slice(start..)))
}

#[cfg(test)]
mod tests {
    use paxon_core::{Ballot, NodeId, Value};

    use super::*;

    fn vote(slot: u64) -> Record {
        Record::Vote {
            slot: Slot(slot),
            ballot: Ballot {
                round: 1,
                node: NodeId(1),
            },
            value: Value::Noop,
        }
    }

    /// Waits until the disk reported both a snapshot saved at `slot`
    /// and `token` durable, in either order.
    fn wait_for(events: &mut mpsc::UnboundedReceiver<DiskEvent>, slot: Slot, token: PersistToken) {
        let (mut saved, mut durable) = (false, false);
        while !(saved && durable) {
            match events.blocking_recv().expect("the disk stopped") {
                DiskEvent::SnapshotSaved(s) => saved |= s == slot,
                DiskEvent::Durable(t) => durable |= t >= token,
            }
        }
    }

    #[test]
    fn a_snapshot_saved_in_the_background_covers_the_ledger_before_it_and_keeps_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let (mut disk, _) =
            Disk::open(dir.path(), tx, Arc::new(Metrics::new(&[], Arc::default()))).unwrap();
        disk.persist(
            PersistToken(1),
            &[vote(1), vote(2), Record::Commit { slot: Slot(2) }],
        )
        .unwrap();
        assert!(disk.appended_since_snapshot() > 0);

        let core = [
            Record::Snapshot { slot: Slot(2) },
            Record::Commit { slot: Slot(2) },
        ];
        let store = paxon_kv::Store::new();
        let the_store = Bytes::from(store.snapshot());
        let snapshot = || {
            let mut encoder = store.begin_snapshot();
            assert_eq!(store.continue_snapshot(&mut encoder, 10), Ok(true));
            encoder
        };
        assert!(disk.save_snapshot_in_background(Slot(2), encode_snapshot(&core), snapshot()));
        assert_eq!(disk.appended_since_snapshot(), 0);
        // One at a time.
        assert!(!disk.save_snapshot_in_background(Slot(2), encode_snapshot(&core), snapshot()));
        // The ledger goes on while it is written.
        disk.persist(
            PersistToken(2),
            &[vote(3), Record::Commit { slot: Slot(3) }],
        )
        .unwrap();
        wait_for(&mut events, Slot(2), PersistToken(2));
        disk.finish_saving();
        assert!(!disk.is_saving());
        let shipped = disk.load_snapshot().unwrap();
        assert_eq!(shipped, Some((Slot(2), core.to_vec(), the_store.clone())));
        drop(disk);

        let (tx, _events) = mpsc::unbounded_channel();
        let (_, recovered) =
            Disk::open(dir.path(), tx, Arc::new(Metrics::new(&[], Arc::default()))).unwrap();
        assert_eq!(recovered.snapshot.as_deref(), Some(&the_store[..]));
        assert_eq!(recovered.state.snapshot, Slot(2));
        assert_eq!(recovered.state.commit, Slot(3));
        assert!(recovered.state.entries.contains_key(&Slot(3)));
        assert!(!recovered.state.entries.contains_key(&Slot(1)));
    }

    #[test]
    fn nothing_to_cover_means_no_background_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _events) = mpsc::unbounded_channel();
        let (mut disk, _) =
            Disk::open(dir.path(), tx, Arc::new(Metrics::new(&[], Arc::default()))).unwrap();
        let store = paxon_kv::Store::new();
        let mut encoder = store.begin_snapshot();
        assert_eq!(store.continue_snapshot(&mut encoder, 10), Ok(true));
        assert!(!disk.save_snapshot_in_background(Slot(1), encode_snapshot(&[]), encoder));
        assert_eq!(disk.load_snapshot().unwrap(), None);
    }
}
