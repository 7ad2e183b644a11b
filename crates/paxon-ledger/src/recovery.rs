//! Opening a ledger: replay from the newest valid snapshot, cut off a torn
//! tail, and refuse anything else that does not read back as written.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LedgerConfig;
use crate::error::{io_error, CorruptReason, LedgerError};
use crate::frame::{self, Frame, FRAME_HEADER_BYTES};
use crate::layout::{segment_entry, Entry, Layout};
use crate::ledger::Ledger;
use crate::snapshot::{self, Snapshot};
use crate::vfs::{read_all, Vfs, VfsFile};
use crate::writer::{Active, Sealed};

/// One record read back on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number, assigned at append.
    pub seq: u64,
    /// The caller's record kind.
    pub kind: u8,
    /// The caller's payload.
    pub payload: Vec<u8>,
}

/// What [`Ledger::open`] found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The newest snapshot that reads back intact, if any.
    pub snapshot: Option<Snapshot>,
    /// Every record after the snapshot (all records, without one), in
    /// sequence order with no gaps.
    pub records: Vec<Record>,
}

/// The log as replayed from its segments.
struct Replayed<F> {
    sealed: VecDeque<Sealed>,
    active: Active<F>,
    next_seq: u64,
    records: Vec<Record>,
}

pub(crate) fn open<V: Vfs>(
    vfs: V,
    root: PathBuf,
    config: LedgerConfig,
) -> Result<(Ledger<V>, Recovered), LedgerError> {
    config.validate()?;
    let layout = Layout::new(root);
    ensure_dir(&vfs, &layout.wal)?;
    ensure_dir(&vfs, &layout.snap)?;
    let snapshots = snapshot::list(&vfs, &layout)?;
    let snapshot = snapshot::load_newest(&vfs, &layout, &snapshots, config.snapshot_bytes_max)?;
    let covered = snapshot.as_ref().map_or(0, |s| s.seq);
    let segments = list_segments(&vfs, &layout)?;
    let mut replayed = match segments.first() {
        Some(_) => replay(&vfs, &layout, &config, &segments, covered)?,
        None if snapshots.is_empty() => start_fresh(&vfs, &layout)?,
        None => {
            return Err(corrupt(
                &layout,
                layout.wal.clone(),
                0,
                CorruptReason::MissingLog,
            ))
        }
    };
    if replayed.next_seq - 1 < covered {
        let reason = CorruptReason::SnapshotAheadOfLog {
            snapshot_seq: covered,
            log_end: replayed.next_seq - 1,
        };
        return Err(corrupt(&layout, layout.snapshot_path(covered), 0, reason));
    }
    // What a crashed process left in the page cache is durable from now on:
    // the caller will treat every returned record as persisted.
    for dir in [&layout.wal, &layout.snap] {
        vfs.sync_dir(dir)
            .map_err(io_error("fsync directory", dir))?;
    }
    assert!(replayed
        .records
        .iter()
        .all(|r| r.seq > covered && r.seq < replayed.next_seq));
    tracing::info!(
        dir = %layout.root.display(),
        snapshot_seq = covered,
        records = replayed.records.len(),
        next_seq = replayed.next_seq,
        "ledger opened"
    );
    let records = std::mem::take(&mut replayed.records);
    let ledger = into_ledger(vfs, config, layout, replayed, snapshots, covered);
    Ok((ledger, Recovered { snapshot, records }))
}

/// The ledger, ready to append after what was replayed.
fn into_ledger<V: Vfs>(
    vfs: V,
    config: LedgerConfig,
    layout: Layout,
    replayed: Replayed<V::File>,
    snapshots: Vec<u64>,
    covered: u64,
) -> Ledger<V> {
    Ledger {
        vfs,
        planned_segment_bytes: replayed.active.written_bytes,
        config,
        layout: Arc::new(layout),
        sealed: replayed.sealed,
        active: replayed.active,
        pending: Vec::new(),
        pending_bytes: 0,
        next_seq: replayed.next_seq,
        durable_seq: replayed.next_seq - 1,
        syncing: false,
        snapshots,
        snapshot_seq: covered,
        poisoned: None,
        sync_count: 0,
    }
}

/// Creates `dir` and any missing parents, syncing each parent that gained
/// an entry.
fn ensure_dir<V: Vfs>(vfs: &V, dir: &Path) -> Result<(), LedgerError> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(path) = next {
        if vfs.exists(path).map_err(io_error("stat", path))? {
            break;
        }
        missing.push(path);
        next = path.parent().filter(|p| !p.as_os_str().is_empty());
    }
    for path in missing.into_iter().rev() {
        vfs.create_dir(path)
            .map_err(io_error("create directory", path))?;
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        vfs.sync_dir(parent)
            .map_err(io_error("fsync directory", parent))?;
    }
    Ok(())
}

