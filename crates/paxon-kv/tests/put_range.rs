//! Put and Range, with the exact results etcd 3.5 gives.

mod common;

use common::*;
use paxon_kv::{
    prefix_range_end, Command, GrpcCode, KvError, LeaseId, Limits, PutRequest, PutResponse,
    RangeRequest, RangeResponse, Response, Revision, SortOrder, SortTarget, Store,
};

fn put_resp(store: &mut Store, req: PutRequest) -> Result<PutResponse, KvError> {
    store.apply(&Command::Put(req)).map(|r| match r {
        Response::Put(p) => p,
        other => panic!("unexpected {other:?}"),
    })
}

/// Four keys written at revisions 2..=5: a=1, ab=22, abc=333, b=4444.
fn abc_store() -> Store {
    let mut store = Store::new();
    for (key, value) in [("a", "1"), ("ab", "22"), ("abc", "333"), ("b", "4444")] {
        put(&mut store, key, value);
    }
    store
}

#[test]
fn first_put_on_empty_store_is_revision_2_version_1() {
    let mut store = Store::new();
    assert_eq!(store.revision(), Revision(1));
    assert_eq!(put(&mut store, "foo", "bar"), Revision(2));
    let got = get(&store, "foo");
    assert_eq!(got.header.revision, Revision(2));
    assert_eq!(got.kvs, vec![kv("foo", "bar", 2, 2, 1)]);
    assert_eq!((got.count, got.more), (1, false));
}

#[test]
fn second_put_bumps_version_and_mod_but_keeps_create() {
    let mut store = Store::new();
    put(&mut store, "foo", "bar");
    assert_eq!(put(&mut store, "foo", "baz"), Revision(3));
    assert_eq!(get(&store, "foo").kvs, vec![kv("foo", "baz", 2, 3, 2)]);
}

#[test]
fn range_of_missing_key_is_empty_at_current_revision() {
    let store = abc_store();
    assert_eq!(
        get(&store, "zzz"),
        RangeResponse {
            header: paxon_kv::Header {
                revision: Revision(5)
            },
            kvs: vec![],
            more: false,
            count: 0
        }
    );
}

#[test]
fn prefix_range_selects_keys_starting_with_the_prefix() {
    let store = abc_store();
    let resp = store
        .range(&RangeRequest {
            key: b"ab".to_vec(),
            range_end: prefix_range_end(b"ab"),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&resp), ["ab", "abc"]);
    assert_eq!(resp.count, 2);
}

#[test]
fn prefix_range_end_increments_the_last_byte_below_0xff() {
    assert_eq!(prefix_range_end(b"ab"), b"ac");
    assert_eq!(prefix_range_end(b"a\xff"), b"b");
    assert_eq!(prefix_range_end(b"\xff\xff"), vec![0]);
}

#[test]
fn nul_range_end_reads_every_key_from_key_on() {
    let store = abc_store();
    let from_ab = store
        .range(&RangeRequest {
            key: b"ab".to_vec(),
            range_end: vec![0],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&from_ab), ["ab", "abc", "b"]);
    let all = store
        .range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&all), ["a", "ab", "abc", "b"]);
}

#[test]
fn half_open_range_excludes_its_end_and_is_empty_when_end_precedes_key() {
    let store = abc_store();
    assert_eq!(
        keys(&store.range(&range_req("a", "abc")).unwrap()),
        ["a", "ab"]
    );
    assert_eq!(store.range(&range_req("b", "a")).unwrap().count, 0);
    assert_eq!(store.range(&range_req("b", "b")).unwrap().count, 0);
}

