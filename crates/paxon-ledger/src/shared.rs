//! [`SharedLedger`]: one ledger, many threads, leader/follower group commit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};

use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::snapshot::{self, Snapshot};
use crate::vfs::Vfs;

/// A [`Ledger`] shared by many threads, with group commit.
///
/// An appender frames its record under a mutex. If no sync is running it
/// becomes the leader: it takes every record appended so far, writes and
/// `fdatasync`s them outside the mutex, then wakes the threads whose
/// records that covered. Otherwise it parks until a leader wakes it.
/// Records appended while a sync runs form the next group; the finishing
/// leader wakes one of their appenders to lead it. So with N appenders one
/// `fdatasync` serves up to N records, and a lone appender pays for
/// exactly one `fdatasync` per record, with no thread hand-off.
///
/// Waiting threads are woken one by one (`Thread::unpark`) and learn that
/// they are durable from an atomic, so a wake-up does not queue on the
/// mutex.
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
    inner: Mutex<Inner<V>>,
    /// The ledger's durable sequence number, published after each sync.
    durable_seq: AtomicU64,
    /// Snapshots are written outside `inner`'s mutex, one at a time.
    snapshotting: Mutex<()>,
}

struct Inner<V: Vfs> {
    ledger: Ledger<V>,
    /// Parked threads by the sequence number they wait for.
    waiters: BTreeMap<u64, Vec<Thread>>,
}

type Guard<'a, V> = MutexGuard<'a, Inner<V>>;

impl<V: Vfs> SharedLedger<V> {
    /// Shares an open ledger.
    pub fn new(ledger: Ledger<V>) -> Self {
        let durable_seq = AtomicU64::new(ledger.durable_seq());
        let inner = Mutex::new(Inner {
            ledger,
            waiters: BTreeMap::new(),
        });
        SharedLedger {
            inner,
            durable_seq,
            snapshotting: Mutex::new(()),
        }
    }

    /// Appends a record and returns its sequence number without waiting
    /// for it to be durable (see [`SharedLedger::wait_durable`]).
    pub fn append(&self, kind: u8, payload: &[u8]) -> Result<u64, LedgerError> {
        let (inner, seq) = self.append_locked(kind, payload)?;
        drop(inner);
        Ok(seq)
    }

    /// Blocks until record `seq` is durable, leading a sync if none is
    /// running; returns the highest durable sequence number.
    pub fn wait_durable(&self, seq: u64) -> Result<u64, LedgerError> {
        let durable_seq = self.durable_seq.load(Ordering::Acquire);
        if durable_seq >= seq {
            return Ok(durable_seq);
        }
        let inner = self.lock()?;
        if seq > inner.ledger.last_seq() {
            return Err(LedgerError::NotAppended {
                seq,
                last_seq: inner.ledger.last_seq(),
            });
        }
        self.wait_locked(inner, seq)
    }

    /// Appends a record and blocks until it is durable; returns its
    /// sequence number. Takes the mutex once unless it leads a sync.
    pub fn append_durable(&self, kind: u8, payload: &[u8]) -> Result<u64, LedgerError> {
        let (inner, seq) = self.append_locked(kind, payload)?;
        self.wait_locked(inner, seq)?;
        Ok(seq)
    }

    /// Makes every record appended so far durable; returns the highest
    /// durable sequence number.
    pub fn sync(&self) -> Result<u64, LedgerError> {
        let inner = self.lock()?;
        let last_seq = inner.ledger.last_seq();
        self.wait_locked(inner, last_seq)
    }

    /// [`Ledger::save_snapshot`], writing the file without holding up
    /// appenders.
    pub fn save_snapshot(&self, seq: u64, bytes: &[u8]) -> Result<(), LedgerError> {
        let _one_at_a_time = self.snapshotting.lock().map_err(|_| panicked())?;
        let (vfs, layout) = {
            let inner = self.lock()?;
            inner.ledger.check_snapshot(seq, bytes.len())?;
            (inner.ledger.vfs.clone(), Arc::clone(&inner.ledger.layout))
        };
        snapshot::write(&vfs, &layout, seq, bytes)?;
        self.lock()?.ledger.snapshot_saved(seq);
        Ok(())
    }

    /// Reads the newest snapshot back from disk (to ship it to a peer),
    /// or `None` if none was saved. Snapshots are saved one at a time, so
    /// the file cannot be replaced while it is read.
    pub fn load_snapshot(&self) -> Result<Option<Snapshot>, LedgerError> {
        let _one_at_a_time = self.snapshotting.lock().map_err(|_| panicked())?;
        let (vfs, layout, seq, max) = {
            let inner = self.lock()?;
            let ledger = &inner.ledger;
            let max = ledger.config().snapshot_bytes_max;
            (
                ledger.vfs.clone(),
                Arc::clone(&ledger.layout),
                ledger.snapshot_seq(),
                max,
            )
        };
        if seq == 0 {
            return Ok(None);
        }
        snapshot::load_newest(&vfs, &layout, &[seq], max)
    }

    /// [`Ledger::trim_before`].
    pub fn trim_before(&self, seq: u64) -> Result<usize, LedgerError> {
        self.lock()?.ledger.trim_before(seq)
    }

    /// [`Ledger::durable_seq`].
    pub fn durable_seq(&self) -> Result<u64, LedgerError> {
        Ok(self.lock()?.ledger.durable_seq())
    }

