//! The one error type of the store, with etcd's messages and gRPC codes.
//! The server maps a [`KvError`] to a gRPC status here and nowhere else:
//! `Status::new(err.code().as_i32(), err.to_string())`.

use thiserror::Error;

/// The gRPC status codes the store's errors carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument,
    /// `NOT_FOUND` (5).
    NotFound,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition,
    /// `OUT_OF_RANGE` (11).
    OutOfRange,
}

impl GrpcCode {
    /// The numeric code of the gRPC specification.
    pub fn as_i32(self) -> i32 {
        match self {
            GrpcCode::InvalidArgument => 3,
            GrpcCode::NotFound => 5,
            GrpcCode::ResourceExhausted => 8,
            GrpcCode::FailedPrecondition => 9,
            GrpcCode::OutOfRange => 11,
        }
    }
}

/// Why a request was refused. Display is etcd's exact message (etcd's
/// `api/v3rpc/rpctypes/error.go`); [`KvError::code`] its gRPC code. A
/// refused request changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum KvError {
    /// A request, an operation or a compare has an empty key.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// `ignore_value` or `ignore_lease` on a key that does not exist.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// `ignore_value` with a non-empty value.
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// `ignore_lease` with a lease.
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// A txn with more compares or operations per branch than allowed.
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// A txn writes one key twice, or puts a key it also deletes.
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// The revision asked for has been compacted away.
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// The revision asked for is after the current one.
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    /// The lease does not exist (or is 0 where one is required).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A lease with this id already exists.
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// A lease TTL above [`crate::LEASE_TTL_MAX_S`].
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    /// Raised by the server (`--max-request-bytes`), mapped here.
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    /// Raised by the server (`--quota-backend-bytes`), mapped here.
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
}

impl KvError {
    /// The gRPC code etcd answers this error with.
    pub fn code(&self) -> GrpcCode {
        match self {
            KvError::EmptyKey
            | KvError::KeyNotFound
            | KvError::ValueProvided
            | KvError::LeaseProvided
            | KvError::TooManyOps
            | KvError::DuplicateKey
            | KvError::RequestTooLarge => GrpcCode::InvalidArgument,
            KvError::Compacted | KvError::FutureRevision | KvError::LeaseTtlTooLarge => {
                GrpcCode::OutOfRange
            }
            KvError::LeaseNotFound => GrpcCode::NotFound,
            KvError::LeaseExists => GrpcCode::FailedPrecondition,
            KvError::NoSpace => GrpcCode::ResourceExhausted,
        }
    }
}
