//! Seeded crash schedules on the in-memory file layer: whatever the crash
//! keeps or tears, every acknowledged record comes back, in order, intact,
//! and nothing that was never appended appears. Also: group commit through
//! [`SharedLedger`]. Failures print the seed that replays them.

use std::sync::Arc;

use paxon_ledger::sim::SimVfs;
use paxon_ledger::{Ledger, LedgerConfig, LedgerError, Recovered, SharedLedger};

const DIR: &str = "/node";

fn config() -> LedgerConfig {
    LedgerConfig {
        segment_bytes_max: 256,
        record_bytes_max: 64,
        pending_bytes_max: 4096,
        snapshot_bytes_max: 64,
        preallocate_bytes: 96,
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Record `seq`'s payload: its number, then `seq % 40` filler bytes.
fn payload(seq: u64) -> Vec<u8> {
    let mut bytes = seq.to_le_bytes().to_vec();
    bytes.extend((0..seq % 40).map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8)));
    bytes
}

fn snapshot_bytes(seq: u64) -> Vec<u8> {
    format!("state@{seq}").into_bytes()
}

/// Checks what `open` recovered against what was acknowledged and
/// appended; returns the last sequence number present.
fn check(seed: u64, recovered: &Recovered, acknowledged: u64, appended: u64) -> u64 {
    let covered = match &recovered.snapshot {
        Some(snapshot) => {
            assert_eq!(
                snapshot.bytes,
                snapshot_bytes(snapshot.seq),
                "seed {seed}: snapshot content"
            );
            snapshot.seq
        }
        None => 0,
    };
    for (index, record) in recovered.records.iter().enumerate() {
        assert_eq!(
            record.seq,
            covered + 1 + index as u64,
            "seed {seed}: records follow the snapshot"
        );
        assert_eq!(
            record.kind,
            (record.seq % 5) as u8,
            "seed {seed}: kind of {}",
            record.seq
        );
        assert_eq!(
            record.payload,
            payload(record.seq),
            "seed {seed}: payload of {}",
            record.seq
        );
    }
    let last = covered + recovered.records.len() as u64;
    assert!(
        last >= acknowledged,
        "seed {seed}: lost acknowledged records ({last} < {acknowledged})"
    );
    assert!(
        last <= appended,
        "seed {seed}: invented records ({last} > {appended})"
    );
    last
}

/// One life of the process: appends, syncs, snapshots, trims, maybe a
/// failing disk; returns the highest acknowledged and appended seqs.
fn live(rng: &mut SplitMix64, vfs: &SimVfs, ledger: &mut Ledger<SimVfs>) -> (u64, u64) {
    let mut acknowledged = ledger.durable_seq();
    for _ in 0..rng.below(12) {
        for _ in 0..=rng.below(6) {
            let seq = ledger.last_seq() + 1;
            assert_eq!(
                ledger.append((seq % 5) as u8, &payload(seq)).ok(),
                Some(seq)
            );
        }
        vfs.set_fail_sync_data(rng.below(10) == 0);
        match ledger.sync() {
            Ok(durable) => acknowledged = durable,
            Err(_) => break,
        }
        if rng.below(4) == 0 && acknowledged > ledger.snapshot_seq() {
            let seq = acknowledged - rng.below(acknowledged - ledger.snapshot_seq());
            if ledger.save_snapshot(seq, &snapshot_bytes(seq)).is_err() {
                break;
            }
            if ledger.trim_before(seq + 1).is_err() {
                break;
            }
        }
    }
    vfs.set_fail_sync_data(false);
    (acknowledged, ledger.last_seq())
}

#[test]
fn acknowledged_records_survive_every_seeded_crash() -> Result<(), LedgerError> {
    for seed in 0..300 {
        let mut rng = SplitMix64(seed);
        let vfs = SimVfs::new();
        let mut acknowledged = 0;
        let mut appended = 0;
        for _life in 0..6 {
            let (mut ledger, recovered) = Ledger::open(vfs.clone(), DIR, config())?;
            let last = check(seed, &recovered, acknowledged, appended);
            assert_eq!(ledger.last_seq(), last, "seed {seed}");
            (acknowledged, appended) = live(&mut rng, &vfs, &mut ledger);
            drop(ledger);
            match rng.below(3) {
                0 => vfs.crash(),
                1 => vfs.crash_with(false, rng.next()),
                _ => vfs.crash_with(true, rng.next()),
            }
        }
    }
    Ok(())
}

