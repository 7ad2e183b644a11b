//! Snapshot files: the state machine at a sequence number (the law book of
//! §3.3.2), after which the log before it may be dropped.
//!
//! File format, all integers little-endian:
//! ```text
//! [magic "PAXSNAP1": 8][seq: u64][body length: u64][crc32c: u32][body]
//! ```
//! The checksum covers `seq`, `body length` and the body. A snapshot is
//! written to `<seq>.snap.tmp`, `fdatasync`ed, renamed to `<seq>.snap`, and
//! the directory is `fsync`ed; only then is it used or are older ones removed.

use std::fmt;

use crate::error::{io_error, CorruptReason, LedgerError};
use crate::layout::{snapshot_entry, Entry, Layout};
use crate::vfs::{read_all, Vfs, VfsFile};

const MAGIC: [u8; 8] = *b"PAXSNAP1";
/// Bytes before the body.
pub(crate) const SNAPSHOT_HEADER_BYTES: usize = 28;

/// A snapshot read back on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot covers every record with a sequence number up to and
    /// including `seq`.
    pub seq: u64,
    /// The caller's opaque snapshot bytes.
    pub bytes: Vec<u8>,
}

/// Why a snapshot file is damaged.
#[derive(Debug, PartialEq, Eq)]
enum Defect {
    TooShort(u64),
    BadMagic,
    SeqMismatch { header: u64 },
    LengthMismatch { header: u64, actual: u64 },
    TooLarge(u64),
    BadChecksum { stored: u32, computed: u32 },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::TooShort(len) => write!(f, "{len} bytes is shorter than the header"),
            Defect::BadMagic => write!(f, "bad magic"),
            Defect::SeqMismatch { header } => {
                write!(f, "header says seq {header}, the name disagrees")
            }
            Defect::LengthMismatch { header, actual } => {
                write!(f, "header says {header} body bytes, file has {actual}")
            }
            Defect::TooLarge(len) => write!(f, "body of {len} bytes exceeds snapshot_bytes_max"),
            Defect::BadChecksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
        }
    }
}

fn checksum(seq: u64, body: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &(body.len() as u64).to_le_bytes());
    crc32c::crc32c_append(crc, body)
}