/// The segments' first sequence numbers, ascending.
fn list_segments<V: Vfs>(vfs: &V, layout: &Layout) -> Result<Vec<u64>, LedgerError> {
    let names = vfs
        .list_dir(&layout.wal)
        .map_err(io_error("list", &layout.wal))?;
    let mut segments = Vec::new();
    for name in names {
        match segment_entry(&name) {
            Entry::Numbered(first_seq) => segments.push(first_seq),
            Entry::Malformed | Entry::Temporary => {
                return Err(corrupt(
                    layout,
                    layout.wal.join(&name),
                    0,
                    CorruptReason::BadFileName,
                ));
            }
            Entry::Foreign => {
                tracing::warn!(name = %name, dir = %layout.wal.display(), "ignoring a foreign file")
            }
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

fn start_fresh<V: Vfs>(vfs: &V, layout: &Layout) -> Result<Replayed<V::File>, LedgerError> {
    let path = layout.segment_path(1);
    let file = vfs.create(&path).map_err(io_error("create", &path))?;
    file.sync_data().map_err(io_error("fdatasync", &path))?;
    let active = Active {
        first_seq: 1,
        path,
        file: Arc::new(file),
        written_bytes: 0,
        allocated_bytes: 0,
    };
    Ok(Replayed {
        sealed: VecDeque::new(),
        active,
        next_seq: 1,
        records: Vec::new(),
    })
}

fn replay<V: Vfs>(
    vfs: &V,
    layout: &Layout,
    config: &LedgerConfig,
    segments: &[u64],
    covered: u64,
) -> Result<Replayed<V::File>, LedgerError> {
    let first = segments[0];
    if first > covered + 1 {
        let reason = CorruptReason::LogAfterSnapshotGap {
            first_seq: first,
            covered,
        };
        return Err(corrupt(layout, layout.segment_path(first), 0, reason));
    }
    let mut records = Vec::new();
    let mut sealed = VecDeque::new();
    let mut expected = first;
    for (index, &first_seq) in segments.iter().enumerate() {
        let path = layout.segment_path(first_seq);
        if first_seq != expected {
            return Err(corrupt(
                layout,
                path,
                0,
                CorruptReason::SequenceGap {
                    expected,
                    found: first_seq,
                },
            ));
        }
        let file = vfs.open(&path).map_err(io_error("open", &path))?;
        let bytes = read_all(&file).map_err(io_error("read", &path))?;
        let is_last = index + 1 == segments.len();
        let frames = read_frames(layout, &path, &bytes, is_last, config.record_bytes_max)?;
        let before = records.len();
        for (seq, frame) in (first_seq..).zip(&frames.frames) {
            if seq > covered {
                records.push(Record {
                    seq,
                    kind: frame.kind,
                    payload: frame.payload.to_vec(),
                });
            }
        }
        assert!(records[before..]
            .windows(2)
            .all(|w| w[0].seq + 1 == w[1].seq));
        expected = first_seq + frames.frames.len() as u64;
        if !is_last {
            sealed.push_back(Sealed { first_seq, path });
            continue;
        }
        let active = open_active(
            file,
            path,
            first_seq,
            frames.valid_bytes,
            bytes.len() as u64,
        )?;
        return Ok(Replayed {
            sealed,
            active,
            next_seq: expected,
            records,
        });
    }
    unreachable!("the loop returns at the last segment")
}

/// The intact frames of a segment.
struct Frames<'a> {
    frames: Vec<Frame<'a>>,
    /// Bytes from the start of the file to the end of the last intact frame.
    valid_bytes: u64,
}

/// Reads a segment's frames, applying the torn-tail rule to the last one.
fn read_frames<'a>(
    layout: &Layout,
    path: &Path,
    bytes: &'a [u8],
    is_last: bool,
    record_bytes_max: u32,
) -> Result<Frames<'a>, LedgerError> {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let damage = match frame::decode(&bytes[offset..], record_bytes_max) {
            Ok(frame) => {
                offset += frame.frame_bytes();
                frames.push(frame);
                continue;
            }
            Err(damage) => damage,
        };
        if !is_last {
            return Err(corrupt(layout, path.to_path_buf(), offset as u64, damage));
        }
        if let Some(valid_offset) = next_valid_frame(bytes, offset, record_bytes_max) {
            let reason = CorruptReason::DamageBeforeValidFrame {
                damage: Box::new(damage),
                valid_offset,
            };
            return Err(corrupt(layout, path.to_path_buf(), offset as u64, reason));
        }
        tracing::warn!(
            path = %path.display(),
            offset,
            dropped_bytes = bytes.len() - offset,
            %damage,
            "cutting off the torn tail of the last segment (it was never acknowledged)"
        );
        break;
    }
    Ok(Frames {
        frames,
        valid_bytes: offset as u64,
    })
}

/// The first offset after `damaged` where an intact frame starts, if any.
fn next_valid_frame(bytes: &[u8], damaged: usize, record_bytes_max: u32) -> Option<u64> {
    // An intact frame's header is never all zeros, so none starts after the
    // last non-zero byte: a zeroed (preallocated) tail is skipped at once.
    let last_nonzero = damaged + bytes[damaged..].iter().rposition(|&b| b != 0)?;
    let search_end = (last_nonzero + 1).min((bytes.len() + 1).saturating_sub(FRAME_HEADER_BYTES));
    (damaged + 1..search_end)
        .find(|&offset| frame::decode(&bytes[offset..], record_bytes_max).is_ok())
        .map(|offset| offset as u64)
}

/// Cuts the last segment back to its intact frames, durably.
fn open_active<F: VfsFile>(
    file: F,
    path: PathBuf,
    first_seq: u64,
    valid_bytes: u64,
    file_bytes: u64,
) -> Result<Active<F>, LedgerError> {
    assert!(valid_bytes <= file_bytes);
    if file_bytes > valid_bytes {
        file.set_len(valid_bytes)
            .map_err(io_error("truncate", &path))?;
    }
    file.sync_data().map_err(io_error("fdatasync", &path))?;
    let file = Arc::new(file);
    Ok(Active {
        first_seq,
        path,
        file,
        written_bytes: valid_bytes,
        allocated_bytes: valid_bytes,
    })
}

fn corrupt(layout: &Layout, file: PathBuf, offset: u64, reason: CorruptReason) -> LedgerError {
    tracing::error!(file = %file.display(), offset, %reason, "ledger corruption");
    LedgerError::Corrupt {
        data_dir: layout.root.clone(),
        file,
        offset,
        reason,
    }
}
