//! The minimal lease table: grant, revoke, and keys that carry leases.

mod common;

use common::*;
use paxon_kv::{
    Command, EventKind, GrpcCode, Header, KvError, LeaseGrantResponse, LeaseId,
    LeaseRevokeResponse, PutRequest, Response, Revision, Store,
};

fn grant(store: &mut Store, id: i64, ttl_s: i64) -> Result<Response, KvError> {
    store.apply(&Command::LeaseGrant {
        id: LeaseId(id),
        ttl_s,
    })
}

fn revoke(store: &mut Store, id: i64) -> Result<Response, KvError> {
    store.apply(&Command::LeaseRevoke { id: LeaseId(id) })
}

fn put_leased(store: &mut Store, key: &str, lease: i64) {
    store
        .apply(&Command::Put(PutRequest {
            lease: LeaseId(lease),
            ..put_req(key, "v")
        }))
        .unwrap();
}

#[test]
fn grant_answers_id_and_ttl_without_advancing_the_revision() {
    let mut store = Store::new();
    let resp = grant(&mut store, 42, 60).unwrap();
    let expected = LeaseGrantResponse {
        header: Header {
            revision: Revision(1),
        },
        id: LeaseId(42),
        ttl_s: 60,
    };
    assert_eq!(resp, Response::LeaseGrant(expected));
    assert_eq!(store.lease(LeaseId(42)).map(|l| l.ttl_s()), Some(60));
    assert_eq!(
        store.leases().map(|(id, _)| id).collect::<Vec<_>>(),
        [LeaseId(42)]
    );
}

#[test]
fn grant_errors_follow_etcds_lessor() {
    let mut store = Store::new();
    assert_eq!(grant(&mut store, 0, 60), Err(KvError::LeaseNotFound));
    let too_large = grant(&mut store, 1, 9_000_000_001).unwrap_err();
    assert_eq!(
        (too_large.to_string().as_str(), too_large.code()),
        ("etcdserver: too large lease TTL", GrpcCode::OutOfRange)
    );
    grant(&mut store, 1, 9_000_000_000).unwrap();
    let exists = grant(&mut store, 1, 5).unwrap_err();
    assert_eq!(
        (exists.to_string().as_str(), exists.code()),
        (
            "etcdserver: lease already exists",
            GrpcCode::FailedPrecondition
        )
    );
}

#[test]
fn revoke_deletes_the_leases_keys_at_one_revision_in_key_order() {
    let mut store = Store::new();
    grant(&mut store, 7, 10).unwrap();
    put_leased(&mut store, "b", 7); // 2
    put_leased(&mut store, "a", 7); // 3
    put(&mut store, "c", "free"); // 4
    assert_eq!(
        store.lease(LeaseId(7)).unwrap().keys().collect::<Vec<_>>(),
        [b"a".as_slice(), b"b"]
    );
    let resp = revoke(&mut store, 7).unwrap();
    assert_eq!(
        resp,
        Response::LeaseRevoke(LeaseRevokeResponse {
            header: Header {
                revision: Revision(5)
            }
        })
    );
    let events = store.take_events();
    let deleted: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.kv.key.clone(), e.kv.mod_revision))
        .collect();
    assert_eq!(
        deleted,
        [
            (EventKind::Delete, b"a".to_vec(), Revision(5)),
            (EventKind::Delete, b"b".to_vec(), Revision(5))
        ]
    );
    assert_eq!(keys(&store.range(&range_req("a", "\0")).unwrap()), ["c"]);
    assert!(store.lease(LeaseId(7)).is_none());
}

#[test]
fn revoking_a_lease_without_keys_does_not_advance_the_revision() {
    let mut store = Store::new();
    grant(&mut store, 7, 10).unwrap();
    put_leased(&mut store, "k", 7); // 2
    put(&mut store, "k", "unleased"); // 3: detaches
    assert_eq!(store.lease(LeaseId(7)).unwrap().keys().count(), 0);
    let resp = revoke(&mut store, 7).unwrap();
    assert_eq!(resp.header().revision, Revision(3));
    assert_eq!(get(&store, "k").count, 1);
}

#[test]
fn deleting_a_leased_key_detaches_it() {
    let mut store = Store::new();
    grant(&mut store, 7, 10).unwrap();
    put_leased(&mut store, "k", 7);
    delete(&mut store, "k", "");
    assert_eq!(store.lease(LeaseId(7)).unwrap().keys().count(), 0);
    store.check_invariants();
}

#[test]
fn revoking_an_unknown_lease_is_not_found() {
    let mut store = Store::new();
    let err = revoke(&mut store, 3).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        ("etcdserver: requested lease not found", GrpcCode::NotFound)
    );
}
