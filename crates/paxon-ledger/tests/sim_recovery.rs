//! The recovery rules, proved on the in-memory file layer: what a crash,
//! a torn write or a flipped bit leaves behind, and what `open` makes of it.

use std::path::{Path, PathBuf};

use paxon_ledger::sim::SimVfs;
use paxon_ledger::{
    CorruptReason, Ledger, LedgerConfig, LedgerError, Record, Recovered, Snapshot, Vfs,
};

const DIR: &str = "/data";
/// Every test record has a 10-byte payload: a 19-byte frame.
const FRAME: u64 = 19;

/// Three 19-byte frames fill a 64-byte segment.
fn config() -> LedgerConfig {
    LedgerConfig {
        segment_bytes_max: 64,
        record_bytes_max: 16,
        pending_bytes_max: 1024,
        snapshot_bytes_max: 1024,
        preallocate_bytes: 0,
    }
}

fn open(vfs: &SimVfs) -> Result<(Ledger<SimVfs>, Recovered), LedgerError> {
    Ledger::open(vfs.clone(), DIR, config())
}

fn segment(first_seq: u64) -> PathBuf {
    PathBuf::from(format!("{DIR}/wal/{first_seq:020}.wal"))
}

fn snapshot_file(seq: u64) -> PathBuf {
    PathBuf::from(format!("{DIR}/snap/{seq:020}.snap"))
}

/// The 10-byte payload of record `seq`.
fn payload(seq: u64) -> Vec<u8> {
    format!("record{seq:04}").into_bytes()
}

fn record(seq: u64) -> Record {
    Record {
        seq,
        kind: (seq % 3) as u8,
        payload: payload(seq),
    }
}

fn records(seqs: std::ops::RangeInclusive<u64>) -> Vec<Record> {
    seqs.map(record).collect()
}

/// Appends what [`record`] expects at `seq`.
fn append(ledger: &mut Ledger<SimVfs>, seq: u64) -> Result<u64, LedgerError> {
    ledger.append((seq % 3) as u8, &payload(seq))
}

/// A ledger holding records `1..=count`, synced.
fn ledger_with(vfs: &SimVfs, count: u64) -> Result<Ledger<SimVfs>, LedgerError> {
    let (mut ledger, _) = open(vfs)?;
    for seq in 1..=count {
        assert_eq!(append(&mut ledger, seq)?, seq);
    }
    assert_eq!(ledger.sync()?, count);
    Ok(ledger)
}

fn wal_names(vfs: &SimVfs) -> Vec<String> {
    vfs.list_dir(Path::new("/data/wal"))
        .expect("wal dir exists")
}

fn file_len(vfs: &SimVfs, path: &Path) -> u64 {
    vfs.read_file(path).expect("file exists").len() as u64
}

#[test]
fn records_come_back_in_order_with_their_sequence_numbers() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let (mut ledger, recovered) = open(&vfs)?;
    assert_eq!(recovered, Recovered::default());
    assert_eq!(ledger.append(7, b"promise")?, 1);
    assert_eq!(ledger.append(8, b"")?, 2);
    assert_eq!(ledger.durable_seq(), 0);
    assert_eq!(ledger.sync()?, 2);
    drop(ledger);
    let (ledger, recovered) = open(&vfs)?;
    let expected = vec![
        Record {
            seq: 1,
            kind: 7,
            payload: b"promise".to_vec(),
        },
        Record {
            seq: 2,
            kind: 8,
            payload: Vec::new(),
        },
    ];
    assert_eq!(
        recovered,
        Recovered {
            snapshot: None,
            records: expected
        }
    );
    assert_eq!(
        (ledger.last_seq(), ledger.durable_seq(), ledger.first_seq()),
        (2, 2, 1)
    );
    Ok(())
}

#[test]
fn segments_roll_before_exceeding_segment_bytes_max() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 7)?);
    let names = [
        "00000000000000000001.wal",
        "00000000000000000004.wal",
        "00000000000000000007.wal",
    ];
    assert_eq!(wal_names(&vfs), names);
    assert_eq!(file_len(&vfs, &segment(1)), 3 * FRAME);
    assert_eq!(file_len(&vfs, &segment(4)), 3 * FRAME);
    assert_eq!(file_len(&vfs, &segment(7)), FRAME);
    assert_eq!(open(&vfs)?.1.records, records(1..=7));
    Ok(())
}

