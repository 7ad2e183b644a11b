//! The sequential specification — one register per key, initially absent —
//! and the translation of one key's operations into it.
//!
//! Values are interned to small integers, so the model state of the search is
//! one [`State`] and every operation an [`Effect`] on it.

use std::collections::HashMap;
use std::hash::Hash;

use crate::history::{Op, OpId, Operation, Outcome, Ret, Time};

/// An interned register value: [`ABSENT`] or the index of a value plus one.
pub(crate) type State = u32;

/// The register holds no value (the key does not exist).
pub(crate) const ABSENT: State = 0;

/// What an operation requires of the register and does to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Effect {
    /// A read: legal iff the register holds this value.
    Observe(State),
    /// A compare-and-swap that did not swap: legal iff the register does not
    /// hold `expect`.
    Refuse {
        /// The value the swap expected.
        expect: State,
    },
    /// A write or a delete: always legal, sets the register.
    Set(State),
    /// A compare-and-swap that swapped: legal iff the register holds
    /// `expect`, then sets it to `new`.
    Swap {
        /// The value the register must hold.
        expect: State,
        /// The value it holds afterwards.
        new: State,
    },
}

impl Effect {
    /// The register after this effect, or `None` if it is illegal in `state`.
    pub(crate) fn apply(self, state: State) -> Option<State> {
        match self {
            Effect::Observe(value) => (state == value).then_some(state),
            Effect::Refuse { expect } => (state != expect).then_some(state),
            Effect::Set(value) => Some(value),
            Effect::Swap { expect, new } => (state == expect).then_some(new),
        }
    }

    /// Whether the effect never changes the register (it only observes it).
    pub(crate) fn is_pure(self) -> bool {
        matches!(self, Effect::Observe(_) | Effect::Refuse { .. })
    }

    /// Whether the effect's result does not depend on the register.
    pub(crate) fn is_blind(self) -> bool {
        matches!(self, Effect::Set(_))
    }
}

/// Where an operation's bit lives in the set of linearized operations.
/// Operations with a known outcome must all be linearized; optional ones
/// (unknown outcome) may stay out forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The n-th operation with a known outcome, in invocation order.
    Known(u32),
    /// The n-th operation with an unknown outcome, in invocation order.
    Optional(u32),
}

/// One operation of the key, translated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyOp {
    /// What it does to the register.
    pub(crate) effect: Effect,
    /// Where it is in the history.
    pub(crate) id: OpId,
    /// When it was invoked.
    pub(crate) invoke: Time,
    /// When it returned; `None` for an unknown outcome.
    pub(crate) ret: Option<Time>,
    /// Its bit in the linearized set.
    pub(crate) slot: Slot,
    /// For an optional operation, the optional slot of the latest optional
    /// operation invoked before it with the same effect: while that one is
    /// pending too, the two are interchangeable.
    pub(crate) earlier_twin: Option<u32>,
}

impl KeyOp {
    /// Whether the operation may be left out of the linearization.
    pub(crate) fn is_optional(&self) -> bool {
        matches!(self.slot, Slot::Optional(_))
    }
}

/// The operations of one key, ready for the search.
#[derive(Debug)]
pub(crate) struct KeyHistory<'h, V> {
    /// The operations in invocation order (ties broken by [`OpId`]). Reads
    /// with an unknown outcome are left out: they neither constrain nor
    /// change anything.
    pub(crate) ops: Vec<KeyOp>,
    /// `values[i]` is the value interned as state `i + 1`.
    values: Vec<&'h V>,
    /// How many operations have a [`Slot::Known`].
    pub(crate) known_count: u32,
    /// How many operations have a [`Slot::Optional`].
    pub(crate) optional_count: u32,
    /// How many optional operations are compare-and-swaps.
    pub(crate) optional_swap_count: u32,
}

