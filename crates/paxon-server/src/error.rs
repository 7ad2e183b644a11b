//! The one place where Paxon's errors become etcd's gRPC codes and
//! messages.

use tonic::{Code, Status};

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No leader is known (an election is running).
    #[error("etcdserver: no leader")]
    NoLeader,
    /// Leadership moved while the request was in flight; it was not applied.
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    /// No answer in time; the request may or may not have been applied.
    #[error("etcdserver: request timed out")]
    Timeout,
    /// The request went to a leader that is gone; it may or may not have
    /// been applied.
    #[error("etcdserver: request timed out, possibly due to previous leader failure")]
    TimeoutLeaderFailed,
    /// The request exceeds `--max-request-bytes`.
    #[error("etcdserver: request is too large")]
    TooLarge,
    /// Too many requests wait for a slot.
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    /// The store is over `--quota-backend-bytes` (the NOSPACE alarm).
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    /// The member is shutting down.
    #[error("etcdserver: server stopped")]
    Stopped,
    /// This member does not lead; configuration changes go to the leader.
    #[error("etcdserver: not leader")]
    NotLeader,
    /// No such member in the configuration.
    #[error("etcdserver: member not found")]
    MemberNotFound,
    /// Promoting a member that already votes.
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    /// Promoting a learner that has not caught up (or recovered).
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    /// The change would leave too few started voters for a quorum, or
    /// no voter at all.
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    /// An earlier change has not taken effect yet (Paxon's own message:
    /// etcd's raft drops a second pending change and the request times
    /// out).
    #[error("etcdserver: a configuration change is already in progress")]
    ReconfigurationPending,
    /// `MemberAdd` of an id the configuration holds (etcd's
    /// `ErrGRPCMemberExist`).
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    /// `MemberAdd` or `MemberUpdate` with a peer URL another member has.
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    /// `MemberAdd` or `MemberUpdate` with a peer URL that does not parse.
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    /// The state machine refused the request.
    #[error("{0}")]
    Kv(#[from] paxon_kv::KvError),
}

impl From<ServeError> for Status {
    fn from(error: ServeError) -> Status {
        let code = match &error {
            ServeError::NoLeader
            | ServeError::LeaderChanged
            | ServeError::Timeout
            | ServeError::TimeoutLeaderFailed
            | ServeError::Stopped
            | ServeError::NotLeader
            | ServeError::ReconfigurationPending => Code::Unavailable,
            ServeError::MemberNotFound => Code::NotFound,
            ServeError::MemberNotLearner
            | ServeError::LearnerNotReady
            | ServeError::NotEnoughStarted
            | ServeError::MemberExists
            | ServeError::PeerUrlExists => Code::FailedPrecondition,
            ServeError::TooLarge | ServeError::MemberBadUrls => Code::InvalidArgument,
            ServeError::TooManyRequests | ServeError::NoSpace => Code::ResourceExhausted,
            ServeError::Kv(kv) => kv_code(kv),
        };
        Status::new(code, error.to_string())
    }
}

fn kv_code(error: &paxon_kv::KvError) -> Code {
    use paxon_kv::GrpcCode;
    match error.code() {
        GrpcCode::InvalidArgument => Code::InvalidArgument,
        GrpcCode::OutOfRange => Code::OutOfRange,
        GrpcCode::NotFound => Code::NotFound,
        GrpcCode::FailedPrecondition => Code::FailedPrecondition,
        GrpcCode::ResourceExhausted => Code::ResourceExhausted,
        GrpcCode::PermissionDenied => Code::PermissionDenied,
        GrpcCode::Unauthenticated => Code::Unauthenticated,
    }
}
