//! `Cluster` and `Maintenance`: what `etcdctl member list`, `etcdctl
//! endpoint status` and `etcdctl alarm list|disarm` show.

use paxon_kv as kv;
use paxon_proto::etcdserverpb as pb;
use paxon_proto::unimplemented;
use tonic::{Request, Response, Status};

use super::unimplemented::NoStream;
use super::Handle;
use crate::config::new_member_id;
use crate::error::ServeError;
use crate::member::{ClientOp, StatusInfo};
use crate::reconfig::{normalized, MemberChange};
use crate::state::Hashed;
use paxon_core::{Membership, NodeId};

impl Handle {
    async fn hash_kv_at(&self, revision: i64) -> Result<(Hashed, u64), Status> {
        let answer = self
            .ask(|reply| ClientOp::HashKv { revision, reply })
            .await?;
        Ok(answer?)
    }
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for Handle {
    async fn member_list(
        &self,
        _: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let status = self.status().await?;
        let (_, latest) = status.memberships.latest();
        let members = self.members_of(latest, &status);
        Ok(Response::new(pb::MemberListResponse {
            header: Some(self.header(status.revision, status.term)),
            members,
        }))
    }

    /// §3.3.6: the configuration with the new member, chosen as a decree,
    /// and its peer URLs in the member directory. The new member's id is
    /// drawn here, from its peer URLs, the cluster and the time (as etcd
    /// does, so that an id is never reused); it learns it when it joins
    /// (`crate::join`). With auth enabled, root only.
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        self.check_admin(&request).await?;
        let request = request.into_inner();
        let peer_urls = normalized(&request.peer_ur_ls)?;
        let id = new_member_id(&peer_urls, self.cluster.cluster_id, unix_nanos());
        let change = MemberChange::Add {
            id,
            peer_urls: peer_urls.clone(),
            learner: request.is_learner,
        };
        let (mut members, header) = self.change_membership(change).await?;
        // This member may not have applied the directory entry yet.
        for member in members.iter_mut().filter(|m| m.id == id.0) {
            member.peer_ur_ls = peer_urls.clone();
        }
        let member = pb::Member {
            id: id.0,
            name: String::new(),
            peer_ur_ls: peer_urls,
            client_ur_ls: Vec::new(),
            is_learner: request.is_learner,
        };
        Ok(Response::new(pb::MemberAddResponse {
            header: Some(header),
            member: Some(member),
            members,
        }))
    }

    /// §3.3.6: the configuration without the member, chosen as a decree;
    /// answered once applied here (it takes effect α slots later). With
    /// auth enabled, root only (as etcd).
    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        self.check_admin(&request).await?;
        let id = NodeId(request.into_inner().id);
        let (members, header) = self.change_membership(MemberChange::Remove(id)).await?;
        Ok(Response::new(pb::MemberRemoveResponse {
            header: Some(header),
            members,
        }))
    }

    /// New peer URLs for a member: a directory decree (members dial it
    /// there from then on). The checks are made against this member's
    /// view before proposing. With auth enabled, root only.
    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        self.check_admin(&request).await?;
        let request = request.into_inner();
        let id = NodeId(request.id);
        let peer_urls = normalized(&request.peer_ur_ls)?;
        let status = self.status().await?;
        let (_, latest) = status.memberships.latest();
        if !latest.contains(id) {
            return Err(ServeError::MemberNotFound.into());
        }
        let taken = latest.all().filter(|m| *m != id).any(|other| {
            status.directory.get(&other).is_some_and(|info| {
                normalized(&info.peer_urls)
                    .unwrap_or_default()
                    .iter()
                    .any(|url| peer_urls.contains(url))
            })
        });
        if taken {
            return Err(ServeError::PeerUrlExists.into());
        }
        let name = status
            .directory
            .get(&id)
            .map(|info| info.name.clone())
            .unwrap_or_default();
        let attrs = kv::MemberAttrs { name, peer_urls };
        let command = kv::Command::MemberAttrs { id: id.0, attrs };
        let (response, term) = self.propose(command).await?;
        let status = self.status().await?;
        let (_, latest) = status.memberships.latest();
        Ok(Response::new(pb::MemberUpdateResponse {
            header: Some(self.header(response.header().revision.0, term)),
            members: self.members_of(latest, &status),
        }))
    }

    /// A learner becomes a voter, once caught up with the leader. With
    /// auth enabled, root only.
    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        self.check_admin(&request).await?;
        let id = NodeId(request.into_inner().id);
        let (members, header) = self.change_membership(MemberChange::Promote(id)).await?;
        Ok(Response::new(pb::MemberPromoteResponse {
            header: Some(header),
            members,
        }))
    }
}

impl Handle {
    /// Asks the driver for `change` and lists the configuration it made.
    async fn change_membership(
        &self,
        change: MemberChange,
    ) -> Result<(Vec<pb::Member>, pb::ResponseHeader), Status> {
        let answer = self
            .ask(|reply| ClientOp::Reconfigure { change, reply })
            .await?;
        let membership = answer?;
        let status = self.status().await?;
        let members = self.members_of(&membership, &status);
        Ok((members, self.header(status.revision, status.term)))
    }

