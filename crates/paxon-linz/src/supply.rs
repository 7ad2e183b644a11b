//! Which register values pending operations still need, and which they can
//! still produce: a node where some needed value can never appear again is a
//! dead end, found without exploring it.
//!
//! A pending read of `v` (or a compare-and-swap that swapped from `v`) with a
//! known outcome must be linearized while the register holds `v`. If the
//! register does not hold `v` now and no pending operation writes `v`, the
//! register never will: the node has no linearization. This cuts a wrong
//! guess (say, two concurrent writes in the wrong order) right after it
//! overwrites a value someone still has to read, instead of when that
//! reader's return is reached.

use crate::register::{Effect, KeyOp, State};

/// Pending producers and needers of each value.
#[derive(Debug)]
pub(crate) struct Supply {
    /// Pending operations that set the register to each value.
    producers: Vec<u32>,
    /// Pending operations with a known outcome that need each value.
    needers: Vec<u32>,
    /// How many values are needed and have no pending producer.
    starved: u32,
}

impl Supply {
    /// Every operation of `ops` pending; `value_count` states in use.
    pub(crate) fn new(ops: &[KeyOp], value_count: usize) -> Self {
        let mut supply = Self {
            producers: vec![0; value_count],
            needers: vec![0; value_count],
            starved: 0,
        };
        for op in ops {
            if let Some(value) = produces(op) {
                supply.producers[value as usize] += 1;
            }
            if let Some(value) = needs(op) {
                supply.needers[value as usize] += 1;
            }
        }
        let starved = (supply.producers.iter().zip(&supply.needers))
            .filter(|&(&producers, &needers)| producers == 0 && needers > 0)
            .count();
        supply.starved = u32::try_from(starved).expect("values are u32");
        supply
    }

    /// Whether some pending operation needs a value other than `state` that
    /// no pending operation can produce.
    pub(crate) fn doomed(&self, state: State) -> bool {
        self.starved > u32::from(self.is_starved(state))
    }

    /// Whether `op` needs a value, other than `state`, that nothing pending
    /// produces.
    pub(crate) fn starves(&self, op: &KeyOp, state: State) -> bool {
        needs(op).is_some_and(|value| value != state && self.is_starved(value))
    }

    /// Records that `op` was linearized.
    pub(crate) fn take(&mut self, op: &KeyOp) {
        if let Some(value) = produces(op) {
            let before = self.is_starved(value);
            self.producers[value as usize] -= 1;
            self.starved += u32::from(self.is_starved(value) && !before);
        }
        if let Some(value) = needs(op) {
            let before = self.is_starved(value);
            self.needers[value as usize] -= 1;
            self.starved -= u32::from(before && !self.is_starved(value));
        }
    }

    /// Undoes [`take`](Self::take)`(op)`.
    pub(crate) fn give_back(&mut self, op: &KeyOp) {
        if let Some(value) = needs(op) {
            let before = self.is_starved(value);
            self.needers[value as usize] += 1;
            self.starved += u32::from(self.is_starved(value) && !before);
        }
        if let Some(value) = produces(op) {
            let before = self.is_starved(value);
            self.producers[value as usize] += 1;
            self.starved -= u32::from(before && !self.is_starved(value));
        }
    }

    fn is_starved(&self, value: State) -> bool {
        self.producers[value as usize] == 0 && self.needers[value as usize] > 0
    }
}

/// The value `op` sets the register to, if it sets it.
fn produces(op: &KeyOp) -> Option<State> {
    match op.effect {
        Effect::Set(value) | Effect::Swap { new: value, .. } => Some(value),
        Effect::Observe(_) | Effect::Refuse { .. } => None,
    }
}

/// The value the register must hold when `op` is linearized, if `op` must be
/// linearized and requires one.
fn needs(op: &KeyOp) -> Option<State> {
    match op.effect {
        _ if op.is_optional() => None,
        Effect::Observe(value) | Effect::Swap { expect: value, .. } => Some(value),
        Effect::Set(_) | Effect::Refuse { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpId, Time};
    use crate::register::Slot;

    fn known(effect: Effect) -> KeyOp {
        KeyOp {
            effect,
            id: OpId(0),
            invoke: Time(0),
            ret: Some(Time(1)),
            slot: Slot::Known(0),
            earlier_twin: None,
        }
    }

    #[test]
    fn read_of_an_overwritten_value_with_no_other_writer_dooms_the_node() {
        let write_1 = known(Effect::Set(1));
        let write_2 = known(Effect::Set(2));
        let ops = [write_1, write_2, known(Effect::Observe(1))];
        let mut supply = Supply::new(&ops, 3);
        assert!(!supply.doomed(0));
        supply.take(&write_1);
        assert!(!supply.doomed(1), "the register holds what the read needs");
        supply.take(&write_2);
        assert!(supply.doomed(2));
        assert!(supply.starves(&ops[2], 2));
        supply.give_back(&write_2);
        supply.give_back(&write_1);
        assert!(!supply.doomed(0));
    }

    #[test]
    fn read_of_a_value_never_written_dooms_the_start() {
        let supply = Supply::new(&[known(Effect::Observe(1))], 2);
        assert!(supply.doomed(0));
    }
}