#[test]
fn preallocated_zeros_are_cut_off_on_open_and_at_roll() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let config = LedgerConfig {
        preallocate_bytes: 32,
        ..config()
    };
    let (mut ledger, _) = Ledger::open(vfs.clone(), DIR, config.clone())?;
    ledger.append(1, &payload(1))?;
    ledger.sync()?;
    assert_eq!(file_len(&vfs, &segment(1)), 32);
    ledger.append(2, &payload(2))?;
    ledger.sync()?;
    assert_eq!(file_len(&vfs, &segment(1)), 64);
    for seq in 3..=4 {
        ledger.append(seq as u8, &payload(seq))?;
    }
    ledger.sync()?;
    assert_eq!(
        file_len(&vfs, &segment(1)),
        3 * FRAME,
        "sealed at its exact length"
    );
    assert_eq!(file_len(&vfs, &segment(4)), 32);
    drop(ledger);
    let (_, recovered) = Ledger::open(vfs.clone(), DIR, config)?;
    assert_eq!(recovered.records.len(), 4);
    assert_eq!(file_len(&vfs, &segment(4)), FRAME, "zeros cut off on open");
    Ok(())
}

#[test]
fn crash_drops_writes_whose_fdatasync_failed_and_the_ledger_refuses_to_go_on(
) -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let mut ledger = ledger_with(&vfs, 2)?;
    vfs.set_fail_sync_data(true);
    assert_eq!(append(&mut ledger, 3)?, 3);
    let error = ledger.sync().unwrap_err();
    assert!(matches!(&error, LedgerError::Io { op: "fdatasync", path, .. } if *path == segment(1)));
    assert!(matches!(
        ledger.append(1, &payload(4)),
        Err(LedgerError::Poisoned(_))
    ));
    assert_eq!(
        file_len(&vfs, &segment(1)),
        3 * FRAME,
        "written, not durable"
    );
    vfs.set_fail_sync_data(false);
    vfs.crash();
    assert_eq!(file_len(&vfs, &segment(1)), 2 * FRAME);
    let (mut ledger, recovered) = open(&vfs)?;
    assert_eq!(recovered.records, records(1..=2));
    assert_eq!(append(&mut ledger, 3)?, 3);
    Ok(())
}

#[test]
fn seeded_torn_crashes_keep_a_prefix_and_open_cuts_the_torn_frame() -> Result<(), LedgerError> {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let vfs = SimVfs::new();
        let mut ledger = ledger_with(&vfs, 2)?;
        vfs.set_fail_sync_data(true);
        append(&mut ledger, 3)?;
        assert!(ledger.sync().is_err());
        vfs.set_fail_sync_data(false);
        vfs.crash_with(true, seed);
        let torn_len = file_len(&vfs, &segment(1));
        let (mut ledger, recovered) = open(&vfs)?;
        let kept = recovered.records.len() as u64;
        assert_eq!(recovered.records, records(1..=kept), "seed {seed}");
        assert!(kept == 2 || kept == 3, "seed {seed}");
        assert_eq!(file_len(&vfs, &segment(1)), kept * FRAME, "seed {seed}");
        outcomes.insert((kept, torn_len == kept * FRAME));
        assert_eq!(append(&mut ledger, kept + 1)?, kept + 1, "seed {seed}");
        ledger.sync()?;
        assert_eq!(open(&vfs)?.1.records, records(1..=kept + 1), "seed {seed}");
    }
    let expected = [(2, false), (2, true), (3, true)].into_iter().collect();
    assert_eq!(outcomes, expected, "lost, torn and landed writes all occur");
    Ok(())
}

#[test]
fn torn_and_zeroed_tails_are_cut_off_on_disk() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 3)?);
    let bytes = vfs.read_file(&segment(1)).expect("segment");
    for tail in [
        bytes[2 * FRAME as usize..50].to_vec(),
        vec![0u8; 100],
        vec![0u8; 4],
    ] {
        let mut torn = bytes[..2 * FRAME as usize].to_vec();
        torn.extend_from_slice(&tail);
        vfs.put_file(&segment(1), &torn).expect("plant");
        let (_, recovered) = open(&vfs)?;
        assert_eq!(recovered.records, records(1..=2));
        assert_eq!(file_len(&vfs, &segment(1)), 2 * FRAME);
    }
    Ok(())
}

#[test]
fn bit_flip_in_the_middle_of_the_last_segment_is_corruption() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 3)?);
    vfs.flip_bit(&segment(1), 11, 0).expect("flip"); // a payload byte of record 1
    let error = open(&vfs).err().expect("corruption");
    let LedgerError::Corrupt {
        file,
        offset,
        reason,
        data_dir,
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(
        (file, *offset, data_dir),
        (&segment(1), 0, &PathBuf::from(DIR))
    );
    let CorruptReason::DamageBeforeValidFrame {
        damage,
        valid_offset,
    } = reason
    else {
        panic!("{reason}")
    };
    assert!(matches!(**damage, CorruptReason::BadChecksum { .. }));
    assert_eq!(*valid_offset, FRAME);
    assert_eq!(
        file_len(&vfs, &segment(1)),
        3 * FRAME,
        "nothing was truncated"
    );
    Ok(())
}