    /// The members of `membership` as etcd lists them, by id. A member
    /// added but not started has no name yet; one whose directory entry
    /// this member has not applied yet is listed by id alone.
    fn members_of(&self, membership: &Membership, status: &StatusInfo) -> Vec<pb::Member> {
        let mut ids: Vec<NodeId> = membership.all().collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let info = status.directory.get(&id);
                let client_urls = if id == self.cluster.me {
                    self.cluster.client_urls.clone()
                } else {
                    status
                        .client_urls
                        .get(&id)
                        .map(|urls| urls.split(',').map(str::to_string).collect())
                        .unwrap_or_default()
                };
                pb::Member {
                    id: id.0,
                    name: info.map(|m| m.name.clone()).unwrap_or_default(),
                    peer_ur_ls: info.map(|m| m.peer_urls.clone()).unwrap_or_default(),
                    client_ur_ls: client_urls,
                    is_learner: !membership.is_voter(id),
                }
            })
            .collect()
    }
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
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
            errors: status_errors(&status),
            db_size_in_use: status.db_size as i64,
            is_learner: !status.memberships.latest().1.is_voter(status.me),
            ..Default::default()
        }))
    }

    /// etcd's `Alarm`: GET lists this member's view of the alarms;
    /// ACTIVATE and DEACTIVATE are decrees, answered once applied here.
    /// An alarm type of NONE (or an unknown one) raises or clears nothing,
    /// as in etcd.
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        use pb::alarm_request::AlarmAction;
        let request = request.into_inner();
        let action = match AlarmAction::try_from(request.action) {
            Ok(AlarmAction::Get) => {
                let status = self.status().await?;
                return Ok(Response::new(pb::AlarmResponse {
                    header: Some(self.header(status.revision, status.term)),
                    alarms: status.alarms.iter().map(alarm_member).collect(),
                }));
            }
            Ok(AlarmAction::Activate) => kv::AlarmAction::Activate,
            Ok(AlarmAction::Deactivate) => kv::AlarmAction::Deactivate,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "paxon: unknown alarm action {}",
                    request.action
                )))
            }
        };
        let Some(alarm) = kv::AlarmType::from_code(i64::from(request.alarm)) else {
            let status = self.status().await?;
            return Ok(Response::new(pb::AlarmResponse {
                header: Some(self.header(status.revision, status.term)),
                alarms: Vec::new(),
            }));
        };
        let alarm = kv::AlarmMember {
            member: request.member_id,
            alarm,
        };
        let (response, term) = self.propose(kv::Command::Alarm { action, alarm }).await?;
        let kv::Response::Alarm(answer) = response else {
            return Err(Status::internal(
                "paxon: an alarm answered with another kind",
            ));
        };
        Ok(Response::new(pb::AlarmResponse {
            header: Some(self.header(answer.header.revision.0, term)),
            alarms: answer.alarms.iter().map(alarm_member).collect(),
        }))
    }

    /// Paxon's store lives in memory and its ledger is trimmed at every
    /// snapshot: there is nothing to defragment, and saying so is the
    /// truthful success (`etcdctl defrag` scripts keep working).
    async fn defragment(
        &self,
        request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        self.check_admin(&request).await?;
        let status = self.status().await?;
        Ok(Response::new(pb::DefragmentResponse {
            header: Some(self.header(status.revision, status.term)),
        }))
    }

    /// The hash of this member's whole key-value history (etcd hashes its
    /// backend file; members that applied the same decrees agree).
    async fn hash(
        &self,
        request: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        self.check_admin(&request).await?;
        let (hashed, term) = self.hash_kv_at(0).await?;
        Ok(Response::new(pb::HashResponse {
            header: Some(self.header(hashed.current, term)),
            hash: hashed.hash,
        }))
    }

    /// etcd's `HashKV`: local to the member, equal on every member at the
    /// same revision.
    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        self.check_admin(&request).await?;
        let (hashed, term) = self.hash_kv_at(request.into_inner().revision).await?;
        Ok(Response::new(pb::HashKvResponse {
            header: Some(self.header(hashed.current, term)),
            hash: hashed.hash,
            compact_revision: hashed.compact_revision,
            hash_revision: hashed.revision,
        }))
    }

    /// Streams this member's store as a backup file (`crate::backup`), in
    /// chunks of 32 KiB as etcd does. It holds every key: with auth
    /// enabled, root only (etcd's maintenance services need the root role:
    /// defragment, hash, hash-kv and snapshot).
    async fn snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.check_admin(&request).await?;
        const CHUNK: usize = 32 * 1024;
        let (store, revision, term) = self.ask(|reply| ClientOp::Backup { reply }).await?;
        let file = crate::backup::encode(&store);
        let header = self.header(revision, term);
        let total = file.len();
        let chunks: Vec<Result<pb::SnapshotResponse, Status>> = file
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, blob)| {
                Ok(pb::SnapshotResponse {
                    header: Some(header),
                    remaining_bytes: (total - (i * CHUNK + blob.len())) as u64,
                    blob: blob.to_vec(),
                    version: ETCD_API_VERSION.to_string(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
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

fn alarm_member(alarm: &kv::AlarmMember) -> pb::AlarmMember {
    pb::AlarmMember {
        member_id: alarm.member,
        alarm: i32::from(alarm.alarm.code()),
    }
}

/// `Status.errors`: no leader, and every raised alarm written as etcd
/// writes it (`memberID:<id> alarm:NOSPACE `, the text form of the
/// protobuf message, trailing space included).
fn status_errors(status: &StatusInfo) -> Vec<String> {
    let no_leader = status
        .leader
        .is_none()
        .then(|| "etcdserver: no leader".to_string());
    let alarms = status
        .alarms
        .iter()
        .map(|a| format!("memberID:{} alarm:{} ", a.member, a.alarm.name()));
    no_leader.into_iter().chain(alarms).collect()
}
