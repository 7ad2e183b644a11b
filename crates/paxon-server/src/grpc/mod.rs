//! The etcd v3 gRPC services, each a thin layer that converts protobuf to
//! the state machine's types and hands the request to the member's driver.

mod auth;
mod cluster;
mod convert;
mod election;
mod kv;
mod lease;
mod lock;
pub mod unimplemented;
mod wait;
mod watch;

use std::sync::Arc;

use paxon_core::NodeId;
use paxon_proto::etcdserverpb as pb;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use crate::error::ServeError;
use crate::member::{ClientOp, Input, StatusInfo, REQUEST_TIMEOUT};
use crate::state::AuthView;

/// One member as `MemberList` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Member id.
    pub id: NodeId,
    /// `--name`.
    pub name: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
}

/// What every service needs to know about the cluster.
#[derive(Debug)]
pub struct ClusterInfo {
    /// The cluster id.
    pub cluster_id: u64,
    /// This member.
    pub me: NodeId,
    /// Our advertised client URLs.
    pub client_urls: Vec<String>,
    /// This member's `--name`.
    pub name: String,
    /// `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// `--quota-backend-bytes`.
    pub quota_backend_bytes: u64,
    /// The store's size, published by the driver after every apply.
    pub db_size: Arc<std::sync::atomic::AtomicU64>,
    /// The shortest lease TTL granted (etcd's `minTTL`: 1.5 election
    /// timeouts, rounded up to a second); shorter requests are raised.
    pub lease_ttl_min_s: i64,
    /// The member's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The services' handle on the member.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inbox: mpsc::Sender<Input>,
    cluster: Arc<ClusterInfo>,
    limits: paxon_kv::Limits,
    auth: AuthView,
}

impl Handle {
    /// A handle sending requests to the driver's `inbox`; `auth` is the
    /// applied auth state the driver publishes.
    pub fn new(
        inbox: mpsc::Sender<Input>,
        cluster: Arc<ClusterInfo>,
        limits: paxon_kv::Limits,
        auth: AuthView,
    ) -> Handle {
        Handle {
            inbox,
            cluster,
            limits,
            auth,
        }
    }

    /// Sends `op` to the driver and waits for its answer (bounded).
    async fn ask<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<T>) -> ClientOp,
    ) -> Result<T, ServeError> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Input::Client(op(reply)))
            .await
            .map_err(|_| ServeError::Stopped)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ServeError::Stopped),
            Err(_) => Err(ServeError::Timeout),
        }
    }

    async fn status(&self) -> Result<StatusInfo, Status> {
        Ok(self.ask(|reply| ClientOp::Status { reply }).await?)
    }

    /// The member's state (for the HTTP endpoints).
    pub(crate) async fn member_status(&self) -> Result<StatusInfo, Status> {
        self.status().await
    }

    /// Sends `op` to the driver and waits for its answer (for the HTTP
    /// endpoints).
    pub(crate) async fn ask_driver<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<T>) -> ClientOp,
    ) -> Result<T, ServeError> {
        self.ask(op).await
    }

    /// What every service knows about the cluster.
    pub(crate) fn cluster(&self) -> &ClusterInfo {
        &self.cluster
    }

    /// The response header etcd sends with every answer.
    fn header(&self, revision: i64, term: u64) -> pb::ResponseHeader {
        pb::ResponseHeader {
            cluster_id: self.cluster.cluster_id,
            member_id: self.cluster.me.0,
            revision,
            raft_term: term,
        }
    }
}

/// Every service, as routes (served beside the HTTP endpoints).
pub fn routes(handle: Handle) -> tonic::service::Routes {
    use paxon_proto::{v3electionpb as epb, v3lockpb as lpb};
    let size = handle.cluster.max_request_bytes + 64 * 1024;
    tonic::service::Routes::new(
        pb::kv_server::KvServer::new(handle.clone()).max_decoding_message_size(size),
    )
    .add_service(pb::cluster_server::ClusterServer::new(handle.clone()))
    .add_service(pb::maintenance_server::MaintenanceServer::new(
        handle.clone(),
    ))
    .add_service(pb::watch_server::WatchServer::new(handle.clone()))
    .add_service(pb::lease_server::LeaseServer::new(handle.clone()))
    .add_service(pb::auth_server::AuthServer::new(handle.clone()))
    .add_service(lpb::lock_server::LockServer::new(handle.clone()))
    .add_service(epb::election_server::ElectionServer::new(handle))
}
