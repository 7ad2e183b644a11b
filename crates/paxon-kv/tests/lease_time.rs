//! §3.3.3: lease expiry by the time carried in decrees. The same decrees
//! expire the same leases at the same decree on every replica; nothing
//! reads a clock.

mod common;

use common::*;
use paxon_kv::{
    Command, Event, EventKind, KeyValue, KvError, LeaseId, LeaseKeepAliveResponse,
    LeaseTickResponse, PutRequest, Response, Revision, Store,
};

fn apply(store: &mut Store, cmd: Command) -> Result<Response, KvError> {
    let result = store.apply(&cmd);
    store.check_invariants();
    result
}

fn tick(store: &mut Store, now_ms: i64) -> LeaseTickResponse {
    match apply(store, Command::LeaseTick { now_ms }) {
        Ok(Response::LeaseTick(resp)) => resp,
        other => panic!("unexpected {other:?}"),
    }
}

fn grant(store: &mut Store, id: i64, ttl_s: i64) {
    let cmd = Command::LeaseGrant {
        id: LeaseId(id),
        ttl_s,
    };
    apply(store, cmd).expect("grant");
}

fn put_leased(store: &mut Store, key: &str, lease: i64) {
    let req = PutRequest {
        lease: LeaseId(lease),
        ..put_req(key, "v")
    };
    apply(store, Command::Put(req)).expect("put");
}

#[test]
fn a_lease_expires_at_the_first_tick_that_reaches_its_deadline() {
    let mut store = Store::new();
    tick(&mut store, 1_000);
    grant(&mut store, 7, 10);
    assert_eq!(store.lease(LeaseId(7)).map(|l| l.expiry_ms()), Some(11_000));
    put_leased(&mut store, "a", 7);
    put_leased(&mut store, "b", 7);
    let before = tick(&mut store, 10_999);
    assert_eq!(before.expired, []);
    assert_eq!(before.header.revision, Revision(3));
    let at = tick(&mut store, 11_000);
    assert_eq!(at.expired, [LeaseId(7)]);
    assert_eq!(
        at.header.revision,
        Revision(4),
        "both keys go in one revision"
    );
    assert!(store.lease(LeaseId(7)).is_none());
    assert_eq!(get(&store, "a").kvs, []);
    let deleted = |key: &str| Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            key: key.into(),
            mod_revision: Revision(4),
            ..KeyValue::default()
        },
        prev_kv: Some(KeyValue {
            lease: LeaseId(7),
            ..kv(
                key,
                "v",
                if key == "a" { 2 } else { 3 },
                if key == "a" { 2 } else { 3 },
                1,
            )
        }),
    };
    assert_eq!(store.take_events(), [deleted("a"), deleted("b")]);
}

#[test]
fn decree_time_never_goes_back_so_a_slow_clock_only_delays_expiry() {
    let mut store = Store::new();
    tick(&mut store, 5_000);
    grant(&mut store, 1, 2);
    assert_eq!(
        tick(&mut store, 1_000).expired,
        [],
        "an older time is ignored"
    );
    assert_eq!(store.now_ms(), 5_000);
    assert_eq!(tick(&mut store, 7_000).expired, [LeaseId(1)]);
}

#[test]
fn keep_alive_restarts_the_full_ttl_from_the_decree_time() {
    let mut store = Store::new();
    tick(&mut store, 0);
    grant(&mut store, 3, 5);
    tick(&mut store, 4_000);
    let renewed = apply(&mut store, Command::LeaseKeepAlive { id: LeaseId(3) });
    assert_eq!(
        renewed,
        Ok(Response::LeaseKeepAlive(LeaseKeepAliveResponse {
            header: paxon_kv::Header {
                revision: Revision(1)
            },
            id: LeaseId(3),
            ttl_s: 5,
        }))
    );
    assert_eq!(tick(&mut store, 8_999).expired, []);
    assert_eq!(tick(&mut store, 9_000).expired, [LeaseId(3)]);
    assert_eq!(
        apply(&mut store, Command::LeaseKeepAlive { id: LeaseId(3) }),
        Err(KvError::LeaseNotFound)
    );
}

#[test]
fn promotion_gives_every_lease_a_full_ttl_from_the_new_leaders_time() {
    let mut store = Store::new();
    tick(&mut store, 0);
    grant(&mut store, 1, 10);
    grant(&mut store, 2, 100);
    // The old leader died at 9 s; the new one takes office at 12 s.
    apply(&mut store, Command::LeasePromote { now_ms: 12_000 }).expect("promote");
    assert_eq!(store.lease(LeaseId(1)).map(|l| l.expiry_ms()), Some(22_000));
    assert_eq!(
        store.lease(LeaseId(2)).map(|l| l.expiry_ms()),
        Some(112_000)
    );
    assert_eq!(tick(&mut store, 21_999).expired, []);
    assert_eq!(tick(&mut store, 22_000).expired, [LeaseId(1)]);
}

#[test]
fn several_leases_expire_in_id_order_each_in_its_own_revision() {
    let mut store = Store::new();
    tick(&mut store, 0);
    grant(&mut store, 9, 1);
    grant(&mut store, 4, 1);
    grant(&mut store, 6, 50);
    put_leased(&mut store, "x", 9);
    put_leased(&mut store, "y", 4);
    let resp = tick(&mut store, 1_000);
    assert_eq!(resp.expired, [LeaseId(4), LeaseId(9)]);
    assert_eq!(resp.header.revision, Revision(5));
    let revisions: Vec<(String, i64)> = store
        .take_events()
        .into_iter()
        .map(|e| (String::from_utf8(e.kv.key).unwrap(), e.kv.mod_revision.0))
        .collect();
    assert_eq!(revisions, [("y".into(), 4), ("x".into(), 5)]);
    assert!(store.lease(LeaseId(6)).is_some());
}

#[test]
fn replicas_applying_the_same_ticks_agree_byte_for_byte() {
    let cmds = [
        Command::LeaseTick { now_ms: 100 },
        Command::LeaseGrant {
            id: LeaseId(1),
            ttl_s: 3,
        },
        Command::Put(PutRequest {
            lease: LeaseId(1),
            ..put_req("k", "v")
        }),
        Command::LeaseTick { now_ms: 2_000 },
        Command::LeaseTick { now_ms: 3_100 },
    ];
    let (mut a, mut b) = (Store::new(), Store::new());
    apply_all(&mut a, &cmds);
    apply_all(&mut b, &cmds);
    assert_eq!(a.snapshot(), b.snapshot());
    assert_eq!(get(&a, "k").kvs, []);
    let restored = Store::restore(&a.snapshot()).expect("restore");
    assert_eq!(restored, a);
    assert_eq!(restored.now_ms(), 3_100);
}
