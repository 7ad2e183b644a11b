//! The time-ordered call and return entries of one key, as doubly linked
//! lists whose entries can be lifted out and put back ("dancing links").
//!
//! Entries are numbered in time order, so comparing two nodes compares their
//! times. They are threaded on two lists: the calls and returns of
//! operations with a known outcome, and the calls of optional ones (unknown
//! outcome, no return). Keeping the optional calls apart means the scans for
//! known candidates never walk past them, however many pile up.
//!
//! Lifting an operation removes its call and its return. The search lifts
//! and unlifts in stack order, so a lifted entry keeps its own links and
//! putting it back is two pointer writes.

use crate::register::KeyOp;

/// An entry: an index into the arrays of [`Entries`], increasing with time.
pub(crate) type Node = u32;

/// The end of a list.
pub(crate) const NIL: Node = Node::MAX;

/// The sentinel before the first entry of the known list.
const KNOWN_HEAD: Node = 0;

/// The sentinel before the first entry of the optional list.
const OPTIONAL_HEAD: Node = 1;

/// The first node that is an entry rather than a sentinel.
const FIRST_ENTRY: Node = 2;

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
        let count = order.len() + FIRST_ENTRY as usize;
        assert!(count < NIL as usize, "too many entries for the lists");
        let mut entries = Self {
            next: vec![NIL; count],
            prev: vec![NIL; count],
            op: vec![u32::MAX; count],
            partner: vec![NIL; count],
            is_return: vec![false; count],
        };
        let mut tails = [KNOWN_HEAD, OPTIONAL_HEAD];
        let mut call_of_op = vec![NIL; ops.len()];
        for (node, &(_, is_return, index)) in (FIRST_ENTRY..).zip(&order) {
            entries.op[node as usize] = index;
            entries.is_return[node as usize] = is_return;
            if is_return {
                let call = call_of_op[index as usize];
                assert_ne!(call, NIL, "a return entry sorts after its call");
                entries.partner[call as usize] = node;
            } else {
                call_of_op[index as usize] = node;
            }
            let tail = &mut tails[usize::from(ops[index as usize].is_optional())];
            entries.next[*tail as usize] = node;
            entries.prev[node as usize] = *tail;
            *tail = node;
        }
        entries
    }

    /// The first entry of the known list, `NIL` if it is empty.
    pub(crate) fn first_known(&self) -> Node {
        self.next[KNOWN_HEAD as usize]
    }

    /// The first entry of the optional list, `NIL` if it is empty.
    pub(crate) fn first_optional(&self) -> Node {
        self.next[OPTIONAL_HEAD as usize]
    }

    /// The entry after `node` in its list, `NIL` at the end. For a lifted
    /// `node`, the entry that followed it when it was lifted.
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
        let slot = match ret {
            Some(_) => Slot::Known(index),
            None => Slot::Optional(index),
        };
        KeyOp {
            effect: Effect::Set(1),
            id: OpId(index as usize),
            invoke: Time(invoke),
            ret: ret.map(Time),
            slot,
            earlier_twin: None,
        }
    }

    /// The entries of the list starting at `node`, as (operation,
    /// is_return) pairs.
    fn walk(entries: &Entries, mut node: Node) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        while node != NIL {
            out.push((entries.op(node), entries.is_return(node)));
            node = entries.next(node);
        }
        out
    }

    #[test]
    fn entries_sort_by_time_with_calls_before_returns_at_equal_times() {
        let entries = Entries::new(&[op(0, 0, Some(5)), op(1, 5, Some(6)), op(2, 1, None)]);
        let known = vec![(0, false), (1, false), (0, true), (1, true)];
        assert_eq!(walk(&entries, entries.first_known()), known);
        assert_eq!(walk(&entries, entries.first_optional()), vec![(2, false)]);
        assert!(entries.first_optional() < entries.next(entries.first_known()));
    }

    #[test]
    fn lift_removes_call_and_return_and_unlift_restores_them_in_stack_order() {
        let mut entries = Entries::new(&[op(0, 0, Some(3)), op(1, 1, Some(2)), op(2, 4, None)]);
        let before = walk(&entries, entries.first_known());
        let first_call = entries.first_known();
        entries.lift(first_call);
        assert_eq!(
            walk(&entries, entries.first_known()),
            vec![(1, false), (1, true)]
        );
        let second_call = entries.first_known();
        entries.lift(second_call);
        let optional_call = entries.first_optional();
        entries.lift(optional_call);
        assert_eq!(entries.first_known(), NIL);
        assert_eq!(entries.first_optional(), NIL);
        entries.unlift(optional_call);
        entries.unlift(second_call);
        entries.unlift(first_call);
        assert_eq!(walk(&entries, entries.first_known()), before);
        assert_eq!(walk(&entries, entries.first_optional()), vec![(2, false)]);
    }
}
