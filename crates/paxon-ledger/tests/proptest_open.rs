//! No file content, however mangled, makes `open` panic: arbitrary bytes
//! (and mutated valid frames and snapshots) as segment and snapshot files
//! give `Ok` or `Err`. When `Ok`, recovery is repeatable and the ledger
//! takes new records.

use std::path::{Path, PathBuf};

use paxon_ledger::sim::SimVfs;
use paxon_ledger::{Ledger, LedgerConfig, StdVfs, Vfs, FRAME_HEADER_BYTES};
use proptest::prelude::*;

const DIR: &str = "/d";

fn config() -> LedgerConfig {
    LedgerConfig {
        segment_bytes_max: 512,
        record_bytes_max: 64,
        pending_bytes_max: 4096,
        snapshot_bytes_max: 256,
        preallocate_bytes: 128,
    }
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), &[kind]),
        payload,
    );
    let mut bytes = len.to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(payload);
    assert_eq!(bytes.len(), FRAME_HEADER_BYTES + payload.len());
    bytes
}

fn snapshot(seq: u64, body: &[u8]) -> Vec<u8> {
    let crc = crc32c::crc32c(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &(body.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc, body);
    let mut bytes = b"PAXSNAP1".to_vec();
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Raw noise, or valid content with a few bytes changed and maybe cut.
fn content(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        valid,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        any::<Option<prop::sample::Index>>(),
    )
        .prop_map(|(mut bytes, flips, cut)| {
            for (at, xor) in flips {
                if !bytes.is_empty() {
                    let index = at.index(bytes.len());
                    bytes[index] ^= xor;
                }
            }
            if let Some(cut) = cut {
                let keep = cut.index(bytes.len() + 1);
                bytes.truncate(keep);
            }
            bytes
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..300), mutated]
}

fn segment_content() -> impl Strategy<Value = Vec<u8>> {
    let frames = prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..80)),
        0..8,
    )
    .prop_map(|records| {
        records
            .iter()
            .flat_map(|(kind, payload)| frame(*kind, payload))
            .collect()
    });
    content(frames)
}

fn snapshot_content() -> impl Strategy<Value = (u64, Vec<u8>)> {
    (1..12u64).prop_flat_map(|seq| {
        (
            Just(seq),
            content(
                prop::collection::vec(any::<u8>(), 0..300).prop_map(move |b| snapshot(seq, &b)),
            ),
        )
    })
}

/// Segment names: mostly plausible sequence numbers, sometimes junk.
fn segment_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (1..12u64).prop_map(|seq| format!("{seq:020}.wal")),
        1 => "[0-9]{1,22}\\.wal",
        1 => "[a-z][a-z.]{0,7}",
    ]
}

type Files = (Vec<(String, Vec<u8>)>, Vec<(u64, Vec<u8>)>);

/// A ledger as the ledger itself would leave it (contiguous segments, maybe
/// a snapshot and a trimmed front, maybe a zeroed or torn tail), then
/// damaged in a few bytes.
fn plausible_files() -> impl Strategy<Value = Files> {
    let records = prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)),
        0..6,
    );
    let segments = prop::collection::vec(records, 1..5);
    let damage = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            1..=255u8,
        ),
        0..3,
    );
    let tail = (any::<Option<prop::sample::Index>>(), 0..100usize);
    let snapshot = any::<Option<(prop::sample::Index, bool)>>();
    (segments, damage, tail, snapshot).prop_map(|(segments, damage, (cut, zeros), snapshot)| {
        let mut files = Vec::new();
        let mut next_seq = 1;
        for records in &segments {
            let bytes: Vec<u8> = records
                .iter()
                .flat_map(|(kind, payload)| frame(*kind, payload))
                .collect();
            files.push((next_seq, bytes));
            next_seq += records.len() as u64;
        }
        let mut snapshots = Vec::new();
        if let (Some((at, trim)), true) = (snapshot, next_seq > 1) {
            let seq = 1 + at.index((next_seq - 1) as usize) as u64;
            snapshots.push((seq, snapshot_body(seq)));
            if trim {
                let keep_from = files
                    .iter()
                    .rposition(|(first, _)| *first <= seq + 1)
                    .unwrap_or(0);
                files.drain(..keep_from);
            }
        }
        for (file, at, xor) in damage {
            let index = file.index(files.len());
            let bytes = &mut files[index].1;
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] ^= xor;
            }
        }
        let last = &mut files.last_mut().expect("at least one segment").1;
        if let Some(cut) = cut {
            let keep = cut.index(last.len() + 1);
            last.truncate(keep);
        }
        last.extend(std::iter::repeat_n(0u8, zeros));
        let segments = files
            .into_iter()
            .map(|(first, bytes)| (format!("{first:020}.wal"), bytes))
            .collect();
        (segments, snapshots)
    })
}

fn snapshot_body(seq: u64) -> Vec<u8> {
    snapshot(seq, format!("state@{seq}").as_bytes())
}

fn arbitrary_files() -> impl Strategy<Value = Files> {
    (
        prop::collection::vec((segment_name(), segment_content()), 0..5),
        prop::collection::vec(snapshot_content(), 0..3),
    )
}

fn plant(
    write: impl Fn(&Path, &[u8]),
    segments: &[(String, Vec<u8>)],
    snapshots: &[(u64, Vec<u8>)],
) {
    for (name, bytes) in segments {
        write(&PathBuf::from(DIR).join("wal").join(name), bytes);
    }
    for (seq, bytes) in snapshots {
        write(
            &PathBuf::from(DIR)
                .join("snap")
                .join(format!("{seq:020}.snap")),
            bytes,
        );
    }
}

/// Opens, and if that works, checks that a second open agrees and that a
/// new record lands right after the recovered ones.
fn open_twice<V: Vfs>(vfs: V, dir: &Path) -> Result<(), TestCaseError> {
    let Ok((ledger, first)) = Ledger::open(vfs.clone(), dir, config()) else {
        return Ok(());
    };
    let last = first.snapshot.as_ref().map_or(0, |s| s.seq) + first.records.len() as u64;
    prop_assert_eq!(ledger.last_seq(), last);
    for (index, record) in first.records.iter().enumerate() {
        prop_assert_eq!(
            record.seq,
            last + 1 + index as u64 - first.records.len() as u64
        );
    }
    drop(ledger);
    let (mut ledger, second) =
        Ledger::open(vfs.clone(), dir, config()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&second, &first);
    prop_assert_eq!(ledger.append(9, b"after").ok(), Some(last + 1));
    prop_assert_eq!(ledger.sync().ok(), Some(last + 1));
    drop(ledger);
    let (_, third) =
        Ledger::open(vfs, dir, config()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(third.records.len(), first.records.len() + 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn open_never_panics_on_arbitrary_files_in_memory(
        (segments, snapshots) in prop_oneof![plausible_files(), arbitrary_files()],
    ) {
        let vfs = SimVfs::new();
        plant(|path, bytes| vfs.put_file(path, bytes).expect("plant"), &segments, &snapshots);
        open_twice(vfs, Path::new(DIR))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn open_never_panics_on_arbitrary_real_files(
        (segments, snapshots) in prop_oneof![plausible_files(), arbitrary_files()],
    ) {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().join("d");
        for sub in ["wal", "snap"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let write = |path: &Path, bytes: &[u8]| {
            let relative = path.strip_prefix(DIR).expect("under DIR");
            std::fs::write(root.join(relative), bytes).expect("write");
        };
        plant(write, &segments, &snapshots);
        open_twice(StdVfs, &root)?;
    }
}