fn header(seq: u64, body: &[u8]) -> [u8; SNAPSHOT_HEADER_BYTES] {
    let mut header = [0u8; SNAPSHOT_HEADER_BYTES];
    header[..8].copy_from_slice(&MAGIC);
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    header[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
    header[24..28].copy_from_slice(&checksum(seq, body).to_le_bytes());
    header
}

/// Checks a snapshot file named for `seq` and returns its body.
fn decode(seq: u64, file: &[u8], snapshot_bytes_max: u64) -> Result<&[u8], Defect> {
    let Some((head, body)) = file.split_at_checked(SNAPSHOT_HEADER_BYTES) else {
        return Err(Defect::TooShort(file.len() as u64));
    };
    let word = |range: std::ops::Range<usize>| {
        u64::from_le_bytes(head[range].try_into().unwrap_or([0; 8]))
    };
    if head[..8] != MAGIC {
        return Err(Defect::BadMagic);
    }
    let header_seq = word(8..16);
    let header_len = word(16..24);
    let stored = u32::from_le_bytes([head[24], head[25], head[26], head[27]]);
    if header_seq != seq {
        return Err(Defect::SeqMismatch { header: header_seq });
    }
    if header_len != body.len() as u64 {
        return Err(Defect::LengthMismatch {
            header: header_len,
            actual: body.len() as u64,
        });
    }
    if header_len > snapshot_bytes_max {
        return Err(Defect::TooLarge(header_len));
    }
    let computed = checksum(seq, body);
    if computed != stored {
        return Err(Defect::BadChecksum { stored, computed });
    }
    Ok(body)
}

/// Writes a snapshot durably: temp file, `fdatasync`, rename, `fsync` dir.
pub(crate) fn write<V: Vfs>(
    vfs: &V,
    layout: &Layout,
    seq: u64,
    body: &[u8],
) -> Result<(), LedgerError> {
    let temp = layout.snapshot_temp_path(seq);
    let path = layout.snapshot_path(seq);
    let file = vfs.create(&temp).map_err(io_error("create", &temp))?;
    let head = header(seq, body);
    file.write_at(0, &head).map_err(io_error("write", &temp))?;
    file.write_at(SNAPSHOT_HEADER_BYTES as u64, body)
        .map_err(io_error("write", &temp))?;
    file.sync_data().map_err(io_error("fdatasync", &temp))?;
    assert_eq!(
        file.len().map_err(io_error("stat", &temp))?,
        (SNAPSHOT_HEADER_BYTES + body.len()) as u64
    );
    drop(file);
    vfs.rename(&temp, &path)
        .map_err(io_error("rename", &temp))?;
    vfs.sync_dir(&layout.snap)
        .map_err(io_error("fsync directory", &layout.snap))?;
    tracing::debug!(seq, bytes = body.len(), "snapshot saved");
    Ok(())
}

/// The snapshots on disk, newest last, after removing leftover temp files.
pub(crate) fn list<V: Vfs>(vfs: &V, layout: &Layout) -> Result<Vec<u64>, LedgerError> {
    let names = vfs
        .list_dir(&layout.snap)
        .map_err(io_error("list", &layout.snap))?;
    let mut seqs = Vec::new();
    for name in names {
        match snapshot_entry(&name) {
            Entry::Numbered(seq) => seqs.push(seq),
            Entry::Temporary => {
                let path = layout.snap.join(&name);
                tracing::info!(path = %path.display(), "removing an unfinished snapshot");
                vfs.remove(&path).map_err(io_error("remove", &path))?;
            }
            Entry::Malformed | Entry::Foreign => {
                tracing::warn!(name = %name, dir = %layout.snap.display(), "ignoring a foreign file");
            }
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Loads the newest snapshot among `seqs`; a damaged one is corruption
/// (older files are only leftovers of an interrupted clean-up, and the log
/// after the newest snapshot may rely on it).
pub(crate) fn load_newest<V: Vfs>(
    vfs: &V,
    layout: &Layout,
    seqs: &[u64],
    snapshot_bytes_max: u64,
) -> Result<Option<Snapshot>, LedgerError> {
    let Some(&seq) = seqs.last() else {
        return Ok(None);
    };
    let path = layout.snapshot_path(seq);
    let file = vfs.open(&path).map_err(io_error("open", &path))?;
    let len = file.len().map_err(io_error("stat", &path))?;
    let defect = if len > snapshot_bytes_max.saturating_add(SNAPSHOT_HEADER_BYTES as u64) {
        Defect::TooLarge(len)
    } else {
        let mut bytes = read_all(&file).map_err(io_error("read", &path))?;
        match decode(seq, &bytes, snapshot_bytes_max) {
            Ok(_) => {
                // The body, in place: no second buffer of its size.
                bytes.drain(..SNAPSHOT_HEADER_BYTES);
                return Ok(Some(Snapshot { seq, bytes }));
            }
            Err(defect) => defect,
        }
    };
    let reason = CorruptReason::BadSnapshot(defect.to_string());
    Err(LedgerError::Corrupt {
        data_dir: layout.root.clone(),
        file: path,
        offset: 0,
        reason,
    })
}

/// Removes the snapshots in `seqs` older than `keep`, best effort: a
/// leftover old snapshot is harmless.
pub(crate) fn remove_older<V: Vfs>(vfs: &V, layout: &Layout, seqs: &[u64], keep: u64) {
    for &seq in seqs.iter().filter(|&&seq| seq < keep) {
        let path = layout.snapshot_path(seq);
        if let Err(error) = vfs.remove(&path) {
            tracing::warn!(path = %path.display(), %error, "could not remove an old snapshot");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(seq: u64, body: &[u8]) -> Vec<u8> {
        let mut bytes = header(seq, body).to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn snapshot_file_round_trips() {
        let bytes = file(42, b"law book");
        assert_eq!(bytes.len(), SNAPSHOT_HEADER_BYTES + 8);
        assert_eq!(decode(42, &bytes, 100), Ok(&b"law book"[..]));
    }

    #[test]
    fn every_defect_is_named() {
        let good = file(42, b"law book");
        assert_eq!(decode(42, &good[..10], 100), Err(Defect::TooShort(10)));
        assert_eq!(
            decode(41, &good, 100),
            Err(Defect::SeqMismatch { header: 42 })
        );
        assert_eq!(
            decode(42, &good[..good.len() - 1], 100),
            Err(Defect::LengthMismatch {
                header: 8,
                actual: 7
            })
        );
        assert_eq!(decode(42, &good, 7), Err(Defect::TooLarge(8)));
        let mut flipped = good.clone();
        flipped[SNAPSHOT_HEADER_BYTES] ^= 1;
        assert!(matches!(
            decode(42, &flipped, 100),
            Err(Defect::BadChecksum { .. })
        ));
        let mut magic = good;
        magic[0] = b'X';
        assert_eq!(decode(42, &magic, 100), Err(Defect::BadMagic));
    }
}
