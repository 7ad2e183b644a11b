//! Planted bugs: each a real way to break Paxos, compiled in only with the
//! `planted-bugs` feature and chosen at run time through
//! `Config::planted_bug`. The simulator must catch every one of them.

/// A known way to break Paxos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlantedBug {
    /// 1. Reply Promise before the promise is persisted.
    PromiseBeforePersist = 1,
    /// 2. Vote in an Accept whose ballot is below the promise.
    AcceptLowerBallot = 2,
    /// 3. Treat a minority as a quorum.
    MinorityQuorum = 3,
    /// 4. A new leader ignores the votes reported in Promises.
    IgnoreReportedVotes = 4,
    /// 5. Forget the promise on restart.
    ForgetPromiseOnRestart = 5,
    /// 6. Apply past a hole: skip a slot whose decree is unknown.
    SkipSlot = 6,
    /// 7. Serve a linearizable read without confirming leadership.
    ReadWithoutReadIndex = 7,
    /// 8. Fill a slot with `Noop` although a vote for it was reported.
    NoopOverReportedVote = 8,
    /// 9. Announce a commit point past what a majority accepted.
    CommitPastMajority = 9,
    /// 10. Acknowledge a `Persist` before it is durable (the driver's bug;
    ///     the core only carries the flag).
    AckUnsyncedWrites = 10,
    /// 11. Count the promise of a replica recovering from a lost disk as
    ///     any other (amnesia.rs).
    CountRecoveringPromises = 11,
    /// 12. A chosen `Reconfigure` governs the very next slot instead of the
    ///     slot α later (§3.3.6), so replicas disagree on the quorum.
    ReconfigureAtOnce = 12,
}

impl PlantedBug {
    /// Every planted bug, in order.
    pub const ALL: [PlantedBug; 12] = [
        PlantedBug::PromiseBeforePersist,
        PlantedBug::AcceptLowerBallot,
        PlantedBug::MinorityQuorum,
        PlantedBug::IgnoreReportedVotes,
        PlantedBug::ForgetPromiseOnRestart,
        PlantedBug::SkipSlot,
        PlantedBug::ReadWithoutReadIndex,
        PlantedBug::NoopOverReportedVote,
        PlantedBug::CommitPastMajority,
        PlantedBug::AckUnsyncedWrites,
        PlantedBug::CountRecoveringPromises,
        PlantedBug::ReconfigureAtOnce,
    ];

    /// The bug with number `n` (1-based, as listed).
    pub fn from_number(n: u8) -> Option<PlantedBug> {
        PlantedBug::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }
}

impl crate::config::Config {
    /// Whether `bug` is planted in this replica (always `false` without the
    /// `planted-bugs` feature).
    #[inline]
    pub fn planted(&self, bug: PlantedBug) -> bool {
        #[cfg(feature = "planted-bugs")]
        {
            self.planted_bug == Some(bug)
        }
        #[cfg(not(feature = "planted-bugs"))]
        {
            let _ = bug;
            false
        }
    }
}
