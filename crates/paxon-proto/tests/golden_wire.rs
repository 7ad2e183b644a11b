//! Golden wire-format tests: messages encoded by prost must equal bytes
//! derived by hand from the field numbers of etcd 3.5's `rpc.proto`,
//! `kv.proto`, `auth.proto`, `v3lock.proto` and `v3election.proto`.
//!
//! A protobuf field starts with its tag, the varint `field_number << 3 |
//! wire_type`, where wire type 0 is a varint (integers, bools, enums) and 2 is
//! length-delimited (bytes, strings, messages, packed repeated scalars),
//! followed by the length. Proto3 leaves out fields holding their default (0,
//! false, empty). A wrong field number in `proto/` changes a tag byte below
//! and fails the test; so does a wrong enum value.
//!
//! Each test also decodes the golden bytes and expects the original message,
//! so the generated code reads what etcd writes, not only the reverse.

use paxon_proto::authpb::{permission, Permission};
use paxon_proto::etcdserverpb::{
    alarm_request, compare, range_request, request_op, watch_create_request, watch_request,
    AlarmRequest, AlarmType, AuthRoleGrantPermissionRequest, Compare, DeleteRangeRequest,
    DowngradeInfo, LeaseGrantRequest, Member, PutRequest, RangeRequest, RequestOp, ResponseHeader,
    StatusResponse, TxnRequest, WatchCancelRequest, WatchCreateRequest, WatchProgressRequest,
    WatchRequest, WatchResponse,
};
use paxon_proto::mvccpb::{event, Event, KeyValue};
use paxon_proto::v3electionpb::CampaignRequest;
use paxon_proto::v3lockpb::LockRequest;
use prost::Message;

/// Encodes `message`, expects exactly `golden`, then decodes `golden` and
/// expects `message` back.
fn assert_wire<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, golden: &[u8]) {
    assert_eq!(message.encode_to_vec(), golden, "encoding of {message:?}");
    let decoded = M::decode(golden).expect("golden bytes decode");
    assert_eq!(&decoded, message, "decoding of {golden:02x?}");
}

#[test]
fn put_request_matches_etcd_field_numbers() {
    let put = PutRequest {
        key: b"foo".to_vec(),
        value: b"bar".to_vec(),
        lease: 5,
        prev_kv: true,
        ..Default::default()
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x03, b'f', b'o', b'o', // key = 1, LEN 3
        0x12, 0x03, b'b', b'a', b'r', // value = 2, LEN 3
        0x18, 0x05,                   // lease = 3, varint 5
        0x20, 0x01,                   // prev_kv = 4, true
    ];
    assert_wire(&put, &golden);
}

#[test]
fn put_request_ignore_flags_match_etcd_field_numbers() {
    let put = PutRequest {
        key: b"k".to_vec(),
        ignore_value: true,
        ignore_lease: true,
        ..Default::default()
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x01, b'k', // key = 1, LEN 1
        0x28, 0x01,       // ignore_value = 5, true
        0x30, 0x01,       // ignore_lease = 6, true
    ];
    assert_wire(&put, &golden);
}

#[test]
fn range_request_with_every_field_matches_etcd_field_numbers() {
    let range = RangeRequest {
        key: b"a".to_vec(),
        range_end: b"b".to_vec(),
        limit: 10,
        revision: 7,
        sort_order: range_request::SortOrder::Descend as i32,
        sort_target: range_request::SortTarget::Mod as i32,
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 1,
        max_mod_revision: 2,
        min_create_revision: 3,
        max_create_revision: 4,
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x01, b'a', // key = 1, LEN 1
        0x12, 0x01, b'b', // range_end = 2, LEN 1
        0x18, 0x0a,       // limit = 3, varint 10
        0x20, 0x07,       // revision = 4, varint 7
        0x28, 0x02,       // sort_order = 5, DESCEND = 2
        0x30, 0x03,       // sort_target = 6, MOD = 3
        0x38, 0x01,       // serializable = 7, true
        0x40, 0x01,       // keys_only = 8, true
        0x48, 0x01,       // count_only = 9, true
        0x50, 0x01,       // min_mod_revision = 10 (10 << 3 = 0x50), 1
        0x58, 0x02,       // max_mod_revision = 11, 2
        0x60, 0x03,       // min_create_revision = 12, 3
        0x68, 0x04,       // max_create_revision = 13, 4
    ];
    assert_wire(&range, &golden);
}

