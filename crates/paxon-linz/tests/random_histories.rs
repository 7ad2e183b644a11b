//! Property tests: histories recorded around a real sequential execution are
//! linearizable, a read of a value never written is always caught, and on
//! small histories the checker agrees with an exhaustive search.

use std::collections::HashSet;

use paxon_linz::{check, CheckResult, ClientId, History, Op, Operation, Outcome, Ret, Time};
use proptest::prelude::*;

/// Distance between consecutive linearization points.
const SPACING: u64 = 100;
/// How far before or after its linearization point an operation may be
/// invoked or return: up to five operations overlap.
const SLACK_MAX: u64 = 250;
/// A value no generated operation writes.
const NEVER_WRITTEN: u64 = 999;

/// What happened to an operation's answer.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// The client received it.
    Known,
    /// Lost, but the operation took effect at its linearization point.
    UnknownApplied,
    /// Lost, and the operation never took effect.
    UnknownDropped,
}

/// One operation of the sequential execution, before it is run.
#[derive(Clone, Debug)]
struct Spec {
    key: u8,
    op: Op<u64>,
    before: u64,
    after: u64,
    fate: Fate,
}

fn op_strategy() -> impl Strategy<Value = Op<u64>> {
    prop_oneof![
        4 => Just(Op::Read),
        2 => (0..4u64).prop_map(Op::Write),
        2 => (proptest::option::of(0..4u64), 0..4u64)
            .prop_map(|(expect, new)| Op::Cas { expect, new }),
        1 => Just(Op::Delete),
    ]
}

/// Operations on keys `0..keys`; one in `lost_one_in` loses its answer.
fn spec_strategy(keys: u8, lost_one_in: u32) -> impl Strategy<Value = Spec> {
    let fate = prop_oneof![
        2 * (lost_one_in - 1) => Just(Fate::Known),
        1 => Just(Fate::UnknownApplied),
        1 => Just(Fate::UnknownDropped),
    ];
    (0..keys, op_strategy(), 0..=SLACK_MAX, 0..=SLACK_MAX, fate).prop_map(
        |(key, op, before, after, fate)| Spec {
            key,
            op,
            before,
            after,
            fate,
        },
    )
}

/// Runs `specs` in order on a real map, the i-th at time `(i + 1) * SPACING
/// + SLACK_MAX`, and records each around that point.
fn record(specs: &[Spec]) -> History<u8, u64> {
    let mut map = std::collections::BTreeMap::new();
    let mut history = History::new();
    for (index, spec) in (0u64..).zip(specs) {
        let point = (index + 1) * SPACING + SLACK_MAX;
        let ret = match spec.fate {
            Fate::UnknownDropped => None,
            Fate::Known | Fate::UnknownApplied => Some(apply(&mut map, spec.key, &spec.op)),
        };
        let outcome = match (spec.fate, ret) {
            (Fate::Known, Some(ret)) => Outcome::Returned {
                ret,
                time: Time(point + spec.after),
            },
            _ => Outcome::Unknown,
        };
        let operation = Operation {
            client: ClientId(index % 8),
            key: spec.key,
            op: spec.op.clone(),
            invoke: Time(point - spec.before),
            outcome,
        };
        history
            .push(operation)
            .expect("a return matching its request");
    }
    history
}

/// The sequential specification, on a real map.
fn apply(map: &mut std::collections::BTreeMap<u8, u64>, key: u8, op: &Op<u64>) -> Ret<u64> {
    match op {
        Op::Read => Ret::Read(map.get(&key).copied()),
        Op::Write(value) => {
            map.insert(key, *value);
            Ret::Written
        }
        Op::Cas { expect, new } => {
            let swapped = map.get(&key) == expect.as_ref();
            if swapped {
                map.insert(key, *new);
            }
            Ret::Cas(swapped)
        }
        Op::Delete => {
            map.remove(&key);
            Ret::Deleted
        }
    }
}

/// Whether some order of `ops` (one key, at most 64) respecting real time
/// explains every known answer, by trying every order, remembering only
/// which (pending set, value) pairs failed. Operations with an unknown
/// outcome may be left out. No pruning: a reference for the checker's.
fn exhaustive(ops: &[Operation<u8, u64>]) -> bool {
    assert!(ops.len() <= 64, "a u64 holds the pending set");
    let all = u64::MAX >> (64 - ops.len());
    Exhaustive {
        ops,
        failed: HashSet::new(),
    }
    .linearize_rest(all, None)
}

struct Exhaustive<'a> {
    ops: &'a [Operation<u8, u64>],
    failed: HashSet<(u64, Option<u64>)>,
}

impl Exhaustive<'_> {
    fn linearize_rest(&mut self, pending: u64, value: Option<u64>) -> bool {
        let ops = self.ops;
        let is_pending = |index: usize| pending & (1 << index) != 0;
        let known_pending =
            (0..ops.len()).filter(|&i| is_pending(i) && ops[i].return_time().is_some());
        if known_pending.clone().next().is_none() {
            return true;
        }
        if self.failed.contains(&(pending, value)) {
            return false;
        }
        let found = (0..ops.len()).filter(|&i| is_pending(i)).any(|next| {
            let must_wait = (known_pending.clone()).any(|other| {
                ops[other]
                    .return_time()
                    .is_some_and(|ret| ret < ops[next].invoke)
            });
            !must_wait
                && step(&ops[next], value)
                    .is_some_and(|after| self.linearize_rest(pending & !(1 << next), after))
        });
        if !found {
            self.failed.insert((pending, value));
        }
        found
    }
}

