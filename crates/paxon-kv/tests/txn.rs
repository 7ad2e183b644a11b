//! Txn: compares, branches, nested txns, validation, and the revision
//! rules of etcd 3.5's `applierV3backend.Txn`.

mod common;

use common::*;
use paxon_kv::{
    Command, CompareResult, CompareTarget, DeleteRangeRequest, GrpcCode, Header, KvError, LeaseId,
    Limits, PutRequest, PutResponse, RangeRequest, RequestOp, ResponseOp, Revision, Store,
    TxnRequest, TxnResponse,
};

fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(put_req(key, value))
}

fn op_get(key: &str) -> RequestOp {
    RequestOp::Range(range_req(key, ""))
}

fn op_delete(key: &str, range_end: &str) -> RequestOp {
    RequestOp::DeleteRange(delete_req(key, range_end))
}

fn put_response(revision: i64) -> ResponseOp {
    ResponseOp::Put(PutResponse {
        header: Header {
            revision: Revision(revision),
        },
        prev_kv: None,
    })
}

fn holds(store: &mut Store, c: paxon_kv::Compare) -> bool {
    txn(
        store,
        TxnRequest {
            compare: vec![c],
            ..Default::default()
        },
    )
    .unwrap()
    .succeeded
}

#[test]
fn compare_on_a_missing_key_sees_zeros_and_value_compares_fail() {
    use CompareResult::*;
    let mut store = Store::new();
    assert!(holds(
        &mut store,
        compare("k", Equal, CompareTarget::Version(0))
    ));
    assert!(holds(
        &mut store,
        compare("k", Equal, CompareTarget::Create(Revision(0)))
    ));
    assert!(holds(
        &mut store,
        compare("k", Equal, CompareTarget::Mod(Revision(0)))
    ));
    assert!(holds(
        &mut store,
        compare("k", Equal, CompareTarget::Lease(LeaseId(0)))
    ));
    assert!(holds(
        &mut store,
        compare("k", Less, CompareTarget::Version(1))
    ));
    assert!(!holds(
        &mut store,
        compare("k", Equal, CompareTarget::Value(vec![]))
    ));
    assert!(!holds(
        &mut store,
        compare("k", NotEqual, CompareTarget::Value(b"x".to_vec()))
    ));
}

#[test]
fn compare_on_an_existing_key_reads_its_fields() {
    use CompareResult::*;
    let mut store = Store::new();
    put(&mut store, "k", "bbb"); // 2
    put(&mut store, "k", "ccc"); // 3
    assert!(holds(
        &mut store,
        compare("k", Equal, CompareTarget::Version(2))
    ));
    assert!(holds(
        &mut store,
        compare("k", Equal, CompareTarget::Create(Revision(2)))
    ));
    assert!(holds(
        &mut store,
        compare("k", Greater, CompareTarget::Mod(Revision(2)))
    ));
    assert!(holds(
        &mut store,
        compare("k", Greater, CompareTarget::Value(b"bbb".to_vec()))
    ));
    assert!(holds(
        &mut store,
        compare("k", Less, CompareTarget::Value(b"d".to_vec()))
    ));
    assert!(!holds(
        &mut store,
        compare("k", NotEqual, CompareTarget::Value(b"ccc".to_vec()))
    ));
}

#[test]
fn compare_over_a_range_needs_every_key_to_hold() {
    let mut store = Store::new();
    put(&mut store, "a1", "x");
    put(&mut store, "a2", "x");
    put(&mut store, "a2", "x");
    let mut c = compare("a", CompareResult::Equal, CompareTarget::Version(1));
    c.range_end = b"b".to_vec();
    assert!(!holds(&mut store, c.clone()));
    c.target = CompareTarget::Value(b"x".to_vec());
    assert!(holds(&mut store, c.clone()));
    c.key = b"z".to_vec();
    c.range_end = vec![0];
    assert!(
        !holds(&mut store, c),
        "a value compare over an empty range fails"
    );
}

