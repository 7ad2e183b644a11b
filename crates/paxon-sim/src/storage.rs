//! A replica's disk in the simulator: the real `paxon-ledger` running on
//! the in-memory `SimVfs`, so lost and torn unsynced writes, recovery and
//! bit flips go through the very code the server runs.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use paxon_core::codec::{decode_record, decode_records, encode_record, encode_records};
use paxon_core::{PersistToken, PersistedState, Record, Rng};
use paxon_ledger::sim::SimVfs;
use paxon_ledger::{Ledger, LedgerConfig};

use crate::kv::Store;

const DIR: &str = "/member";

/// One replica's disk and the ledger open on it (none while down).
pub struct Storage {
    vfs: SimVfs,
    ledger: Option<Ledger<SimVfs>>,
    /// Persist tokens appended and not yet durable, with their last record.
    appended: VecDeque<(PersistToken, u64)>,
    /// Records appended and not yet durable, by sequence number.
    unsynced: VecDeque<(u64, Record)>,
    /// What is known durable (for the checkers): folded synced records.
    pub durable: PersistedState,
    /// Highest token made durable.
    pub durable_token: PersistToken,
}

/// What a replica restarts from.
pub struct Recovered {
    /// Promise, votes, commit point.
    pub state: PersistedState,
    /// The state machine at `state.snapshot`.
    pub store: Store,
}

fn ledger_config() -> LedgerConfig {
    LedgerConfig {
        segment_bytes_max: 32 * 1024,
        record_bytes_max: 8 * 1024,
        preallocate_bytes: 0,
        ..LedgerConfig::default()
    }
}

impl Storage {
    /// An empty disk.
    pub fn new() -> Storage {
        Storage {
            vfs: SimVfs::new(),
            ledger: None,
            appended: VecDeque::new(),
            unsynced: VecDeque::new(),
            durable: PersistedState::default(),
            durable_token: PersistToken(0),
        }
    }

    /// Opens the ledger and recovers the replica's state; an error means
    /// the ledger is damaged and the replica must refuse to start.
    pub fn open(&mut self) -> Result<Recovered, String> {
        let (ledger, recovered) =
            Ledger::open(self.vfs.clone(), DIR, ledger_config()).map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut store = Store::default();
        if let Some(snapshot) = &recovered.snapshot {
            let (core, kv) = decode_snapshot(&snapshot.bytes)?;
            records.extend(core);
            store = kv;
        }
        for record in &recovered.records {
            records.push(decode_record(record.kind, &record.payload).map_err(|e| e.to_string())?);
        }
        let state = if recovered.snapshot.is_none() && recovered.records.is_empty() {
            PersistedState::empty_disk()
        } else {
            PersistedState::replay(&records)
        };
        self.ledger = Some(ledger);
        self.appended.clear();
        self.unsynced.clear();
        self.durable = state.clone();
        self.durable_token = PersistToken(0);
        Ok(Recovered { state, store })
    }

    fn ledger(&mut self) -> &mut Ledger<SimVfs> {
        self.ledger
            .as_mut()
            .expect("the ledger is open while the replica runs")
    }

    /// Appends the records of one `Persist` (written at the next sync).
    pub fn append(&mut self, token: PersistToken, records: Vec<Record>) {
        let mut payload = Vec::new();
        let mut last = self.ledger().last_seq();
        for record in records {
            payload.clear();
            let kind = encode_record(&record, &mut payload);
            last = self
                .ledger()
                .append(kind, &payload)
                .expect("sim ledger append");
            self.unsynced.push_back((last, record));
        }
        self.appended.push_back((token, last));
    }

    /// Whether anything waits for a sync.
    pub fn has_unsynced(&self) -> bool {
        !self.appended.is_empty()
    }

