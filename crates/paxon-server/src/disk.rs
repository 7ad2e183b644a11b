//! The member's ledger on a real disk: records appended by the driver,
//! made durable by a sync thread with group commit (one `fdatasync` for
//! everything appended while the previous one ran), and snapshots.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use paxon_core::codec::{decode_record, decode_records, encode_record, encode_records};
use paxon_core::{PersistToken, PersistedState, Record};
use paxon_ledger::{LedgerConfig, SharedLedger, StdVfs};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

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
    payload: Vec<u8>,
    metrics: Arc<Metrics>,
}

impl Disk {
    /// Opens (or creates) the ledger under `dir` and recovers; a damaged
    /// ledger is an error that tells the operator what to do. Syncs and
    /// snapshots are timed into `metrics`.
    pub fn open(
        dir: &Path,
        persisted: mpsc::UnboundedSender<PersistToken>,
        metrics: Arc<Metrics>,
    ) -> Result<(Disk, Recovered), String> {
        let (ledger, recovered) = paxon_ledger::Ledger::open(StdVfs, dir, LedgerConfig::default())
            .map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut snapshot = None;
        if let Some(saved) = &recovered.snapshot {
            let (core, state) = decode_snapshot(&saved.bytes)?;
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
        let state = if recovered.snapshot.is_none() && recovered.records.is_empty() {
            PersistedState::empty_disk()
        } else {
            PersistedState::replay(&records)
        };
        let ledger = Arc::new(SharedLedger::new(ledger));
        let (to_sync, from_driver) = std::sync::mpsc::channel();
        let syncer = Arc::clone(&ledger);
        let sync_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("paxon-sync".into())
            .spawn(move || sync_loop(&syncer, &from_driver, &persisted, &sync_metrics))
            .map_err(|e| format!("cannot start the sync thread: {e}"))?;
        let disk = Disk {
            ledger,
            to_sync,
            payload: Vec::new(),
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
        }
        self.to_sync
            .send((token, last))
            .map_err(|_| "the sync thread stopped".to_string())
    }

    /// Whether a snapshot can be saved now (a durable record it can cover
    /// exists beyond the last snapshot).
    pub fn can_snapshot(&self) -> bool {
        self.ledger
            .durable_seq()
            .is_ok_and(|seq| seq > self.ledger.snapshot_seq().unwrap_or(u64::MAX))
    }

    /// Saves the law book and drops the ledger it covers; timed as etcd's
    /// backend commit (the state machine reaching the disk).
    pub fn save_snapshot(&mut self, core: &[Record], state: &[u8]) -> Result<(), String> {
        let start = Instant::now();
        self.write_snapshot(core, state)?;
        self.metrics
            .backend_commit_seconds
            .observe_duration(start.elapsed());
        Ok(())
    }

    fn write_snapshot(&mut self, core: &[Record], state: &[u8]) -> Result<(), String> {
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
        let bytes = encode_snapshot(core, state);
        self.ledger
            .save_snapshot(seq, &bytes)
            .map_err(|e| e.to_string())?;
        self.ledger
            .trim_before(seq + 1)
            .map_err(|e| e.to_string())?;
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
    persisted: &mpsc::UnboundedSender<PersistToken>,
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
        if persisted.send(token).is_err() {
            return;
        }
    }
}

/// A snapshot: the core's records, then the state machine's bytes.
fn encode_snapshot(core: &[Record], state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(state.len() + 1024);
    encode_records(core, &mut out);
    out.extend_from_slice(state);
    out
}

fn decode_snapshot(bytes: &[u8]) -> Result<(Vec<Record>, Bytes), String> {
    let (core, state) = decode_records(bytes)
        .map_err(|e| format!("the snapshot's core records do not decode: {e}"))?;
    Ok((core, Bytes::copy_from_slice(state)))
}
