//! etcd's `MemberAdd`, `MemberRemove` and `MemberPromote` in the driver: a
//! change of the configuration is a decree (§3.3.6,
//! `paxon_core::Membership`) proposed by the leader and answered once
//! applied there. A follower forwards the change to the leader, as etcd
//! lets any member take it.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use paxon_core::codec::{decode_records, encode_records};
use paxon_core::{Membership, MembershipError, Memberships, NodeId, ReconfigureError, Record};
use tokio::sync::oneshot;

use crate::config::Url;
use crate::error::ServeError;
use crate::member::{Member, REQUEST_TIMEOUT};
use crate::peer::PeerFrame;
use crate::seat::{self, SeatError};

/// A change an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// `etcdctl member add --peer-urls=… [--learner]`, with the id the
    /// member that took the request drew.
    Add {
        /// The new member's id.
        id: NodeId,
        /// Its peer URLs, as given.
        peer_urls: Vec<String>,
        /// Whether it joins as a learner.
        learner: bool,
    },
    /// `etcdctl member remove ID`.
    Remove(NodeId),
    /// `etcdctl member promote ID`.
    Promote(NodeId),
}

impl MemberChange {
    /// `[kind u8]` (1 remove, 2 promote, 3 add a voter, 4 add a learner),
    /// `id u64`, and for an addition the peer URLs (`crate::seat`'s
    /// strings).
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            MemberChange::Remove(id) => {
                out.put_u8(1);
                out.put_u64_le(id.0);
            }
            MemberChange::Promote(id) => {
                out.put_u8(2);
                out.put_u64_le(id.0);
            }
            MemberChange::Add {
                id,
                peer_urls,
                learner,
            } => {
                out.put_u8(if *learner { 4 } else { 3 });
                out.put_u64_le(id.0);
                seat::put_strs(out, peer_urls);
            }
        }
    }

    /// Reads what [`MemberChange::encode`] wrote.
    pub fn decode(b: &mut Bytes) -> Result<MemberChange, SeatError> {
        let kind = seat::get_u8(b)?;
        let id = NodeId(seat::get_u64(b)?);
        Ok(match kind {
            1 => MemberChange::Remove(id),
            2 => MemberChange::Promote(id),
            3 | 4 => MemberChange::Add {
                id,
                peer_urls: seat::get_strs(b)?,
                learner: kind == 4,
            },
            _ => return Err(SeatError::Malformed("unknown membership change")),
        })
    }
}

/// Where the answer goes: the configuration once the change is applied.
pub type ChangeReply = oneshot::Sender<Result<Membership, ServeError>>;

/// Who asked for a change: a local client, or a follower's request.
pub(crate) enum Asker {
    /// A client of this member.
    Local(ChangeReply),
    /// A follower, by its request id.
    Peer(NodeId, u64),
}

/// Changes proposed here waiting to be applied, and changes forwarded to
/// the leader waiting for its answer.
#[derive(Default)]
pub struct Waiting {
    proposed: Vec<(Membership, Asker)>,
    forwarded: BTreeMap<u64, (Instant, NodeId, ChangeReply)>,
}

impl Member {
    /// Proposes `change` of the newest configuration as leader, or
    /// forwards it to the leader.
    pub(crate) fn reconfigure(&mut self, change: MemberChange, asker: Asker) {
        if !self.replica.is_leader() {
            match (asker, self.replica.leader()) {
                (Asker::Local(reply), Some(leader)) => {
                    let id = self.new_request_id();
                    self.transport
                        .send(leader, &PeerFrame::Reconfigure { id, change });
                    let waiting = (Instant::now(), leader, reply);
                    self.reconfig.forwarded.insert(id, waiting);
                }
                (asker, leader) => {
                    let error = match leader {
                        Some(_) => ServeError::NotLeader,
                        None => ServeError::NoLeader,
                    };
                    self.answer_change(asker, Err(error));
                }
            }
            return;
        }
        let (_, latest) = self.replica.memberships().latest();
        let next = match self.changed(latest, &change) {
            Ok(next) => next,
            Err(error) => return self.answer_change(asker, Err(error)),
        };
        match self.replica.propose_reconfigure(next.clone()) {
            Ok(()) => {
                if let MemberChange::Add { id, peer_urls, .. } = change {
                    self.publish_member(id, String::new(), peer_urls);
                }
                self.reconfig.proposed.push((next, asker));
            }
            Err(error) => self.answer_change(asker, Err(refused(error))),
        }
    }

