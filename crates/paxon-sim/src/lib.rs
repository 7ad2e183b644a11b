//! # paxon-sim
//!
//! Whole Paxon clusters in one thread, from one `u64` seed: the very same
//! `paxon-core` replicas the server runs, each with the real `paxon-ledger`
//! on a simulated disk and the server's `paxon-kv` state machine (etcd's
//! Put, Txn, DeleteRange, Range and Compact), talking over a simulated
//! network, driven by simulated clients, under faults drawn per seed (swarm testing, as in
//! TigerBeetle's VOPR and FoundationDB's simulator).
//!
//! Each run has a **safety phase** — faults on, every replica's invariants
//! and the global safety properties checked after every step — then a
//! **liveness phase** — faults healed, every replica restarted, and every
//! client must complete a request within a stated bound. At the end the
//! client history is checked for linearizability, key by key. A failure
//! names its checker and its seed, and the seed replays it exactly.
#![deny(missing_docs)]

mod check;
pub mod client;
mod driver;
mod faults;
pub mod kv;
mod leases;
pub mod network;
pub mod node;
pub mod options;
mod reconfig;
mod sim;
pub mod storage;
pub mod trace;

pub use options::{FaultMix, Options};
pub use sim::{run_seed, Failure, Outcome, Report};
