//! The acceptor (§2.3, §3.1): promises, votes, and NACKs.

use crate::election::Role;
use crate::message::{Message, Vote};
use crate::planted::PlantedBug;
use crate::record::Record;
use crate::replica::{Deferred, Replica};
use crate::types::{Ballot, NodeId, Slot, Value};

impl Replica {
    /// §3.1 `NextBallot(b, n)` received: promise `b` for every slot ≥ n and
    /// report our votes there — unless we promised higher (NACK), or we
    /// still hear a live leader (stickiness: a stray candidate does not
    /// unseat a working president).
    ///
    /// A candidate that lags is sent the decrees it lacks: one that was
    /// removed learns so and stops (§3.3.6). A candidate that is no voter
    /// of the configurations governing our window gets no promise.
    pub(crate) fn handle_prepare(&mut self, from: NodeId, ballot: Ballot, from_slot: Slot) {
        if from_slot <= self.commit {
            self.handle_catch_up(from, from_slot);
        }
        if !self.window_voters().contains(&from) {
            return;
        }
        self.round_seen = self.round_seen.max(ballot.round);
        if self.hears_live_leader() && self.leader() != Some(from) {
            return;
        }
        if ballot < self.promised {
            self.send_nack(from, ballot);
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.stage(Record::Promise { ballot });
            self.set_role(Role::follower());
            self.reset_election_timer();
        }
        let log_start = self.log.start();
        let votes = self
            .log
            .range_from(from_slot.max(log_start))
            .map(|(slot, entry)| Vote {
                slot: *slot,
                entry: entry.clone(),
            })
            .collect();
        let promise = Message::Promise {
            ballot,
            from_slot,
            log_start,
            commit: self.commit,
            votes,
            amnesia: self.disk,
        };
        if self.config.planted(PlantedBug::PromiseBeforePersist) {
            self.send(from, promise);
            return;
        }
        self.after_persist(Deferred::Send(from, promise));
    }

    /// §2.3 `BeginBallot(b, d)` received for consecutive slots: vote unless
    /// we promised a higher ballot, and answer once the votes are durable.
    pub(crate) fn handle_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: Slot,
        values: Vec<Value>,
        commit: Slot,
    ) {
        let planted = self.config.planted(PlantedBug::AcceptLowerBallot);
        if ballot < self.promised && !planted {
            self.send_nack(from, ballot);
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.stage(Record::Promise { ballot });
        }
        self.note_leader(ballot);
        if !self.may_vote(ballot) {
            // A forgotten promise may forbid it (amnesia.rs): learn the
            // decrees instead, once chosen.
            self.follow_commit(from, ballot, commit);
            return;
        }
        let count = values.len() as u64;
        for (i, value) in values.iter().enumerate() {
            self.vote(Slot(first_slot.0 + i as u64), ballot, value);
        }
        let accepted = Message::Accepted {
            ballot,
            first_slot,
            count,
        };
        self.after_persist(Deferred::Send(from, accepted));
        self.follow_commit(from, ballot, commit);
    }

    /// The leader is alive and announces its commit point (§3.3.1: the
    /// `Success` message piggybacked on later traffic).
    pub(crate) fn handle_heartbeat(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        commit: Slot,
        seq: u64,
    ) {
        if ballot < self.promised {
            self.send_nack(from, ballot);
            return;
        }
        self.note_leader(ballot);
        let read_seq = seq;
        let amnesia = self.disk;
        self.send(
            from,
            Message::HeartbeatAck {
                ballot,
                read_seq,
                amnesia,
            },
        );
        self.follow_commit(from, ballot, commit);
        if !self.membership().is_voter(self.config.id) {
            // A learner tells the leader how far it has learned (§3.3.6:
            // it is promoted only once caught up).
            let commit = self.commit;
            self.send(from, Message::Progress { ballot, commit });
        }
    }

    fn send_nack(&mut self, to: NodeId, ballot: Ballot) {
        assert!(ballot < self.promised, "NACK without a higher promise");
        let promised = self.promised;
        self.send(to, Message::Nack { ballot, promised });
    }
}
