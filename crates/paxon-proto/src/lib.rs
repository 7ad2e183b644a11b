//! # paxon-proto
//!
//! The etcd v3 gRPC API as Paxon speaks it: `.proto` files written for this
//! project (in `proto/`), wire-compatible with etcd 3.5, compiled at build
//! time by `protox` (pure Rust, no `protoc`) and `tonic-prost-build`.
//!
//! One module per proto package, named as in etcd so that paths read like
//! etcd's (`etcdserverpb::RangeRequest`, `mvccpb::KeyValue`):
//!
//! | module | services | main messages |
//! |---|---|---|
//! | [`etcdserverpb`] | KV, Watch, Lease, Cluster, Maintenance, Auth | `RangeRequest`, `TxnRequest`, `WatchRequest`, ... |
//! | [`mvccpb`] | – | `KeyValue`, `Event` |
//! | [`authpb`] | – | `User`, `Role`, `Permission` |
//! | [`v3lockpb`] | Lock | `LockRequest`, `UnlockRequest` |
//! | [`v3electionpb`] | Election | `CampaignRequest`, `LeaderKey`, ... |
//!
//! Each service `Foo` comes as a client, `foo_client::FooClient`, and as a
//! server: the trait `foo_server::Foo` to implement and the tower service
//! `foo_server::FooServer` to mount on a `tonic::transport::Server`.
//!
//! Field names keep etcd's spelling in the `.proto` files, so prost's
//! snake_case turns a few of them odd: `ID` → `id`, `TTL` → `ttl`,
//! `peerURLs` → `peer_ur_ls`, `clientURLs` → `client_ur_ls`.
#![deny(missing_docs)]

/// Package `mvccpb`: the stored key-value pair and watch events.
#[allow(missing_docs)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// Package `authpb`: users, roles and permissions.
#[allow(missing_docs)]
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// Package `etcdserverpb`: the KV, Watch, Lease, Cluster, Maintenance and
/// Auth services and their messages.
#[allow(missing_docs)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// Package `v3lockpb`: the Lock service.
#[allow(missing_docs)]
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

/// Package `v3electionpb`: the Election service.
#[allow(missing_docs)]
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}

/// The status a service answers for a method Paxon does not implement yet:
/// gRPC code `UNIMPLEMENTED`, which etcd clients report as such rather than
/// retrying.
///
/// ```
/// let status = paxon_proto::unimplemented("Maintenance.Defragment");
/// assert_eq!(status.code(), tonic::Code::Unimplemented);
/// assert_eq!(
///     status.message(),
///     "paxon: Maintenance.Defragment is not implemented yet"
/// );
/// ```
pub fn unimplemented(method: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("paxon: {method} is not implemented yet"))
}
