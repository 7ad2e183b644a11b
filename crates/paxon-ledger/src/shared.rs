//! [`SharedLedger`]: one ledger, many threads, leader/follower group commit.

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::snapshot;
use crate::vfs::Vfs;

/// A [`Ledger`] shared by many threads, with group commit.
///
/// Each appender frames its record under a mutex and then waits until a
/// sync covers it. Whoever finds no sync running becomes the leader: it
/// takes every record appended so far, writes and `fdatasync`s them outside
/// the mutex, and wakes everyone. Records appended while a sync runs form
/// the next group. So with N appenders, one `fdatasync` serves up to N
/// records, and a lone appender pays for exactly one `fdatasync` per record.
///
/// ```
/// use std::sync::Arc;
/// use paxon_ledger::{Ledger, LedgerConfig, SharedLedger, sim::SimVfs};
///
/// let (ledger, _) = Ledger::open(SimVfs::new(), "/data", LedgerConfig::default())?;
/// let shared = Arc::new(SharedLedger::new(ledger));
/// let threads: Vec<_> = (0..4u8)
///     .map(|kind| {
///         let shared = Arc::clone(&shared);
///         std::thread::spawn(move || shared.append_durable(kind, b"vote"))
///     })
///     .collect();
/// for thread in threads {
///     let seq = thread.join().expect("appender")?;
///     assert!((1..=4).contains(&seq));
/// }
/// assert_eq!(shared.durable_seq()?, 4);
/// # Ok::<(), paxon_ledger::LedgerError>(())
/// ```
pub struct SharedLedger<V: Vfs> {
    ledger: Mutex<Ledger<V>>,
    /// Signalled whenever a sync finishes (or fails).
    synced: Condvar,
    /// Snapshots are written outside `ledger`'s mutex, one at a time.
    snapshotting: Mutex<()>,
}

impl<V: Vfs> SharedLedger<V> {
    /// Shares an open ledger.
    pub fn new(ledger: Ledger<V>) -> Self {
        SharedLedger {
            ledger: Mutex::new(ledger),
            synced: Condvar::new(),
            snapshotting: Mutex::new(()),
        }
    }

    /// Appends a record and returns its sequence number without waiting
    /// for it to be durable (see [`SharedLedger::wait_durable`]).
    pub fn append(&self, kind: u8, payload: &[u8]) -> Result<u64, LedgerError> {
        let mut ledger = self.lock()?;
        loop {
            match ledger.append(kind, payload) {
                Err(LedgerError::PendingFull { .. }) => ledger = self.sync_or_wait(ledger)?,
                outcome => return outcome,
            }
        }
    }

    /// Blocks until record `seq` is durable, leading a sync if none is
    /// running; returns the highest durable sequence number.
    pub fn wait_durable(&self, seq: u64) -> Result<u64, LedgerError> {
        let mut ledger = self.lock()?;
        if seq > ledger.last_seq() {
            return Err(LedgerError::NotAppended {
                seq,
                last_seq: ledger.last_seq(),
            });
        }
        while ledger.durable_seq() < seq {
            ledger = self.sync_or_wait(ledger)?;
        }
        Ok(ledger.durable_seq())
    }

    /// Appends a record and blocks until it is durable; returns its
    /// sequence number.
    pub fn append_durable(&self, kind: u8, payload: &[u8]) -> Result<u64, LedgerError> {
        let seq = self.append(kind, payload)?;
        self.wait_durable(seq)?;
        Ok(seq)
    }

    /// Makes every record appended so far durable; returns the highest
    /// durable sequence number.
    pub fn sync(&self) -> Result<u64, LedgerError> {
        let last_seq = self.lock()?.last_seq();
        self.wait_durable(last_seq)
    }

    /// [`Ledger::save_snapshot`], writing the file without holding up
    /// appenders.
    pub fn save_snapshot(&self, seq: u64, bytes: &[u8]) -> Result<(), LedgerError> {
        let _one_at_a_time = self.snapshotting.lock().map_err(|_| panicked())?;
        let (vfs, layout) = {
            let ledger = self.lock()?;
            ledger.check_snapshot(seq, bytes.len())?;
            (ledger.vfs.clone(), std::sync::Arc::clone(&ledger.layout))
        };
        snapshot::write(&vfs, &layout, seq, bytes)?;
        self.lock()?.snapshot_saved(seq);
        Ok(())
    }

    /// [`Ledger::trim_before`].
    pub fn trim_before(&self, seq: u64) -> Result<usize, LedgerError> {
        self.lock()?.trim_before(seq)
    }

    /// [`Ledger::durable_seq`].
    pub fn durable_seq(&self) -> Result<u64, LedgerError> {
        Ok(self.lock()?.durable_seq())
    }

    /// [`Ledger::last_seq`].
    pub fn last_seq(&self) -> Result<u64, LedgerError> {
        Ok(self.lock()?.last_seq())
    }

    /// Takes the ledger back.
    pub fn into_inner(self) -> Result<Ledger<V>, LedgerError> {
        self.ledger.into_inner().map_err(|_| panicked())
    }

    fn lock(&self) -> Result<MutexGuard<'_, Ledger<V>>, LedgerError> {
        self.ledger.lock().map_err(|_| panicked())
    }

    /// Leads a sync if none is running, else waits for the running one.
    /// Either way, returns with the mutex held and at least one sync
    /// finished (or nothing left to sync).
    fn sync_or_wait<'a>(
        &'a self,
        mut ledger: MutexGuard<'a, Ledger<V>>,
    ) -> Result<MutexGuard<'a, Ledger<V>>, LedgerError> {
        ledger.check_poisoned()?;
        if ledger.syncing {
            ledger = self.synced.wait(ledger).map_err(|_| panicked())?;
            ledger.check_poisoned()?;
            return Ok(ledger);
        }
        let Some(job) = ledger.begin_sync()? else {
            return Ok(ledger);
        };
        drop(ledger);
        let mut unwinding = PoisonOnUnwind {
            shared: self,
            armed: true,
        };
        let outcome = job.run();
        unwinding.armed = false;
        let mut ledger = self.lock()?;
        let finished = ledger.finish_sync(outcome);
        self.synced.notify_all();
        finished.map(|_| ledger)
    }
}

/// If the sync leader panics, followers must not wait forever for it.
struct PoisonOnUnwind<'a, V: Vfs> {
    shared: &'a SharedLedger<V>,
    armed: bool,
}

impl<V: Vfs> Drop for PoisonOnUnwind<'_, V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(mut ledger) = self.shared.ledger.lock() {
            ledger.syncing = false;
            ledger.poisoned = Some("the sync leader panicked".to_string());
        }
        self.shared.synced.notify_all();
    }
}

fn panicked() -> LedgerError {
    LedgerError::Poisoned("a thread panicked while using the ledger".to_string())
}
