//! The I/O of one group commit, done by one thread outside any lock.
//!
//! [`Ledger::append`](crate::Ledger::append) only frames records into memory
//! ([`Chunk`]s, one per segment they are bound for). A [`SyncJob`] takes all
//! of them, writes them with one `pwrite` per chunk, rolls segments where
//! the chunks say so, and ends with one `fdatasync` of the active segment
//! (plus one `fsync` of `wal/` if it created a segment). Only one job runs
//! at a time; appends go on meanwhile.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{io_error, LedgerError};
use crate::layout::Layout;
use crate::vfs::{Vfs, VfsFile};

/// A sealed segment: complete, synced, cut to its exact length.
#[derive(Debug)]
pub(crate) struct Sealed {
    /// Sequence number of its first record (its name).
    pub first_seq: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// The segment records are appended to.
#[derive(Debug)]
pub(crate) struct Active<F> {
    /// Sequence number of its first record (its name).
    pub first_seq: u64,
    /// Where it is.
    pub path: PathBuf,
    /// The open file, shared with a running [`SyncJob`].
    pub file: Arc<F>,
    /// Bytes of records written to the file (not necessarily synced).
    pub written_bytes: u64,
    /// Length of the file: records plus preallocated zeros.
    pub allocated_bytes: u64,
}

impl<F> Clone for Active<F> {
    fn clone(&self) -> Self {
        Active {
            first_seq: self.first_seq,
            path: self.path.clone(),
            file: Arc::clone(&self.file),
            written_bytes: self.written_bytes,
            allocated_bytes: self.allocated_bytes,
        }
    }
}

/// Framed records bound for one segment.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Start a new segment, named `first_seq`, for these records.
    pub new_segment: bool,
    /// Sequence number of the first record in `bytes`.
    pub first_seq: u64,
    /// Sequence number of the last record in `bytes`.
    pub last_seq: u64,
    /// The frames.
    pub bytes: Vec<u8>,
}

/// Everything one group commit needs, detached from the ledger.
pub(crate) struct SyncJob<V: Vfs> {
    pub vfs: V,
    pub layout: Arc<Layout>,
    pub active: Active<V::File>,
    pub chunks: Vec<Chunk>,
    pub segment_bytes_max: u64,
    pub preallocate_bytes: u64,
}

/// What a finished job changed.
pub(crate) struct SyncDone<F> {
    /// Segments the job sealed, oldest first.
    pub sealed: Vec<Sealed>,
    /// The segment now receiving records.
    pub active: Active<F>,
    /// Every record up to here is durable.
    pub durable_seq: u64,
}

impl<V: Vfs> SyncJob<V> {
    /// Writes every chunk and makes them durable.
    pub fn run(self) -> Result<SyncDone<V::File>, LedgerError> {
        let Some(durable_seq) = self.chunks.last().map(|chunk| chunk.last_seq) else {
            unreachable!("a sync job always carries records");
        };
        let mut active = self.active.clone();
        let mut sealed = Vec::new();
        for (index, chunk) in self.chunks.iter().enumerate() {
            assert!(chunk.first_seq <= chunk.last_seq && !chunk.bytes.is_empty());
            if let Some(previous) = index.checked_sub(1).map(|i| &self.chunks[i]) {
                assert_eq!(
                    chunk.first_seq,
                    previous.last_seq + 1,
                    "chunks are contiguous"
                );
                assert!(chunk.new_segment, "only a roll starts a second chunk");
            }
            if chunk.new_segment {
                sealed.push(seal(&active)?);
                active = self.create_segment(chunk.first_seq)?;
            }
            self.write_chunk(&mut active, &chunk.bytes)?;
        }
        active
            .file
            .sync_data()
            .map_err(io_error("fdatasync", &active.path))?;
        if !sealed.is_empty() {
            let wal = &self.layout.wal;
            self.vfs
                .sync_dir(wal)
                .map_err(io_error("fsync directory", wal))?;
        }
        Ok(SyncDone {
            sealed,
            active,
            durable_seq,
        })
    }

    fn create_segment(&self, first_seq: u64) -> Result<Active<V::File>, LedgerError> {
        let path = self.layout.segment_path(first_seq);
        let file = self.vfs.create(&path).map_err(io_error("create", &path))?;
        tracing::debug!(path = %path.display(), "segment created");
        Ok(Active {
            first_seq,
            path,
            file: Arc::new(file),
            written_bytes: 0,
            allocated_bytes: 0,
        })
    }

    /// Writes `bytes` after the records of `active`, then extends the
    /// preallocated zeros if the records reached them.
    fn write_chunk(&self, active: &mut Active<V::File>, bytes: &[u8]) -> Result<(), LedgerError> {
        let offset = active.written_bytes;
        let end = offset + bytes.len() as u64;
        assert!(
            end <= self.segment_bytes_max,
            "append planned the segment to fit"
        );
        active
            .file
            .write_at(offset, bytes)
            .map_err(io_error("write", &active.path))?;
        active.written_bytes = end;
        active.allocated_bytes = active.allocated_bytes.max(end);
        if self.preallocate_bytes > 0 && end == active.allocated_bytes {
            let target = end
                .div_ceil(self.preallocate_bytes)
                .saturating_mul(self.preallocate_bytes);
            let target = target.min(self.segment_bytes_max);
            if target > end {
                let zeros = vec![0u8; (target - end) as usize];
                active
                    .file
                    .write_at(end, &zeros)
                    .map_err(io_error("preallocate", &active.path))?;
                active.allocated_bytes = target;
            }
        }
        assert!(active.written_bytes <= active.allocated_bytes);
        Ok(())
    }
}

/// Makes a segment complete on disk before its successor exists: cut off
/// the preallocated zeros, then `fdatasync` records and length together.
fn seal<F: VfsFile>(active: &Active<F>) -> Result<Sealed, LedgerError> {
    if active.allocated_bytes > active.written_bytes {
        active
            .file
            .set_len(active.written_bytes)
            .map_err(io_error("truncate", &active.path))?;
    }
    active
        .file
        .sync_data()
        .map_err(io_error("fdatasync", &active.path))?;
    let len = active.file.len().map_err(io_error("stat", &active.path))?;
    assert_eq!(
        len, active.written_bytes,
        "a sealed segment ends at its last record"
    );
    assert!(
        active.written_bytes > 0,
        "a segment is sealed only once it holds a record"
    );
    Ok(Sealed {
        first_seq: active.first_seq,
        path: active.path.clone(),
    })
}
