//! [`Ledger`]: append records, make them durable, snapshot, trim.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LedgerConfig;
use crate::error::{io_error, LedgerError};
use crate::frame::{self, FRAME_HEADER_BYTES};
use crate::layout::Layout;
use crate::recovery::{self, Recovered};
use crate::snapshot;
use crate::vfs::Vfs;
use crate::writer::{Active, Chunk, Sealed, SyncDone, SyncJob};

/// The durable, totally ordered log of one replica (the ledger of §1 of
/// The Part-Time Parliament), plus its snapshots.
///
/// Single-threaded use, as a driver would:
///
/// ```
/// use paxon_ledger::{Ledger, LedgerConfig, sim::SimVfs};
///
/// let (mut ledger, recovered) = Ledger::open(SimVfs::new(), "/data", LedgerConfig::default())?;
/// assert!(recovered.records.is_empty() && recovered.snapshot.is_none());
/// let first = ledger.append(1, b"promise")?;
/// let second = ledger.append(2, b"vote")?;
/// assert_eq!((first, second), (1, 2));
/// assert_eq!(ledger.sync()?, 2); // one fdatasync made both durable
/// # Ok::<(), paxon_ledger::LedgerError>(())
/// ```
///
/// For many threads sharing one ledger with group commit, wrap it in a
/// [`SharedLedger`](crate::SharedLedger).
pub struct Ledger<V: Vfs> {
    pub(crate) vfs: V,
    pub(crate) config: LedgerConfig,
    pub(crate) layout: Arc<Layout>,
    /// Sealed segments, oldest first.
    pub(crate) sealed: VecDeque<Sealed>,
    /// The segment being appended to, as of the last finished sync.
    pub(crate) active: Active<V::File>,
    /// Records framed in memory, waiting for a sync.
    pub(crate) pending: Vec<Chunk>,
    /// Bytes in `pending`.
    pub(crate) pending_bytes: u64,
    /// Bytes the newest segment will hold once everything appended is
    /// written (0: it is empty, or not created yet).
    pub(crate) planned_segment_bytes: u64,
    /// Sequence number the next append gets.
    pub(crate) next_seq: u64,
    /// Every record up to here is durable.
    pub(crate) durable_seq: u64,
    /// A [`SyncJob`] is out.
    pub(crate) syncing: bool,
    /// Snapshot files on disk (valid or not), oldest first.
    pub(crate) snapshots: Vec<u64>,
    /// The newest durable valid snapshot covers records up to here (0: none).
    pub(crate) snapshot_seq: u64,
    /// Why the ledger refuses to go on, after a failed write or sync.
    pub(crate) poisoned: Option<String>,
    /// Group commits completed (each ends in one `fdatasync`).
    pub(crate) sync_count: u64,
}

impl<V: Vfs> Ledger<V> {
    /// Opens (or creates) the ledger in `dir` and recovers it: returns the
    /// newest valid snapshot and every record after it, in order.
    ///
    /// A torn tail of the last segment is cut off on disk; damage anywhere
    /// else is [`LedgerError::Corrupt`]. See the crate documentation for the
    /// exact rules.
    pub fn open(
        vfs: V,
        dir: impl Into<PathBuf>,
        config: LedgerConfig,
    ) -> Result<(Self, Recovered), LedgerError> {
        recovery::open(vfs, dir.into(), config)
    }

    /// Frames a record in memory and returns its sequence number. Nothing
    /// is written until [`Ledger::sync`].
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<u64, LedgerError> {
        self.check_poisoned()?;
        if payload.len() > self.config.record_bytes_max as usize {
            return Err(LedgerError::RecordTooLarge {
                len: payload.len(),
                max: self.config.record_bytes_max,
            });
        }
        let frame_bytes = (FRAME_HEADER_BYTES + payload.len()) as u64;
        if self.pending_bytes + frame_bytes > self.config.pending_bytes_max {
            let max = self.config.pending_bytes_max;
            return Err(LedgerError::PendingFull {
                pending_bytes: self.pending_bytes,
                frame_bytes,
                max,
            });
        }
        let seq = self.next_seq;
        let roll = self.planned_segment_bytes > 0
            && self.planned_segment_bytes + frame_bytes > self.config.segment_bytes_max;
        if roll {
            self.planned_segment_bytes = 0;
        }
        if roll || self.pending.is_empty() {
            self.pending.push(Chunk {
                new_segment: roll,
                first_seq: seq,
                last_seq: seq,
                bytes: Vec::new(),
            });
        }
        let chunk = self.pending.last_mut().expect("a chunk was just ensured");
        let start = chunk.bytes.len();
        frame::encode(&mut chunk.bytes, kind, payload);
        let written = frame::decode(&chunk.bytes[start..], self.config.record_bytes_max);
        assert!(
            written.is_ok_and(|f| f.kind == kind && f.payload == payload),
            "frame reads back"
        );
        chunk.last_seq = seq;
        self.planned_segment_bytes += frame_bytes;
        self.pending_bytes += frame_bytes;
        self.next_seq += 1;
        assert!(self.planned_segment_bytes <= self.config.segment_bytes_max);
        Ok(seq)
    }

    /// Writes every appended record and makes it durable with one
    /// `fdatasync`; returns the highest durable sequence number.
    pub fn sync(&mut self) -> Result<u64, LedgerError> {
        match self.begin_sync()? {
            None => Ok(self.durable_seq),
            Some(job) => {
                let outcome = job.run();
                self.finish_sync(outcome)
            }
        }
    }