#[test]
fn limit_cuts_keys_sets_more_and_count_is_the_total() {
    let store = abc_store();
    let resp = store
        .range(&RangeRequest {
            limit: 2,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert_eq!(keys(&resp), ["a", "ab"]);
    assert_eq!((resp.more, resp.count), (true, 4));
    let exact = store
        .range(&RangeRequest {
            limit: 4,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert_eq!((exact.kvs.len(), exact.more, exact.count), (4, false, 4));
    let negative = store
        .range(&RangeRequest {
            limit: -1,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert_eq!((negative.kvs.len(), negative.more), (4, false));
}

#[test]
fn sort_orders_and_targets() {
    let mut store = abc_store();
    put(&mut store, "a", "9"); // a: version 2, mod 6
    let sorted = |order, target| {
        keys(
            &store
                .range(&RangeRequest {
                    sort_order: order,
                    sort_target: target,
                    ..range_req("a", "\0")
                })
                .unwrap(),
        )
    };
    assert_eq!(
        sorted(SortOrder::Descend, SortTarget::Key),
        ["b", "abc", "ab", "a"]
    );
    assert_eq!(
        sorted(SortOrder::Ascend, SortTarget::Mod),
        ["ab", "abc", "b", "a"]
    );
    assert_eq!(
        sorted(SortOrder::Descend, SortTarget::Mod),
        ["a", "b", "abc", "ab"]
    );
    assert_eq!(
        sorted(SortOrder::Descend, SortTarget::Create),
        ["b", "abc", "ab", "a"]
    );
    assert_eq!(
        sorted(SortOrder::Descend, SortTarget::Version),
        ["a", "ab", "abc", "b"]
    );
    assert_eq!(
        sorted(SortOrder::Ascend, SortTarget::Value),
        ["ab", "abc", "b", "a"]
    );
    // etcd: no order on a target other than the key means ascending.
    assert_eq!(
        sorted(SortOrder::None, SortTarget::Mod),
        ["ab", "abc", "b", "a"]
    );
    assert_eq!(
        sorted(SortOrder::None, SortTarget::Key),
        ["a", "ab", "abc", "b"]
    );
}

#[test]
fn unordered_sort_on_non_key_target_sorts_only_the_first_limit_plus_one_keys() {
    // etcd passes limit+1 to the index when sort_order is NONE, then sorts.
    let mut store = abc_store();
    put(&mut store, "b", "x"); // b: mod 6
    put(&mut store, "a", "y"); // a: mod 7
    let req = RangeRequest {
        limit: 2,
        sort_target: SortTarget::Mod,
        ..range_req("a", "\0")
    };
    let resp = store.range(&req).unwrap();
    // Fetched a(7), ab(3), abc(4); sorted by mod: ab, abc, a; cut to 2.
    assert_eq!(keys(&resp), ["ab", "abc"]);
    assert_eq!((resp.more, resp.count), (true, 4));
    let ordered = store
        .range(&RangeRequest {
            sort_order: SortOrder::Ascend,
            ..req
        })
        .unwrap();
    assert_eq!(keys(&ordered), ["ab", "abc"]);
}

#[test]
fn keys_only_drops_values_and_count_only_drops_keys() {
    let store = abc_store();
    let keys_only = store
        .range(&RangeRequest {
            keys_only: true,
            ..range_req("ab", "")
        })
        .unwrap();
    assert_eq!(keys_only.kvs, vec![kv("ab", "", 3, 3, 1)]);
    let count_only = store
        .range(&RangeRequest {
            count_only: true,
            limit: 1,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert_eq!(
        (count_only.kvs.len(), count_only.count, count_only.more),
        (0, 4, false)
    );
}

#[test]
fn revision_filters_drop_keys_but_not_from_count() {
    let store = abc_store(); // mod = create = 2, 3, 4, 5
    let filtered = |req: RangeRequest| store.range(&req).unwrap();
    let base = range_req("a", "\0");
    let r = filtered(RangeRequest {
        min_mod_revision: Revision(3),
        max_mod_revision: Revision(4),
        ..base.clone()
    });
    assert_eq!(
        (keys(&r), r.count),
        (vec!["ab".to_string(), "abc".to_string()], 4)
    );
    let r = filtered(RangeRequest {
        min_create_revision: Revision(5),
        ..base.clone()
    });
    assert_eq!(keys(&r), ["b"]);
    let r = filtered(RangeRequest {
        max_create_revision: Revision(2),
        limit: 1,
        ..base
    });
    assert_eq!(
        (keys(&r), r.more, r.count),
        (vec!["a".to_string()], false, 4)
    );
}

#[test]
fn historical_read_sees_the_state_at_that_revision() {
    let mut store = Store::new();
    put(&mut store, "foo", "v1"); // 2
    put(&mut store, "foo", "v2"); // 3
    delete(&mut store, "foo", ""); // 4
    put(&mut store, "foo", "v3"); // 5
    let at = |rev| {
        store
            .range(&RangeRequest {
                revision: Revision(rev),
                ..range_req("foo", "")
            })
            .unwrap()
    };
    assert_eq!(at(1).kvs, vec![]);
    assert_eq!(at(2).kvs, vec![kv("foo", "v1", 2, 2, 1)]);
    assert_eq!(at(3).kvs, vec![kv("foo", "v2", 2, 3, 2)]);
    assert_eq!(at(4).kvs, vec![]);
    assert_eq!(at(5).kvs, vec![kv("foo", "v3", 5, 5, 1)]);
    assert_eq!(
        at(3).header.revision,
        Revision(5),
        "the header is the current revision"
    );
    assert_eq!(
        at(0).kvs,
        at(-7).kvs,
        "0 and negative read the current revision"
    );
}

#[test]
fn future_revision_is_out_of_range_with_etcds_message() {
    let store = abc_store();
    let err = store
        .range(&RangeRequest {
            revision: Revision(6),
            ..range_req("a", "")
        })
        .unwrap_err();
    assert_eq!(err, KvError::FutureRevision);
    assert_eq!(
        err.to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    assert_eq!(err.code(), GrpcCode::OutOfRange);
}

#[test]
fn compacted_revision_is_out_of_range_with_etcds_message() {
    let mut store = abc_store();
    store
        .compact(&paxon_kv::CompactionRequest {
            revision: Revision(4),
            physical: false,
        })
        .unwrap();
    let at = |rev| {
        store.range(&RangeRequest {
            revision: Revision(rev),
            ..range_req("a", "\0")
        })
    };
    let err = at(3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(err.code(), GrpcCode::OutOfRange);
    assert_eq!(
        keys(&at(4).unwrap()),
        ["a", "ab", "abc"],
        "the compacted revision itself is readable"
    );
}

#[test]
fn empty_key_is_refused() {
    let store = Store::new();
    let err = store.range(&range_req("", "\0")).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        ("etcdserver: key is not provided", GrpcCode::InvalidArgument)
    );
    let mut store = Store::new();
    assert_eq!(
        store.apply(&Command::Put(put_req("", "v"))),
        Err(KvError::EmptyKey)
    );
    assert_eq!(store.revision(), Revision(1));
}

#[test]
fn prev_kv_returns_the_key_before_the_put_if_it_existed() {
    let mut store = Store::new();
    let first = put_resp(
        &mut store,
        PutRequest {
            prev_kv: true,
            ..put_req("k", "1")
        },
    )
    .unwrap();
    assert_eq!(first.prev_kv, None);
    let second = put_resp(
        &mut store,
        PutRequest {
            prev_kv: true,
            ..put_req("k", "2")
        },
    )
    .unwrap();
    assert_eq!(second.prev_kv, Some(kv("k", "1", 2, 2, 1)));
    assert_eq!(second.header.revision, Revision(3));
    let silent = put_resp(&mut store, put_req("k", "3")).unwrap();
    assert_eq!(silent.prev_kv, None);
}

#[test]
fn ignore_value_keeps_the_value_and_needs_the_key() {
    let mut store = Store::new();
    let missing = put_resp(
        &mut store,
        PutRequest {
            ignore_value: true,
            ..put_req("k", "")
        },
    );
    assert_eq!(missing, Err(KvError::KeyNotFound));
    assert_eq!(
        KvError::KeyNotFound.to_string(),
        "etcdserver: key not found"
    );
    assert_eq!(KvError::KeyNotFound.code(), GrpcCode::InvalidArgument);
    assert_eq!(store.revision(), Revision(1));
    put(&mut store, "k", "kept");
    store
        .apply(&Command::LeaseGrant {
            id: LeaseId(7),
            ttl_s: 60,
        })
        .unwrap();
    put_resp(
        &mut store,
        PutRequest {
            ignore_value: true,
            lease: LeaseId(7),
            ..put_req("k", "")
        },
    )
    .unwrap();
    let got = get(&store, "k").kvs;
    assert_eq!(
        got,
        vec![paxon_kv::KeyValue {
            lease: LeaseId(7),
            ..kv("k", "kept", 2, 3, 2)
        }]
    );
}

#[test]
fn ignore_lease_keeps_the_lease_and_needs_the_key() {
    let mut store = Store::new();
    store
        .apply(&Command::LeaseGrant {
            id: LeaseId(7),
            ttl_s: 60,
        })
        .unwrap();
    assert_eq!(
        put_resp(
            &mut store,
            PutRequest {
                ignore_lease: true,
                ..put_req("k", "v")
            }
        ),
        Err(KvError::KeyNotFound)
    );
    put_resp(
        &mut store,
        PutRequest {
            lease: LeaseId(7),
            ..put_req("k", "v1")
        },
    )
    .unwrap();
    put_resp(
        &mut store,
        PutRequest {
            ignore_lease: true,
            ..put_req("k", "v2")
        },
    )
    .unwrap();
    assert_eq!(get(&store, "k").kvs[0].lease, LeaseId(7));
    put(&mut store, "k", "v3");
    assert_eq!(
        get(&store, "k").kvs[0].lease,
        LeaseId::NONE,
        "a plain put detaches the lease"
    );
}

#[test]
fn ignore_flags_with_a_value_or_lease_are_refused_with_etcds_messages() {
    let limits = Limits::default();
    let value = Command::Put(PutRequest {
        ignore_value: true,
        ..put_req("k", "v")
    });
    assert_eq!(value.validate(&limits), Err(KvError::ValueProvided));
    assert_eq!(
        KvError::ValueProvided.to_string(),
        "etcdserver: value is provided"
    );
    let lease = Command::Put(PutRequest {
        ignore_lease: true,
        lease: LeaseId(1),
        ..put_req("k", "")
    });
    assert_eq!(lease.validate(&limits), Err(KvError::LeaseProvided));
    assert_eq!(
        KvError::LeaseProvided.to_string(),
        "etcdserver: lease is provided"
    );
    let mut store = Store::new();
    put(&mut store, "k", "v");
    assert_eq!(
        store.apply(&value),
        Err(KvError::ValueProvided),
        "apply repeats the check"
    );
    assert_eq!(store.revision(), Revision(2));
}

#[test]
fn put_with_unknown_lease_fails_before_the_key_check() {
    let mut store = Store::new();
    let req = PutRequest {
        lease: LeaseId(5),
        ..put_req("k", "v")
    };
    let err = put_resp(&mut store, req).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        ("etcdserver: requested lease not found", GrpcCode::NotFound)
    );
    let both = PutRequest {
        lease: LeaseId(5),
        ignore_value: true,
        ..put_req("k", "")
    };
    assert_eq!(put_resp(&mut store, both), Err(KvError::LeaseNotFound));
    assert_eq!(store.revision(), Revision(1));
}

#[test]
fn size_bytes_counts_key_value_and_overhead_per_version() {
    let mut store = Store::new();
    assert_eq!(store.size_bytes(), 0);
    put(&mut store, "foo", "bar");
    assert_eq!(store.size_bytes(), 3 + 3 + 64);
    put(&mut store, "foo", "barbaz");
    assert_eq!(store.size_bytes(), 70 + 3 + 6 + 64);
    delete(&mut store, "foo", "");
    assert_eq!(store.size_bytes(), 143 + 3 + 64);
}
