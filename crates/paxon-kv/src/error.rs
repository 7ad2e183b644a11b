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
    /// `PERMISSION_DENIED` (7).
    PermissionDenied,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition,
    /// `OUT_OF_RANGE` (11).
    OutOfRange,
    /// `UNAUTHENTICATED` (16).
    Unauthenticated,
}

impl GrpcCode {
    /// The numeric code of the gRPC specification.
    pub fn as_i32(self) -> i32 {
        match self {
            GrpcCode::InvalidArgument => 3,
            GrpcCode::NotFound => 5,
            GrpcCode::PermissionDenied => 7,
            GrpcCode::ResourceExhausted => 8,
            GrpcCode::FailedPrecondition => 9,
            GrpcCode::OutOfRange => 11,
            GrpcCode::Unauthenticated => 16,
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
    /// `auth enable` without a `root` user.
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    /// `auth enable` while the `root` user lacks the `root` role.
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    /// `user add` of an existing user.
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    /// A user name is empty (also: a request without a token while auth
    /// is enabled, as in etcd).
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    /// No such user.
    #[error("etcdserver: user name not found")]
    UserNotFound,
    /// `role add` of an existing role.
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    /// No such role.
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    /// A role name is empty.
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    /// Wrong user or password.
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    /// The user's roles do not allow the request.
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    /// `user revoke-role` of a role the user does not hold.
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    /// `role revoke-permission` of a permission the role does not have.
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    /// `Authenticate` while auth is disabled.
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    /// A token no member gave (or one forgotten since).
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    /// Removing the `root` user or role while auth is enabled.
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
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
            | KvError::RequestTooLarge
            | KvError::UserEmpty
            | KvError::RoleEmpty
            | KvError::AuthFailed
            | KvError::InvalidAuthMgmt => GrpcCode::InvalidArgument,
            KvError::Compacted | KvError::FutureRevision | KvError::LeaseTtlTooLarge => {
                GrpcCode::OutOfRange
            }
            KvError::LeaseNotFound => GrpcCode::NotFound,
            KvError::LeaseExists
            | KvError::RootUserNotExist
            | KvError::RootRoleNotExist
            | KvError::UserAlreadyExist
            | KvError::UserNotFound
            | KvError::RoleAlreadyExist
            | KvError::RoleNotFound
            | KvError::RoleNotGranted
            | KvError::PermissionNotGranted
            | KvError::AuthNotEnabled => GrpcCode::FailedPrecondition,
            KvError::NoSpace => GrpcCode::ResourceExhausted,
            KvError::PermissionDenied => GrpcCode::PermissionDenied,
            KvError::InvalidAuthToken => GrpcCode::Unauthenticated,
        }
    }
}
