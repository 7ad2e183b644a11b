//! The state machine as the member sees it: `paxon-kv`'s store plus the
//! limits it is run with.

use std::sync::{Arc, RwLock};

use paxon_kv::{Auth, Command, Limits, RangeRequest, RangeResponse, Response, Store};

use crate::error::ServeError;

/// A write's answer: the store's response.
pub type Applied = Response;
/// A read's answer.
pub type Ranged = RangeResponse;

/// etcd's `HashKV` answer.
#[derive(Clone, Copy, Debug)]
pub struct Hashed {
    /// crc32c of the history up to `revision`.
    pub hash: u32,
    /// The revision compacted to (0: none).
    pub compact_revision: i64,
    /// The revision hashed up to.
    pub revision: i64,
    /// The store's current revision.
    pub current: i64,
}

/// The applied auth state as the gRPC services read it: a copy the
/// driver replaces after every auth decree and snapshot install.
pub type AuthView = Arc<RwLock<Auth>>;

/// The store every member applies decrees to in slot order.
pub struct StateMachine {
    store: Store,
    limits: Limits,
    auth_view: AuthView,
}

impl StateMachine {
    /// An empty store.
    pub fn new(limits: Limits) -> StateMachine {
        StateMachine::with_store(Store::new(), limits)
    }

    /// The store saved in `bytes` (a snapshot).
    pub fn restore(bytes: &[u8], limits: Limits) -> Result<StateMachine, String> {
        let store = Store::restore(bytes).map_err(|e| e.to_string())?;
        Ok(StateMachine::with_store(store, limits))
    }

    fn with_store(store: Store, limits: Limits) -> StateMachine {
        let auth_view = Arc::new(RwLock::new(store.auth().clone()));
        StateMachine {
            store,
            limits,
            auth_view,
        }
    }

    /// Takes `other`'s store (a snapshot installed from a peer), keeping
    /// the auth view the services hold.
    pub fn install(&mut self, other: StateMachine) {
        self.store = other.store;
        self.publish_auth();
    }

    /// The auth state the services read.
    pub fn auth_view(&self) -> AuthView {
        Arc::clone(&self.auth_view)
    }

    fn publish_auth(&self) {
        let mut view = self.auth_view.write().unwrap_or_else(|e| e.into_inner());
        view.clone_from(self.store.auth());
    }

    /// The limits the store runs with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Applies a chosen command; the result is the same on every member.
    pub fn apply(&mut self, command: &Command) -> Result<Applied, ServeError> {
        let applied = self.store.apply(command).map_err(ServeError::from);
        if matches!(command, Command::Auth(_)) && applied.is_ok() {
            self.publish_auth();
        }
        applied
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

    /// etcd's `HashKV` at `revision` (0 or less: the current one).
    pub fn hash_kv(&self, revision: i64) -> Result<Hashed, ServeError> {
        let current = self.store.revision().0;
        let hash = self
            .store
            .hash_kv(paxon_kv::Revision(revision))
            .map_err(ServeError::from)?;
        Ok(Hashed {
            hash,
            compact_revision: self.store.compact_revision().map_or(0, |r| r.0),
            revision: if revision <= 0 { current } else { revision },
            current,
        })
    }

    /// Raised alarms.
    pub fn alarms(&self) -> Vec<paxon_kv::AlarmMember> {
        self.store.alarms().collect()
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