/// The register after `operation` from `value`, if its answer allows it.
/// An unknown compare-and-swap that does not match changes nothing.
fn step(operation: &Operation<u8, u64>, value: Option<u64>) -> Option<Option<u64>> {
    let ret = match &operation.outcome {
        Outcome::Returned { ret, .. } => Some(ret),
        Outcome::Unknown => None,
    };
    match (&operation.op, ret) {
        (Op::Read, Some(Ret::Read(seen))) => (*seen == value).then_some(value),
        (Op::Read, _) => Some(value),
        (Op::Write(new), _) => Some(Some(*new)),
        (Op::Delete, _) => Some(None),
        (Op::Cas { expect, new }, Some(Ret::Cas(true))) => (*expect == value).then_some(Some(*new)),
        (Op::Cas { expect, .. }, Some(_)) => (*expect != value).then_some(value),
        (Op::Cas { expect, new }, None) => Some(if *expect == value { Some(*new) } else { value }),
    }
}

/// Changes the answer of the known read or compare-and-swap `index`: a read
/// now returns `seen`, a compare-and-swap the opposite.
fn mutate(history: &History<u8, u64>, index: usize, seen: Option<u64>) -> History<u8, u64> {
    let mut mutated = History::new();
    for (at, operation) in history.operations().iter().enumerate() {
        let mut operation = operation.clone();
        if let (true, Outcome::Returned { ret, .. }) = (at == index, &mut operation.outcome) {
            *ret = match ret {
                Ret::Read(_) => Ret::Read(seen),
                Ret::Cas(swapped) => Ret::Cas(!*swapped),
                _ => unreachable!("only reads and compare-and-swaps are mutated"),
            };
        }
        mutated.push(operation).expect("the same kind of answer");
    }
    mutated
}

/// Applies each mutation `(pick, seen)` to a known read or compare-and-swap.
fn mutate_some(
    mut history: History<u8, u64>,
    mutations: &[(proptest::sample::Index, Option<u64>)],
) -> History<u8, u64> {
    for (pick, seen) in mutations {
        let targets = known(&history, is_read_or_cas);
        if !targets.is_empty() {
            history = mutate(&history, targets[pick.index(targets.len())], *seen);
        }
    }
    history
}

/// The known operations of `history` that `keep` selects.
fn known(history: &History<u8, u64>, keep: fn(&Op<u64>) -> bool) -> Vec<usize> {
    let operations = history.operations().iter().enumerate();
    operations
        .filter(|(_, op)| keep(&op.op) && op.return_time().is_some())
        .map(|(index, _)| index)
        .collect()
}

fn is_read(op: &Op<u64>) -> bool {
    matches!(op, Op::Read)
}

fn is_read_or_cas(op: &Op<u64>) -> bool {
    matches!(op, Op::Read | Op::Cas { .. })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn history_recorded_around_a_sequential_execution_is_linearizable(
        specs in proptest::collection::vec(spec_strategy(3, 10), 0..80),
    ) {
        let history = record(&specs);
        let result = check(&history);
        prop_assert!(result.is_linearizable(), "{}", result);
    }

    #[test]
    fn read_of_a_value_never_written_is_always_detected_on_its_key(
        specs in proptest::collection::vec(spec_strategy(3, 10), 1..80),
        pick in any::<proptest::sample::Index>(),
    ) {
        let history = record(&specs);
        let reads = known(&history, is_read);
        prop_assume!(!reads.is_empty());
        let index = reads[pick.index(reads.len())];
        let mutated = mutate(&history, index, Some(NEVER_WRITTEN));
        match check(&mutated) {
            CheckResult::NotLinearizable(violation) => {
                prop_assert_eq!(violation.key, history.operations()[index].key);
            }
            other => prop_assert!(false, "not detected: {:?}", other),
        }
    }

    #[test]
    fn checker_agrees_with_exhaustive_search_on_small_mutated_histories(
        specs in proptest::collection::vec(spec_strategy(1, 3), 1..8),
        mutations in proptest::collection::vec(
            (any::<proptest::sample::Index>(), proptest::option::of(0..4u64)), 0..3),
    ) {
        let history = mutate_some(record(&specs), &mutations);
        let expected = exhaustive(history.operations());
        let result = check(&history);
        prop_assert_eq!(result.is_linearizable(), expected, "{}", result);
    }

    #[test]
    fn checker_agrees_with_exhaustive_search_on_longer_mutated_histories(
        specs in proptest::collection::vec(spec_strategy(1, 4), 8..40),
        mutations in proptest::collection::vec(
            (any::<proptest::sample::Index>(), proptest::option::of(0..4u64)), 0..2),
    ) {
        let history = mutate_some(record(&specs), &mutations);
        let expected = exhaustive(history.operations());
        let result = check(&history);
        prop_assert_eq!(result.is_linearizable(), expected, "{}", result);
    }
}

#[test]
fn exhaustive_reference_rejects_the_classic_stale_read() {
    let stale = [
        (Op::Write(1), Ret::Written, 0, 1),
        (Op::Write(2), Ret::Written, 2, 3),
        (Op::Read, Ret::Read(Some(1)), 4, 5),
    ];
    let operations: Vec<_> = (stale.iter().cloned())
        .map(|(op, ret, invoke, time)| Operation {
            client: ClientId(1),
            key: 0,
            op,
            invoke: Time(invoke),
            outcome: Outcome::Returned {
                ret,
                time: Time(time),
            },
        })
        .collect();
    assert!(!exhaustive(&operations));
    assert!(exhaustive(&operations[..2]));
}