    /// Answers whoever asked for a change.
    fn answer_change(&self, asker: Asker, outcome: Result<Membership, ServeError>) {
        match asker {
            Asker::Local(reply) => {
                let _ = reply.send(outcome);
            }
            Asker::Peer(to, id) => {
                let outcome = outcome.map_err(|e| refusal_code(&e));
                self.transport
                    .send(to, &PeerFrame::Reconfigured { id, outcome });
            }
        }
    }

    /// The leader's answer to a change this member forwarded.
    pub(crate) fn reconfigured_by_leader(&mut self, id: u64, outcome: Result<Membership, u8>) {
        if let Some((_, _, reply)) = self.reconfig.forwarded.remove(&id) {
            let _ = reply.send(outcome.map_err(refusal));
        }
    }

    /// A configuration decree was applied here: answer who asked for it.
    pub(crate) fn reconfigured(&mut self, membership: &Membership) {
        tracing::info!(
            voters = ?membership.voters(),
            learners = ?membership.learners(),
            "configuration chosen; it takes effect after the pipeline window"
        );
        let waiting = std::mem::take(&mut self.reconfig.proposed);
        for (asked, asker) in waiting {
            if &asked == membership {
                self.answer_change(asker, Ok(asked));
            } else {
                self.reconfig.proposed.push((asked, asker));
            }
        }
    }

    /// Leadership moved to `leader`: a change proposed here and not applied
    /// yet may never be, and one forwarded to another member may never be
    /// answered (its outcome is unknown, as for a forwarded write).
    pub(crate) fn reconfigure_abandoned(&mut self, leader: Option<NodeId>) {
        if leader != Some(self.me) {
            for (_, asker) in std::mem::take(&mut self.reconfig.proposed) {
                self.answer_change(asker, Err(ServeError::LeaderChanged));
            }
        }
        self.reconfig.forwarded.retain(|_, (_, to, reply)| {
            if Some(*to) == leader {
                return true;
            }
            let reply = std::mem::replace(reply, oneshot::channel().0);
            let _ = reply.send(Err(ServeError::TimeoutLeaderFailed));
            false
        });
    }

    /// Forwarded changes the leader did not answer in time.
    pub(crate) fn expire_forwarded_changes(&mut self, now: Instant) {
        let expired = |at: &Instant| now.duration_since(*at) > REQUEST_TIMEOUT;
        let old: Vec<u64> = self
            .reconfig
            .forwarded
            .iter()
            .filter(|(_, (at, _, _))| expired(at))
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((_, _, reply)) = self.reconfig.forwarded.remove(&id) {
                let _ = reply.send(Err(ServeError::Timeout));
            }
        }
    }

    /// `latest` after `change`, or etcd's error for a change that cannot be.
    fn changed(
        &self,
        latest: &Membership,
        change: &MemberChange,
    ) -> Result<Membership, ServeError> {
        let mut voters = latest.voters().to_vec();
        let mut learners = latest.learners().to_vec();
        match change {
            MemberChange::Add {
                id,
                peer_urls,
                learner,
            } => {
                let wanted = normalized(peer_urls)?;
                if latest.contains(*id) {
                    return Err(ServeError::MemberExists);
                }
                let taken = latest.all().any(|member| {
                    self.member_info(member).is_some_and(|info| {
                        normalized(&info.peer_urls)
                            .unwrap_or_default()
                            .iter()
                            .any(|url| wanted.contains(url))
                    })
                });
                if taken {
                    return Err(ServeError::PeerUrlExists);
                }
                if *learner {
                    learners.push(*id);
                } else {
                    voters.push(*id);
                }
            }
            MemberChange::Remove(id) if latest.contains(*id) => {
                voters.retain(|n| n != id);
                learners.retain(|n| n != id);
            }
            MemberChange::Promote(id) if latest.is_voter(*id) => {
                return Err(ServeError::MemberNotLearner)
            }
            MemberChange::Promote(id) if latest.contains(*id) => {
                learners.retain(|n| n != id);
                voters.push(*id);
            }
            MemberChange::Remove(_) | MemberChange::Promote(_) => {
                return Err(ServeError::MemberNotFound)
            }
        }
        Membership::new(voters, learners).map_err(|error| match error {
            // etcd refuses to remove the last voting member the same way.
            MembershipError::NoVoter => ServeError::NotEnoughStarted,
            MembershipError::TooMany(_) => ServeError::TooManyRequests,
            other => unreachable!("a change of a valid configuration: {other}"),
        })
    }
}

