//! The `Election` service (etcd's v3election, built like
//! `clientv3/concurrency`'s `Election`): candidates queue as keys
//! `name/<lease in hex>` holding their proposal; the first-created key is
//! the leader. Errors carry etcd 3.4's messages (plain errors there, so
//! gRPC code UNKNOWN).

use std::pin::Pin;

use paxon_kv as kv;
use paxon_proto::v3electionpb as epb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};

use super::auth::{key_accesses, queue_accesses};
use super::lock::{first_created, first_kv, join_queue, queue_key, Attempt};
use super::{convert, Handle};
use crate::watch::{WatchMsg, WatchSpec};
use paxon_kv::PermissionKind::{Read, Write};

/// Leader changes queued for an observer before the task waits.
const OBSERVE_OUT_MAX: usize = 16;

fn not_leader() -> Status {
    Status::new(Code::Unknown, "election: not leader")
}

fn no_leader() -> Status {
    Status::new(Code::Unknown, "election: no leader")
}

fn missing_leader() -> Status {
    Status::new(Code::Unknown, "\"leader\" field must be provided")
}

fn prefix_of(name: &[u8]) -> Vec<u8> {
    [name, b"/"].concat()
}

/// `If(create_revision(key) = rev)`: the caller still leads.
fn still_leads(leader: &epb::LeaderKey) -> kv::Compare {
    kv::Compare {
        result: kv::CompareResult::Equal,
        target: kv::CompareTarget::Create(kv::Revision(leader.rev)),
        key: leader.key.clone(),
        range_end: Vec::new(),
    }
}

impl Handle {
    /// etcd's `Election.Proclaim`: a new value, only while still leading.
    async fn proclaim_value(
        &self,
        leader: &epb::LeaderKey,
        value: Vec<u8>,
    ) -> Result<(kv::Header, u64), Status> {
        let put = kv::PutRequest {
            key: leader.key.clone(),
            value,
            ignore_lease: true,
            ..Default::default()
        };
        let txn = kv::TxnRequest {
            compare: vec![still_leads(leader)],
            success: vec![kv::RequestOp::Put(put)],
            failure: Vec::new(),
        };
        let (answer, term) = self.txn(txn).await?;
        match answer.succeeded {
            true => Ok((answer.header, term)),
            false => Err(not_leader()),
        }
    }

    /// etcd's `Election.Campaign`: joins the queue with `value` (or
    /// proclaims it if already queued) and waits to lead.
    async fn campaign_for(
        &self,
        name: &[u8],
        lease: i64,
        value: Vec<u8>,
    ) -> Result<(epb::LeaderKey, kv::Header, u64), Status> {
        let prefix = prefix_of(name);
        let key = queue_key(&prefix, lease);
        let txn = join_queue(&key, value.clone(), lease, Vec::new());
        let (answer, term) = self.txn(txn).await?;
        let mut attempt = Attempt {
            handle: self.clone(),
            key: key.clone(),
            done: false,
        };
        let mut leader = epb::LeaderKey {
            name: name.to_vec(),
            key,
            rev: answer.header.revision.0,
            lease,
        };
        if !answer.succeeded {
            let Some(mine) = answer.responses.first().and_then(first_kv) else {
                return Err(Status::internal("paxon: campaign key vanished"));
            };
            leader.rev = mine.create_revision.0;
            if mine.value != value {
                self.proclaim_value(&leader, value).await?;
            }
        }
        self.wait_deletes(&prefix, kv::Revision(leader.rev - 1))
            .await?;
        attempt.done = true;
        Ok((leader, answer.header, term))
    }

    /// The first-created key under `name/`, with the read's header.
    async fn current_leader(
        &self,
        name: &[u8],
    ) -> Result<(Option<kv::KeyValue>, kv::Header, u64), Status> {
        let (range, term) = self.read(first_created(&prefix_of(name))).await?;
        Ok((range.kvs.into_iter().next(), range.header, term))
    }

    /// etcd's `Election.Observe`: the leader now, then each change, until
    /// the client goes.
    async fn observe_into(&self, name: Vec<u8>, out: ObserveOut) -> Result<(), Status> {
        let prefix = prefix_of(&name);
        loop {
            let (leader, header, term) = self.current_leader(&name).await?;
            let (leader, revision) = match leader {
                Some(kv) => (kv, header.revision),
                None => self.first_candidate(&prefix, header.revision).await?,
            };
            let response = epb::LeaderResponse {
                header: Some(self.header(revision.0, term)),
                kv: Some(convert::key_value(leader.clone())),
            };
            if out.send(Ok(response)).await.is_err() {
                return Ok(());
            }
            if !self.follow_leader(leader.key, revision, &out).await? {
                return Ok(());
            }
        }
    }

