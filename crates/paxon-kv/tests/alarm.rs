//! Alarms and etcd's capped applier: with NOSPACE raised, writes that add
//! data fail and change nothing; deletes and compaction still run; the
//! alarms survive a snapshot.

mod common;

use common::*;
use paxon_kv::{
    AlarmAction, AlarmMember, AlarmResponse, AlarmType, Command, CompactionRequest, GrpcCode,
    Header, KvError, LeaseId, RequestOp, Response, Revision, Store, TxnRequest,
};

const NOSPACE: AlarmMember = AlarmMember {
    member: 7,
    alarm: AlarmType::NoSpace,
};

fn alarm(store: &mut Store, action: AlarmAction, alarm: AlarmMember) -> Response {
    store.apply(&Command::Alarm { action, alarm }).unwrap()
}

fn answered(revision: i64, alarms: Vec<AlarmMember>) -> Response {
    Response::Alarm(AlarmResponse {
        header: Header {
            revision: Revision(revision),
        },
        alarms,
    })
}

#[test]
fn activating_answers_the_alarm_and_deactivating_answers_it_only_if_raised() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    assert_eq!(
        alarm(&mut store, AlarmAction::Activate, NOSPACE),
        answered(2, vec![NOSPACE])
    );
    assert_eq!(
        alarm(&mut store, AlarmAction::Activate, NOSPACE),
        answered(2, vec![NOSPACE]),
        "raising it again answers it again, as etcd's alarm store does"
    );
    assert_eq!(store.alarms().collect::<Vec<_>>(), vec![NOSPACE]);
    assert_eq!(
        alarm(&mut store, AlarmAction::Deactivate, NOSPACE),
        answered(2, vec![NOSPACE])
    );
    assert_eq!(
        alarm(&mut store, AlarmAction::Deactivate, NOSPACE),
        answered(2, vec![])
    );
    assert_eq!(store.alarms().count(), 0);
    assert_eq!(store.revision(), Revision(2), "alarms are not revisions");
}

#[test]
fn with_nospace_raised_writes_that_add_data_fail_and_change_nothing() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    alarm(&mut store, AlarmAction::Activate, NOSPACE);
    let before = store.clone();
    let txn_put = TxnRequest {
        success: vec![RequestOp::Put(put_req("b", "2"))],
        ..TxnRequest::default()
    };
    let nested_put = TxnRequest {
        failure: vec![RequestOp::Txn(TxnRequest {
            success: vec![RequestOp::Put(put_req("b", "2"))],
            ..TxnRequest::default()
        })],
        ..TxnRequest::default()
    };
    for command in [
        Command::Put(put_req("b", "2")),
        Command::Txn(txn_put),
        Command::Txn(nested_put),
        Command::LeaseGrant {
            id: LeaseId(5),
            ttl_s: 60,
        },
    ] {
        let error = store.apply(&command).unwrap_err();
        assert_eq!(error, KvError::NoSpace, "{command:?}");
        assert_eq!(
            error.to_string(),
            "etcdserver: mvcc: database space exceeded"
        );
        assert_eq!(error.code(), GrpcCode::ResourceExhausted);
        assert_eq!(store, before, "{command:?} changed the store");
    }
    let read_only = TxnRequest {
        success: vec![RequestOp::Range(range_req("a", ""))],
        ..TxnRequest::default()
    };
    assert!(store.apply(&Command::Txn(read_only)).is_ok());
}

#[test]
fn with_nospace_raised_a_txn_that_only_deletes_runs_as_in_etcd() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    alarm(&mut store, AlarmAction::Activate, NOSPACE);
    let txn_delete = TxnRequest {
        success: vec![RequestOp::DeleteRange(delete_req("a", ""))],
        ..TxnRequest::default()
    };
    let response = store.apply(&Command::Txn(txn_delete)).unwrap();
    assert_eq!(response.header().revision, Revision(3));
}

#[test]
fn with_nospace_raised_deletes_and_compaction_make_room_then_disarm_restores_writes() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    put(&mut store, "a", "2");
    alarm(&mut store, AlarmAction::Activate, NOSPACE);
    assert_eq!(delete(&mut store, "a", ""), 1);
    store
        .apply(&Command::Compact(CompactionRequest {
            revision: Revision(4),
            physical: false,
        }))
        .unwrap();
    assert!(store.apply(&Command::Put(put_req("b", "1"))).is_err());
    alarm(&mut store, AlarmAction::Deactivate, NOSPACE);
    assert_eq!(put(&mut store, "b", "1"), Revision(5));
}

#[test]
fn a_corrupt_alarm_does_not_cap_writes() {
    let mut store = Store::new();
    let corrupt = AlarmMember {
        member: 1,
        alarm: AlarmType::Corrupt,
    };
    alarm(&mut store, AlarmAction::Activate, corrupt);
    assert_eq!(put(&mut store, "a", "1"), Revision(2));
}

#[test]
fn alarms_survive_a_snapshot_and_change_the_store_equality() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    let without = store.clone();
    alarm(&mut store, AlarmAction::Activate, NOSPACE);
    assert_ne!(store, without);
    let restored = Store::restore(&store.snapshot()).unwrap();
    assert_eq!(restored, store);
    assert_eq!(restored.alarms().collect::<Vec<_>>(), vec![NOSPACE]);
    assert_eq!(
        store.hash(),
        without.hash(),
        "HashKV covers keys only, as etcd's"
    );
}

#[test]
fn an_alarm_command_round_trips_and_unknown_types_do_not_decode() {
    let command = Command::Alarm {
        action: AlarmAction::Deactivate,
        alarm: NOSPACE,
    };
    let mut bytes = Vec::new();
    command.encode(&mut bytes);
    assert_eq!(bytes, [1, 16, 2, 7, 1]);
    assert_eq!(Command::decode(&bytes).unwrap(), command);
    for bad in [[1, 16, 3, 7, 1], [1, 16, 1, 7, 0], [1, 16, 1, 7, 3]] {
        assert!(Command::decode(&bad).is_err(), "{bad:?}");
    }
}
