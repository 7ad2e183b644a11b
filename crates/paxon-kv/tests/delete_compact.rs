//! DeleteRange and Compact, with the exact results etcd 3.5 gives.

mod common;

use common::*;
use paxon_kv::{
    Command, CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    GrpcCode, Header, KvError, RangeRequest, Response, Revision, Store,
};

fn compact(store: &mut Store, revision: i64) -> Result<Response, KvError> {
    store.apply(&Command::Compact(CompactionRequest {
        revision: Revision(revision),
        physical: true,
    }))
}

fn read_at(store: &Store, key: &str, revision: i64) -> Result<Vec<paxon_kv::KeyValue>, KvError> {
    store
        .range(&RangeRequest {
            revision: Revision(revision),
            ..range_req(key, "")
        })
        .map(|r| r.kvs)
}

#[test]
fn delete_of_nothing_does_not_advance_the_revision() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    let resp = store
        .apply(&Command::DeleteRange(delete_req("zz", "")))
        .unwrap();
    assert_eq!(
        resp,
        Response::DeleteRange(DeleteRangeResponse {
            header: Header {
                revision: Revision(2)
            },
            deleted: 0,
            prev_kvs: vec![]
        })
    );
    assert_eq!(store.revision(), Revision(2));
    assert!(store.take_events().is_empty());
}

#[test]
fn delete_range_deletes_every_key_at_one_revision_with_prev_kvs() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "b", "2"); // 3
    put(&mut store, "c", "3"); // 4
    let req = DeleteRangeRequest {
        prev_kv: true,
        ..delete_req("a", "c")
    };
    let resp = store.apply(&Command::DeleteRange(req)).unwrap();
    let expected = DeleteRangeResponse {
        header: Header {
            revision: Revision(5),
        },
        deleted: 2,
        prev_kvs: vec![kv("a", "1", 2, 2, 1), kv("b", "2", 3, 3, 1)],
    };
    assert_eq!(resp, Response::DeleteRange(expected));
    assert_eq!(keys(&store.range(&range_req("a", "\0")).unwrap()), ["c"]);
    assert_eq!(delete(&mut store, "a", "\0"), 1);
    assert_eq!(store.revision(), Revision(6));
}

#[test]
fn put_after_delete_starts_a_new_generation() {
    let mut store = Store::new();
    put(&mut store, "k", "1"); // 2
    put(&mut store, "k", "2"); // 3
    delete(&mut store, "k", ""); // 4
    put(&mut store, "k", "3"); // 5
    assert_eq!(get(&store, "k").kvs, vec![kv("k", "3", 5, 5, 1)]);
}

#[test]
fn compaction_keeps_the_last_version_at_or_below_its_revision() {
    let mut store = Store::new();
    put(&mut store, "k", "v2"); // 2
    put(&mut store, "k", "v3"); // 3
    put(&mut store, "k", "v4"); // 4
    put(&mut store, "other", "x"); // 5
    let resp = compact(&mut store, 3).unwrap();
    assert_eq!(
        resp,
        Response::Compact(CompactionResponse {
            header: Header {
                revision: Revision(5)
            }
        })
    );
    assert_eq!(
        store.revision(),
        Revision(5),
        "compaction does not advance the revision"
    );
    assert_eq!(store.compact_revision(), Some(Revision(3)));
    assert_eq!(read_at(&store, "k", 2), Err(KvError::Compacted));
    assert_eq!(
        read_at(&store, "k", 3).unwrap(),
        vec![kv("k", "v3", 2, 3, 2)]
    );
    assert_eq!(
        read_at(&store, "k", 4).unwrap(),
        vec![kv("k", "v4", 2, 4, 3)]
    );
    assert_eq!(read_at(&store, "other", 3).unwrap(), vec![]);
    // k keeps 3 and 4 (two versions), other keeps 5.
    assert_eq!(store.size_bytes(), 2 * (1 + 2 + 64) + (5 + 1 + 64));
}

#[test]
fn compaction_drops_keys_deleted_before_it_and_keeps_a_tombstone_at_it() {
    let mut store = Store::new();
    put(&mut store, "gone", "x"); // 2
    delete(&mut store, "gone", ""); // 3
    put(&mut store, "edge", "y"); // 4
    delete(&mut store, "edge", ""); // 5
    compact(&mut store, 5).unwrap();
    // "gone": tombstone 3 < 5 is dropped with the key; "edge": tombstone at 5 stays.
    assert_eq!(store.size_bytes(), 4 + 64);
    store.check_invariants();
    compact(&mut store, 5).unwrap_err();
    put(&mut store, "x", "z"); // 6
    compact(&mut store, 6).unwrap();
    assert_eq!(
        store.size_bytes(),
        1 + 1 + 64,
        "the tombstone goes with the next compaction"
    );
}

#[test]
fn compacting_an_already_compacted_revision_fails_with_etcds_message() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "a", "2"); // 3
    compact(&mut store, 3).unwrap();
    for rev in [3, 2] {
        let err = compact(&mut store, rev).unwrap_err();
        assert_eq!(
            (err.to_string().as_str(), err.code()),
            (
                "etcdserver: mvcc: required revision has been compacted",
                GrpcCode::OutOfRange
            )
        );
    }
}

#[test]
fn compacting_a_future_revision_fails_with_etcds_message() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    let err = compact(&mut store, 3).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        (
            "etcdserver: mvcc: required revision is a future revision",
            GrpcCode::OutOfRange
        )
    );
    assert_eq!(store.compact_revision(), None);
}

#[test]
fn before_any_compaction_revision_zero_compacts_and_negative_is_compacted() {
    // etcd's compactMainRev starts at -1.
    let mut store = Store::new();
    assert_eq!(compact(&mut store, -1), Err(KvError::Compacted));
    compact(&mut store, 0).unwrap();
    assert_eq!(store.compact_revision(), Some(Revision(0)));
    assert_eq!(compact(&mut store, 0), Err(KvError::Compacted));
}
