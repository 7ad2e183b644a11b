//! Responses and watch events, mirroring etcd's messages.

use crate::types::{KeyValue, LeaseId, Revision};

/// The part of etcd's `ResponseHeader` the store knows; the server adds
/// cluster id, member id and term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// The store's revision when the request took effect.
    pub revision: Revision,
}

/// etcd's `RangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RangeResponse {
    /// The header.
    pub header: Header,
    /// The keys, after filters, sorting and `limit`.
    pub kvs: Vec<KeyValue>,
    /// Whether `limit` cut keys off.
    pub more: bool,
    /// How many keys the range holds at the revision read, before the
    /// min/max filters and `limit` (as etcd counts).
    pub count: i64,
}

/// etcd's `PutResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PutResponse {
    /// The header.
    pub header: Header,
    /// The key before the put, when asked for and present.
    pub prev_kv: Option<KeyValue>,
}

/// etcd's `DeleteRangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeleteRangeResponse {
    /// The header.
    pub header: Header,
    /// How many keys were deleted.
    pub deleted: i64,
    /// The deleted keys, when asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// The response to one [`crate::RequestOp`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ResponseOp {
    /// To a `Range`.
    Range(RangeResponse),
    /// To a `Put`.
    Put(PutResponse),
    /// To a `DeleteRange`.
    DeleteRange(DeleteRangeResponse),
    /// To a nested `Txn`. As in etcd, a nested response's header revision
    /// is 0: only the outermost one is filled in.
    Txn(TxnResponse),
}

/// etcd's `TxnResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxnResponse {
    /// The header.
    pub header: Header,
    /// Whether every compare held (the `success` branch ran).
    pub succeeded: bool,
    /// One response per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}

/// etcd's `CompactionResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CompactionResponse {
    /// The header (compaction does not advance the revision).
    pub header: Header,
}

/// etcd's `LeaseGrantResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LeaseGrantResponse {
    /// The header.
    pub header: Header,
    /// The granted lease.
    pub id: LeaseId,
    /// Its time to live.
    pub ttl_s: i64,
}

/// etcd's `LeaseKeepAliveResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LeaseKeepAliveResponse {
    /// The header.
    pub header: Header,
    /// The renewed lease.
    pub id: LeaseId,
    /// Its time to live, now counted again from the decree time.
    pub ttl_s: i64,
}

/// The answer to a `LeaseTick` or `LeasePromote` decree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LeaseTickResponse {
    /// The header (advanced once per expired lease that held keys).
    pub header: Header,
    /// The leases that expired, in id order, each revoked.
    pub expired: Vec<LeaseId>,
}

/// etcd's `LeaseRevokeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LeaseRevokeResponse {
    /// The header (advanced when the lease had keys, which are deleted).
    pub header: Header,
}

/// etcd's `AlarmResponse` to an activation or a deactivation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AlarmResponse {
    /// The header (alarms do not advance the revision).
    pub header: Header,
    /// The alarm raised, or cleared if it was raised.
    pub alarms: Vec<crate::alarm::AlarmMember>,
}

/// What [`crate::Store::apply`] answers, one variant per
/// [`crate::Command`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    /// To `Command::Put`.
    Put(PutResponse),
    /// To `Command::DeleteRange`.
    DeleteRange(DeleteRangeResponse),
    /// To `Command::Txn`.
    Txn(TxnResponse),
    /// To `Command::Compact`.
    Compact(CompactionResponse),
    /// To `Command::LeaseGrant`.
    LeaseGrant(LeaseGrantResponse),
    /// To `Command::LeaseRevoke`.
    LeaseRevoke(LeaseRevokeResponse),
    /// To `Command::LeaseKeepAlive`.
    LeaseKeepAlive(LeaseKeepAliveResponse),
    /// To `Command::LeaseTick` and `Command::LeasePromote`.
    LeaseTick(LeaseTickResponse),
    /// To `Command::Alarm`.
    Alarm(AlarmResponse),
    /// To `Command::Auth`: only the header (the revision is unchanged).
    Auth(Header),
    /// To `Command::MemberAttrs`: only the header.
    Member(Header),
}

impl Response {
    /// The header, whatever the variant.
    pub fn header(&self) -> Header {
        match self {
            Response::Put(r) => r.header,
            Response::DeleteRange(r) => r.header,
            Response::Txn(r) => r.header,
            Response::Compact(r) => r.header,
            Response::LeaseGrant(r) => r.header,
            Response::LeaseRevoke(r) => r.header,
            Response::LeaseKeepAlive(r) => r.header,
            Response::LeaseTick(r) => r.header,
            Response::Alarm(r) => r.header,
            Response::Auth(header) | Response::Member(header) => *header,
        }
    }
}

/// The kind of a watch [`Event`] (etcd's `mvccpb.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change, as etcd's `mvccpb.Event`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change. For a delete, as etcd sends it: only `key`
    /// and `mod_revision` (the deleting revision) are set.
    pub kv: KeyValue,
    /// The key at the revision before the change, if it existed then (what
    /// etcd's watch returns with `prev_kv`).
    pub prev_kv: Option<KeyValue>,
}
