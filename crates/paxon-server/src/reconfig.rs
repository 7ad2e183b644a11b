//! etcd's `MemberRemove` and `MemberPromote` in the driver: a change of the
//! configuration is a decree (§3.3.6, `paxon_core::Membership`) proposed by
//! the leader and answered once this member applied it.

use bytes::Bytes;
use paxon_core::codec::{decode_records, encode_records};
use paxon_core::{Membership, MembershipError, Memberships, NodeId, ReconfigureError, Record};
use tokio::sync::oneshot;

use crate::error::ServeError;
use crate::member::Member;

/// A change an operator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// `etcdctl member remove ID`.
    Remove(NodeId),
    /// `etcdctl member promote ID`.
    Promote(NodeId),
}

/// Where the answer goes: the configuration once the change is applied.
pub type ChangeReply = oneshot::Sender<Result<Membership, ServeError>>;

/// Changes proposed here, waiting to be applied.
#[derive(Default)]
pub struct Waiting(Vec<(Membership, ChangeReply)>);

impl Member {
    /// Proposes `change` of the newest configuration (leader only).
    pub(crate) fn reconfigure(&mut self, change: MemberChange, reply: ChangeReply) {
        let (_, latest) = self.replica.memberships().latest();
        let next = match changed(latest, change) {
            Ok(next) => next,
            Err(error) => {
                let _ = reply.send(Err(error));
                return;
            }
        };
        match self.replica.propose_reconfigure(next.clone()) {
            Ok(()) => self.reconfig.0.push((next, reply)),
            Err(error) => {
                let _ = reply.send(Err(refused(error)));
            }
        }
    }

    /// A configuration decree was applied here: answer who asked for it.
    pub(crate) fn reconfigured(&mut self, membership: &Membership) {
        tracing::info!(
            voters = ?membership.voters(),
            learners = ?membership.learners(),
            "configuration chosen; it takes effect after the pipeline window"
        );
        let waiting = std::mem::take(&mut self.reconfig.0);
        for (asked, reply) in waiting {
            if &asked == membership {
                let _ = reply.send(Ok(asked));
            } else {
                self.reconfig.0.push((asked, reply));
            }
        }
    }

    /// Leadership moved: a change not applied yet may never be.
    pub(crate) fn reconfigure_abandoned(&mut self) {
        for (_, reply) in std::mem::take(&mut self.reconfig.0) {
            let _ = reply.send(Err(ServeError::LeaderChanged));
        }
    }
}

/// `latest` after `change`, or etcd's error for a change that cannot be.
fn changed(latest: &Membership, change: MemberChange) -> Result<Membership, ServeError> {
    let mut voters = latest.voters().to_vec();
    let mut learners = latest.learners().to_vec();
    match change {
        MemberChange::Remove(id) if latest.contains(id) => {
            voters.retain(|n| *n != id);
            learners.retain(|n| *n != id);
        }
        MemberChange::Promote(id) if latest.is_voter(id) => {
            return Err(ServeError::MemberNotLearner)
        }
        MemberChange::Promote(id) if latest.contains(id) => {
            learners.retain(|n| *n != id);
            voters.push(id);
        }
        MemberChange::Remove(_) | MemberChange::Promote(_) => {
            return Err(ServeError::MemberNotFound)
        }
    }
    Membership::new(voters, learners).map_err(|error| match error {
        // etcd refuses to remove the last voting member the same way.
        MembershipError::NoVoter => ServeError::NotEnoughStarted,
        other => unreachable!("a change of a valid configuration: {other}"),
    })
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
