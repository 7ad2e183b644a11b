//! Law book and determinism: snapshots round-trip exactly, restore never
//! panics, and replicas applying the same decrees agree byte for byte.

mod common;

use common::*;
use paxon_kv::{Command, DecodeError, MemberAttrs, RangeRequest, Revision, Store};
use proptest::prelude::*;

/// Reads every replica must answer alike: all keys at each revision.
fn answers(store: &Store) -> Vec<String> {
    (0..=store.revision().0 + 1)
        .map(|rev| {
            format!(
                "{:?}",
                store.range(&RangeRequest {
                    revision: Revision(rev),
                    ..range_req("\0", "\0")
                })
            )
        })
        .collect()
}

fn commands(max: usize) -> impl Strategy<Value = Vec<Command>> {
    prop::collection::vec(command(), 0..max)
}

#[test]
fn empty_store_snapshot_is_the_documented_bytes() {
    let bytes = Store::new().snapshot();
    // version 5, revision 1, not compacted, decree time 0, no leases, no
    // keys, no alarms; auth disabled, no users, no roles; no member in the
    // directory.
    let body = [5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(&bytes[..11], body);
    assert_eq!(bytes[11..], crc32c::crc32c(&body).to_le_bytes());
    assert_eq!(Store::restore(&bytes), Ok(Store::new()));
}

#[test]
fn the_member_directory_survives_a_snapshot_and_version_4_has_none() {
    let mut store = Store::new();
    let attrs = MemberAttrs {
        name: "m4".into(),
        peer_urls: vec!["http://127.0.0.1:2480".into()],
    };
    store
        .apply(&Command::MemberAttrs {
            id: 7,
            attrs: attrs.clone(),
        })
        .unwrap();
    let restored = Store::restore(&store.snapshot()).unwrap();
    assert_eq!(restored.members().get(&7), Some(&attrs));
    assert_eq!(restored.revision(), Store::new().revision());

    let body = [4, 2, 0, 0, 0, 0, 0, 0, 0, 0];
    let sealed = [body.to_vec(), crc32c::crc32c(&body).to_le_bytes().to_vec()].concat();
    assert_eq!(Store::restore(&sealed), Ok(Store::new()));
}

#[test]
fn snapshots_of_unreleased_versions_are_refused() {
    for body in [vec![1, 2, 0, 0, 0], vec![2, 2, 0, 0, 0, 0]] {
        let mut bytes = body.clone();
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        assert!(Store::restore(&bytes).is_err(), "{body:?}");
    }
}

#[test]
fn a_version_3_snapshot_is_read_as_a_store_without_auth() {
    let body = [3, 2, 0, 0, 0, 0, 0];
    let mut bytes = body.to_vec();
    bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    assert_eq!(Store::restore(&bytes), Ok(Store::new()));
    let mut trailing = body.to_vec();
    trailing.extend([0, 0, 0]);
    let sealed = [
        trailing.clone(),
        crc32c::crc32c(&trailing).to_le_bytes().to_vec(),
    ]
    .concat();
    assert!(
        Store::restore(&sealed).is_err(),
        "version 3 has no auth part"
    );
}

#[test]
fn restore_rejects_a_bad_checksum_and_a_short_input() {
    let mut bytes = Store::new().snapshot();
    bytes[1] ^= 1;
    assert!(matches!(
        Store::restore(&bytes),
        Err(DecodeError::Checksum { .. })
    ));
    assert_eq!(
        Store::restore(&[1, 2]),
        Err(DecodeError::Truncated {
            needed: 4,
            remaining: 2
        })
    );
}

#[test]
fn restore_rejects_a_state_applying_could_not_produce() {
    // One key "k" whose only version is a put at revision 2 with version 2.
    let mut body = vec![
        4, 4, 0, 0, 0, 1, 1, b'k', 1, 4, 0, 1, 1, b'v', 4, 4, 0, 0, 0, 0, 0,
    ];
    let sealed =
        |body: &Vec<u8>| [body.clone(), crc32c::crc32c(body).to_le_bytes().to_vec()].concat();
    assert_eq!(
        Store::restore(&sealed(&body)),
        Err(DecodeError::Invalid(
            "put starting a generation is inconsistent"
        ))
    );
    body[15] = 2; // version 1: now consistent
    let store = Store::restore(&sealed(&body)).unwrap();
    assert_eq!(get(&store, "k").kvs, vec![kv("k", "v", 2, 2, 1)]);
}

#[test]
fn restore_rejects_an_implausibly_high_revision() {
    let sealed = |revision: u64| {
        let mut body = vec![4];
        let mut zigzag = revision << 1;
        while zigzag >= 0x80 {
            body.push(zigzag as u8 | 0x80);
            zigzag >>= 7;
        }
        body.extend([zigzag as u8, 0, 0, 0, 0, 0, 0, 0, 0]);
        [body.clone(), crc32c::crc32c(&body).to_le_bytes().to_vec()].concat()
    };
    assert_eq!(
        Store::restore(&sealed(1 << 62)).map(|s| s.revision()),
        Ok(Revision(1 << 62))
    );
    assert_eq!(
        Store::restore(&sealed((1 << 62) + 1)),
        Err(DecodeError::Invalid(
            "revision below the empty store's or implausibly high"
        ))
    );
}

#[test]
fn hash_is_crc32c_of_the_history_and_changes_with_every_write() {
    let mut store = Store::new();
    let empty = store.hash();
    put(&mut store, "k", "v");
    let one = store.hash();
    assert_ne!(empty, one);
    assert_eq!(
        store.hash_kv(Revision(1)),
        Ok(empty),
        "a past revision hashes as it was"
    );
    assert_eq!(
        store.hash_kv(Revision(3)),
        Err(paxon_kv::KvError::FutureRevision)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn snapshot_round_trips_exactly(cmds in commands(40)) {
        let mut store = Store::new();
        apply_all(&mut store, &cmds);
        let bytes = store.snapshot();
        let restored = Store::restore(&bytes).expect("restore");
        prop_assert_eq!(&restored, &store);
        prop_assert_eq!(restored.snapshot(), bytes);
        prop_assert_eq!(restored.hash(), store.hash());
        prop_assert_eq!(restored.size_bytes(), store.size_bytes());
        prop_assert_eq!(answers(&restored), answers(&store));
    }

    /// A snapshot encoded a few keys at a time while more commands apply
    /// is the snapshot of the store as it was when it began; a compaction
    /// that changes the store meanwhile aborts it.
    #[test]
    fn a_snapshot_encoded_while_commands_apply_is_the_store_as_it_began(
        before in commands(40),
        during in commands(40),
        keys_per_step in 1usize..4,
    ) {
        let mut store = Store::new();
        apply_all(&mut store, &before);
        let then = store.snapshot();
        let mut encoder = store.begin_snapshot();
        prop_assert_eq!(encoder.revision(), store.revision());
        let mut aborted = false;
        let mut commands = during.iter();
        loop {
            match store.continue_snapshot(&mut encoder, keys_per_step) {
                Ok(true) => break,
                Ok(false) => {}
                Err(_) => {
                    aborted = true;
                    break;
                }
            }
            if let Some(command) = commands.next() {
                let compacted = store.compact_revision();
                apply_all(&mut store, std::slice::from_ref(command));
                prop_assert!(
                    store.compact_revision() == compacted
                        || store.continue_snapshot(&mut encoder, 0).is_err()
                );
            }
        }
        if !aborted {
            prop_assert!(encoder.is_done());
            let len = encoder.encoded_len();
            let mut out = b"header".to_vec();
            encoder.finish(&mut out);
            prop_assert_eq!(&out[..6], b"header");
            prop_assert_eq!(out.len() - 6, len);
            prop_assert_eq!(&out[6..], &then[..]);
        }
    }

    #[test]
    fn replicas_applying_the_same_decrees_agree(cmds in commands(40)) {
        let (mut a, mut b) = (Store::new(), Store::new());
        let ra = apply_all(&mut a, &cmds);
        let rb = apply_all(&mut b, &cmds);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a.hash(), b.hash());
        prop_assert_eq!(a.snapshot(), b.snapshot());
    }

    #[test]
    fn a_replica_restored_midway_ends_identical(cmds in commands(40), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(cmds.len() + 1);
        let mut whole = Store::new();
        apply_all(&mut whole, &cmds[..cut]);
        whole.take_events();
        let mut restored = Store::restore(&whole.snapshot()).expect("restore");
        let rest_whole = apply_all(&mut whole, &cmds[cut..]);
        let events_whole = whole.take_events();
        let rest_restored = apply_all(&mut restored, &cmds[cut..]);
        prop_assert_eq!(rest_whole, rest_restored);
        prop_assert_eq!(events_whole, restored.take_events());
        prop_assert_eq!(whole.snapshot(), restored.snapshot());
    }

    #[test]
    fn hash_of_a_past_revision_ignores_later_writes(cmds in commands(30), tail in commands(10)) {
        let tail: Vec<Command> = tail.into_iter().filter(|c| !matches!(c, Command::Compact(_))).collect();
        let mut before = Store::new();
        apply_all(&mut before, &cmds);
        let mut after = before.clone();
        apply_all(&mut after, &tail);
        prop_assert_eq!(after.hash_kv(before.revision()), Ok(before.hash()));
    }

    #[test]
    fn restore_never_panics_on_damaged_snapshots(
        cmds in commands(20),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        reseal in any::<bool>(),
    ) {
        let mut store = Store::new();
        apply_all(&mut store, &cmds);
        let bytes = store.snapshot();
        let mut body = bytes[..bytes.len() - 4].to_vec();
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        body.truncate(cut.index(body.len()) + 1);
        let tail = if reseal { crc32c::crc32c(&body).to_le_bytes() } else { [0; 4] };
        let damaged = [body, tail.to_vec()].concat();
        if let Ok(restored) = Store::restore(&damaged) {
            restored.check_invariants();
            prop_assert_eq!(restored.snapshot(), damaged);
        }
    }

    #[test]
    fn restore_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Store::restore(&bytes);
        let sealed = [bytes.clone(), crc32c::crc32c(&bytes).to_le_bytes().to_vec()].concat();
        if let Ok(store) = Store::restore(&sealed) {
            prop_assert_eq!(store.snapshot(), sealed);
        }
    }
}