impl<'h, V: Eq + Hash> KeyHistory<'h, V> {
    /// Translates the operations `ids` of `operations`, all on one key.
    pub(crate) fn new<K>(operations: &'h [Operation<K, V>], ids: &[OpId]) -> Self {
        let mut ids = ids.to_vec();
        ids.sort_by_key(|id| (operations[id.0].invoke, *id));
        let mut interner = Interner::default();
        let mut latest_optional = HashMap::new();
        let (mut known_count, mut optional_count) = (0, 0);
        let mut ops = Vec::with_capacity(ids.len());
        for id in ids {
            let operation = &operations[id.0];
            let Some(effect) = translate(operation, &mut interner) else {
                continue;
            };
            let ret = operation.return_time();
            let (slot, earlier_twin) = match ret {
                Some(_) => (Slot::Known(post_increment(&mut known_count)), None),
                None => {
                    let slot = post_increment(&mut optional_count);
                    (Slot::Optional(slot), latest_optional.insert(effect, slot))
                }
            };
            let invoke = operation.invoke;
            ops.push(KeyOp {
                effect,
                id,
                invoke,
                ret,
                slot,
                earlier_twin,
            });
        }
        let optional_swap_count = (ops.iter())
            .filter(|op| op.is_optional() && !op.effect.is_blind())
            .count();
        Self {
            ops,
            values: interner.values,
            known_count,
            optional_count,
            optional_swap_count: u32::try_from(optional_swap_count).expect("counted in u32"),
        }
    }
}

impl<'h, V> KeyHistory<'h, V> {
    /// How many states are in use: absent and each distinct value.
    pub(crate) fn state_count(&self) -> usize {
        self.values.len() + 1
    }

    /// The value interned as `state`.
    pub(crate) fn value(&self, state: State) -> Option<&'h V> {
        state
            .checked_sub(1)
            .map(|index| self.values[index as usize])
    }
}

fn post_increment(counter: &mut u32) -> u32 {
    let value = *counter;
    *counter = counter
        .checked_add(1)
        .expect("more than u32::MAX operations on one key");
    value
}

/// The effect of `operation` on its register, or `None` if it has none
/// (a read with an unknown outcome). A compare-and-swap with an unknown
/// outcome is a [`Effect::Swap`]: if it did not swap, it is as if it never
/// happened, which the search allows anyway.
fn translate<'h, K, V: Eq + Hash>(
    operation: &'h Operation<K, V>,
    interner: &mut Interner<'h, V>,
) -> Option<Effect> {
    let ret = match &operation.outcome {
        Outcome::Returned { ret, .. } => Some(ret),
        Outcome::Unknown => None,
    };
    let effect = match (&operation.op, ret) {
        (Op::Read, None) => return None,
        (Op::Read, Some(Ret::Read(value))) => Effect::Observe(interner.intern(value.as_ref())),
        (Op::Write(value), _) => Effect::Set(interner.intern(Some(value))),
        (Op::Delete, _) => Effect::Set(ABSENT),
        (Op::Cas { expect, .. }, Some(Ret::Cas(false))) => Effect::Refuse {
            expect: interner.intern(expect.as_ref()),
        },
        (Op::Cas { expect, new }, _) => Effect::Swap {
            expect: interner.intern(expect.as_ref()),
            new: interner.intern(Some(new)),
        },
        (_, Some(_)) => {
            unreachable!("History::push and History::complete reject a mismatched return")
        }
    };
    Some(effect)
}

/// Numbers the distinct values of one key in order of first appearance.
struct Interner<'h, V> {
    states: HashMap<&'h V, State>,
    values: Vec<&'h V>,
}

impl<V> Default for Interner<'_, V> {
    fn default() -> Self {
        Self {
            states: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<'h, V: Eq + Hash> Interner<'h, V> {
    fn intern(&mut self, value: Option<&'h V>) -> State {
        let Some(value) = value else {
            return ABSENT;
        };
        if let Some(&state) = self.states.get(value) {
            return state;
        }
        self.values.push(value);
        let state = State::try_from(self.values.len()).expect("more than u32::MAX values");
        self.states.insert(value, state);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_swap_is_legal_only_when_the_register_differs_from_expect() {
        let refuse = Effect::Refuse { expect: 2 };
        assert_eq!(refuse.apply(2), None);
        assert_eq!(refuse.apply(ABSENT), Some(ABSENT));
        assert_eq!(refuse.apply(3), Some(3));
    }

    #[test]
    fn swap_sets_new_only_from_expect() {
        let swap = Effect::Swap {
            expect: ABSENT,
            new: 1,
        };
        assert_eq!(swap.apply(ABSENT), Some(1));
        assert_eq!(swap.apply(1), None);
    }
}
