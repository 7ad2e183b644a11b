//! Watch events: what each apply produced, in order, with previous values.

mod common;

use common::*;
use paxon_kv::{
    Command, Event, EventKind, KeyValue, PutRequest, RequestOp, Revision, Store, TxnRequest,
};

#[test]
fn put_produces_a_put_event_with_the_previous_value() {
    let mut store = Store::new();
    put(&mut store, "k", "1");
    assert_eq!(
        store.take_events(),
        [Event {
            kind: EventKind::Put,
            kv: kv("k", "1", 2, 2, 1),
            prev_kv: None
        }]
    );
    put(&mut store, "k", "2");
    let expected = Event {
        kind: EventKind::Put,
        kv: kv("k", "2", 2, 3, 2),
        prev_kv: Some(kv("k", "1", 2, 2, 1)),
    };
    assert_eq!(store.take_events(), [expected]);
}

#[test]
fn delete_event_carries_only_the_key_and_the_deleting_revision() {
    let mut store = Store::new();
    put(&mut store, "k", "1");
    delete(&mut store, "k", "");
    let tombstone = KeyValue {
        key: b"k".to_vec(),
        mod_revision: Revision(3),
        ..KeyValue::default()
    };
    assert_eq!(
        store.take_events(),
        [Event {
            kind: EventKind::Delete,
            kv: tombstone,
            prev_kv: Some(kv("k", "1", 2, 2, 1))
        }]
    );
}

#[test]
fn txn_events_come_in_operation_order_at_one_revision() {
    let mut store = Store::new();
    put(&mut store, "z", "0"); // 2
    let req = TxnRequest {
        success: vec![
            RequestOp::Put(put_req("y", "1")),
            RequestOp::DeleteRange(delete_req("z", "")),
            RequestOp::Put(put_req("a", "2")),
        ],
        ..Default::default()
    };
    store.apply(&Command::Txn(req)).unwrap();
    let summary: Vec<_> = store
        .take_events()
        .into_iter()
        .map(|e| {
            (
                e.kind,
                String::from_utf8(e.kv.key).unwrap(),
                e.kv.mod_revision,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (EventKind::Put, "y".to_string(), Revision(3)),
            (EventKind::Delete, "z".to_string(), Revision(3)),
            (EventKind::Put, "a".to_string(), Revision(3))
        ]
    );
}

#[test]
fn a_failed_or_read_only_apply_produces_no_events_and_each_apply_starts_afresh() {
    let mut store = Store::new();
    put(&mut store, "k", "1");
    let _ = store.apply(&Command::Put(PutRequest {
        ignore_value: true,
        ..put_req("missing", "")
    }));
    assert!(
        store.take_events().is_empty(),
        "a failed apply replaces the previous events with none"
    );
    put(&mut store, "k", "2");
    assert_eq!(store.take_events().len(), 1);
    assert!(store.take_events().is_empty(), "taking empties the list");
}
