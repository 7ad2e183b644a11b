//! Watch replay from history: the events of past revisions, rebuilt from
//! the retained versions, are exactly the events applying produced.

mod common;

use common::*;
use paxon_kv::{Command, Event, KvError, Revision, Store};
use proptest::prelude::*;

#[test]
fn replay_from_a_compacted_revision_fails_but_from_the_compaction_point_works() {
    let mut store = Store::new();
    put(&mut store, "k", "1");
    put(&mut store, "k", "2");
    put(&mut store, "j", "1");
    store
        .apply(&Command::Compact(paxon_kv::CompactionRequest {
            revision: Revision(3),
            physical: false,
        }))
        .unwrap();
    assert_eq!(
        store.events_since(b"k", b"", Revision(2)),
        Err(KvError::Compacted)
    );
    let events = store.events_since(b"a", b"z", Revision(3)).unwrap();
    let keys: Vec<(Vec<u8>, i64)> = events
        .iter()
        .map(|e| (e.kv.key.clone(), e.kv.mod_revision.0))
        .collect();
    assert_eq!(keys, [(b"k".to_vec(), 3), (b"j".to_vec(), 4)]);
    assert_eq!(events[0].prev_kv, None, "the previous version is compacted");
}

proptest! {
    #[test]
    fn replay_equals_the_events_applying_produced(cmds in prop::collection::vec(command(), 0..60),
                                                   from in 0i64..40) {
        let mut store = Store::new();
        let mut produced: Vec<Event> = Vec::new();
        for cmd in &cmds {
            let _ = store.apply(cmd);
            produced.extend(store.take_events());
        }
        let compacted = store.compact_revision();
        match store.events_since(b"\0", b"\0", Revision(from)) {
            Ok(replayed) => {
                // A change exactly at the compaction point keeps its
                // version but loses the one before (its prev_kv).
                let expected: Vec<Event> = produced
                    .into_iter()
                    .filter(|e| e.kv.mod_revision >= Revision(from))
                    .map(|e| match compacted {
                        Some(c) if e.kv.mod_revision <= c => Event { prev_kv: None, ..e },
                        _ => e,
                    })
                    .collect();
                prop_assert_eq!(replayed, expected);
            }
            Err(error) => {
                prop_assert_eq!(error, KvError::Compacted);
                prop_assert!(compacted.is_some_and(|c| Revision(from) < c));
            }
        }
    }
}
