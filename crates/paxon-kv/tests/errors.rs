//! Every error's message and gRPC code, as etcd 3.5 answers them
//! (`api/v3rpc/rpctypes/error.go`).

use paxon_kv::{GrpcCode, KvError};

#[test]
fn every_error_has_etcds_message_and_code() {
    use GrpcCode::*;
    let table = [
        (
            KvError::EmptyKey,
            "etcdserver: key is not provided",
            InvalidArgument,
        ),
        (
            KvError::KeyNotFound,
            "etcdserver: key not found",
            InvalidArgument,
        ),
        (
            KvError::ValueProvided,
            "etcdserver: value is provided",
            InvalidArgument,
        ),
        (
            KvError::LeaseProvided,
            "etcdserver: lease is provided",
            InvalidArgument,
        ),
        (
            KvError::TooManyOps,
            "etcdserver: too many operations in txn request",
            InvalidArgument,
        ),
        (
            KvError::DuplicateKey,
            "etcdserver: duplicate key given in txn request",
            InvalidArgument,
        ),
        (
            KvError::Compacted,
            "etcdserver: mvcc: required revision has been compacted",
            OutOfRange,
        ),
        (
            KvError::FutureRevision,
            "etcdserver: mvcc: required revision is a future revision",
            OutOfRange,
        ),
        (
            KvError::LeaseNotFound,
            "etcdserver: requested lease not found",
            NotFound,
        ),
        (
            KvError::LeaseExists,
            "etcdserver: lease already exists",
            FailedPrecondition,
        ),
        (
            KvError::LeaseTtlTooLarge,
            "etcdserver: too large lease TTL",
            OutOfRange,
        ),
        (
            KvError::RequestTooLarge,
            "etcdserver: request is too large",
            InvalidArgument,
        ),
        (
            KvError::NoSpace,
            "etcdserver: mvcc: database space exceeded",
            ResourceExhausted,
        ),
    ];
    for (err, message, code) in table {
        assert_eq!(
            (err.to_string().as_str(), err.code()),
            (message, code),
            "{err:?}"
        );
    }
}

#[test]
fn grpc_codes_have_the_specifications_numbers() {
    use GrpcCode::*;
    let numbers = [
        InvalidArgument,
        NotFound,
        ResourceExhausted,
        FailedPrecondition,
        OutOfRange,
    ]
    .map(GrpcCode::as_i32);
    assert_eq!(numbers, [3, 5, 8, 9, 11]);
}
