//! Helpers shared by the test binaries: short request builders, and
//! proptest strategies for random commands over a small key space.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use paxon_kv::{
    AlarmAction, AlarmMember, AlarmType, AuthCommand, Command, CompactionRequest, Compare,
    CompareResult, CompareTarget, DeleteRangeRequest, KeyValue, KvError, LeaseId, MemberAttrs,
    Permission, PermissionKind, PutRequest, RangeRequest, RangeResponse, RequestOp, Response,
    Revision, SortOrder, SortTarget, Store, TxnRequest, TxnResponse,
};
use proptest::prelude::*;

pub fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    }
}

pub fn range_req(key: &str, range_end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        ..RangeRequest::default()
    }
}

pub fn delete_req(key: &str, range_end: &str) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        ..DeleteRangeRequest::default()
    }
}

/// Applies a put that must succeed; returns its header revision.
pub fn put(store: &mut Store, key: &str, value: &str) -> Revision {
    store
        .apply(&Command::Put(put_req(key, value)))
        .expect("put")
        .header()
        .revision
}

/// Applies a delete that must succeed; returns the number deleted.
pub fn delete(store: &mut Store, key: &str, range_end: &str) -> i64 {
    match store
        .apply(&Command::DeleteRange(delete_req(key, range_end)))
        .expect("delete")
    {
        Response::DeleteRange(r) => r.deleted,
        other => panic!("unexpected {other:?}"),
    }
}

pub fn get(store: &Store, key: &str) -> RangeResponse {
    store.range(&range_req(key, "")).expect("range")
}

pub fn txn(store: &mut Store, req: TxnRequest) -> Result<TxnResponse, KvError> {
    store.apply(&Command::Txn(req)).map(|resp| match resp {
        Response::Txn(r) => r,
        other => panic!("unexpected {other:?}"),
    })
}

pub fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        create_revision: Revision(create),
        mod_revision: Revision(modified),
        version,
        value: value.into(),
        lease: LeaseId::NONE,
    }
}

pub fn keys(resp: &RangeResponse) -> Vec<String> {
    resp.kvs
        .iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect()
}

pub fn compare(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        result,
        target,
        key: key.into(),
        range_end: Vec::new(),
    }
}

// --- proptest strategies -------------------------------------------------

/// Keys from a small alphabet, so commands collide often.
pub fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec!["a", "b", "ba", "c", "d"]).prop_map(|k| k.as_bytes().to_vec())
}

/// A `range_end`: single key, to the end, or a bound.
pub fn range_end() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(Vec::new()), Just(vec![0]), key()]
}

pub fn lease() -> impl Strategy<Value = LeaseId> {
    prop_oneof![3 => Just(LeaseId::NONE), 1 => (1i64..4).prop_map(LeaseId)]
}

pub fn put_strategy() -> impl Strategy<Value = PutRequest> {
    let rare = || prop::bool::weighted(0.15);
    let value = prop::collection::vec(any::<u8>(), 0..4);
    (key(), value, lease(), any::<bool>(), rare(), rare()).prop_map(
        |(key, value, lease, prev_kv, ignore_value, ignore_lease)| PutRequest {
            key,
            value: if ignore_value { Vec::new() } else { value },
            lease: if ignore_lease { LeaseId::NONE } else { lease },
            prev_kv,
            ignore_value,
            ignore_lease,
        },
    )
}

