//! The replica's ledger in memory: votes and chosen decrees after the last
//! snapshot (§3.3.2: the law book replaces the ledger's older pages).

use std::collections::BTreeMap;

use crate::types::{Entry, Slot};

/// Entries by slot, possibly with holes, all after `snapshot`.
#[derive(Clone, Debug, Default)]
pub struct Log {
    snapshot: Slot,
    entries: BTreeMap<Slot, Entry>,
}

impl Log {
    /// A log resuming after `snapshot` with `entries`.
    pub fn restore(snapshot: Slot, entries: BTreeMap<Slot, Entry>) -> Log {
        assert!(
            entries.keys().all(|slot| *slot > snapshot),
            "entries at or below the snapshot"
        );
        Log { snapshot, entries }
    }

    /// The last slot folded into the snapshot.
    pub fn snapshot(&self) -> Slot {
        self.snapshot
    }

    /// The first slot this log can hold.
    pub fn start(&self) -> Slot {
        self.snapshot.next()
    }

    /// The entry at `slot`.
    pub fn get(&self, slot: Slot) -> Option<&Entry> {
        self.entries.get(&slot)
    }

    /// The entry at `slot`, mutably.
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut Entry> {
        self.entries.get_mut(&slot)
    }

    /// Stores `entry` at `slot` (after the snapshot).
    pub fn set(&mut self, slot: Slot, entry: Entry) {
        assert!(slot > self.snapshot, "{slot} is inside the snapshot");
        self.entries.insert(slot, entry);
    }

    /// Entries from `from` on, in slot order.
    pub fn range_from(&self, from: Slot) -> impl Iterator<Item = (&Slot, &Entry)> {
        self.entries.range(from..)
    }

    /// Drops every entry up to `slot`, now covered by a snapshot.
    pub fn trim_through(&mut self, slot: Slot) {
        if slot <= self.snapshot {
            return;
        }
        self.entries = self.entries.split_off(&slot.next());
        self.snapshot = slot;
    }
}
