//! Who sits in the parliament, slot by slot (§3.3.6, and Lamport's note
//! *Reconfiguring a State Machine*, 2010).
//!
//! A configuration is a [`Membership`]: the voters, whose majorities are
//! the quorums, and the learners, who receive every decree but do not
//! vote. It changes only by a decree, [`crate::Value::Reconfigure`]: the
//! one chosen in slot `i` governs every slot from `i + α` on, where α is
//! the pipeline window (`Config::pipeline_slots_max`). A leader proposes in
//! slot `s` only once it knows every decree up to `s − α`, so it always
//! knows which configuration's quorum decides `s`; every replica computes
//! the same configuration for the same slot from the same chosen decrees.
//! [`Memberships`] is that history.

use std::collections::BTreeMap;

use crate::types::{NodeId, Slot};

/// One configuration: the voters and the learners. Both lists are sorted
/// and disjoint, and there is at least one voter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    voters: Vec<NodeId>,
    learners: Vec<NodeId>,
}

/// Why a configuration is impossible.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// No voter at all: nobody could ever choose a decree again.
    #[error("a configuration needs at least one voter")]
    NoVoter,
    /// Node id 0 is reserved.
    #[error("node id 0 is reserved")]
    ZeroId,
    /// A node appears twice (as voter and learner, or twice in one list).
    #[error("{0} appears more than once")]
    Duplicate(NodeId),
    /// More members than a vote bitmap holds.
    #[error("{0} members; at most {max}", max = MEMBERS_MAX)]
    TooMany(usize),
}

/// Most members (voters and learners) a configuration may have.
pub const MEMBERS_MAX: usize = 64;

impl Membership {
    /// A configuration of `voters` and `learners` (in any order).
    pub fn new(
        mut voters: Vec<NodeId>,
        mut learners: Vec<NodeId>,
    ) -> Result<Membership, MembershipError> {
        voters.sort();
        learners.sort();
        if voters.is_empty() {
            return Err(MembershipError::NoVoter);
        }
        if voters.len() + learners.len() > MEMBERS_MAX {
            return Err(MembershipError::TooMany(voters.len() + learners.len()));
        }
        let mut all: Vec<NodeId> = voters.iter().chain(&learners).copied().collect();
        all.sort();
        if all.first() == Some(&NodeId(0)) {
            return Err(MembershipError::ZeroId);
        }
        if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
            return Err(MembershipError::Duplicate(w[0]));
        }
        Ok(Membership { voters, learners })
    }

    /// The voters, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// The learners, sorted.
    pub fn learners(&self) -> &[NodeId] {
        &self.learners
    }

    /// Voters and learners.
    pub fn all(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(&self.learners).copied()
    }

    /// Whether `node` votes.
    pub fn is_voter(&self, node: NodeId) -> bool {
        self.voters.binary_search(&node).is_ok()
    }

    /// Whether `node` is a voter or a learner.
    pub fn contains(&self, node: NodeId) -> bool {
        self.is_voter(node) || self.learners.binary_search(&node).is_ok()
    }

    /// Voters needed for a quorum: a majority, so any two intersect.
    /// `minority` is planted bug 3.
    pub(crate) fn quorum(&self, minority: bool) -> usize {
        if minority {
            return (self.voters.len() / 2).max(1);
        }
        self.voters.len() / 2 + 1
    }

    /// Whether the nodes for which `has` holds include a quorum of voters.
    pub(crate) fn has_quorum(&self, minority: bool, has: impl Fn(NodeId) -> bool) -> bool {
        let count = self.voters.iter().filter(|v| has(**v)).count();
        count >= self.quorum(minority)
    }
}

/// The configurations by the first slot each governs. The first entry
/// governs from slot 1 (the one the replica started with, or the one its
/// snapshot recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memberships(BTreeMap<Slot, Membership>);

impl Memberships {
    /// A history holding only `initial`, in force from slot 1.
    pub fn new(initial: Membership) -> Memberships {
        Memberships(BTreeMap::from([(Slot(1), initial)]))
    }

    /// A history from `(first slot governed, configuration)` pairs, as a
    /// snapshot recorded them. `None` when empty.
    pub fn from_entries(entries: BTreeMap<Slot, Membership>) -> Option<Memberships> {
        if entries.is_empty() {
            None
        } else {
            Some(Memberships(entries))
        }
    }

    /// The configuration that governs `slot`.
    pub fn at(&self, slot: Slot) -> &Membership {
        let governing = self.0.range(..=slot).next_back();
        let first = self.0.first_key_value();
        governing.or(first).map(|(_, m)| m).expect("never empty")
    }

    /// The newest configuration known, and the first slot it governs.
    pub fn latest(&self) -> (Slot, &Membership) {
        let (slot, membership) = self.0.last_key_value().expect("never empty");
        (*slot, membership)
    }

    /// Records that `membership` governs every slot from `from` on.
    /// Inserting one already known (replayed, or learned from a snapshot
    /// first) changes nothing.
    pub(crate) fn insert(&mut self, from: Slot, membership: Membership) {
        if let Some(known) = self.0.get(&from) {
            assert_eq!(known, &membership, "two configurations from {from}");
            return;
        }
        let (latest, _) = self.latest();
        assert!(from > latest, "configurations take effect in slot order");
        self.0.insert(from, membership);
    }

    /// Forgets configurations that govern no slot after `slot` (they are
    /// folded into a snapshot at `slot`).
    pub(crate) fn trim_through(&mut self, slot: Slot) {
        let keep_from = self
            .0
            .range(..=slot.next())
            .next_back()
            .map_or(self.latest().0, |(s, _)| *s);
        self.0 = self.0.split_off(&keep_from);
    }

    /// Every `(first slot governed, configuration)` pair, in slot order.
    pub fn entries(&self) -> impl Iterator<Item = (Slot, &Membership)> {
        self.0.iter().map(|(s, m)| (*s, m))
    }

    /// The distinct configurations governing slots `from..=to`.
    pub(crate) fn governing(&self, from: Slot, to: Slot) -> Vec<&Membership> {
        let mut out = vec![self.at(from)];
        if to > from {
            out.extend(self.0.range(from.next()..=to).map(|(_, m)| m));
        }
        out
    }

    /// Whether `node` is a voter or learner of any configuration known.
    pub fn knows(&self, node: NodeId) -> bool {
        self.0.values().any(|m| m.contains(node))
    }
}
