//! The command encoding: exact bytes, round trips, canonical form, and
//! decoding that never panics on arbitrary input.

mod common;

use common::*;
use paxon_kv::{
    AuthCommand, Command, CompactionRequest, DecodeError, LeaseId, Permission, PermissionKind,
    PutRequest, RequestOp, Revision, TxnRequest, TXN_DEPTH_MAX,
};
use proptest::prelude::*;

fn encoded(cmd: &Command) -> Vec<u8> {
    let mut out = Vec::new();
    cmd.encode(&mut out);
    out
}

#[test]
fn put_encodes_to_the_documented_bytes() {
    let cmd = Command::Put(PutRequest {
        prev_kv: true,
        lease: LeaseId(-1),
        ..put_req("foo", "bar")
    });
    assert_eq!(
        encoded(&cmd),
        [1, 1, 3, b'f', b'o', b'o', 3, b'b', b'a', b'r', 1, 0b001]
    );
}

#[test]
fn compact_and_lease_commands_encode_to_the_documented_bytes() {
    let compact = Command::Compact(CompactionRequest {
        revision: Revision(5),
        physical: true,
    });
    assert_eq!(encoded(&compact), [1, 4, 10, 1]);
    assert_eq!(
        encoded(&Command::LeaseGrant {
            id: LeaseId(300),
            ttl_s: 60
        }),
        [1, 5, 0xd8, 0x04, 120]
    );
    assert_eq!(encoded(&Command::LeaseRevoke { id: LeaseId(1) }), [1, 6, 2]);
    assert_eq!(
        encoded(&Command::LeaseKeepAlive { id: LeaseId(1) }),
        [1, 7, 2]
    );
    assert_eq!(encoded(&Command::LeaseTick { now_ms: 3 }), [1, 8, 6]);
    assert_eq!(encoded(&Command::LeasePromote { now_ms: -1 }), [1, 9, 1]);
}

#[test]
fn auth_commands_encode_to_the_documented_bytes() {
    assert_eq!(encoded(&Command::Auth(AuthCommand::Enable)), [1, 20, 1]);
    let grant = AuthCommand::RoleGrantPermission {
        role: "r".into(),
        permission: Permission {
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
            kind: PermissionKind::ReadWrite,
        },
    };
    assert_eq!(
        encoded(&Command::Auth(grant)),
        [1, 20, 11, 1, b'r', 2, 1, b'a', 1, b'b']
    );
    let token = AuthCommand::Authenticate {
        user: "u".into(),
        token: "t".into(),
    };
    assert_eq!(encoded(&Command::Auth(token)), [1, 20, 3, 1, b'u', 1, b't']);
    assert!(
        Command::decode(&[1, 20, 13]).is_err(),
        "unknown auth command"
    );
    assert!(
        Command::decode(&[1, 20, 9, 1, 0xff]).is_err(),
        "a role name that is not UTF-8"
    );
}

#[test]
fn malformed_inputs_give_the_matching_error() {
    assert_eq!(
        Command::decode(&[]),
        Err(DecodeError::Truncated {
            needed: 1,
            remaining: 0
        })
    );
    assert_eq!(
        Command::decode(&[2, 6, 2]),
        Err(DecodeError::UnknownVersion(2))
    );
    assert_eq!(Command::decode(&[1, 0]), Err(DecodeError::UnknownTag(0)));
    assert_eq!(
        Command::decode(&[1, 6, 2, 0]),
        Err(DecodeError::TrailingBytes(1))
    );
    assert_eq!(
        Command::decode(&[1, 6, 0x82, 0x00]),
        Err(DecodeError::Invalid("non-minimal varint"))
    );
    assert_eq!(
        Command::decode(&[1, 4, 10, 2]),
        Err(DecodeError::Invalid("bool other than 0 or 1"))
    );
    let bad_flags = [1, 1, 1, b'k', 0, 0, 0b1000];
    assert_eq!(
        Command::decode(&bad_flags),
        Err(DecodeError::Invalid("unknown flag bits set"))
    );
    let huge_key = [1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(
        Command::decode(&huge_key),
        Err(DecodeError::Truncated {
            needed: 0xffff_ffff,
            remaining: 0
        })
    );
}

#[test]
fn txns_nested_deeper_than_the_limit_do_not_decode() {
    let nest = |depth: usize| {
        let mut txn = TxnRequest::default();
        for _ in 1..depth {
            txn = TxnRequest {
                success: vec![RequestOp::Txn(txn)],
                ..Default::default()
            };
        }
        Command::Txn(txn)
    };
    let deepest = nest(TXN_DEPTH_MAX);
    assert_eq!(Command::decode(&encoded(&deepest)), Ok(deepest));
    assert_eq!(
        Command::decode(&encoded(&nest(TXN_DEPTH_MAX + 1))),
        Err(DecodeError::Invalid("txn nested too deep"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_command_round_trips(cmd in command()) {
        let bytes = encoded(&cmd);
        prop_assert_eq!(Command::decode(&bytes), Ok(cmd));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_only_canonically(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(cmd) = Command::decode(&bytes) {
            prop_assert_eq!(encoded(&cmd), bytes);
        }
    }

    #[test]
    fn damaged_encodings_never_panic_and_decode_only_canonically(
        cmd in command(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encoded(&cmd);
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        for input in [&bytes[..], &bytes[..cut.index(bytes.len())]] {
            if let Ok(decoded) = Command::decode(input) {
                prop_assert_eq!(encoded(&decoded), input);
            }
        }
    }
}