    /// Takes every pending chunk into a job for one thread to run.
    pub(crate) fn begin_sync(&mut self) -> Result<Option<SyncJob<V>>, LedgerError> {
        self.check_poisoned()?;
        assert!(!self.syncing, "one sync at a time");
        if self.pending.is_empty() {
            assert_eq!(
                self.durable_seq + 1,
                self.next_seq,
                "nothing pending means everything is durable"
            );
            return Ok(None);
        }
        let chunks = std::mem::take(&mut self.pending);
        assert_eq!(
            chunks[0].first_seq,
            self.durable_seq + 1,
            "the job starts after the durable records"
        );
        assert_eq!(
            chunks[chunks.len() - 1].last_seq + 1,
            self.next_seq,
            "the job carries every record"
        );
        self.pending_bytes = 0;
        self.syncing = true;
        Ok(Some(SyncJob {
            vfs: self.vfs.clone(),
            layout: Arc::clone(&self.layout),
            active: self.active.clone(),
            chunks,
            segment_bytes_max: self.config.segment_bytes_max,
            preallocate_bytes: self.config.preallocate_bytes,
        }))
    }

    /// Takes back the outcome of a job from [`Ledger::begin_sync`].
    pub(crate) fn finish_sync(
        &mut self,
        outcome: Result<SyncDone<V::File>, LedgerError>,
    ) -> Result<u64, LedgerError> {
        assert!(self.syncing, "a sync was begun");
        self.syncing = false;
        match outcome {
            Ok(done) => {
                assert!(done.durable_seq > self.durable_seq && done.durable_seq < self.next_seq);
                assert!(done.active.first_seq <= done.durable_seq + 1);
                self.sealed.extend(done.sealed);
                self.active = done.active;
                self.durable_seq = done.durable_seq;
                self.sync_count += 1;
                Ok(self.durable_seq)
            }
            Err(error) => {
                tracing::error!(%error, "ledger write failed; the ledger must be reopened");
                self.poisoned = Some(error.to_string());
                Err(error)
            }
        }
    }

    /// Saves a snapshot covering every record up to and including `seq`
    /// (which must be durable), durably; then removes older snapshots.
    ///
    /// The caller promises that `bytes` make records `..=seq` unnecessary
    /// for recovery; [`Ledger::trim_before`] may then drop them.
    pub fn save_snapshot(&mut self, seq: u64, bytes: &[u8]) -> Result<(), LedgerError> {
        self.check_snapshot(seq, bytes.len())?;
        snapshot::write(&self.vfs, &self.layout, seq, bytes)?;
        self.snapshot_saved(seq);
        Ok(())
    }

    /// Checks that a snapshot at `seq` of `len` bytes may be saved now.
    pub(crate) fn check_snapshot(&self, seq: u64, len: usize) -> Result<(), LedgerError> {
        self.check_poisoned()?;
        let max = self.config.snapshot_bytes_max;
        if len as u64 > max {
            return Err(LedgerError::SnapshotTooLarge {
                len: len as u64,
                max,
            });
        }
        if seq > self.durable_seq {
            return Err(LedgerError::SnapshotAhead {
                seq,
                durable_seq: self.durable_seq,
            });
        }
        if seq <= self.snapshot_seq {
            return Err(LedgerError::SnapshotNotNewer {
                seq,
                newest: self.snapshot_seq,
            });
        }
        Ok(())
    }

    /// Records that the snapshot at `seq` is durable and removes older ones.
    pub(crate) fn snapshot_saved(&mut self, seq: u64) {
        assert!(seq > self.snapshot_seq && seq <= self.durable_seq);
        self.snapshot_seq = seq;
        snapshot::remove_older(&self.vfs, &self.layout, &self.snapshots, seq);
        self.snapshots.retain(|&s| s > seq);
        self.snapshots.insert(0, seq);
        assert!(self.snapshots.is_sorted());
    }

    /// Removes whole sealed segments whose records all come before `seq`;
    /// returns how many. `seq` may be at most one past the newest snapshot.
    /// The active segment is never removed.
    pub fn trim_before(&mut self, seq: u64) -> Result<usize, LedgerError> {
        self.check_poisoned()?;
        if seq > self.snapshot_seq + 1 {
            return Err(LedgerError::TrimBeyondSnapshot {
                seq,
                covered: self.snapshot_seq,
            });
        }
        let mut removed = 0;
        while let Some(oldest) = self.sealed.front() {
            let next_first_seq = self
                .sealed
                .get(1)
                .map_or(self.active.first_seq, |s| s.first_seq);
            if next_first_seq > seq {
                break;
            }
            assert!(oldest.first_seq < next_first_seq, "segments are ordered");
            self.vfs
                .remove(&oldest.path)
                .map_err(io_error("remove", &oldest.path))?;
            tracing::debug!(path = %oldest.path.display(), "segment trimmed");
            self.sealed.pop_front();
            removed += 1;
        }
        if removed > 0 {
            let wal = &self.layout.wal;
            self.vfs
                .sync_dir(wal)
                .map_err(io_error("fsync directory", wal))?;
        }
        Ok(removed)
    }

    /// The highest sequence number known durable.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// The highest sequence number appended (0 if none ever was).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The sequence number covered by the newest durable snapshot (0: none).
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot_seq
    }

    /// The sequence number of the first record still in the log's files.
    pub fn first_seq(&self) -> u64 {
        self.sealed
            .front()
            .map_or(self.active.first_seq, |s| s.first_seq)
    }

    /// Group commits completed since open; each made a batch of records
    /// durable with one `fdatasync` of the active segment.
    pub fn sync_count(&self) -> u64 {
        self.sync_count
    }

    /// Bytes appended and not yet handed to a sync.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.layout.root
    }

    /// The configuration the ledger was opened with.
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    pub(crate) fn check_poisoned(&self) -> Result<(), LedgerError> {
        match &self.poisoned {
            Some(reason) => Err(LedgerError::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }
}