#[test]
fn txn_that_only_reads_does_not_advance_the_revision() {
    let mut store = Store::new();
    put(&mut store, "k", "v");
    let resp = txn(
        &mut store,
        TxnRequest {
            success: vec![op_get("k")],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(resp.header.revision, Revision(2));
    assert_eq!(store.revision(), Revision(2));
    let ResponseOp::Range(range) = &resp.responses[0] else {
        panic!()
    };
    assert_eq!(range.kvs, vec![kv("k", "v", 2, 2, 1)]);
    assert_eq!(range.header.revision, Revision(2));
}

#[test]
fn txn_with_compares_and_no_ops_does_not_advance_the_revision() {
    let mut store = Store::new();
    let resp = txn(
        &mut store,
        TxnRequest {
            compare: vec![compare(
                "k",
                CompareResult::Equal,
                CompareTarget::Version(0),
            )],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        resp,
        TxnResponse {
            header: Header {
                revision: Revision(1)
            },
            succeeded: true,
            responses: vec![]
        }
    );
}

#[test]
fn txn_writes_share_one_revision_and_reads_see_earlier_writes() {
    let mut store = Store::new();
    put(&mut store, "x", "0"); // 2
    let req = TxnRequest {
        success: vec![op_get("a"), op_put("a", "1"), op_put("b", "2"), op_get("a")],
        ..Default::default()
    };
    let resp = txn(&mut store, req).unwrap();
    assert_eq!(resp.header.revision, Revision(3));
    assert_eq!(store.revision(), Revision(3));
    let ResponseOp::Range(before) = &resp.responses[0] else {
        panic!()
    };
    assert_eq!((before.header.revision, before.count), (Revision(2), 0));
    assert_eq!(resp.responses[1], put_response(3));
    assert_eq!(resp.responses[2], put_response(3));
    let ResponseOp::Range(after) = &resp.responses[3] else {
        panic!()
    };
    assert_eq!(after.header.revision, Revision(3));
    assert_eq!(after.kvs, vec![kv("a", "1", 3, 3, 1)]);
    assert_eq!(get(&store, "b").kvs, vec![kv("b", "2", 3, 3, 1)]);
}

#[test]
fn failed_compare_runs_the_failure_branch() {
    let mut store = Store::new();
    let req = TxnRequest {
        compare: vec![compare(
            "k",
            CompareResult::Equal,
            CompareTarget::Version(1),
        )],
        success: vec![op_put("k", "yes")],
        failure: vec![op_put("k", "no")],
    };
    let resp = txn(&mut store, req).unwrap();
    assert!(!resp.succeeded);
    assert_eq!(get(&store, "k").kvs, vec![kv("k", "no", 2, 2, 1)]);
}

#[test]
fn delete_that_deletes_nothing_in_a_txn_does_not_advance_the_revision() {
    let mut store = Store::new();
    let resp = txn(
        &mut store,
        TxnRequest {
            success: vec![op_delete("k", "")],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(resp.header.revision, Revision(1));
    let ResponseOp::DeleteRange(del) = &resp.responses[0] else {
        panic!()
    };
    assert_eq!((del.deleted, del.header.revision), (0, Revision(1)));
}

#[test]
fn delete_after_a_put_in_a_txn_reports_the_txn_revision() {
    let mut store = Store::new();
    let req = TxnRequest {
        success: vec![op_put("a", "1"), op_delete("zzz", "")],
        ..Default::default()
    };
    let resp = txn(&mut store, req).unwrap();
    let ResponseOp::DeleteRange(del) = &resp.responses[1] else {
        panic!()
    };
    assert_eq!((del.deleted, del.header.revision), (0, Revision(2)));
}

#[test]
fn nested_txn_runs_its_own_branch_and_its_header_revision_is_zero() {
    let mut store = Store::new();
    put(&mut store, "k", "v"); // 2
    let inner = TxnRequest {
        compare: vec![compare(
            "k",
            CompareResult::Equal,
            CompareTarget::Version(5),
        )],
        success: vec![op_put("in", "then")],
        failure: vec![op_put("in", "else"), op_get("out")],
    };
    let outer = TxnRequest {
        success: vec![op_put("out", "1"), RequestOp::Txn(inner)],
        ..Default::default()
    };
    let resp = txn(&mut store, outer).unwrap();
    assert_eq!(resp.header.revision, Revision(3));
    let ResponseOp::Txn(nested) = &resp.responses[1] else {
        panic!()
    };
    assert_eq!(
        (nested.header.revision, nested.succeeded),
        (Revision(0), false)
    );
    assert_eq!(nested.responses[0], put_response(3));
    let ResponseOp::Range(seen) = &nested.responses[1] else {
        panic!()
    };
    assert_eq!(seen.kvs, vec![kv("out", "1", 3, 3, 1)]);
    assert_eq!(get(&store, "in").kvs, vec![kv("in", "else", 3, 3, 1)]);
}

#[test]
fn nested_txn_compares_read_the_state_before_the_outer_txn() {
    let mut store = Store::new();
    let inner = TxnRequest {
        compare: vec![compare(
            "a",
            CompareResult::Equal,
            CompareTarget::Version(0),
        )],
        success: vec![op_put("seen", "before")],
        failure: vec![op_put("seen", "after")],
    };
    txn(
        &mut store,
        TxnRequest {
            success: vec![op_put("a", "1"), RequestOp::Txn(inner)],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(get(&store, "seen").kvs[0].value, b"before");
}

#[test]
fn duplicate_puts_in_one_branch_are_refused_with_etcds_message() {
    let mut store = Store::new();
    let err = txn(
        &mut store,
        TxnRequest {
            success: vec![op_put("k", "1"), op_put("k", "2")],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        (
            "etcdserver: duplicate key given in txn request",
            GrpcCode::InvalidArgument
        )
    );
    assert_eq!(store.revision(), Revision(1));
}

#[test]
fn duplicate_key_rules_follow_etcds_check_intervals() {
    let dup = |success: Vec<RequestOp>| {
        Command::Txn(TxnRequest {
            success,
            ..Default::default()
        })
        .validate(&Limits::default())
    };
    let nested = |success: Vec<RequestOp>, failure: Vec<RequestOp>| {
        RequestOp::Txn(TxnRequest {
            compare: vec![],
            success,
            failure,
        })
    };
    // A put inside a deleted interval, or on a deleted key.
    assert_eq!(
        dup(vec![op_delete("a", "c"), op_put("b", "1")]),
        Err(KvError::DuplicateKey)
    );
    assert_eq!(
        dup(vec![op_put("b", "1"), op_delete("b", "")]),
        Err(KvError::DuplicateKey)
    );
    assert_eq!(
        dup(vec![op_delete("a", "b"), op_put("b", "1")]),
        Ok(()),
        "range ends are exclusive"
    );
    // Overlapping deletes are fine.
    assert_eq!(dup(vec![op_delete("a", "c"), op_delete("b", "")]), Ok(()));
    // A nested put against an outer put or delete, either way round.
    assert_eq!(
        dup(vec![
            op_put("k", "1"),
            nested(vec![op_put("k", "2")], vec![])
        ]),
        Err(KvError::DuplicateKey)
    );
    assert_eq!(
        dup(vec![
            op_delete("k", ""),
            nested(vec![], vec![op_put("k", "2")])
        ]),
        Err(KvError::DuplicateKey)
    );
    assert_eq!(
        dup(vec![
            nested(vec![op_delete("a", "z")], vec![]),
            op_put("k", "2")
        ]),
        Err(KvError::DuplicateKey)
    );
    // The same key in both branches of one nested txn: only one runs.
    assert_eq!(
        dup(vec![nested(vec![op_put("k", "1")], vec![op_put("k", "2")])]),
        Ok(())
    );
    // etcd compares a "\0" range end bytewise: a from-key delete clashes with no put.
    assert_eq!(dup(vec![op_delete("a", "\0"), op_put("b", "1")]), Ok(()));
    // The failure branch is checked on its own.
    let failure = Command::Txn(TxnRequest {
        failure: vec![op_put("k", "1"), op_put("k", "1")],
        ..Default::default()
    });
    assert_eq!(
        failure.validate(&Limits::default()),
        Err(KvError::DuplicateKey)
    );
}

#[test]
fn put_after_a_from_key_delete_in_one_txn_recreates_the_key() {
    let mut store = Store::new();
    put(&mut store, "b", "old"); // 2
    let req = TxnRequest {
        success: vec![op_delete("a", "\0"), op_put("b", "new")],
        ..Default::default()
    };
    let resp = txn(&mut store, req).unwrap();
    assert_eq!(resp.header.revision, Revision(3));
    assert_eq!(get(&store, "b").kvs, vec![kv("b", "new", 3, 3, 1)]);
    let events = store.take_events();
    assert_eq!(events.len(), 2);
    store.check_invariants();
}

#[test]
fn ignore_value_put_on_a_key_deleted_earlier_in_the_txn_fails_whole() {
    // etcd 3.5 accepts this txn and then panics applying it; Paxon refuses
    // it before anything is written.
    let mut store = Store::new();
    put(&mut store, "b", "old"); // 2
    let ignore = RequestOp::Put(PutRequest {
        ignore_value: true,
        ..put_req("b", "")
    });
    let req = TxnRequest {
        success: vec![op_put("a", "1"), op_delete("a", "\0"), ignore],
        ..Default::default()
    };
    assert_eq!(txn(&mut store, req), Err(KvError::KeyNotFound));
    assert_eq!(store.revision(), Revision(2));
    assert_eq!(get(&store, "b").kvs, vec![kv("b", "old", 2, 2, 1)]);
    assert!(store.take_events().is_empty());
}

#[test]
fn too_many_ops_is_refused_with_etcds_message() {
    let limits = Limits::default();
    let ops = |n: usize| {
        (0..n)
            .map(|i| op_put(&format!("k{i}"), "v"))
            .collect::<Vec<_>>()
    };
    let at_limit = Command::Txn(TxnRequest {
        success: ops(128),
        ..Default::default()
    });
    assert_eq!(at_limit.validate(&limits), Ok(()));
    let over = Command::Txn(TxnRequest {
        failure: ops(129),
        ..Default::default()
    });
    let err = over.validate(&limits).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        (
            "etcdserver: too many operations in txn request",
            GrpcCode::InvalidArgument
        )
    );
    let compares = (0..3)
        .map(|_| compare("k", CompareResult::Equal, CompareTarget::Version(0)))
        .collect();
    let small = Limits { txn_ops_max: 2 };
    assert_eq!(
        Command::Txn(TxnRequest {
            compare: compares,
            ..Default::default()
        })
        .validate(&small),
        Err(KvError::TooManyOps)
    );
}

#[test]
fn nested_txn_gets_the_budget_its_parent_leaves() {
    let limits = Limits { txn_ops_max: 4 };
    let inner = |n: usize| {
        RequestOp::Txn(TxnRequest {
            success: (0..n).map(|i| op_put(&format!("n{i}"), "v")).collect(),
            ..Default::default()
        })
    };
    let outer = |n: usize| {
        Command::Txn(TxnRequest {
            success: vec![op_put("a", "1"), inner(n)],
            ..Default::default()
        })
    };
    assert_eq!(outer(2).validate(&limits), Ok(()));
    assert_eq!(outer(3).validate(&limits), Err(KvError::TooManyOps));
}

#[test]
fn empty_keys_anywhere_in_a_txn_are_refused() {
    let limits = Limits::default();
    let compare_empty = TxnRequest {
        compare: vec![compare("", CompareResult::Equal, CompareTarget::Version(0))],
        ..Default::default()
    };
    assert_eq!(
        Command::Txn(compare_empty).validate(&limits),
        Err(KvError::EmptyKey)
    );
    let range_empty = TxnRequest {
        failure: vec![RequestOp::Range(RangeRequest::default())],
        ..Default::default()
    };
    assert_eq!(
        Command::Txn(range_empty).validate(&limits),
        Err(KvError::EmptyKey)
    );
    let delete_empty = TxnRequest {
        success: vec![RequestOp::DeleteRange(DeleteRangeRequest::default())],
        ..Default::default()
    };
    assert_eq!(
        Command::Txn(delete_empty).validate(&limits),
        Err(KvError::EmptyKey)
    );
}

#[test]
fn range_errors_in_a_txn_fail_it_whole_before_any_write() {
    let mut store = Store::new();
    put(&mut store, "k", "v"); // 2
    let future = RequestOp::Range(RangeRequest {
        revision: Revision(3),
        ..range_req("k", "")
    });
    let req = TxnRequest {
        success: vec![op_put("a", "1"), future],
        ..Default::default()
    };
    assert_eq!(txn(&mut store, req), Err(KvError::FutureRevision));
    assert_eq!(store.revision(), Revision(2));
    assert_eq!(get(&store, "a").count, 0);
}

#[test]
fn unknown_lease_in_a_txn_fails_it_whole() {
    let mut store = Store::new();
    let leased = RequestOp::Put(PutRequest {
        lease: LeaseId(9),
        ..put_req("b", "1")
    });
    let req = TxnRequest {
        success: vec![op_put("a", "1"), leased],
        ..Default::default()
    };
    assert_eq!(txn(&mut store, req), Err(KvError::LeaseNotFound));
    assert_eq!(store.revision(), Revision(1));
}

#[test]
fn checks_follow_only_the_branch_that_runs() {
    let mut store = Store::new();
    let leased = RequestOp::Put(PutRequest {
        lease: LeaseId(9),
        ..put_req("b", "1")
    });
    let req = TxnRequest {
        success: vec![op_put("a", "1")],
        failure: vec![leased],
        ..Default::default()
    };
    assert!(txn(&mut store, req).unwrap().succeeded);
}

#[test]
fn read_txn_answers_like_apply_without_a_decree() {
    let mut store = Store::new();
    put(&mut store, "k", "v");
    let req = TxnRequest {
        compare: vec![compare(
            "k",
            CompareResult::Equal,
            CompareTarget::Version(1),
        )],
        success: vec![op_get("k")],
        failure: vec![],
    };
    assert!(req.is_read_only());
    let read = store.read_txn(&req).unwrap();
    assert_eq!(read, txn(&mut store, req).unwrap());
    assert_eq!(store.revision(), Revision(2));
    assert!(!TxnRequest {
        failure: vec![RequestOp::Txn(TxnRequest::default())],
        ..Default::default()
    }
    .is_read_only());
}

#[test]
fn negative_range_revision_in_a_txn_is_compared_with_the_compaction_floor() {
    // etcd's checkRequestRange compares any non-zero revision with
    // compactMainRev (-1 before the first compaction); a plain Range reads
    // the current revision instead.
    let mut store = Store::new();
    put(&mut store, "k", "v");
    let at = |rev: i64| RangeRequest {
        revision: Revision(rev),
        ..range_req("k", "")
    };
    assert_eq!(store.range(&at(-5)).unwrap().count, 1);
    let in_txn = |rev: i64| TxnRequest {
        success: vec![RequestOp::Range(at(rev))],
        ..Default::default()
    };
    assert_eq!(txn(&mut store, in_txn(-5)), Err(KvError::Compacted));
    assert!(txn(&mut store, in_txn(-1)).is_ok());
}