    /// [`Ledger::snapshot_seq`].
    pub fn snapshot_seq(&self) -> Result<u64, LedgerError> {
        Ok(self.lock()?.ledger.snapshot_seq())
    }

    /// [`Ledger::last_seq`].
    pub fn last_seq(&self) -> Result<u64, LedgerError> {
        Ok(self.lock()?.ledger.last_seq())
    }

    /// [`Ledger::sync_count`].
    pub fn sync_count(&self) -> Result<u64, LedgerError> {
        Ok(self.lock()?.ledger.sync_count())
    }

    /// Takes the ledger back.
    pub fn into_inner(self) -> Result<Ledger<V>, LedgerError> {
        let inner = self.inner.into_inner().map_err(|_| panicked())?;
        assert!(
            inner.waiters.is_empty(),
            "nobody can wait on a ledger being taken back"
        );
        Ok(inner.ledger)
    }

    fn lock(&self) -> Result<Guard<'_, V>, LedgerError> {
        self.inner.lock().map_err(|_| panicked())
    }

    /// Appends under the mutex, syncing first if the pending buffer is
    /// full; returns with the mutex held.
    fn append_locked(&self, kind: u8, payload: &[u8]) -> Result<(Guard<'_, V>, u64), LedgerError> {
        let mut inner = self.lock()?;
        loop {
            match inner.ledger.append(kind, payload) {
                Ok(seq) => return Ok((inner, seq)),
                Err(LedgerError::PendingFull { .. }) => {
                    // Wait until everything pending so far is durable.
                    let last_seq = inner.ledger.last_seq();
                    self.wait_locked(inner, last_seq)?;
                    inner = self.lock()?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// With the mutex held, waits until `seq` is durable: leads a sync if
    /// none is running, else parks until a leader wakes this thread.
    fn wait_locked<'a>(&'a self, mut inner: Guard<'a, V>, seq: u64) -> Result<u64, LedgerError> {
        loop {
            inner.ledger.check_poisoned()?;
            let durable_seq = inner.ledger.durable_seq();
            if durable_seq >= seq {
                return Ok(durable_seq);
            }
            if inner.ledger.syncing {
                let me = thread::current();
                let parked = inner.waiters.entry(seq).or_default();
                if !parked.iter().any(|thread| thread.id() == me.id()) {
                    parked.push(me);
                }
                drop(inner);
                thread::park();
            } else {
                self.lead(inner)?;
            }
            let durable_seq = self.durable_seq.load(Ordering::Acquire);
            if durable_seq >= seq {
                return Ok(durable_seq);
            }
            // Woken to lead the next group, by a failure, or spuriously.
            inner = self.lock()?;
        }
    }

    /// Runs one group commit: takes the pending records, syncs them outside
    /// the mutex, publishes the new durable point and wakes the threads it
    /// covered, plus one waiter of the next group to lead it.
    fn lead(&self, mut inner: Guard<'_, V>) -> Result<(), LedgerError> {
        let Some(job) = inner.ledger.begin_sync()? else {
            return Ok(());
        };
        drop(inner);
        let mut unwinding = PoisonOnUnwind {
            shared: self,
            armed: true,
        };
        let outcome = job.run();
        unwinding.armed = false;
        // Even if another thread panicked meanwhile, finish and wake the
        // parked threads, which then see the poisoned mutex.
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| {
            let mut inner = poisoned.into_inner();
            inner
                .ledger
                .poisoned
                .get_or_insert_with(|| PANICKED.to_string());
            inner
        });
        let finished = inner.ledger.finish_sync(outcome);
        let durable_seq = inner.ledger.durable_seq();
        self.durable_seq.store(durable_seq, Ordering::Release);
        let (woken, successor) = if finished.is_ok() {
            let later = inner.waiters.split_off(&(durable_seq + 1));
            let woken = std::mem::replace(&mut inner.waiters, later);
            let successor = match inner.ledger.pending_bytes() {
                0 => None,
                _ => inner.waiters.pop_first(),
            };
            (woken, successor)
        } else {
            (std::mem::take(&mut inner.waiters), None)
        };
        drop(inner);
        assert!(finished.is_err() || woken.keys().all(|&seq| seq <= durable_seq));
        assert!(successor.as_ref().is_none_or(|(seq, _)| *seq > durable_seq));
        // The successor first: the next fdatasync starts while the rest wake.
        let successor = successor.map(|(_, threads)| threads);
        for thread in successor.into_iter().chain(woken.into_values()).flatten() {
            thread.unpark();
        }
        finished.map(drop)
    }
}

/// If the sync leader panics, parked threads must not wait forever.
struct PoisonOnUnwind<'a, V: Vfs> {
    shared: &'a SharedLedger<V>,
    armed: bool,
}

impl<V: Vfs> Drop for PoisonOnUnwind<'_, V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(mut inner) = self.shared.inner.lock() {
            inner.ledger.syncing = false;
            inner.ledger.poisoned = Some("the sync leader panicked".to_string());
            for thread in std::mem::take(&mut inner.waiters).into_values().flatten() {
                thread.unpark();
            }
        }
    }
}

const PANICKED: &str = "a thread panicked while using the ledger";

fn panicked() -> LedgerError {
    LedgerError::Poisoned(PANICKED.to_string())
}
