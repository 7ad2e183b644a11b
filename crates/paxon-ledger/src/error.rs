//! The one error enum of the ledger's public API.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A [`LedgerConfig`](crate::LedgerConfig) limit is out of range.
    #[error("invalid ledger config: {0}")]
    Config(String),

    /// The operating system refused a file operation.
    #[error("ledger I/O error: {op} {}: {source}", path.display())]
    Io {
        /// What the ledger was doing (`"fdatasync"`, `"create"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Bytes on disk that were once durable no longer read back as written.
    ///
    /// Not retried and never skipped: the member must be rebuilt from its
    /// peers.
    #[error(
        "ledger corruption in {} at byte {offset}: {reason}. The data directory \
         is damaged and cannot be trusted: wipe {} and rejoin the member to the \
         cluster, which will send it a snapshot and the log it is missing",
        file.display(),
        data_dir.display()
    )]
    Corrupt {
        /// The ledger's data directory, the one to wipe.
        data_dir: PathBuf,
        /// The damaged file (or directory, for a missing file).
        file: PathBuf,
        /// Byte offset of the damage in `file`.
        offset: u64,
        /// What is wrong.
        reason: CorruptReason,
    },

    /// A payload is larger than `record_bytes_max`.
    #[error("record of {len} bytes exceeds record_bytes_max ({max})")]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// The configured limit.
        max: u32,
    },

    /// Appending would buffer more than `pending_bytes_max`: sync first.
    #[error("{pending_bytes} bytes await a sync; appending {frame_bytes} more exceeds pending_bytes_max ({max})")]
    PendingFull {
        /// Bytes already waiting.
        pending_bytes: u64,
        /// Size of the frame that did not fit.
        frame_bytes: u64,
        /// The configured limit.
        max: u64,
    },

    /// A snapshot body is larger than `snapshot_bytes_max`.
    #[error("snapshot of {len} bytes exceeds snapshot_bytes_max ({max})")]
    SnapshotTooLarge {
        /// Body length.
        len: u64,
        /// The configured limit.
        max: u64,
    },

    /// A snapshot may only cover records that are already durable.
    #[error("snapshot at seq {seq} would cover records that are not durable (durable up to {durable_seq})")]
    SnapshotAhead {
        /// The requested snapshot sequence number.
        seq: u64,
        /// The highest durable sequence number.
        durable_seq: u64,
    },

    /// A snapshot must be newer than the newest one already saved.
    #[error("snapshot at seq {seq} is not newer than the saved snapshot at seq {newest}")]
    SnapshotNotNewer {
        /// The requested snapshot sequence number.
        seq: u64,
        /// The newest saved snapshot.
        newest: u64,
    },

    /// Trimming may only drop records that a durable snapshot covers.
    #[error(
        "cannot trim before seq {seq}: the newest durable snapshot covers records up to {covered}"
    )]
    TrimBeyondSnapshot {
        /// The requested trim point.
        seq: u64,
        /// Records up to and including this one are covered (0: no snapshot).
        covered: u64,
    },

    /// Waiting for a sequence number that was never appended.
    #[error("seq {seq} has not been appended (last appended: {last_seq})")]
    NotAppended {
        /// The sequence number asked for.
        seq: u64,
        /// The last appended sequence number.
        last_seq: u64,
    },

    /// An earlier write or `fdatasync` failed, so the state of the file is
    /// unknown (after a failed `fdatasync` the kernel may have dropped the
    /// dirty pages): reopen the ledger to recover from what is on disk.
    #[error("the ledger failed earlier ({0}) and must be reopened")]
    Poisoned(String),
}

/// Why bytes on disk are considered corrupt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorruptReason {
    /// The frame's crc32c does not match its content.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum {
        /// Checksum in the frame header.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// The frame header announces a payload larger than `record_bytes_max`.
    #[error("frame length {len} exceeds record_bytes_max ({max})")]
    LengthTooLarge {
        /// Length in the header.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// A frame runs past the end of a sealed segment.
    #[error("frame needs {needed} bytes but only {available} remain in a sealed segment")]
    Truncated {
        /// Bytes the frame needs from its start.
        needed: u64,
        /// Bytes left in the file from the frame's start.
        available: u64,
    },
    /// The last segment has a damaged frame followed by a valid one, so the
    /// damage is not a torn tail: durable data was altered.
    #[error("damaged frame ({damage}) followed by a valid frame at byte {valid_offset}, so this is not a torn write")]
    DamageBeforeValidFrame {
        /// What is wrong with the damaged frame.
        damage: Box<CorruptReason>,
        /// Where the next valid frame starts.
        valid_offset: u64,
    },
    /// Sequence numbers are not contiguous between two segments.
    #[error(
        "sequence gap: expected the segment to start at seq {expected}, its name says {found}"
    )]
    SequenceGap {
        /// The sequence number the previous segment leads to.
        expected: u64,
        /// The sequence number in this segment's name.
        found: u64,
    },
    /// A file in the ledger's directories has a name the ledger never writes.
    #[error("unexpected file name")]
    BadFileName,
    /// The log does not reach back to the snapshot it should continue.
    #[error("the log starts at seq {first_seq} but the newest valid snapshot covers only up to seq {covered}")]
    LogAfterSnapshotGap {
        /// First sequence number present in the log.
        first_seq: u64,
        /// Last sequence number covered by a snapshot (0: no valid snapshot).
        covered: u64,
    },
    /// A snapshot claims records that the log never reached.
    #[error("the snapshot covers up to seq {snapshot_seq} but the log ends at seq {log_end}")]
    SnapshotAheadOfLog {
        /// The snapshot's sequence number.
        snapshot_seq: u64,
        /// The last sequence number the log holds or held.
        log_end: u64,
    },
    /// Snapshots exist but the log's segments are gone.
    #[error("snapshots exist but there is no log segment")]
    MissingLog,
    /// The newest snapshot is damaged. A snapshot is renamed into place
    /// only once durable, so this is decay of durable data; falling back to
    /// an older snapshot or to the log is not safe, because the records
    /// after the damaged snapshot may depend on it.
    #[error("damaged snapshot: {0}")]
    BadSnapshot(String),
}

/// Wraps an I/O error with what the ledger was doing and where.
pub(crate) fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LedgerError {
    let path = path.to_path_buf();
    move |source| LedgerError::Io { op, path, source }
}
