//! The state machine as the member sees it: `paxon-kv`'s store plus the
//! limits it is run with.

use paxon_kv::{Command, Limits, RangeRequest, RangeResponse, Response, Store};

use crate::error::ServeError;

/// A write's answer: the store's response.
pub type Applied = Response;
/// A read's answer.
pub type Ranged = RangeResponse;

/// The store every member applies decrees to in slot order.
pub struct StateMachine {
    store: Store,
    limits: Limits,
}

impl StateMachine {
    /// An empty store.
    pub fn new(limits: Limits) -> StateMachine {
        StateMachine {
            store: Store::new(),
            limits,
        }
    }

    /// The store saved in `bytes` (a snapshot).
    pub fn restore(bytes: &[u8], limits: Limits) -> Result<StateMachine, String> {
        let store = Store::restore(bytes).map_err(|e| e.to_string())?;
        Ok(StateMachine { store, limits })
    }

    /// The limits the store runs with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Applies a chosen command; the result is the same on every member.
    pub fn apply(&mut self, command: &Command) -> Result<Applied, ServeError> {
        self.store.apply(command).map_err(ServeError::from)
    }

    /// The watch events of the latest `apply`, in revision order.
    pub fn take_events(&mut self) -> Vec<paxon_kv::Event> {
        self.store.take_events()
    }

    /// The applied store (for the watch hub and the lease table).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves a Range from the applied state.
    pub fn range(&self, request: &RangeRequest) -> Result<Ranged, ServeError> {
        self.store.range(request).map_err(ServeError::from)
    }

    /// The store's revision.
    pub fn revision(&self) -> i64 {
        self.store.revision().0
    }

    /// Approximate bytes held.
    pub fn size_bytes(&self) -> u64 {
        self.store.size_bytes()
    }

    /// The store, encoded for a snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        self.store.snapshot()
    }
}
