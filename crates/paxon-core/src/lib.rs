//! # paxon-core
//!
//! The Multi-Paxos protocol of Lamport's *The Part-Time Parliament* (TOCS
//! 1998) as a deterministic, sans-IO state machine: no threads, no sockets,
//! no files, no clocks, no global randomness. Time enters as ticks, the
//! network as messages, the disk as `Persist` actions acknowledged by the
//! driver. The server (`paxon-server`) and the simulator (`paxon-sim`) drive
//! the very same [`Replica`].
//!
//! Paper → code: priest = [`NodeId`], decree number = [`Slot`], ballot
//! number = [`Ballot`], decree = [`Value`], `NextBallot` =
//! [`Message::Prepare`], `LastVote` = [`Message::Promise`], `BeginBallot` =
//! [`Message::Accept`], `Voted` = [`Message::Accepted`], `Success` = the
//! commit point carried by `Accept`/`Heartbeat` and [`Message::Learn`].
#![deny(missing_docs)]

mod acceptor;
mod action;
mod amnesia;
pub mod codec;
mod config;
mod election;
mod invariants;
mod learner;
mod log;
mod membership;
pub mod message;
mod planted;
mod proposer;
mod read_index;
mod reconfigure;
pub mod record;
mod replica;
mod rng;
pub mod types;
mod validate;

pub use action::Action;
pub use config::{Config, ConfigError};
pub use membership::{Membership, MembershipError, Memberships, MEMBERS_MAX};
pub use message::{Message, Vote};
pub use planted::PlantedBug;
pub use reconfigure::ReconfigureError;
pub use record::{PersistedState, Record};
pub use replica::{ProposeError, Replica};
pub use rng::Rng;
pub use types::{Ballot, Batch, Entry, NodeId, PersistToken, ReadId, Slot, Value};
pub use validate::MessageError;
