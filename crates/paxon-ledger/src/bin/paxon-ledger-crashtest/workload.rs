//! The kill -9 workload's record and snapshot formats and its state
//! machine, shared by the child process and the parent test
//! (`tests/kill9.rs` includes this file).
//!
//! Appender thread `t` writes records `(t, 1)`, `(t, 2)`, … and appends the
//! next only once the previous one is durable. The state machine is, per
//! thread, the highest counter applied; applying in log order, each
//! thread's counter must go up by exactly one, so a lost, duplicated,
//! reordered or invented record is caught.

use paxon_ledger::{LedgerConfig, Recovered};

/// Appender threads in the child.
pub const THREADS: usize = 4;
/// The child snapshots (and trims) every this many applied records.
pub const SNAPSHOT_EVERY_RECORDS: u64 = 300;
const FILLER_BYTES_MAX: u64 = 200;

/// Small segments and preallocation so that rolls, trims and zeroed tails
/// happen within a few milliseconds.
pub fn config() -> LedgerConfig {
    LedgerConfig {
        segment_bytes_max: 32 * 1024,
        record_bytes_max: 4096,
        pending_bytes_max: 1024 * 1024,
        snapshot_bytes_max: 4096,
        preallocate_bytes: 8 * 1024,
    }
}

fn filler(seed: u64, len: u64) -> impl Iterator<Item = u8> {
    (0..len).map(move |i| (seed.wrapping_mul(0x9e37_79b9).wrapping_add(i * 131) >> 3) as u8)
}

/// Record `(thread, counter)`: `[thread][counter u64 LE][filler]`, with a
/// filler length that varies with the counter.
pub fn payload(thread: u8, counter: u64) -> Vec<u8> {
    let mut bytes = vec![thread];
    bytes.extend_from_slice(&counter.to_le_bytes());
    let seed = counter * 8 + u64::from(thread);
    bytes.extend(filler(seed, seed % FILLER_BYTES_MAX));
    bytes
}

/// Decodes and checks a record; returns `(thread, counter)`.
pub fn decode_payload(kind: u8, bytes: &[u8]) -> Result<(u8, u64), String> {
    let (&thread, rest) = bytes.split_first().ok_or("empty payload")?;
    let counter = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or("short payload")?;
    if kind != thread || usize::from(thread) >= THREADS {
        return Err(format!("record of thread {thread} has kind {kind}"));
    }
    if bytes != payload(thread, counter).as_slice() {
        return Err(format!("record ({thread}, {counter}) has wrong content"));
    }
    Ok((thread, counter))
}

/// The snapshot at `seq`: `[counter u64 LE; THREADS][filler]`.
pub fn snapshot_bytes(seq: u64, counters: &[u64; THREADS]) -> Vec<u8> {
    let mut bytes: Vec<u8> = counters.iter().flat_map(|c| c.to_le_bytes()).collect();
    bytes.extend(filler(seq, seq % FILLER_BYTES_MAX));
    bytes
}

/// What every thread has durably appended, as of record `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The last record applied.
    pub seq: u64,
    /// Per thread, the highest counter applied.
    pub counters: [u64; THREADS],
}

impl State {
    /// Rebuilds the state from what the ledger recovered, checking every
    /// record.
    pub fn recover(recovered: &Recovered) -> Result<State, String> {
        let mut state = State {
            seq: 0,
            counters: [0; THREADS],
        };
        if let Some(snapshot) = &recovered.snapshot {
            let mut counters = [0; THREADS];
            for (thread, counter) in counters.iter_mut().enumerate() {
                let bytes = snapshot
                    .bytes
                    .get(thread * 8..thread * 8 + 8)
                    .ok_or("short snapshot")?;
                *counter = u64::from_le_bytes(bytes.try_into().map_err(|_| "short snapshot")?);
            }
            if snapshot.bytes != snapshot_bytes(snapshot.seq, &counters) {
                return Err(format!("snapshot {} has wrong content", snapshot.seq));
            }
            state = State {
                seq: snapshot.seq,
                counters,
            };
        }
        for record in &recovered.records {
            let (thread, counter) = decode_payload(record.kind, &record.payload)?;
            state.apply(record.seq, thread, counter)?;
        }
        Ok(state)
    }

    /// Applies record `seq`, which must be the next one and must carry its
    /// thread's next counter.
    pub fn apply(&mut self, seq: u64, thread: u8, counter: u64) -> Result<(), String> {
        if seq != self.seq + 1 {
            return Err(format!("record {seq} follows record {}", self.seq));
        }
        let expected = self.counters[usize::from(thread)] + 1;
        if counter != expected {
            return Err(format!(
                "record {seq}: thread {thread} counter {counter}, expected {expected}"
            ));
        }
        self.seq = seq;
        self.counters[usize::from(thread)] = counter;
        Ok(())
    }
}
