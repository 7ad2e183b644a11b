//! The MVCC history against a plain model: a full copy of the key space
//! per revision. After every step, a read of all keys at every revision
//! must equal the model's copy, or fail as compacted below the compaction.

mod common;

use std::collections::BTreeMap;

use common::*;
use paxon_kv::{
    Command, CompactionRequest, DeleteRangeRequest, KeyValue, KvError, PutRequest, RangeRequest,
    Revision, Store,
};
use proptest::prelude::*;

/// The key space at each revision; index 0 is unused, 1 is empty.
struct Model {
    states: Vec<BTreeMap<Vec<u8>, KeyValue>>,
    compacted: i64,
}

impl Model {
    fn new() -> Model {
        Model {
            states: vec![BTreeMap::new(), BTreeMap::new()],
            compacted: -1,
        }
    }

    fn revision(&self) -> i64 {
        self.states.len() as i64 - 1
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        let rev = Revision(self.revision() + 1);
        let mut next = self.states.last().unwrap().clone();
        let (create_revision, version) = match next.get(key) {
            Some(old) => (old.create_revision, old.version + 1),
            None => (rev, 1),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: rev,
            version,
            value: value.to_vec(),
            ..Default::default()
        };
        next.insert(key.to_vec(), kv);
        self.states.push(next);
    }

    fn delete(&mut self, key: &[u8], end: &[u8]) {
        let mut next = self.states.last().unwrap().clone();
        next.retain(|k, _| !in_range(k, key, end));
        if next.len() != self.states.last().unwrap().len() {
            self.states.push(next);
        }
    }
}

fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        end => k >= key && k < end,
    }
}

#[derive(Clone, Debug)]
enum Step {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>, Vec<u8>),
    Compact(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (key(), prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(k, v)| Step::Put(k, v)),
        2 => (key(), range_end()).prop_map(|(k, e)| Step::Delete(k, e)),
        1 => (0i64..30).prop_map(Step::Compact),
    ]
}

fn check_every_revision(store: &Store, model: &Model) {
    for rev in 1..=model.revision() {
        let got = store.range(&RangeRequest {
            revision: Revision(rev),
            ..range_req("\0", "\0")
        });
        if rev < model.compacted {
            assert_eq!(got, Err(KvError::Compacted), "revision {rev}");
        } else {
            let expected: Vec<KeyValue> = model.states[rev as usize].values().cloned().collect();
            assert_eq!(got.unwrap().kvs, expected, "revision {rev}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_retained_revision_reads_as_the_model(steps in prop::collection::vec(step(), 1..40)) {
        let (mut store, mut model) = (Store::new(), Model::new());
        for step in steps {
            match step {
                Step::Put(k, v) => {
                    store.apply(&Command::Put(PutRequest { key: k.clone(), value: v.clone(), ..Default::default() })).unwrap();
                    model.put(&k, &v);
                }
                Step::Delete(k, e) => {
                    store.apply(&Command::DeleteRange(DeleteRangeRequest { key: k.clone(), range_end: e.clone(), prev_kv: false })).unwrap();
                    model.delete(&k, &e);
                }
                Step::Compact(rev) => {
                    let result = store.apply(&Command::Compact(CompactionRequest { revision: Revision(rev), physical: false }));
                    let expected = if rev <= model.compacted {
                        Err(KvError::Compacted)
                    } else if rev > model.revision() {
                        Err(KvError::FutureRevision)
                    } else {
                        model.compacted = rev;
                        Ok(())
                    };
                    prop_assert_eq!(result.map(|_| ()), expected);
                }
            }
            prop_assert_eq!(store.revision(), Revision(model.revision()));
            store.check_invariants();
            check_every_revision(&store, &model);
        }
    }
}
