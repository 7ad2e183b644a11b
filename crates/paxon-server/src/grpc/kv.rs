//! The `KV` service: Range, Put, DeleteRange, Txn, Compact.

use paxon_kv as kv;
use paxon_proto::etcdserverpb as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use super::auth::txn_accesses;
use super::{convert, Handle};
use crate::error::ServeError;
use crate::member::ClientOp;
use paxon_kv::PermissionKind::{Read, Write};

impl Handle {
    /// Refuses requests over `--max-request-bytes` (etcd's check).
    fn check_size(&self, message: &impl Message) -> Result<(), Status> {
        if message.encoded_len() > self.cluster.max_request_bytes {
            return Err(ServeError::TooLarge.into());
        }
        Ok(())
    }

    /// Proposes a client's command, within the quota, and waits until this
    /// member applied it.
    pub(super) async fn write(&self, command: kv::Command) -> Result<(kv::Response, u64), Status> {
        command.validate(&self.limits).map_err(ServeError::from)?;
        self.check_quota(&command)?;
        self.propose(command).await
    }

    /// Proposes a command and waits until this member applied it.
    pub(super) async fn propose(
        &self,
        command: kv::Command,
    ) -> Result<(kv::Response, u64), Status> {
        let answer = self
            .ask(|reply| ClientOp::Write { command, reply })
            .await
            .and_then(|answer| answer);
        // etcd's `proposals_failed_total`: the decree's fate went wrong
        // (not the state machine's refusal of a chosen one).
        if matches!(&answer, Err(error) if !matches!(error, ServeError::Kv(_))) {
            self.cluster.metrics.proposals_failed.inc();
        }
        Ok(answer?)
    }

    /// etcd's quota check (`quotaKVServer`): a write that would take the
    /// store over `--quota-backend-bytes` is refused and raises the NOSPACE
    /// alarm for the whole cluster, by decree. Until an operator disarms
    /// it, every member refuses such writes when applying them.
    fn check_quota(&self, command: &kv::Command) -> Result<(), Status> {
        if !command.adds_data() {
            return Ok(());
        }
        let db_size = self
            .cluster
            .db_size
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut encoded = Vec::new();
        command.encode(&mut encoded);
        if db_size + encoded.len() as u64 <= self.cluster.quota_backend_bytes {
            return Ok(());
        }
        let alarm = kv::Command::Alarm {
            action: kv::AlarmAction::Activate,
            alarm: kv::AlarmMember {
                member: self.cluster.me.0,
                alarm: kv::AlarmType::NoSpace,
            },
        };
        let handle = self.clone();
        tokio::spawn(async move {
            if let Err(error) = handle.propose(alarm).await {
                tracing::warn!(%error, "could not raise the NOSPACE alarm");
            }
        });
        Err(ServeError::NoSpace.into())
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for Handle {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let read = (request.key.clone(), request.range_end.clone(), Read);
        self.check_access(&metadata, &[read]).await?;
        self.check_size(&request)?;
        let linearizable = !request.serializable;
        let request = convert::range_request(request);
        let answer = self
            .ask(|reply| ClientOp::Read {
                request,
                linearizable,
                reply,
            })
            .await?;
        let (ranged, term) = answer?;
        let header = self.header(ranged.header.revision.0, term);
        Ok(Response::new(convert::range_response(ranged, header)))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let mut accesses = vec![(request.key.clone(), Vec::new(), Write)];
        if request.prev_kv {
            accesses.push((request.key.clone(), Vec::new(), Read));
        }
        self.check_access(&metadata, &accesses).await?;
        self.check_size(&request)?;
        let (response, term) = self
            .write(kv::Command::Put(convert::put_request(request)))
            .await?;
        let kv::Response::Put(put) = response else {
            return Err(Status::internal("paxon: a put answered with another kind"));
        };
        let header = self.header(put.header.revision.0, term);
        Ok(Response::new(convert::put_response(put, header)))
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let span = (request.key.clone(), request.range_end.clone());
        let mut accesses = vec![(span.0.clone(), span.1.clone(), Write)];
        if request.prev_kv {
            accesses.push((span.0, span.1, Read));
        }
        self.check_access(&metadata, &accesses).await?;
        self.check_size(&request)?;
        let command = kv::Command::DeleteRange(convert::delete_request(request));
        let (response, term) = self.write(command).await?;
        let kv::Response::DeleteRange(deleted) = response else {
            return Err(Status::internal(
                "paxon: a delete answered with another kind",
            ));
        };
        let header = self.header(deleted.header.revision.0, term);
        Ok(Response::new(convert::delete_response(deleted, header)))
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_size(&request)?;
        let txn = convert::txn_request(request).map_err(Status::invalid_argument)?;
        let mut accesses = Vec::new();
        txn_accesses(&txn, &mut accesses);
        self.check_access(&metadata, &accesses).await?;
        let (response, term) = self.write(kv::Command::Txn(txn)).await?;
        let kv::Response::Txn(txn) = response else {
            return Err(Status::internal("paxon: a txn answered with another kind"));
        };
        let header = self.header(txn.header.revision.0, term);
        Ok(Response::new(convert::txn_response(txn, header)))
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        // As in etcd: any authenticated user may compact.
        self.caller(request.metadata()).await?;
        let request = request.into_inner();
        let command = kv::Command::Compact(kv::CompactionRequest {
            revision: kv::Revision(request.revision),
            physical: request.physical,
        });
        let (response, term) = self.write(command).await?;
        let header = self.header(response.header().revision.0, term);
        Ok(Response::new(pb::CompactionResponse {
            header: Some(header),
        }))
    }
}