/// One compare of each target (VERSION, CREATE, MOD, VALUE, LEASE), each with
/// a different result, and one operation of each kind across the branches.
fn txn_with_every_compare_target_and_op_kind() -> TxnRequest {
    use compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    let compare = |result: R, target: T, key: &[u8], value: U| Compare {
        result: result as i32,
        target: target as i32,
        key: key.to_vec(),
        target_union: Some(value),
        range_end: Vec::new(),
    };
    let mut lease_compare = compare(R::Greater, T::Lease, b"e", U::Lease(5));
    lease_compare.range_end = b"f".to_vec();
    let op = |request| RequestOp {
        request: Some(request),
    };
    TxnRequest {
        compare: vec![
            compare(R::Greater, T::Version, b"a", U::Version(1)),
            compare(R::Less, T::Create, b"b", U::CreateRevision(2)),
            compare(R::NotEqual, T::Mod, b"c", U::ModRevision(3)),
            compare(R::Equal, T::Value, b"d", U::Value(b"v".to_vec())),
            lease_compare,
        ],
        success: vec![
            op(request_op::Request::RequestRange(RangeRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })),
            op(request_op::Request::RequestPut(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
        ],
        failure: vec![
            op(request_op::Request::RequestDeleteRange(
                DeleteRangeRequest {
                    key: b"k".to_vec(),
                    prev_kv: true,
                    ..Default::default()
                },
            )),
            op(request_op::Request::RequestTxn(TxnRequest::default())),
        ],
    }
}

#[test]
fn txn_request_compares_and_ops_match_etcd_field_numbers() {
    #[rustfmt::skip]
    let golden = [
        // compare = 1, LEN 7: GREATER VERSION("a") 1
        0x0a, 0x07,
            0x08, 0x01,       // result = 1, GREATER = 1
            0x1a, 0x01, b'a', // key = 3, LEN 1 (target VERSION = 0 is the default)
            0x20, 0x01,       // target_union.version = 4, 1
        // compare = 1, LEN 9: LESS CREATE("b") 2
        0x0a, 0x09,
            0x08, 0x02,       // result = 1, LESS = 2
            0x10, 0x01,       // target = 2, CREATE = 1
            0x1a, 0x01, b'b', // key = 3, LEN 1
            0x28, 0x02,       // target_union.create_revision = 5, 2
        // compare = 1, LEN 9: NOT_EQUAL MOD("c") 3
        0x0a, 0x09,
            0x08, 0x03,       // result = 1, NOT_EQUAL = 3
            0x10, 0x02,       // target = 2, MOD = 2
            0x1a, 0x01, b'c', // key = 3, LEN 1
            0x30, 0x03,       // target_union.mod_revision = 6, 3
        // compare = 1, LEN 8: EQUAL VALUE("d") "v"
        0x0a, 0x08,
            0x10, 0x03,       // target = 2, VALUE = 3 (result EQUAL = 0 is the default)
            0x1a, 0x01, b'd', // key = 3, LEN 1
            0x3a, 0x01, b'v', // target_union.value = 7, LEN 1
        // compare = 1, LEN 13: GREATER LEASE("e".."f") 5
        0x0a, 0x0d,
            0x08, 0x01,       // result = 1, GREATER = 1
            0x10, 0x04,       // target = 2, LEASE = 4
            0x1a, 0x01, b'e', // key = 3, LEN 1
            0x40, 0x05,       // target_union.lease = 8, 5
            0x82, 0x04,       // range_end = 64: tag 514 = varint 0x82 0x04
            0x01, b'f',       //   LEN 1
        // success = 2, LEN 5: RequestOp
        0x12, 0x05,
            0x0a, 0x03,       // request_range = 1, LEN 3: RangeRequest
                0x0a, 0x01, b'k', // key = 1
        // success = 2, LEN 8: RequestOp
        0x12, 0x08,
            0x12, 0x06,       // request_put = 2, LEN 6: PutRequest
                0x0a, 0x01, b'k', // key = 1
                0x12, 0x01, b'v', // value = 2
        // failure = 3, LEN 7: RequestOp
        0x1a, 0x07,
            0x1a, 0x05,       // request_delete_range = 3, LEN 5: DeleteRangeRequest
                0x0a, 0x01, b'k', // key = 1
                0x18, 0x01,       // prev_kv = 3, true
        // failure = 3, LEN 2: RequestOp
        0x1a, 0x02,
            0x22, 0x00,       // request_txn = 4, LEN 0: empty TxnRequest
    ];
    assert_wire(&txn_with_every_compare_target_and_op_kind(), &golden);
}

#[test]
fn response_header_matches_etcd_field_numbers() {
    let header = ResponseHeader {
        cluster_id: 300,
        member_id: 2,
        revision: 3,
        raft_term: 4,
    };
    #[rustfmt::skip]
    let golden = [
        0x08, 0xac, 0x02, // cluster_id = 1, varint 300 (0b10_0101100)
        0x10, 0x02,       // member_id = 2
        0x18, 0x03,       // revision = 3
        0x20, 0x04,       // raft_term = 4
    ];
    assert_wire(&header, &golden);
}

#[test]
fn watch_create_request_with_filters_and_prev_kv_matches_etcd_field_numbers() {
    use watch_create_request::FilterType;
    let watch = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
                start_revision: 5,
                progress_notify: true,
                filters: vec![FilterType::Noput as i32, FilterType::Nodelete as i32],
                prev_kv: true,
                watch_id: 9,
                fragment: true,
            },
        )),
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x14,             // create_request = 1, LEN 20: WatchCreateRequest
            0x0a, 0x01, b'a',   // key = 1
            0x12, 0x01, b'b',   // range_end = 2
            0x18, 0x05,         // start_revision = 3, 5
            0x20, 0x01,         // progress_notify = 4, true
            0x2a, 0x02,         // filters = 5, packed, LEN 2
                0x00,           //   NOPUT = 0
                0x01,           //   NODELETE = 1
            0x30, 0x01,         // prev_kv = 6, true
            0x38, 0x09,         // watch_id = 7, 9
            0x40, 0x01,         // fragment = 8, true
    ];
    assert_wire(&watch, &golden);
}

