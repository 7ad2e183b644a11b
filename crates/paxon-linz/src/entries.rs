//! The time-ordered list of call and return entries of one key, as a doubly
//! linked list whose entries can be lifted out and put back ("dancing links").
//!
//! Lifting an operation removes its call and its return. The search lifts
//! and unlifts in stack order, so a lifted entry keeps its own links and
//! putting it back is two pointer writes.

use crate::register::KeyOp;

/// An entry of the list: an index into the arrays of [`Entries`].
pub(crate) type Node = u32;

/// The end of the list.
pub(crate) const NIL: Node = Node::MAX;

/// The sentinel before the first entry.
const HEAD: Node = 0;

/// The call and return entries of one key.
#[derive(Debug)]
pub(crate) struct Entries {
    next: Vec<Node>,
    prev: Vec<Node>,
    /// The operation (index into `KeyHistory::ops`) of each entry.
    op: Vec<u32>,
    /// For a call entry, its return entry (`NIL` if the outcome is unknown);
    /// for a return entry, `NIL`.
    partner: Vec<Node>,
    /// Whether each entry is a return.
    is_return: Vec<bool>,
}

impl Entries {
    /// The entries of `ops` ordered by time. At equal times calls come before
    /// returns, so operations that touch at one instant are concurrent. An
    /// unknown outcome has no return entry: it never forces anything.
    pub(crate) fn new(ops: &[KeyOp]) -> Self {
        let mut order: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * ops.len());
        for (index, op) in (0u32..).zip(ops) {
            order.push((op.invoke.0, false, index));
            if let Some(ret) = op.ret {
                order.push((ret.0, true, index));
            }
        }
        order.sort_unstable();
        let count = Node::try_from(order.len() + 1).expect("too many entries");
        assert!(count < NIL, "too many entries for the list");
        let mut entries = Self {
            next: (1..=count).collect(),
            prev: (0..count).map(|node| node.wrapping_sub(1)).collect(),
            op: vec![u32::MAX; count as usize],
            partner: vec![NIL; count as usize],
            is_return: vec![false; count as usize],
        };
        entries.next[count as usize - 1] = NIL;
        let mut call_of_op = vec![NIL; ops.len()];
        for (node, &(_, is_return, index)) in (1..).zip(&order) {
            entries.op[node as usize] = index;
            entries.is_return[node as usize] = is_return;
            if is_return {
                let call = call_of_op[index as usize];
                assert_ne!(call, NIL, "a return entry sorts after its call");
                entries.partner[call as usize] = node;
            } else {
                call_of_op[index as usize] = node;
            }
        }
        entries
    }

    /// The first entry, `NIL` if the list is empty.
    pub(crate) fn first(&self) -> Node {
        self.next[HEAD as usize]
    }

    /// The entry after `node`, `NIL` at the end. For a lifted `node`, the
    /// entry that followed it when it was lifted.
    pub(crate) fn next(&self, node: Node) -> Node {
        self.next[node as usize]
    }

    /// The operation of `node`, an index into `KeyHistory::ops`.
    pub(crate) fn op(&self, node: Node) -> usize {
        self.op[node as usize] as usize
    }

    /// Whether `node` is a return entry.
    pub(crate) fn is_return(&self, node: Node) -> bool {
        self.is_return[node as usize]
    }

    /// Removes the call entry `call` and its return entry, if any.
    pub(crate) fn lift(&mut self, call: Node) {
        assert!(!self.is_return(call), "only call entries are lifted");
        self.unlink(call);
        let ret = self.partner[call as usize];
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Puts back what [`lift`](Self::lift)`(call)` removed; must be the most
    /// recent lift not yet undone.
    pub(crate) fn unlift(&mut self, call: Node) {
        let ret = self.partner[call as usize];
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    fn unlink(&mut self, node: Node) {
        let (prev, next) = (self.prev[node as usize], self.next[node as usize]);
        self.next[prev as usize] = next;
        if next != NIL {
            self.prev[next as usize] = prev;
        }
    }

    fn relink(&mut self, node: Node) {
        let (prev, next) = (self.prev[node as usize], self.next[node as usize]);
        assert_eq!(self.next[prev as usize], next, "unlift out of stack order");
        self.next[prev as usize] = node;
        if next != NIL {
            self.prev[next as usize] = node;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpId, Time};
    use crate::register::{Effect, Slot};

    fn op(index: u32, invoke: u64, ret: Option<u64>) -> KeyOp {
        KeyOp {
            effect: Effect::Set(1),
            id: OpId(index as usize),
            invoke: Time(invoke),
            ret: ret.map(Time),
            slot: Slot::Known(index),
            earlier_twin: None,
        }
    }

    /// The entries from the head, as (operation, is_return) pairs.
    fn walk(entries: &Entries) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        let mut node = entries.first();
        while node != NIL {
            out.push((entries.op(node), entries.is_return(node)));
            node = entries.next(node);
        }
        out
    }

    #[test]
    fn entries_sort_by_time_with_calls_before_returns_at_equal_times() {
        let entries = Entries::new(&[op(0, 0, Some(5)), op(1, 5, Some(6)), op(2, 1, None)]);
        let expected = vec![(0, false), (2, false), (1, false), (0, true), (1, true)];
        assert_eq!(walk(&entries), expected);
    }

    #[test]
    fn lift_removes_call_and_return_and_unlift_restores_them_in_stack_order() {
        let mut entries = Entries::new(&[op(0, 0, Some(3)), op(1, 1, Some(2)), op(2, 4, None)]);
        let before = walk(&entries);
        let first_call = entries.first();
        entries.lift(first_call);
        assert_eq!(walk(&entries), vec![(1, false), (1, true), (2, false)]);
        let second_call = entries.first();
        entries.lift(second_call);
        assert_eq!(walk(&entries), vec![(2, false)]);
        entries.unlift(second_call);
        entries.unlift(first_call);
        assert_eq!(walk(&entries), before);
    }
}
