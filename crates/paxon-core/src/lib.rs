//! The Multi-Paxos protocol of *The Part-Time Parliament* (Lamport, TOCS
//! 1998) as a deterministic, sans-IO state machine: no I/O, no clock, no
//! global randomness. The driver moves [`message::Message`]s between replicas
//! and [`record::Record`]s to and from the ledger, encoded by [`codec`].
pub mod codec;
pub mod message;
pub mod record;
pub mod types;
