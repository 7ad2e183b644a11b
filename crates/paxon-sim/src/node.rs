//! A simulated replica process: the real `Replica`, its ledger on the
//! simulated disk, the key-value state machine, and the client requests it
//! is answering.

use std::collections::BTreeMap;

use paxon_core::{Config, NodeId, ReadId, Replica, Slot};

use crate::kv::{Key, RequestId, Store};
use crate::options::Micros;
use crate::storage::Storage;

/// A request this node took from a client and has yet to answer.
#[derive(Clone, Copy, Debug)]
pub struct Waiting {
    /// The client to answer.
    pub client: u32,
    /// The client's request number.
    pub seq: u64,
}

/// One replica process.
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Its core settings.
    pub config: Config,
    /// The running replica (`None` while down).
    pub replica: Option<Replica>,
    /// Its disk.
    pub storage: Storage,
    /// The state machine (valid while up).
    pub store: Store,
    /// The latest snapshot it saved: slot and state machine.
    pub snapshot: (Slot, Store),
    /// Commands proposed here, answered when applied here.
    pub proposed: BTreeMap<RequestId, Waiting>,
    /// Reads waiting for their read index.
    pub reads: BTreeMap<ReadId, (Waiting, Key)>,
    /// Next read id.
    pub next_read: u64,
    /// Bumped at every crash, so events of an earlier incarnation die.
    pub incarnation: u64,
    /// A group commit is under way.
    pub syncing: bool,
    /// Stopped (SIGSTOP) until then.
    pub paused_until: Option<Micros>,
    /// The ledger was found damaged: the replica refuses to start.
    pub refused: Option<String>,
    /// Tick length of this replica's clock.
    pub tick_micros: Micros,
    /// A bit of its disk was flipped (it must refuse to start, or recover
    /// without using the damaged bytes).
    pub bit_flipped: bool,
    /// Its disk was wiped while it was down.
    pub wiped: bool,
    /// What its disk held durably when it was wiped.
    pub durable_before_wipe: Option<paxon_core::PersistedState>,
    /// It left the configuration and stopped for good (`Action::Removed`).
    pub removed: bool,
    /// Whether it was still recovering from an empty disk (`amnesia.rs`)
    /// when it last stopped.
    pub was_recovering: bool,
}

impl Node {
    /// A new member with an empty disk.
    pub fn new(id: NodeId, config: Config, tick_micros: Micros) -> Node {
        Node {
            id,
            config,
            replica: None,
            storage: Storage::new(),
            store: Store::default(),
            snapshot: (Slot(0), Store::default()),
            proposed: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 0,
            incarnation: 0,
            syncing: false,
            paused_until: None,
            refused: None,
            tick_micros,
            bit_flipped: false,
            wiped: false,
            durable_before_wipe: None,
            removed: false,
            was_recovering: true,
        }
    }

    /// Whether the process runs (up and not paused).
    pub fn is_up(&self) -> bool {
        self.replica.is_some()
    }

    /// Starts the process from its disk. Returns an error when the ledger
    /// is damaged (the replica then stays down for good).
    pub fn start(&mut self, seed: u64) -> Result<(), String> {
        assert!(self.replica.is_none());
        let recovered = self.storage.open()?;
        let slot = recovered.state.snapshot;
        self.store = recovered.store.clone();
        self.snapshot = (slot, recovered.store);
        let replica =
            Replica::new(self.config.clone(), recovered.state, seed).map_err(|e| e.to_string())?;
        self.replica = Some(replica);
        self.incarnation += 1;
        self.syncing = false;
        Ok(())
    }

    /// Whether it recovers from an empty disk (or did when it stopped): it
    /// does not count as a whole acceptor until it has recovered.
    pub fn is_recovering(&self) -> bool {
        match &self.replica {
            Some(replica) => replica.is_recovering(),
            None => self.was_recovering,
        }
    }

    /// kill -9 or power loss.
    pub fn crash(&mut self, torn: bool, rng: &mut paxon_core::Rng) {
        self.was_recovering = self.is_recovering();
        self.replica = None;
        self.proposed.clear();
        self.reads.clear();
        self.syncing = false;
        self.paused_until = None;
        self.incarnation += 1;
        self.storage.crash(torn, rng);
    }
}
