//! `Cluster` and `Maintenance`: what `etcdctl member list` and `etcdctl
//! endpoint status` show.

use paxon_proto::etcdserverpb as pb;
use paxon_proto::unimplemented;
use tonic::{Request, Response, Status};

use super::unimplemented::NoStream;
use super::Handle;

#[tonic::async_trait]
impl pb::cluster_server::Cluster for Handle {
    async fn member_list(
        &self,
        _: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let status = self.status().await?;
        let mut members: Vec<_> = self.cluster.members.iter().collect();
        members.sort_by_key(|m| m.id);
        let members = members
            .into_iter()
            .map(|m| {
                let client_urls = if m.id == self.cluster.me {
                    self.cluster.client_urls.clone()
                } else {
                    status
                        .client_urls
                        .get(&m.id)
                        .map(|urls| urls.split(',').map(str::to_string).collect())
                        .unwrap_or_default()
                };
                pb::Member {
                    id: m.id.0,
                    name: m.name.clone(),
                    peer_ur_ls: m.peer_urls.clone(),
                    client_ur_ls: client_urls,
                    is_learner: false,
                }
            })
            .collect();
        Ok(Response::new(pb::MemberListResponse {
            header: Some(self.header(status.revision, status.term)),
            members,
        }))
    }

    async fn member_add(
        &self,
        _: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(unimplemented("Cluster.MemberAdd"))
    }

    async fn member_remove(
        &self,
        _: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(unimplemented("Cluster.MemberRemove"))
    }

    async fn member_update(
        &self,
        _: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(unimplemented("Cluster.MemberUpdate"))
    }

    async fn member_promote(
        &self,
        _: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(unimplemented("Cluster.MemberPromote"))
    }
}

/// The etcd API version Paxon implements (clients check it for features).
pub const ETCD_API_VERSION: &str = "3.5.0";

#[tonic::async_trait]
impl pb::maintenance_server::Maintenance for Handle {
    type SnapshotStream = NoStream<pb::SnapshotResponse>;

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let status = self.status().await?;
        Ok(Response::new(pb::StatusResponse {
            header: Some(self.header(status.revision, status.term)),
            version: ETCD_API_VERSION.to_string(),
            db_size: status.db_size as i64,
            leader: status.leader.map_or(0, |l| l.0),
            raft_index: status.commit.0,
            raft_term: status.term,
            raft_applied_index: status.applied.0,
            errors: if status.leader.is_none() {
                vec!["etcdserver: no leader".to_string()]
            } else {
                vec![]
            },
            db_size_in_use: status.db_size as i64,
            is_learner: false,
            ..Default::default()
        }))
    }

    async fn alarm(
        &self,
        _: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        Err(unimplemented("Maintenance.Alarm"))
    }

    async fn defragment(
        &self,
        _: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Err(unimplemented("Maintenance.Defragment"))
    }

    async fn hash(
        &self,
        _: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        Err(unimplemented("Maintenance.Hash"))
    }

    async fn hash_kv(
        &self,
        _: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        Err(unimplemented("Maintenance.HashKV"))
    }

    async fn snapshot(
        &self,
        _: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(unimplemented("Maintenance.Snapshot"))
    }

    async fn move_leader(
        &self,
        _: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        Err(unimplemented("Maintenance.MoveLeader"))
    }

    async fn downgrade(
        &self,
        _: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(unimplemented("Maintenance.Downgrade"))
    }
}
