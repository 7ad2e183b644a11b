//! The replica checks its own state: a replica that finds itself in an
//! impossible state stops loudly rather than corrupt the cluster.

use crate::election::Role;
use crate::replica::Replica;

impl Replica {
    /// Checks every invariant of this replica's state (O(log size); the
    /// simulator calls it after every step). Panics on a violation.
    pub fn check_invariants(&self) {
        self.check_invariants_cheap();
        let snapshot = self.log.snapshot();
        let mut slot = snapshot.next();
        while slot <= self.commit {
            let entry = self.log.get(slot);
            assert!(
                entry.is_some_and(|e| e.chosen),
                "{slot} committed but not chosen"
            );
            slot = slot.next();
        }
        for (slot, entry) in self.log.range_from(snapshot.next()) {
            assert!(*slot > snapshot);
            assert!(
                entry.chosen || entry.ballot <= self.promised,
                "vote at {} above promise {} in {slot}",
                entry.ballot,
                self.promised
            );
        }
        let waiting = &self.durability.waiting;
        let tokens_ordered = waiting
            .iter()
            .zip(waiting.iter().skip(1))
            .all(|(a, b)| a.0 <= b.0);
        assert!(tokens_ordered, "deferred work out of token order");
        if let Role::Leader(leadership) = &self.role {
            for (slot, inflight) in &leadership.inflight {
                assert!(*slot > self.commit && *slot < leadership.next_slot);
                let entry = self.log.get(*slot).expect("leader voted for its proposal");
                assert!(entry.chosen || entry.ballot == leadership.ballot);
                assert!(
                    entry.value == inflight.value,
                    "leader's vote differs from proposal"
                );
            }
        }
    }

    /// The O(1) invariants, checked after every input.
    pub(crate) fn check_invariants_cheap(&self) {
        assert!(self.applied <= self.commit, "applied beyond commit");
        assert!(
            self.applied >= self.log.snapshot(),
            "applied below snapshot"
        );
        assert!(
            self.commit <= self.leader_commit,
            "commit beyond what we heard"
        );
        assert!(self.round_seen >= self.promised.round);
        let d = &self.durability;
        assert!(d.persisted <= d.issued, "persisted beyond issued");
        assert_eq!(
            self.queued_bytes,
            self.queued.iter().map(|c| c.len()).sum::<usize>()
        );
        match &self.role {
            Role::Leader(leadership) => {
                assert_eq!(
                    leadership.ballot, self.promised,
                    "leading a ballot not promised"
                );
                assert_eq!(leadership.ballot.node, self.config.id);
                assert!(leadership.next_slot > self.commit);
                assert!(
                    leadership.next_slot.0 <= self.commit.0 + self.config.pipeline_slots_max + 1,
                    "more than α slots in flight (§3.3.6)"
                );
                assert!(!self.removed, "a removed replica leads");
            }
            Role::Candidate(candidacy) => {
                assert_eq!(candidacy.ballot, self.promised, "campaigning unpromised");
                assert_eq!(candidacy.ballot.node, self.config.id);
            }
            Role::Follower { .. } => assert!(self.queued.is_empty()),
        }
    }
}