#[test]
fn appends_before_one_wait_share_one_fdatasync() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let (ledger, _) = Ledger::open(vfs.clone(), DIR, config())?;
    let shared = SharedLedger::new(ledger);
    let syncs_before = vfs.sync_data_count();
    assert_eq!(shared.append(1, b"a")?, 1);
    assert_eq!(shared.append(1, b"b")?, 2);
    assert_eq!(shared.append(1, b"c")?, 3);
    assert_eq!(
        shared.wait_durable(2)?,
        3,
        "the sync covered everything appended"
    );
    assert_eq!(vfs.sync_data_count() - syncs_before, 1);
    assert_eq!(shared.wait_durable(3)?, 3);
    assert_eq!(
        vfs.sync_data_count() - syncs_before,
        1,
        "already durable: no second sync"
    );
    assert!(matches!(
        shared.wait_durable(4),
        Err(LedgerError::NotAppended {
            seq: 4,
            last_seq: 3
        })
    ));
    Ok(())
}

#[test]
fn concurrent_appenders_each_get_their_records_durable_in_their_order() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let (ledger, _) = Ledger::open(vfs.clone(), DIR, config())?;
    let shared = Arc::new(SharedLedger::new(ledger));
    let threads: Vec<_> = (0..8u8)
        .map(|thread| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || -> Result<Vec<u64>, LedgerError> {
                (0..50u8)
                    .map(|i| shared.append_durable(thread, &[thread, i]))
                    .collect()
            })
        })
        .collect();
    let mut all = Vec::new();
    for thread in threads {
        let seqs = thread.join().expect("appender thread")?;
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<u64>>());
    assert_eq!(shared.durable_seq()?, 400);
    drop(shared);
    vfs.crash();
    let (_, recovered) = Ledger::open(vfs.clone(), DIR, config())?;
    assert_eq!(recovered.records.len(), 400);
    for thread in 0..8u8 {
        let order: Vec<u8> = recovered
            .records
            .iter()
            .filter(|r| r.kind == thread)
            .map(|r| r.payload[1])
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<u8>>(), "thread {thread}");
    }
    Ok(())
}

#[test]
fn a_failed_group_sync_fails_every_waiter_and_poisons_the_ledger() -> Result<(), LedgerError> {
    let vfs = SimVfs::new();
    let (ledger, _) = Ledger::open(vfs.clone(), DIR, config())?;
    let shared = SharedLedger::new(ledger);
    shared.append_durable(1, b"ok")?;
    vfs.set_fail_sync_data(true);
    assert!(matches!(
        shared.append_durable(1, b"lost"),
        Err(LedgerError::Io {
            op: "fdatasync",
            ..
        })
    ));
    vfs.set_fail_sync_data(false);
    assert!(matches!(
        shared.append(1, b"after"),
        Err(LedgerError::Poisoned(_))
    ));
    assert!(matches!(shared.sync(), Err(LedgerError::Poisoned(_))));
    Ok(())
}

#[test]
fn appenders_stalled_by_a_full_buffer_and_concurrent_syncs_all_complete() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let vfs = SimVfs::new();
        let config = LedgerConfig {
            pending_bytes_max: 96,
            record_bytes_max: 16,
            ..config()
        };
        let (ledger, _) = Ledger::open(vfs.clone(), DIR, config).expect("open");
        let shared = Arc::new(SharedLedger::new(ledger));
        let mut threads: Vec<_> = (0..8u8)
            .map(|thread| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || -> Result<u64, LedgerError> {
                    for i in 0..200u8 {
                        let seq = shared.append(thread, &[thread, i])?;
                        if i % 3 == 0 {
                            shared.wait_durable(seq)?;
                        }
                    }
                    shared.sync()
                })
            })
            .collect();
        let syncer = Arc::clone(&shared);
        threads.push(std::thread::spawn(move || -> Result<u64, LedgerError> {
            let mut durable = 0;
            for _ in 0..300 {
                durable = syncer.sync()?;
            }
            Ok(durable)
        }));
        for thread in threads {
            thread.join().expect("thread").expect("ledger call");
        }
        done.send(shared.durable_seq().expect("durable"))
            .expect("report");
    });
    let durable = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("no thread may hang");
    assert_eq!(durable, 1600);
}