#[test]
fn watch_cancel_and_progress_requests_match_etcd_field_numbers() {
    let cancel = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CancelRequest(
            WatchCancelRequest { watch_id: 9 },
        )),
    };
    #[rustfmt::skip]
    let cancel_golden = [
        0x12, 0x02,       // cancel_request = 2, LEN 2: WatchCancelRequest
            0x08, 0x09,   // watch_id = 1, 9
    ];
    assert_wire(&cancel, &cancel_golden);

    let progress = WatchRequest {
        request_union: Some(watch_request::RequestUnion::ProgressRequest(
            WatchProgressRequest {},
        )),
    };
    let progress_golden = [0x1a, 0x00]; // progress_request = 3, LEN 0
    assert_wire(&progress, &progress_golden);
}

#[test]
fn watch_response_with_event_matches_etcd_field_numbers() {
    let response = WatchResponse {
        header: Some(ResponseHeader {
            revision: 5,
            ..Default::default()
        }),
        watch_id: 1,
        created: true,
        canceled: true,
        compact_revision: 2,
        cancel_reason: "r".to_string(),
        fragment: true,
        events: vec![Event {
            r#type: event::EventType::Delete as i32,
            kv: Some(KeyValue {
                key: b"a".to_vec(),
                mod_revision: 5,
                ..Default::default()
            }),
            prev_kv: Some(KeyValue {
                key: b"a".to_vec(),
                create_revision: 2,
                mod_revision: 4,
                version: 3,
                value: b"x".to_vec(),
                lease: 7,
            }),
        }],
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x02,             // header = 1, LEN 2
            0x18, 0x05,         //   revision = 3, 5
        0x10, 0x01,             // watch_id = 2, 1
        0x18, 0x01,             // created = 3, true
        0x20, 0x01,             // canceled = 4, true
        0x28, 0x02,             // compact_revision = 5, 2
        0x32, 0x01, b'r',       // cancel_reason = 6, LEN 1
        0x38, 0x01,             // fragment = 7, true
        0x5a, 0x19,             // events = 11 (11 << 3 | 2 = 0x5a), LEN 25: mvccpb.Event
            0x08, 0x01,         //   type = 1, DELETE = 1
            0x12, 0x05,         //   kv = 2, LEN 5: mvccpb.KeyValue
                0x0a, 0x01, b'a', //   key = 1
                0x18, 0x05,       //   mod_revision = 3, 5
            0x1a, 0x0e,         //   prev_kv = 3, LEN 14: mvccpb.KeyValue
                0x0a, 0x01, b'a', //   key = 1
                0x10, 0x02,       //   create_revision = 2, 2
                0x18, 0x04,       //   mod_revision = 3, 4
                0x20, 0x03,       //   version = 4, 3
                0x2a, 0x01, b'x', //   value = 5, LEN 1
                0x30, 0x07,       //   lease = 6, 7
    ];
    assert_wire(&response, &golden);
}

