//! # paxon-server
//!
//! The tokio shell around the pure core: the member's driver
//! ([`member`]), its ledger on disk ([`disk`]), the peer transport
//! ([`transport`], [`peer`], over TLS with [`tls`]), and the etcd v3 gRPC services ([`grpc`]).
//! [`serve`] wires them together from etcd's flags ([`config`]).
#![deny(missing_docs)]

pub mod authority;
pub mod backup;
pub mod catchup;
pub mod config;
pub mod disk;
pub mod error;
pub mod grpc;
pub mod http;
pub mod join;
pub mod lease;
pub mod member;
pub mod metrics;
pub mod password;
pub mod peer;
pub mod probe;
pub mod reconfig;
pub mod roster;
pub mod seat;
mod serve;
pub mod state;
pub mod tls;
pub mod transport;
pub mod watch;

pub use serve::serve;