#[test]
fn flipped_length_bit_mid_log_is_corruption_naming_the_length() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 3)?);
    vfs.flip_bit(&segment(1), FRAME, 7).expect("flip"); // length of record 2: 10 -> 138
    let Err(LedgerError::Corrupt { offset, reason, .. }) = open(&vfs) else {
        panic!("expected corruption")
    };
    assert_eq!(offset, FRAME);
    let expected = CorruptReason::DamageBeforeValidFrame {
        damage: Box::new(CorruptReason::LengthTooLarge { len: 138, max: 16 }),
        valid_offset: 2 * FRAME,
    };
    assert_eq!(reason, expected);
    Ok(())
}

#[test]
fn bit_flip_in_the_last_record_of_the_last_segment_is_treated_as_a_torn_tail(
) -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 3)?);
    vfs.flip_bit(&segment(1), 2 * FRAME + 12, 3).expect("flip");
    let (_, recovered) = open(&vfs)?;
    assert_eq!(recovered.records, records(1..=2));
    assert_eq!(file_len(&vfs, &segment(1)), 2 * FRAME);
    Ok(())
}

#[test]
fn bit_flip_in_a_sealed_segment_is_corruption_even_in_its_last_record() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 4)?);
    vfs.flip_bit(&segment(1), 2 * FRAME + 12, 3).expect("flip");
    let Err(LedgerError::Corrupt {
        file,
        offset,
        reason,
        ..
    }) = open(&vfs)
    else {
        panic!("expected corruption")
    };
    assert_eq!((file, offset), (segment(1), 2 * FRAME));
    assert!(matches!(reason, CorruptReason::BadChecksum { .. }));
    Ok(())
}

#[test]
fn missing_middle_segment_is_a_sequence_gap_with_an_operator_message() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 7)?);
    vfs.remove(&segment(4)).expect("remove");
    let error = open(&vfs).err().expect("corruption");
    assert_eq!(
        error.to_string(),
        "ledger corruption in /data/wal/00000000000000000007.wal at byte 0: sequence gap: expected \
         the segment to start at seq 4, its name says 7. The data directory is damaged and cannot be \
         trusted: wipe /data and rejoin the member to the cluster, which will send it a snapshot and \
         the log it is missing"
    );
    Ok(())
}

#[test]
fn missing_first_segment_without_a_snapshot_is_corruption() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 7)?);
    vfs.remove(&segment(1)).expect("remove");
    let Err(LedgerError::Corrupt { reason, .. }) = open(&vfs) else {
        panic!("expected corruption")
    };
    assert_eq!(
        reason,
        CorruptReason::LogAfterSnapshotGap {
            first_seq: 4,
            covered: 0
        }
    );
    Ok(())
}

#[test]
fn snapshot_then_trim_drops_whole_segments_and_open_returns_what_follows() -> Result<(), LedgerError>
{
    let vfs = SimVfs::new();
    let mut ledger = ledger_with(&vfs, 7)?;
    ledger.save_snapshot(5, b"state@5")?;
    assert_eq!(ledger.trim_before(6)?, 1, "segment 4 still holds record 6");
    assert_eq!(
        wal_names(&vfs),
        ["00000000000000000004.wal", "00000000000000000007.wal"]
    );
    assert_eq!(ledger.first_seq(), 4);
    drop(ledger);
    let (ledger, recovered) = open(&vfs)?;
    let snapshot = Snapshot {
        seq: 5,
        bytes: b"state@5".to_vec(),
    };
    assert_eq!(
        recovered,
        Recovered {
            snapshot: Some(snapshot),
            records: records(6..=7)
        }
    );
    assert_eq!(
        (ledger.snapshot_seq(), ledger.first_seq(), ledger.last_seq()),
        (5, 4, 7)
    );
    Ok(())
}