#[test]
fn status_response_with_every_field_matches_etcd_field_numbers() {
    let status = StatusResponse {
        header: Some(ResponseHeader {
            member_id: 2,
            ..Default::default()
        }),
        version: "3.5.0".to_string(),
        db_size: 4096,
        leader: 2,
        raft_index: 10,
        raft_term: 3,
        raft_applied_index: 9,
        errors: vec!["x".to_string()],
        db_size_in_use: 2048,
        is_learner: true,
        storage_version: "3.6.0".to_string(),
        db_size_quota: 1,
        downgrade_info: Some(DowngradeInfo {
            enabled: true,
            target_version: "3.5".to_string(),
        }),
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x02,                         // header = 1, LEN 2
            0x10, 0x02,                     //   member_id = 2, 2
        0x12, 0x05, b'3', b'.', b'5', b'.', b'0', // version = 2, LEN 5
        0x18, 0x80, 0x20,                   // dbSize = 3, varint 4096
        0x20, 0x02,                         // leader = 4, 2
        0x28, 0x0a,                         // raftIndex = 5, 10
        0x30, 0x03,                         // raftTerm = 6, 3
        0x38, 0x09,                         // raftAppliedIndex = 7, 9
        0x42, 0x01, b'x',                   // errors = 8, LEN 1
        0x48, 0x80, 0x10,                   // dbSizeInUse = 9, varint 2048
        0x50, 0x01,                         // isLearner = 10, true
        0x5a, 0x05, b'3', b'.', b'6', b'.', b'0', // storageVersion = 11 (etcd 3.6), LEN 5
        0x60, 0x01,                         // dbSizeQuota = 12 (etcd 3.6), 1
        0x6a, 0x07,                         // downgradeInfo = 13 (etcd 3.6), LEN 7
            0x08, 0x01,                     //   enabled = 1, true
            0x12, 0x03, b'3', b'.', b'5',   //   targetVersion = 2, LEN 3
    ];
    assert_wire(&status, &golden);
}

#[test]
fn lease_and_member_capitalised_fields_match_etcd_field_numbers() {
    let grant = LeaseGrantRequest { ttl: 60, id: 7 };
    #[rustfmt::skip]
    let grant_golden = [
        0x08, 0x3c, // TTL = 1, 60
        0x10, 0x07, // ID = 2, 7
    ];
    assert_wire(&grant, &grant_golden);

    let member = Member {
        id: 1,
        name: "n".to_string(),
        peer_ur_ls: vec!["p".to_string()],
        client_ur_ls: vec!["c".to_string()],
        is_learner: true,
    };
    #[rustfmt::skip]
    let member_golden = [
        0x08, 0x01,       // ID = 1, 1
        0x12, 0x01, b'n', // name = 2, LEN 1
        0x1a, 0x01, b'p', // peerURLs = 3, LEN 1
        0x22, 0x01, b'c', // clientURLs = 4, LEN 1
        0x28, 0x01,       // isLearner = 5, true
    ];
    assert_wire(&member, &member_golden);
}

#[test]
fn alarm_request_and_top_level_alarm_type_match_etcd_values() {
    let alarm = AlarmRequest {
        action: alarm_request::AlarmAction::Activate as i32,
        member_id: 2,
        alarm: AlarmType::Nospace as i32,
    };
    #[rustfmt::skip]
    let golden = [
        0x08, 0x01, // action = 1, ACTIVATE = 1
        0x10, 0x02, // memberID = 2, 2
        0x18, 0x01, // alarm = 3, NOSPACE = 1
    ];
    assert_wire(&alarm, &golden);
    assert_eq!(AlarmType::Corrupt as i32, 2);
}

#[test]
fn auth_permission_matches_etcd_field_numbers() {
    let grant = AuthRoleGrantPermissionRequest {
        name: "r".to_string(),
        perm: Some(Permission {
            perm_type: permission::Type::Readwrite as i32,
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
        }),
    };
    #[rustfmt::skip]
    let golden = [
        0x0a, 0x01, b'r',     // name = 1, LEN 1
        0x12, 0x08,           // perm = 2, LEN 8: authpb.Permission
            0x08, 0x02,       //   permType = 1, READWRITE = 2
            0x12, 0x01, b'a', //   key = 2
            0x1a, 0x01, b'b', //   range_end = 3
    ];
    assert_wire(&grant, &golden);
}

#[test]
fn lock_and_election_requests_match_etcd_field_numbers() {
    let lock = LockRequest {
        name: b"l".to_vec(),
        lease: 7,
    };
    #[rustfmt::skip]
    let lock_golden = [
        0x0a, 0x01, b'l', // name = 1, LEN 1
        0x10, 0x07,       // lease = 2, 7
    ];
    assert_wire(&lock, &lock_golden);

    let campaign = CampaignRequest {
        name: b"e".to_vec(),
        lease: 7,
        value: b"v".to_vec(),
    };
    #[rustfmt::skip]
    let campaign_golden = [
        0x0a, 0x01, b'e', // name = 1, LEN 1
        0x10, 0x07,       // lease = 2, 7
        0x1a, 0x01, b'v', // value = 3, LEN 1
    ];
    assert_wire(&campaign, &campaign_golden);
}
