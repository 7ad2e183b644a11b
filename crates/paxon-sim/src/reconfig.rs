//! Configuration changes as faults (§3.3.6): at random, the leader is asked
//! to add a spare as learner, promote a learner, remove a member, or
//! replace a voter by a learner in one decree; a replica left out stops.

use paxon_core::{Membership, NodeId, Slot};

use crate::sim::Sim;

/// Fewest and most voters a change may leave (on top of the initial size).
const VOTERS_MIN: usize = 3;
const VOTERS_EXTRA_MAX: usize = 2;

/// What the leader is asked to do.
#[derive(Clone, Copy, Debug)]
enum Change {
    AddLearner,
    Promote,
    Remove,
    Replace,
}

impl Sim {
    /// Asks the leader for one random change of its newest configuration.
    /// The leader may refuse (one change at a time, a learner not caught
    /// up, too few voters started): that is part of the test.
    pub(crate) fn reconfigure(&mut self) {
        let Some(leader) = self.current_leader() else {
            return;
        };
        let changes = [
            Change::AddLearner,
            Change::Promote,
            Change::Remove,
            Change::Replace,
        ];
        let change = changes[self.rng.range(0, changes.len() as u64) as usize];
        let replica = self.nodes[&leader].replica.as_ref().expect("leads");
        let (_, latest) = replica.memberships().latest();
        let Some(next) = self.changed(latest.clone(), change) else {
            return;
        };
        let replica = self.nodes.get_mut(&leader).expect("member");
        let result = replica
            .replica
            .as_mut()
            .expect("leads")
            .propose_reconfigure(next.clone());
        self.trace.step(&[16, leader.0, change as u64]);
        self.trace.line(|| {
            format!(
                "t={} RECONFIGURE {change:?} at {leader}: {next:?} -> {result:?}",
                self.now
            )
        });
        if result.is_ok() {
            self.enlisted.extend(next.all());
            self.fewest_voters = self.fewest_voters.min(next.voters().len() as u64);
        }
        self.drain(leader);
    }

    /// `current` after `change`, if that change applies to it.
    fn changed(&mut self, current: Membership, change: Change) -> Option<Membership> {
        let mut voters = current.voters().to_vec();
        let mut learners = current.learners().to_vec();
        let voters_max = self.options.nodes as usize + VOTERS_EXTRA_MAX;
        match change {
            Change::AddLearner => {
                let spare = (1..=self.options.nodes + self.options.spares)
                    .map(NodeId)
                    .find(|n| !self.enlisted.contains(n))?;
                learners.push(spare);
            }
            Change::Promote if voters.len() < voters_max => {
                let learner = self.pick(&learners)?;
                learners.retain(|n| *n != learner);
                voters.push(learner);
            }
            Change::Remove if !learners.is_empty() && self.rng.range(0, 2) == 0 => {
                let learner = self.pick(&learners)?;
                learners.retain(|n| *n != learner);
            }
            Change::Remove if voters.len() > VOTERS_MIN => {
                let voter = self.pick(&voters)?;
                voters.retain(|n| *n != voter);
            }
            // Replacing the only voter of a one-voter cluster leaves the
            // decrees it alone knew with a retiring replica: if the new
            // voter is down through the whole retirement, they are lost to
            // it (docs/membership.md). Not asked for.
            Change::Replace if voters.len() >= VOTERS_MIN => {
                let learner = self.pick(&learners)?;
                let voter = self.pick(&voters)?;
                learners.retain(|n| *n != learner);
                voters.retain(|n| *n != voter);
                voters.push(learner);
            }
            _ => return None,
        }
        Some(Membership::new(voters, learners).expect("a change keeps voters"))
    }

    fn pick(&mut self, nodes: &[NodeId]) -> Option<NodeId> {
        if nodes.is_empty() {
            return None;
        }
        Some(nodes[self.rng.range(0, nodes.len() as u64) as usize])
    }

    /// `id` left the configuration after learning slot `at`: it stops for
    /// good. Requests it holds stay unanswered (a write it proposed may
    /// still be chosen: its outcome is unknown to the client).
    pub(crate) fn retire(&mut self, id: NodeId, at: Slot) {
        let node = self.nodes.get_mut(&id).expect("member");
        node.replica = None;
        node.removed = true;
        node.proposed.clear();
        node.reads.clear();
        node.incarnation += 1;
        self.trace.step(&[17, id.0, at.0]);
        self.trace
            .line(|| format!("t={} REMOVED {id} at {at}", self.now));
    }
}