/// Peer URLs as the directory compares them; etcd's "given member URLs
/// are invalid" for none or one that does not parse.
pub fn normalized(peer_urls: &[String]) -> Result<Vec<String>, ServeError> {
    if peer_urls.is_empty() {
        return Err(ServeError::MemberBadUrls);
    }
    peer_urls
        .iter()
        .map(|url| {
            Url::parse(url)
                .map(|u| u.to_url_string())
                .map_err(|_| ServeError::MemberBadUrls)
        })
        .collect()
}

fn refused(error: ReconfigureError) -> ServeError {
    match error {
        ReconfigureError::NotLeader { leader: Some(_) } => ServeError::NotLeader,
        ReconfigureError::NotLeader { leader: None } => ServeError::NoLeader,
        ReconfigureError::Pending => ServeError::ReconfigurationPending,
        ReconfigureError::LearnerNotReady(_) => ServeError::LearnerNotReady,
        ReconfigureError::NotEnoughStarted => ServeError::NotEnoughStarted,
    }
}

/// The refusals a leader sends back to a follower, as one byte.
const REFUSALS: [(u8, fn() -> ServeError); 12] = [
    (1, || ServeError::NoLeader),
    (2, || ServeError::NotLeader),
    (3, || ServeError::LeaderChanged),
    (4, || ServeError::MemberNotFound),
    (5, || ServeError::MemberNotLearner),
    (6, || ServeError::LearnerNotReady),
    (7, || ServeError::NotEnoughStarted),
    (8, || ServeError::ReconfigurationPending),
    (9, || ServeError::MemberExists),
    (10, || ServeError::PeerUrlExists),
    (11, || ServeError::MemberBadUrls),
    (12, || ServeError::TooManyRequests),
];

/// The byte for `error` (0: one without its own, read back as a timeout).
pub fn refusal_code(error: &ServeError) -> u8 {
    REFUSALS
        .iter()
        .find(|(_, make)| std::mem::discriminant(&make()) == std::mem::discriminant(error))
        .map_or(0, |(code, _)| *code)
}

/// The error a refusal byte stands for.
pub fn refusal(code: u8) -> ServeError {
    REFUSALS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(ServeError::Timeout, |(_, make)| make())
}

/// What a laggard is sent (§3.3.6: the configuration is part of the law
/// book): the configurations among the snapshot's core records, then the
/// store.
pub fn wrap_snapshot(core: &[Record], state: &[u8]) -> Bytes {
    let records: Vec<Record> = core
        .iter()
        .filter(|r| matches!(r, Record::Membership { .. }))
        .cloned()
        .collect();
    let mut out = Vec::with_capacity(state.len() + 64);
    encode_records(&records, &mut out);
    out.extend_from_slice(state);
    Bytes::from(out)
}

/// The configurations and the store of a snapshot from a peer; `None` when
/// the bytes are not [`wrap_snapshot`]'s.
pub fn unwrap_snapshot(shipped: &Bytes) -> Option<(Memberships, Bytes)> {
    let (records, state) = decode_records(shipped).ok()?;
    let mut entries = std::collections::BTreeMap::new();
    for record in records {
        let Record::Membership { from, membership } = record else {
            return None;
        };
        entries.insert(from, membership);
    }
    let memberships = Memberships::from_entries(entries)?;
    let state = shipped.slice(shipped.len() - state.len()..);
    Some((memberships, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxon_core::Slot;

    #[test]
    fn every_refusal_survives_its_byte() {
        for (code, make) in REFUSALS {
            assert_eq!(refusal_code(&make()), code);
            assert_eq!(refusal(code).to_string(), make().to_string());
        }
        assert!(matches!(refusal(0), ServeError::Timeout));
    }

    #[test]
    fn a_shipped_snapshot_carries_the_configurations_before_the_store() {
        let mut entries = std::collections::BTreeMap::new();
        let first = Membership::new(vec![NodeId(1), NodeId(2)], vec![]).unwrap();
        let second = Membership::new(vec![NodeId(1)], vec![NodeId(3)]).unwrap();
        entries.insert(Slot(1), first);
        entries.insert(Slot(70), second);
        let memberships = Memberships::from_entries(entries).unwrap();
        let mut core = vec![Record::Commit { slot: Slot(80) }];
        core.extend(
            memberships
                .entries()
                .map(|(from, membership)| Record::Membership {
                    from,
                    membership: membership.clone(),
                }),
        );
        let shipped = wrap_snapshot(&core, b"store bytes");
        let (back, state) = unwrap_snapshot(&shipped).expect("decodes");
        assert_eq!(back, memberships);
        assert_eq!(&state[..], b"store bytes");
        assert_eq!(unwrap_snapshot(&Bytes::from_static(b"store bytes")), None);
    }
}