#[test]
fn snapshots_and_trims_that_would_lose_records_are_refused() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let mut ledger = ledger_with(&vfs, 7)?;
    ledger.append(0, &payload(8))?;
    assert!(matches!(
        ledger.save_snapshot(8, b"x"),
        Err(LedgerError::SnapshotAhead {
            seq: 8,
            durable_seq: 7
        })
    ));
    assert!(matches!(
        ledger.trim_before(2),
        Err(LedgerError::TrimBeyondSnapshot { seq: 2, covered: 0 })
    ));
    ledger.save_snapshot(5, b"x")?;
    assert!(matches!(
        ledger.save_snapshot(5, b"y"),
        Err(LedgerError::SnapshotNotNewer { seq: 5, newest: 5 })
    ));
    assert!(matches!(
        ledger.trim_before(7),
        Err(LedgerError::TrimBeyondSnapshot { seq: 7, covered: 5 })
    ));
    let big = vec![0u8; 1025];
    assert!(matches!(
        ledger.save_snapshot(7, &big),
        Err(LedgerError::SnapshotTooLarge {
            len: 1025,
            max: 1024
        })
    ));
    assert!(matches!(
        ledger.append(0, &[0u8; 17]),
        Err(LedgerError::RecordTooLarge { len: 17, max: 16 })
    ));
    Ok(())
}

#[test]
fn a_new_snapshot_replaces_the_old_one() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let mut ledger = ledger_with(&vfs, 7)?;
    ledger.save_snapshot(3, b"state@3")?;
    ledger.save_snapshot(5, b"state@5")?;
    let names = vfs.list_dir(Path::new("/data/snap")).expect("snap dir");
    assert_eq!(names, ["00000000000000000005.snap"]);
    Ok(())
}

#[test]
fn a_damaged_newest_snapshot_is_corruption_even_with_an_older_valid_one() -> Result<(), LedgerError>
{
    let vfs = SimVfs::new();
    let mut ledger = ledger_with(&vfs, 7)?;
    ledger.save_snapshot(3, b"state@3")?;
    drop(ledger);
    vfs.put_file(&snapshot_file(6), b"PAXSNAP1 but not really")
        .expect("plant");
    let Err(LedgerError::Corrupt { file, reason, .. }) = open(&vfs) else {
        panic!("a damaged newest snapshot must not be skipped")
    };
    assert_eq!(file, snapshot_file(6));
    assert_eq!(
        reason.to_string(),
        "damaged snapshot: 23 bytes is shorter than the header"
    );
    Ok(())
}

#[test]
fn a_damaged_only_snapshot_after_trim_is_corruption_not_silent_loss() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let mut ledger = ledger_with(&vfs, 7)?;
    ledger.save_snapshot(5, b"state@5")?;
    ledger.trim_before(6)?;
    drop(ledger);
    vfs.flip_bit(&snapshot_file(5), 30, 0).expect("flip");
    let Err(LedgerError::Corrupt { file, reason, .. }) = open(&vfs) else {
        panic!("expected corruption")
    };
    assert_eq!(file, snapshot_file(5));
    assert!(matches!(reason, CorruptReason::BadSnapshot(_)), "{reason}");
    Ok(())
}

#[test]
fn a_snapshot_beyond_the_end_of_the_log_is_corruption() -> Result<(), LedgerError> {
    let other = SimVfs::new();
    ledger_with(&other, 9)?.save_snapshot(9, b"state@9")?;
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 7)?);
    vfs.put_file(
        &snapshot_file(9),
        &other.read_file(&snapshot_file(9)).expect("snapshot"),
    )
    .expect("plant");
    let Err(LedgerError::Corrupt { reason, .. }) = open(&vfs) else {
        panic!("expected corruption")
    };
    assert_eq!(
        reason,
        CorruptReason::SnapshotAheadOfLog {
            snapshot_seq: 9,
            log_end: 7
        }
    );
    for seq in [1, 4, 7] {
        vfs.remove(&segment(seq)).expect("remove");
    }
    let Err(LedgerError::Corrupt { reason, .. }) = open(&vfs) else {
        panic!("expected corruption")
    };
    assert_eq!(reason, CorruptReason::MissingLog);
    Ok(())
}

#[test]
fn a_malformed_segment_name_is_corruption_and_foreign_files_are_ignored() -> Result<(), LedgerError>
{
    let vfs = SimVfs::new();
    drop(ledger_with(&vfs, 2)?);
    vfs.put_file(Path::new("/data/wal/README"), b"hello")
        .expect("plant");
    assert_eq!(open(&vfs)?.1.records, records(1..=2));
    vfs.put_file(Path::new("/data/wal/12.wal"), b"")
        .expect("plant");
    let Err(LedgerError::Corrupt { file, reason, .. }) = open(&vfs) else {
        panic!("expected corruption")
    };
    assert_eq!(
        (file, reason),
        (
            PathBuf::from("/data/wal/12.wal"),
            CorruptReason::BadFileName
        )
    );
    Ok(())
}