    /// Waits for the first key put under `prefix` after `after`.
    async fn first_candidate(
        &self,
        prefix: &[u8],
        after: kv::Revision,
    ) -> Result<(kv::KeyValue, kv::Revision), Status> {
        let spec = WatchSpec {
            key: prefix.to_vec(),
            range_end: kv::prefix_range_end(prefix),
            start_revision: after.0 + 1,
            no_delete: true,
            ..Default::default()
        };
        let (_stream, mut events) = self.own_watch(spec).await?;
        while let Some(msg) = events.recv().await {
            if let WatchMsg::Events { events, .. } = msg {
                if let Some(first) = events.into_iter().next() {
                    let revision = first.kv.mod_revision;
                    return Ok((first.kv, revision));
                }
            }
        }
        Err(crate::error::ServeError::Stopped.into())
    }

    /// Sends each proclamation of the leader `key` until it is deleted
    /// (true) or the observer goes (false).
    async fn follow_leader(
        &self,
        key: Vec<u8>,
        after: kv::Revision,
        out: &ObserveOut,
    ) -> Result<bool, Status> {
        let spec = WatchSpec {
            key,
            start_revision: after.0 + 1,
            ..Default::default()
        };
        let (_stream, mut events) = self.own_watch(spec).await?;
        while let Some(msg) = events.recv().await {
            let WatchMsg::Events {
                events,
                revision,
                term,
                ..
            } = msg
            else {
                continue;
            };
            for event in events {
                if event.kind == kv::EventKind::Delete {
                    return Ok(true);
                }
                let response = epb::LeaderResponse {
                    header: Some(self.header(revision, term)),
                    kv: Some(convert::key_value(event.kv)),
                };
                if out.send(Ok(response)).await.is_err() {
                    return Ok(false);
                }
            }
        }
        Err(crate::error::ServeError::Stopped.into())
    }
}

type ObserveOut = mpsc::Sender<Result<epb::LeaderResponse, Status>>;

#[tonic::async_trait]
impl epb::election_server::Election for Handle {
    type ObserveStream = Pin<Box<dyn Stream<Item = Result<epb::LeaderResponse, Status>> + Send>>;

    async fn campaign(
        &self,
        request: Request<epb::CampaignRequest>,
    ) -> Result<Response<epb::CampaignResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_access(&metadata, &queue_accesses(&request.name, &[Read, Write]))
            .await?;
        let (leader, header, term) = self
            .campaign_for(&request.name, request.lease, request.value)
            .await?;
        Ok(Response::new(epb::CampaignResponse {
            header: Some(self.header(header.revision.0, term)),
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<epb::ProclaimRequest>,
    ) -> Result<Response<epb::ProclaimResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let leader = request.leader.ok_or_else(missing_leader)?;
        self.check_access(&metadata, &key_accesses(&leader.key, &[Read, Write]))
            .await?;
        let (header, term) = self.proclaim_value(&leader, request.value).await?;
        Ok(Response::new(epb::ProclaimResponse {
            header: Some(self.header(header.revision.0, term)),
        }))
    }

    async fn leader(
        &self,
        request: Request<epb::LeaderRequest>,
    ) -> Result<Response<epb::LeaderResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_access(&metadata, &queue_accesses(&request.name, &[Read]))
            .await?;
        let (leader, header, term) = self.current_leader(&request.name).await?;
        let leader = leader.ok_or_else(no_leader)?;
        Ok(Response::new(epb::LeaderResponse {
            header: Some(self.header(header.revision.0, term)),
            kv: Some(convert::key_value(leader)),
        }))
    }

    async fn observe(
        &self,
        request: Request<epb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_access(&metadata, &queue_accesses(&request.name, &[Read]))
            .await?;
        let name = request.name;
        let (out, out_rx) = mpsc::channel(OBSERVE_OUT_MAX);
        let handle = self.clone();
        tokio::spawn(async move {
            if let Err(status) = handle.observe_into(name, out.clone()).await {
                let _ = out.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn resign(
        &self,
        request: Request<epb::ResignRequest>,
    ) -> Result<Response<epb::ResignResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let leader = request.leader.ok_or_else(missing_leader)?;
        self.check_access(&metadata, &key_accesses(&leader.key, &[Read, Write]))
            .await?;
        let delete = kv::DeleteRangeRequest {
            key: leader.key.clone(),
            ..Default::default()
        };
        let txn = kv::TxnRequest {
            compare: vec![still_leads(&leader)],
            success: vec![kv::RequestOp::DeleteRange(delete)],
            failure: Vec::new(),
        };
        let (answer, term) = self.txn(txn).await?;
        Ok(Response::new(epb::ResignResponse {
            header: Some(self.header(answer.header.revision.0, term)),
        }))
    }
}
