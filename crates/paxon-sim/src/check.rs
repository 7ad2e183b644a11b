//! The checkers, kept apart from the workload: agreement, durability
//! before disclosure, promises kept across restarts, linearizability.

use paxon_core::{Message, NodeId, Slot, Value};

use crate::sim::Sim;

impl Sim {
    /// At most one decree is chosen per slot: every replica applies the
    /// same decree there (and so applied prefixes agree).
    pub(crate) fn check_agreement(&mut self, id: NodeId, slot: Slot, value: &Value) {
        match self.chosen.get(&slot) {
            Some(existing) if existing != value => {
                let message =
                    format!("{id} applied {value:?} in {slot}, another replica {existing:?}");
                self.fail("agreement", message);
            }
            Some(_) => {}
            None => {
                self.chosen.insert(slot, value.clone());
            }
        }
    }

    /// Replicas that applied the same decrees hold the same store: the
    /// revision and etcd's HashKV after `slot` agree everywhere (a
    /// snapshot restored on a laggard included).
    pub(crate) fn check_state_agreement(&mut self, id: NodeId, slot: Slot) {
        let store = &self.nodes[&id].store;
        let state = (store.revision(), store.hash(), store.lease_digest());
        match self.states.get(&slot) {
            Some(existing) if *existing != state => {
                let message = format!(
                    "{id} holds (revision, HashKV, leases) {state:?} after {slot}, another replica {existing:?}"
                );
                self.fail("state machine agreement", message);
            }
            Some(_) => {}
            None => {
                self.states.insert(slot, state);
            }
        }
    }

    /// §2.3: a Promise or an Accepted may only leave once the promise or
    /// vote it reveals is on disk (checked against what was really synced):
    /// a vote at that ballot or a later one, or — for a slot the replica
    /// knows chosen — the chosen decree.
    pub(crate) fn check_reveal(&mut self, from: NodeId, msg: &Message) {
        let node = &self.nodes[&from];
        let durable = &node.storage.durable;
        let replica = node.replica.as_ref().expect("a running replica sends");
        let problem = match msg {
            Message::Promise { ballot, .. } if durable.promised < *ballot => Some(format!(
                "{from} sent Promise {ballot} with {} on disk",
                durable.promised
            )),
            Message::Accepted {
                ballot,
                first_slot,
                count,
            } => (0..*count)
                .map(|i| Slot(first_slot.0 + i))
                .find_map(|slot| {
                    let known_chosen = replica.entry(slot).filter(|e| e.chosen);
                    let on_disk = slot <= durable.snapshot
                        || durable.entries.get(&slot).is_some_and(|e| {
                            e.chosen
                                || e.ballot >= *ballot
                                || known_chosen.is_some_and(|c| c.value == e.value)
                        });
                    (!on_disk)
                        .then(|| format!("{from} sent Accepted {ballot} for {slot} not on disk"))
                }),
            _ => None,
        };
        if let Some(message) = problem {
            self.fail("durable before revealed", message);
            return;
        }
        if let Message::Promise { ballot, .. } | Message::Accepted { ballot, .. } = msg {
            let revealed = self.revealed.entry(from).or_default();
            *revealed = (*revealed).max(*ballot);
        }
    }

    /// A replica's promise never goes back across a restart.
    pub(crate) fn check_promise_kept(&mut self, id: NodeId) {
        let promised = self.nodes[&id]
            .replica
            .as_ref()
            .expect("started")
            .promised();
        let revealed = self.revealed.get(&id).copied().unwrap_or_default();
        if promised < revealed {
            let message = format!("{id} restarted promising {promised} after revealing {revealed}");
            self.fail("promise kept across restart", message);
        }
    }

    /// An acknowledged write is durable on a majority of the voters of the
    /// configuration governing its slot: each holds the chosen decree of
    /// its slot on disk, or a snapshot past it.
    pub(crate) fn check_durable_on_majority(&mut self, id: NodeId, slot: Slot, value: &Value) {
        let replica = self.nodes[&id].replica.as_ref().expect("applies");
        let voters = replica.memberships().at(slot).voters().to_vec();
        let holders = voters
            .iter()
            .map(|voter| &self.nodes[voter])
            .filter(|node| {
                // A disk wiped since (an operator's error, not the
                // protocol's) counts with what it held.
                let before_wipe = node.durable_before_wipe.as_ref();
                std::iter::once(&node.storage.durable)
                    .chain(before_wipe)
                    .any(|durable| {
                        slot <= durable.snapshot
                            || durable
                                .entries
                                .get(&slot)
                                .is_some_and(|e| &e.value == value)
                    })
            })
            .count();
        let quorum = voters.len() / 2 + 1;
        if holders < quorum {
            let message = format!("{id} acknowledged {slot} held durably by {holders} replicas");
            self.fail("durable on a majority before acknowledged", message);
        }
    }

    /// The client history is linearizable, key by key.
    pub(crate) fn check_linearizable(&mut self) {
        let result = paxon_linz::check(&self.history);
        match result {
            paxon_linz::CheckResult::Linearizable { .. } => {}
            paxon_linz::CheckResult::NotLinearizable(violation) => {
                self.fail("linearizability", violation.to_string());
            }
            paxon_linz::CheckResult::GaveUp { key, .. } => {
                self.fail("linearizability", format!("checker gave up on key {key}"));
            }
        }
    }
}