    /// One group commit: everything appended becomes durable. Returns the
    /// highest token now durable, if it moved.
    pub fn sync(&mut self) -> Option<PersistToken> {
        let durable_seq = self.ledger().sync().expect("sim ledger sync");
        while let Some((seq, _)) = self.unsynced.front() {
            if *seq > durable_seq {
                break;
            }
            let (_, record) = self.unsynced.pop_front().expect("front exists");
            self.durable.apply(&record);
        }
        let before = self.durable_token;
        while let Some((token, last)) = self.appended.front().copied() {
            if last > durable_seq {
                break;
            }
            self.appended.pop_front();
            self.durable_token = token;
        }
        (self.durable_token > before).then_some(self.durable_token)
    }

    /// Saves the law book: the state machine through `slot` and the core's
    /// records, then drops the ledger it makes unnecessary. Everything
    /// appended must be durable first.
    pub fn save_snapshot(&mut self, store: &Store, core: &[Record]) {
        assert!(self.appended.is_empty(), "snapshot with unsynced records");
        if self.ledger().last_seq() <= self.ledger().snapshot_seq() {
            // A snapshot covers a new record; with none since the last
            // one, write the commit point again to get one.
            let commit = core.iter().find(|r| matches!(r, Record::Commit { .. }));
            let mut payload = Vec::new();
            let kind = encode_record(
                commit.expect("snapshot records hold the commit"),
                &mut payload,
            );
            self.ledger()
                .append(kind, &payload)
                .expect("sim ledger append");
            self.ledger().sync().expect("sim ledger sync");
        }
        let seq = self.ledger().last_seq();
        let bytes = encode_snapshot(core, store);
        self.ledger()
            .save_snapshot(seq, &bytes)
            .expect("sim snapshot");
        self.ledger().trim_before(seq + 1).expect("sim trim");
        self.durable = PersistedState::replay(core);
    }

    /// Power loss: the ledger in memory is gone; the disk keeps what was
    /// synced, plus (when `torn`) a torn prefix of the rest.
    pub fn crash(&mut self, torn: bool, rng: &mut Rng) {
        self.ledger = None;
        self.appended.clear();
        self.unsynced.clear();
        if torn {
            self.vfs.crash_with(true, rng.next_u64());
        } else {
            self.vfs.crash();
        }
    }

    /// Media decay: flips one bit in a sealed segment or a snapshot (never
    /// in the last segment, whose damaged tail is taken for a torn write).
    /// Returns the file and offset, or `None` when there is no such file.
    pub fn flip_bit(&mut self, rng: &mut Rng) -> Option<(PathBuf, u64)> {
        let mut candidates = self.files_under(&Path::new(DIR).join("wal"));
        candidates.pop();
        candidates.extend(self.files_under(&Path::new(DIR).join("snap")));
        if candidates.is_empty() {
            return None;
        }
        let path = candidates[rng.range(0, candidates.len() as u64) as usize].clone();
        let len = self.vfs.read_file(&path).ok()?.len() as u64;
        if len == 0 {
            return None;
        }
        let offset = rng.range(0, len);
        let bit = rng.range(0, 8) as u8;
        self.vfs.flip_bit(&path, offset, bit).ok()?;
        Some((path, offset))
    }

    fn files_under(&self, dir: &Path) -> Vec<PathBuf> {
        use paxon_ledger::Vfs;
        let mut names = self.vfs.list_dir(dir).unwrap_or_default();
        names.sort();
        names.into_iter().map(|name| dir.join(name)).collect()
    }
}

impl Default for Storage {
    fn default() -> Storage {
        Storage::new()
    }
}

/// The core's records (`paxon_core::codec::encode_records`), then the
/// store in `paxon-kv`'s snapshot format: the server's layout.
fn encode_snapshot(core: &[Record], store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    encode_records(core, &mut out);
    out.extend_from_slice(&store.snapshot());
    out
}

fn decode_snapshot(bytes: &[u8]) -> Result<(Vec<Record>, Store), String> {
    let (core, kv) = decode_records(bytes).map_err(|e| e.to_string())?;
    Ok((core, Store::restore(kv)?))
}
