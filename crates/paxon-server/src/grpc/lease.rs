//! The `Lease` service: Grant, Revoke and KeepAlive are decrees (through
//! the leader); TimeToLive and Leases read the applied lease table after a
//! linearizable barrier. See `crate::lease` for time and docs/leases.md.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use paxon_kv as kv;
use paxon_proto::etcdserverpb as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Access;
use super::Handle;
use crate::error::ServeError;
use crate::lease::{wall_clock_ms, LeaseInfo, LeaseQuery};
use crate::member::ClientOp;

/// Keep-alive answers queued for a client before the stream waits.
const KEEP_ALIVE_OUT_MAX: usize = 16;
/// Generated ids that collide with a granted lease are retried this often.
const GRANT_ATTEMPTS_MAX: usize = 4;

/// etcd's `idutil.Generator`: the member id's low 16 bits, then 48 bits
/// that start at the wall clock in milliseconds shifted left by 8 and
/// count up. The id travels in the decree, so every replica grants the
/// same one.
fn generated_lease_id(member: u64) -> kv::LeaseId {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let start = (wall_clock_ms() as u64 & ((1 << 40) - 1)) << 8;
        AtomicU64::new(start)
    });
    let suffix = next.fetch_add(1, Ordering::Relaxed) & ((1 << 48) - 1);
    let id = ((member & 0xffff) << 48 | suffix) & (u64::MAX >> 1);
    kv::LeaseId(id.max(1) as i64)
}

impl Handle {
    async fn time_to_live(&self, id: kv::LeaseId) -> Result<(Option<LeaseInfo>, i64, u64), Status> {
        self.read_point().await?;
        Ok(self
            .ask(|reply| ClientOp::Lease(LeaseQuery::TimeToLive { id, reply }))
            .await?)
    }

    async fn grant(&self, id: kv::LeaseId, ttl_s: i64) -> Result<(kv::Response, u64), Status> {
        let ttl_s = ttl_s.max(self.cluster.lease_ttl_min_s);
        if !id.is_none() {
            return self.write(kv::Command::LeaseGrant { id, ttl_s }).await;
        }
        let mut attempt = 0;
        loop {
            let id = generated_lease_id(self.cluster.me.0);
            let result = self.write(kv::Command::LeaseGrant { id, ttl_s }).await;
            attempt += 1;
            let exists = Status::from(ServeError::Kv(kv::KvError::LeaseExists));
            match result {
                Err(status)
                    if status.message() == exists.message() && attempt < GRANT_ATTEMPTS_MAX => {}
                other => return other,
            }
        }
    }

    /// One keep-alive: etcd answers an unknown lease with TTL 0.
    async fn keep_alive_once(&self, id: i64) -> Result<pb::LeaseKeepAliveResponse, Status> {
        let command = kv::Command::LeaseKeepAlive {
            id: kv::LeaseId(id),
        };
        match self.write(command).await {
            Ok((kv::Response::LeaseKeepAlive(renewed), term)) => Ok(pb::LeaseKeepAliveResponse {
                header: Some(self.header(renewed.header.revision.0, term)),
                id,
                ttl: renewed.ttl_s,
            }),
            Ok(_) => Err(Status::internal(
                "paxon: a keep-alive answered with another kind",
            )),
            Err(status) if status.code() == tonic::Code::NotFound => {
                let status = self.status().await?;
                Ok(pb::LeaseKeepAliveResponse {
                    header: Some(self.header(status.revision, status.term)),
                    id,
                    ttl: 0,
                })
            }
            Err(status) => Err(status),
        }
    }
}

type KeepAliveOut = Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::lease_server::Lease for Handle {
    type LeaseKeepAliveStream = KeepAliveOut;

    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let request = request.into_inner();
        let (response, term) = self.grant(kv::LeaseId(request.id), request.ttl).await?;
        let kv::Response::LeaseGrant(granted) = response else {
            return Err(Status::internal(
                "paxon: a grant answered with another kind",
            ));
        };
        Ok(Response::new(pb::LeaseGrantResponse {
            header: Some(self.header(granted.header.revision.0, term)),
            id: granted.id.0,
            ttl: granted.ttl_s,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let id = kv::LeaseId(request.id);
        if self.caller(&metadata).await?.is_some() {
            // etcd: revoking deletes the lease's keys, so it needs write
            // permission on every one of them.
            let (info, _, _) = self.time_to_live(id).await?;
            let accesses: Vec<Access> = info
                .map(|info| info.keys)
                .unwrap_or_default()
                .into_iter()
                .map(|key| (key, Vec::new(), kv::PermissionKind::Write))
                .collect();
            self.check_access(&metadata, &accesses).await?;
        }
        let (response, term) = self.write(kv::Command::LeaseRevoke { id }).await?;
        Ok(Response::new(pb::LeaseRevokeResponse {
            header: Some(self.header(response.header().revision.0, term)),
        }))
    }

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut inbound = request.into_inner();
        let (out, out_rx) = mpsc::channel(KEEP_ALIVE_OUT_MAX);
        let handle = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(request)) = inbound.message().await {
                let answer = handle.keep_alive_once(request.id).await;
                let failed = answer.is_err();
                if out.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let (info, revision, term) = self.time_to_live(kv::LeaseId(request.id)).await?;
        let header = Some(self.header(revision, term));
        // etcd answers an unknown lease with TTL -1, not an error.
        let response = match info {
            None => pb::LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: -1,
                ..Default::default()
            },
            Some(info) => pb::LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: info.remaining_s,
                granted_ttl: info.ttl_s,
                keys: if request.keys { info.keys } else { Vec::new() },
            },
        };
        Ok(Response::new(response))
    }

    async fn lease_leases(
        &self,
        _: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        self.read_point().await?;
        let (ids, revision, term) = self
            .ask(|reply| ClientOp::Lease(LeaseQuery::List { reply }))
            .await?;
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: Some(self.header(revision, term)),
            leases: ids
                .into_iter()
                .map(|id| pb::LeaseStatus { id: id.0 })
                .collect(),
        }))
    }
}