pub fn delete_strategy() -> impl Strategy<Value = DeleteRangeRequest> {
    (key(), range_end(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

pub fn range_strategy() -> impl Strategy<Value = RangeRequest> {
    let sort_order =
        prop::sample::select(vec![SortOrder::None, SortOrder::Ascend, SortOrder::Descend]);
    let sort_target = prop::sample::select(vec![
        SortTarget::Key,
        SortTarget::Version,
        SortTarget::Create,
        SortTarget::Mod,
        SortTarget::Value,
    ]);
    let revs = (0i64..6, 0i64..6, 0i64..6, 0i64..6);
    (
        key(),
        range_end(),
        -1i64..4,
        0i64..12,
        sort_order,
        sort_target,
        any::<[bool; 3]>(),
        revs,
    )
        .prop_map(
            |(
                key,
                range_end,
                limit,
                revision,
                sort_order,
                sort_target,
                [serializable, keys_only, count_only],
                r,
            )| {
                RangeRequest {
                    key,
                    range_end,
                    limit,
                    revision: Revision(revision),
                    sort_order,
                    sort_target,
                    serializable,
                    keys_only,
                    count_only,
                    min_mod_revision: Revision(r.0),
                    max_mod_revision: Revision(r.1),
                    min_create_revision: Revision(r.2),
                    max_create_revision: Revision(r.3),
                }
            },
        )
}

pub fn compare_strategy() -> impl Strategy<Value = Compare> {
    let result = prop::sample::select(vec![
        CompareResult::Equal,
        CompareResult::Greater,
        CompareResult::Less,
        CompareResult::NotEqual,
    ]);
    let target = prop_oneof![
        (0i64..4).prop_map(CompareTarget::Version),
        (0i64..8).prop_map(|r| CompareTarget::Create(Revision(r))),
        (0i64..8).prop_map(|r| CompareTarget::Mod(Revision(r))),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(CompareTarget::Value),
        lease().prop_map(CompareTarget::Lease),
    ];
    (result, target, key(), range_end()).prop_map(|(result, target, key, range_end)| Compare {
        result,
        target,
        key,
        range_end,
    })
}

pub fn txn_strategy() -> impl Strategy<Value = TxnRequest> {
    let leaf = prop_oneof![
        range_strategy().prop_map(RequestOp::Range),
        put_strategy().prop_map(RequestOp::Put),
        delete_strategy().prop_map(RequestOp::DeleteRange),
    ];
    let ops = leaf.prop_recursive(2, 12, 3, |inner| {
        (
            prop::collection::vec(compare_strategy(), 0..3),
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(compare, success, failure)| {
                RequestOp::Txn(TxnRequest {
                    compare,
                    success,
                    failure,
                })
            })
    });
    (
        prop::collection::vec(compare_strategy(), 0..3),
        prop::collection::vec(ops.clone(), 0..4),
        prop::collection::vec(ops, 0..4),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        })
}

/// Any command, valid or not, weighted towards writes.
pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        6 => put_strategy().prop_map(Command::Put),
        2 => delete_strategy().prop_map(Command::DeleteRange),
        3 => txn_strategy().prop_map(Command::Txn),
        1 => (-1i64..9, any::<bool>()).prop_map(|(r, physical)| Command::Compact(CompactionRequest { revision: Revision(r), physical })),
        1 => ((0i64..4).prop_map(LeaseId), 0i64..100).prop_map(|(id, ttl_s)| Command::LeaseGrant { id, ttl_s }),
        1 => (1i64..4).prop_map(|id| Command::LeaseRevoke { id: LeaseId(id) }),
        1 => (any::<bool>(), 1u64..3, any::<bool>()).prop_map(|(raise, member, corrupt)| Command::Alarm {
            action: if raise { AlarmAction::Activate } else { AlarmAction::Deactivate },
            alarm: AlarmMember { member, alarm: if corrupt { AlarmType::Corrupt } else { AlarmType::NoSpace } },
        }),
        1 => (1i64..4).prop_map(|id| Command::LeaseKeepAlive { id: LeaseId(id) }),
        1 => (0i64..200_000).prop_map(|now_ms| Command::LeaseTick { now_ms }),
        1 => (0i64..200_000).prop_map(|now_ms| Command::LeasePromote { now_ms }),
        3 => auth_strategy().prop_map(Command::Auth),
        1 => (1u64..4, "[a-z]{0,3}", prop::collection::vec("http://[a-z]{1,3}:2380", 0..3))
            .prop_map(|(id, name, peer_urls)| Command::MemberAttrs { id, attrs: MemberAttrs { name, peer_urls } }),
    ]
}

/// Changes to a few users and roles, `root` among them, so that enabling
/// auth sometimes succeeds and removals sometimes hit granted roles.
pub fn auth_strategy() -> impl Strategy<Value = AuthCommand> {
    let user = prop::sample::select(vec!["root", "alice", "bob"]).prop_map(String::from);
    let role = prop::sample::select(vec!["root", "r1", "r2"]).prop_map(String::from);
    let key =
        prop::sample::select(vec!["", "a", "b", "\0"]).prop_map(|k: &str| k.as_bytes().to_vec());
    let kind = prop::sample::select(vec![
        PermissionKind::Read,
        PermissionKind::Write,
        PermissionKind::ReadWrite,
    ]);
    prop_oneof![
        1 => Just(AuthCommand::Enable),
        1 => Just(AuthCommand::Disable),
        1 => (user.clone(), "[a-z]{1,3}").prop_map(|(user, token)| AuthCommand::Authenticate { user, token }),
        2 => (user.clone(), prop::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(user, password_hash)| AuthCommand::UserAdd { user, password_hash }),
        1 => user.clone().prop_map(|user| AuthCommand::UserDelete { user }),
        1 => (user.clone(), prop::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(user, password_hash)| AuthCommand::UserChangePassword { user, password_hash }),
        2 => (user.clone(), role.clone()).prop_map(|(user, role)| AuthCommand::UserGrantRole { user, role }),
        1 => (user, role.clone()).prop_map(|(user, role)| AuthCommand::UserRevokeRole { user, role }),
        2 => role.clone().prop_map(|role| AuthCommand::RoleAdd { role }),
        1 => role.clone().prop_map(|role| AuthCommand::RoleDelete { role }),
        2 => (role.clone(), kind, key.clone(), key.clone()).prop_map(|(role, kind, key, range_end)| {
            AuthCommand::RoleGrantPermission { role, permission: Permission { key, range_end, kind } }
        }),
        1 => (role, key.clone(), key).prop_map(|(role, key, range_end)| AuthCommand::RoleRevokePermission { role, key, range_end }),
    ]
}

/// Applies every command (failures included: they must change nothing),
/// checking the store's invariants after each.
pub fn apply_all(store: &mut Store, cmds: &[Command]) -> Vec<Result<Response, KvError>> {
    cmds.iter()
        .map(|cmd| {
            let result = store.apply(cmd);
            store.check_invariants();
            result
        })
        .collect()
}
