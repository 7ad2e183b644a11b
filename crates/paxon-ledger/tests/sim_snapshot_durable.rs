//! A saved snapshot survives any crash that follows it.

use paxon_ledger::sim::SimVfs;
use paxon_ledger::{Ledger, LedgerConfig};

fn config() -> LedgerConfig {
    LedgerConfig {
        segment_bytes_max: 32 * 1024,
        record_bytes_max: 8 * 1024,
        preallocate_bytes: 0,
        ..LedgerConfig::default()
    }
}

#[test]
fn snapshot_saved_before_a_torn_crash_is_found_on_reopen() {
    for seed in 0..500u64 {
        let vfs = SimVfs::new();
        let (mut ledger, _) = Ledger::open(vfs.clone(), "/member", config()).unwrap();
        for i in 0..(seed % 40 + 5) {
            ledger.append(1, &i.to_le_bytes()).unwrap();
        }
        ledger.sync().unwrap();
        let seq = ledger.last_seq();
        ledger.save_snapshot(seq, b"law book").unwrap();
        ledger.trim_before(seq + 1).unwrap();
        ledger.append(2, b"after").unwrap();
        drop(ledger);
        vfs.crash_with(true, seed);
        let (_, recovered) = Ledger::open(vfs.clone(), "/member", config()).unwrap();
        let snapshot = recovered
            .snapshot
            .unwrap_or_else(|| panic!("seed {seed}: snapshot lost"));
        assert_eq!(snapshot.seq, seq, "seed {seed}");
        assert_eq!(snapshot.bytes, b"law book");
    }
}
