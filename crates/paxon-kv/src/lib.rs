//! # paxon-kv
//!
//! etcd v3's key-value semantics as a deterministic state machine: one
//! store-wide revision, per-key create/mod revisions and versions, MVCC
//! history until compaction, `Range`, `Put`, `DeleteRange`, `Txn` (nested),
//! `Compact`, leases that expire by the time carried in decrees, and the
//! watch events each write
//! produces. In *The Part-Time Parliament*'s terms this is what the
//! priests' decrees are about: every replica applies the chosen decrees to
//! its [`Store`] in ledger order (§3.3.2: the law book is a snapshot of
//! it), and all reach the same state.
//!
//! No I/O, no clock, no unordered iteration: time and identifiers arrive in
//! [`Command`]s. The behaviour and error messages follow etcd 3.5; each
//! module names the etcd code it mirrors.
//!
//! ```
//! use paxon_kv::{Command, PutRequest, RangeRequest, Revision, Store};
//!
//! let mut store = Store::new();
//! let put = PutRequest { key: b"foo".to_vec(), value: b"bar".to_vec(), ..Default::default() };
//! let resp = store.apply(&Command::Put(put)).unwrap();
//! assert_eq!(resp.header().revision, Revision(2));
//! let got = store.range(&RangeRequest { key: b"foo".to_vec(), ..Default::default() }).unwrap();
//! assert_eq!(got.kvs[0].value, b"bar");
//! ```
#![deny(missing_docs)]

mod alarm;
mod auth;
mod command;
mod compact;
mod directory;
mod error;
mod history;
mod lease;
mod mvcc;
mod range;
mod request;
mod response;
mod snapshot;
mod store;
mod txn;
mod types;
mod validate;
mod wire;
mod write;

pub use alarm::{AlarmAction, AlarmMember, AlarmType};
pub use auth::{Auth, AuthCommand, Permission, PermissionKind, User, ROOT, TOKENS_MAX};
pub use command::{Command, COMMAND_VERSION};
pub use directory::MemberAttrs;
pub use error::{GrpcCode, KvError};
pub use lease::{Lease, LEASE_TTL_MAX_S};
pub use request::{
    prefix_range_end, CompactionRequest, Compare, CompareResult, CompareTarget, DeleteRangeRequest,
    PutRequest, RangeRequest, RequestOp, SortOrder, SortTarget, TxnRequest,
};
pub use response::{
    AlarmResponse, CompactionResponse, DeleteRangeResponse, Event, EventKind, Header,
    LeaseGrantResponse, LeaseKeepAliveResponse, LeaseRevokeResponse, LeaseTickResponse,
    PutResponse, RangeResponse, Response, ResponseOp, TxnResponse,
};
pub use snapshot::{SnapshotAborted, SnapshotEncoder, SNAPSHOT_VERSION};
pub use store::{range_contains, Store};
pub use types::{KeyValue, LeaseId, Revision};
pub use validate::{Limits, TXN_DEPTH_MAX};
pub use wire::DecodeError;
