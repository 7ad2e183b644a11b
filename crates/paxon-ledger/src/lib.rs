//! `paxon-ledger`: the only place where Paxon's replicated state touches
//! the disk — the durable ledger of *The Part-Time Parliament* (§1, each
//! priest's ledger; §3.3.2, the law book that lets old entries go).
//!
//! The ledger is generic: it stores opaque records `(kind: u8, payload)` and
//! opaque snapshots. What the records mean is `paxon-core`'s business.
//!
//! # On disk
//!
//! ```text
//! <dir>/wal/00000000000000000001.wal    segment; name = seq of its first record
//! <dir>/snap/00000000000000000042.snap  snapshot covering records 1..=42
//! ```
//!
//! A segment is a run of frames `[length: u32 LE][crc32c: u32 LE][kind: u8]
//! [payload]`; `length` counts the payload, and the crc32c covers the length
//! bytes, the kind and the payload. Records are numbered 1, 2, 3, … at
//! append; a record's number is its segment's name plus its index in it.
//! The segment being appended to may end in zeros written ahead of the
//! records ([`LedgerConfig::preallocate_bytes`]) so that most `fdatasync`s
//! flush data only; a segment is cut to its exact length when it is sealed.
//! Snapshot files have their own header and checksum (see [`Snapshot`]).
//!
//! # Durability
//!
//! [`Ledger::append`] frames a record in memory; [`Ledger::sync`] writes
//! every framed record and makes them durable with one `fdatasync`
//! (group commit), returning the highest durable sequence number. Creating
//! a segment or renaming a snapshot into place is followed by an `fsync` of
//! the directory before anything depending on it is acknowledged. A failed
//! write or `fdatasync` poisons the ledger: after a failed `fdatasync` the
//! kernel may have dropped the dirty pages, so the only safe way on is to
//! reopen and recover from what the disk holds. [`SharedLedger`] lets many
//! threads share one ledger with leader/follower group commit.
//!
//! # Recovery rules ([`Ledger::open`])
//!
//! 1. The newest snapshot is loaded. A damaged one is corruption: it was
//!    renamed into place only once durable, and the log after it may rely
//!    on it (records written after a snapshot installed from a peer do),
//!    so neither an older snapshot nor the log is a safe fallback. Older
//!    snapshot files are leftovers of an interrupted clean-up.
//! 2. Segments are read in order. Their names must be contiguous: each
//!    starts where the previous one ended. The first must start at or
//!    before the snapshot's seq + 1 (at 1 without a snapshot), and the log
//!    must reach the snapshot's seq.
//! 3. Every segment but the last must consist of intact frames to its last
//!    byte.
//! 4. In the last segment, the first damaged frame (bad checksum, length
//!    beyond `record_bytes_max`, or running past the end of the file) is a
//!    **torn tail** if no intact frame starts anywhere after it: the file is
//!    cut there on disk (those bytes were never acknowledged, since an
//!    acknowledgement follows an `fdatasync` and a crash keeps a prefix of
//!    the unsynced writes). If an intact frame does follow, the damaged
//!    bytes had been followed by later writes, so they are not a torn
//!    write but damaged durable data.
//! 5. Anything else is [`LedgerError::Corrupt`], naming the file and byte
//!    offset, and telling the operator to wipe the data directory and let
//!    the member rejoin. No damaged record is ever skipped.
//!
//! Known limits of rule 4: a bit flip inside the very last record of the
//! last segment cannot be told from a torn write, so that record is cut
//! off even if it had been acknowledged (the peers still hold it: it was
//! acknowledged to a quorum). And a torn last record whose payload happens
//! to contain a well-formed frame is reported as corruption, never skipped.
//!
//! # File layer
//!
//! All I/O goes through the [`Vfs`] and [`VfsFile`] traits: [`StdVfs`] for
//! real files (`pwrite`, `fdatasync` via `File::sync_data`, directory
//! `fsync` by opening the directory), and [`sim::SimVfs`], in memory, whose
//! [`crash`](sim::SimVfs::crash), [`crash_with`](sim::SimVfs::crash_with)
//! and [`flip_bit`](sim::SimVfs::flip_bit) model power loss, torn writes
//! and media decay deterministically for tests and `paxon-sim`.

#![deny(missing_docs)]

mod config;
mod error;
mod frame;
mod layout;
mod ledger;
mod recovery;
mod shared;
pub mod sim;
mod snapshot;
mod vfs;
mod writer;

pub use config::LedgerConfig;
pub use error::{CorruptReason, LedgerError};
pub use frame::FRAME_HEADER_BYTES;
pub use ledger::Ledger;
pub use recovery::{Record, Recovered};
pub use shared::SharedLedger;
pub use snapshot::Snapshot;
pub use vfs::{StdFile, StdVfs, Vfs, VfsFile};
