//! Where things live under the data directory, and what their names mean.
//!
//! ```text
//! <dir>/wal/00000000000000000001.wal   segment; name = seq of its first record
//! <dir>/snap/00000000000000000042.snap snapshot covering records 1..=42
//! <dir>/snap/00000000000000000042.snap.tmp  snapshot being written
//! ```

use std::path::PathBuf;

const NAME_DIGITS: usize = 20;
/// Largest sequence number a file name may carry: far beyond any real log,
/// and far enough from `u64::MAX` that counting records past it cannot
/// overflow.
pub(crate) const SEQ_MAX: u64 = 1 << 62;
const SEGMENT_SUFFIX: &str = ".wal";
const SNAPSHOT_SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".tmp";

/// The ledger's directories.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// The data directory given to `open`.
    pub root: PathBuf,
    /// Segments.
    pub wal: PathBuf,
    /// Snapshots.
    pub snap: PathBuf,
}

/// What a directory entry is, judged by its name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A file the ledger writes, numbered by sequence.
    Numbered(u64),
    /// A leftover temporary file from an interrupted write.
    Temporary,
    /// Carries the ledger's suffix but not a valid number.
    Malformed,
    /// Not one of the ledger's files.
    Foreign,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Layout {
            wal: root.join("wal"),
            snap: root.join("snap"),
            root,
        }
    }

    pub fn segment_path(&self, first_seq: u64) -> PathBuf {
        self.wal
            .join(format!("{first_seq:0NAME_DIGITS$}{SEGMENT_SUFFIX}"))
    }

    pub fn snapshot_path(&self, seq: u64) -> PathBuf {
        self.snap
            .join(format!("{seq:0NAME_DIGITS$}{SNAPSHOT_SUFFIX}"))
    }

    pub fn snapshot_temp_path(&self, seq: u64) -> PathBuf {
        self.snap
            .join(format!("{seq:0NAME_DIGITS$}{SNAPSHOT_SUFFIX}{TEMP_SUFFIX}"))
    }
}

/// Classifies an entry of `wal/`.
pub(crate) fn segment_entry(name: &str) -> Entry {
    numbered(name, SEGMENT_SUFFIX)
}

/// Classifies an entry of `snap/`.
pub(crate) fn snapshot_entry(name: &str) -> Entry {
    if name.ends_with(TEMP_SUFFIX) && name.contains(SNAPSHOT_SUFFIX) {
        return Entry::Temporary;
    }
    numbered(name, SNAPSHOT_SUFFIX)
}

fn numbered(name: &str, suffix: &str) -> Entry {
    let Some(stem) = name.strip_suffix(suffix) else {
        return Entry::Foreign;
    };
    if stem.len() != NAME_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return Entry::Malformed;
    }
    match stem.parse::<u64>() {
        Ok(seq) if seq > 0 && seq <= SEQ_MAX => Entry::Numbered(seq),
        _ => Entry::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_zero_padded_sequence_numbers() {
        let layout = Layout::new(PathBuf::from("/d"));
        assert_eq!(
            layout.segment_path(1),
            PathBuf::from("/d/wal/00000000000000000001.wal")
        );
        assert_eq!(
            layout.snapshot_path(42),
            PathBuf::from("/d/snap/00000000000000000042.snap")
        );
        assert_eq!(
            layout.snapshot_temp_path(42),
            PathBuf::from("/d/snap/00000000000000000042.snap.tmp")
        );
    }

    #[test]
    fn entries_are_classified_by_name() {
        assert_eq!(
            segment_entry("00000000000000000007.wal"),
            Entry::Numbered(7)
        );
        assert_eq!(segment_entry("00000000000000000000.wal"), Entry::Malformed);
        assert_eq!(segment_entry("7.wal"), Entry::Malformed);
        assert_eq!(segment_entry("99999999999999999999.wal"), Entry::Malformed);
        assert_eq!(segment_entry("notes.txt"), Entry::Foreign);
        assert_eq!(
            snapshot_entry("00000000000000000042.snap.tmp"),
            Entry::Temporary
        );
        assert_eq!(
            snapshot_entry("00000000000000000042.snap"),
            Entry::Numbered(42)
        );
    }
}
