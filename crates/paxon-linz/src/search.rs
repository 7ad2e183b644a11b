//! The search for a linearization of one key's history: Wing & Gong's
//! depth-first search ("Testing and verifying concurrent objects", 1993) with
//! Lowe's memo of visited configurations ("Testing for linearizability",
//! 2017), the form Porcupine uses.
//!
//! A node of the search is a set of linearized operations and the register
//! value they leave. From a node, any operation whose call entry comes before
//! the first remaining return entry may be linearized next, if the register
//! allows it. Reaching a return entry means that operation was not linearized
//! before it returned: the node is a dead end and the search backtracks.
//!
//! Five prunings keep the common case near-linear in the history's length;
//! each keeps at least one linearization if any exists:
//!
//! - **Starved values.** A node where a pending read (or swap) with a known
//!   outcome needs a value that the register does not hold and no pending
//!   operation can write is a dead end at once (see [`Supply`]).
//! - **Observations first.** If a pending read (or refused compare-and-swap)
//!   is legal now, it is linearized now and its siblings are not tried: in any
//!   linearization it could be moved here, as it changes nothing and nothing
//!   pending had to precede it.
//! - **Unknown outcomes are optional.** Success is "every operation with a
//!   known outcome is linearized". An optional operation is tried only after
//!   every known candidate failed, and only if it changes the register.
//!   Of two pending optional operations with the same effect, only the
//!   earlier-invoked is tried: they are interchangeable.
//! - **Nothing overwrites an optional step unseen.** Right after an optional
//!   operation, no write or delete is linearized: the optional step would be
//!   pointless, and the same linearization without it is explored from the
//!   node before it. So an optional operation is tried only if some
//!   candidate that reads the register would be legal after it.
//! - **Memo.** A node already visited is not explored again. Its key includes
//!   whether the last step was optional, because the previous rule depends on
//!   it.

use crate::entries::{Entries, Node, NIL};
use crate::memo::{Linearized, Memo};
use crate::register::{Effect, KeyHistory, KeyOp, Slot, State, ABSENT};
use crate::supply::Supply;

/// How the search of one key ended.
#[derive(Debug)]
pub(crate) enum KeyVerdict {
    /// Every operation with a known outcome was linearized.
    Linearizable {
        /// Entries examined.
        steps: u64,
    },
    /// Every node was a dead end.
    NotLinearizable {
        /// The first dead end with the most known operations linearized.
        stuck: Stuck,
    },
    /// The budget of steps ran out.
    GaveUp,
}

/// The first deepest dead end of a failed search: the first node reached
/// with the most operations of known outcome linearized. Operations are
/// indices into `KeyHistory::ops`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stuck {
    /// The operations linearized, in order.
    pub(crate) linearized: Vec<usize>,
    /// The register after them.
    pub(crate) state: State,
    /// Pending operations that must take effect before they return and
    /// cannot: the one whose return entry the scan reached, or every one that
    /// needs a value that can no longer appear.
    pub(crate) blocked: Vec<usize>,
    /// Every operation that could have been linearized next in real time;
    /// none leads to a linearization.
    pub(crate) candidates: Vec<usize>,
}

/// Searches for a linearization of `history`, examining at most `steps_max`
/// entries. On failure the search runs a second time, up to the first deepest
/// dead end, to describe it; that run is not counted.
pub(crate) fn search<V>(history: &KeyHistory<'_, V>, steps_max: u64) -> KeyVerdict {
    let mut first = Search::new(history, steps_max);
    match first.run(None) {
        Ended::Linearizable => KeyVerdict::Linearizable { steps: first.steps },
        Ended::GaveUp => KeyVerdict::GaveUp,
        Ended::Stuck(_) => unreachable!("no dead end was asked for"),
        Ended::NotLinearizable => {
            let mut again = Search::new(history, steps_max);
            let Ended::Stuck(stuck) = again.run(Some(first.deepest)) else {
                unreachable!("the same search reaches the same first deepest dead end")
            };
            KeyVerdict::NotLinearizable { stuck }
        }
    }
}

/// How [`Search::run`] ended.
enum Ended {
    Linearizable,
    NotLinearizable,
    GaveUp,
    /// Reached the first dead end at the requested depth.
    Stuck(Stuck),
}

/// Which candidates a scan of the entries tries.
#[derive(Clone, Copy)]
enum Pass {
    /// Operations with a known outcome, up to the first return entry.
    Known,
    /// Optional operations, up to `stop`, the first return entry.
    Optional { stop: Node },
}

/// What the search does next.
enum Step {
    /// Arrive at a node just reached.
    Enter,
    /// Try the candidate at `cursor`.
    Scan {
        cursor: Node,
        pass: Pass,
    },
    /// Undo the last linearized operation.
    Backtrack,
    /// The node just reached has a starved value: a dead end.
    Starved,
    Linearizable,
    NotLinearizable,
}

/// One linearized operation on the search stack.
struct Frame {
    /// Its call entry.
    node: Node,
    /// The register before it.
    state_before: State,
    /// The scan that lifted it, to resume after it.
    pass: Pass,
    /// Lifted as an observation that excludes its siblings.
    forced: bool,
}

/// What the candidates that read the register need of it, at one node.
#[derive(Debug, Default)]
struct Readers {
    /// The values some read or swap needs, sorted.
    exact: Vec<State>,
    /// The distinct values refused swaps expect, up to two: with two, one of
    /// them is legal whatever the register holds.
    refused: [Option<State>; 2],
}

impl Readers {
    fn clear(&mut self) {
        self.exact.clear();
        self.refused = [None; 2];
    }

    /// Adds a candidate's effect; writes and deletes do not read.
    fn add(&mut self, effect: Effect) {
        match effect {
            Effect::Observe(value) | Effect::Swap { expect: value, .. } => self.exact.push(value),
            Effect::Refuse { expect } => match self.refused {
                [None, _] => self.refused[0] = Some(expect),
                [Some(first), None] if first != expect => self.refused[1] = Some(expect),
                _ => {}
            },
            Effect::Set(_) => {}
        }
    }

    /// Whether some reader is legal with the register at `state`.
    fn any_legal(&self, state: State) -> bool {
        let refused = match self.refused {
            [None, _] => false,
            [Some(expect), None] => state != expect,
            [Some(_), Some(_)] => true,
        };
        refused || self.exact.binary_search(&state).is_ok()
    }
}

/// The state of a depth-first search of one key.
struct Search<'k, 'h, V> {
    history: &'k KeyHistory<'h, V>,
    entries: Entries,
    linearized: Linearized,
    memo: Memo,
    supply: Supply,
    stack: Vec<Frame>,
    /// For each stack depth whose node is in its optional pass, what the
    /// candidates that read the register need.
    readers: Vec<Readers>,
    /// The register after the operations on the stack.
    state: State,
    /// Operations with a known outcome not on the stack.
    known_left: u32,
    steps: u64,
    steps_max: u64,
    /// The most operations with a known outcome linearized at once so far.
    deepest: u32,
}

impl<'k, 'h, V> Search<'k, 'h, V> {
    fn new(history: &'k KeyHistory<'h, V>, steps_max: u64) -> Self {
        Self {
            history,
            entries: Entries::new(&history.ops),
            linearized: Linearized::new(history.known_count, history.optional_count),
            memo: Memo::default(),
            supply: Supply::new(&history.ops, history.state_count()),
            stack: Vec::new(),
            readers: Vec::new(),
            state: ABSENT,
            known_left: history.known_count,
            steps: 0,
            steps_max,
            deepest: 0,
        }
    }

    /// Runs to the end, or to the first dead end with `capture_at`
    /// operations of known outcome linearized. Such a node is a dead end the
    /// first time it is reached if no node had more: it is starved, or no
    /// known operation can follow and its scan of known candidates reaches a
    /// return entry.
    fn run(&mut self, capture_at: Option<u32>) -> Ended {
        let mut step = Step::Enter;
        loop {
            let at_depth = capture_at == Some(self.known_linearized());
            step = match step {
                Step::Linearizable => return Ended::Linearizable,
                Step::NotLinearizable => return Ended::NotLinearizable,
                _ if self.steps > self.steps_max => return Ended::GaveUp,
                Step::Enter => self.enter(),
                Step::Starved if at_depth => return Ended::Stuck(self.describe(self.starving())),
                Step::Starved => self.backtrack(),
                Step::Scan { cursor, pass } => {
                    if at_depth && matches!(pass, Pass::Known) && self.entries.is_return(cursor) {
                        return Ended::Stuck(self.describe(vec![self.entries.op(cursor)]));
                    }
                    self.scan(cursor, pass)
                }
                Step::Backtrack => self.backtrack(),
            };
        }
    }

    /// At a new node: done, or a forced observation, or scan the candidates.
    fn enter(&mut self) -> Step {
        if self.known_left == 0 {
            return Step::Linearizable;
        }
        if self.supply.doomed(self.state) {
            return Step::Starved;
        }
        match self.legal_observation() {
            Some(node) if self.try_lift(node, Pass::Known, true) => Step::Enter,
            // The observation's node was explored and failed, so this one fails.
            Some(_) => Step::Backtrack,
            None => Step::Scan {
                cursor: self.entries.first_known(),
                pass: Pass::Known,
            },
        }
    }

    /// The first candidate with a known outcome that only observes the
    /// register and is legal in the current state.
    fn legal_observation(&mut self) -> Option<Node> {
        let mut node = self.entries.first_known();
        while !self.entries.is_return(node) {
            self.steps += 1;
            let op = self.op(node);
            if op.effect.is_pure() && op.effect.apply(self.state).is_some() {
                return Some(node);
            }
            node = self.entries.next(node);
        }
        None
    }

    /// Tries to linearize the candidate at `cursor`, else moves on. The
    /// known pass walks the known list up to its first return entry; the
    /// optional pass then walks the optional list up to the same time.
    fn scan(&mut self, cursor: Node, pass: Pass) -> Step {
        self.steps += 1;
        match pass {
            Pass::Known => {
                assert_ne!(
                    cursor, NIL,
                    "a return entry ends the known list while known operations are left"
                );
                if self.entries.is_return(cursor) {
                    let optional = self.entries.first_optional();
                    if optional > cursor {
                        return Step::Backtrack;
                    }
                    self.gather_readers(cursor);
                    return Step::Scan {
                        cursor: optional,
                        pass: Pass::Optional { stop: cursor },
                    };
                }
            }
            // Entries are numbered in time order; NIL is after every entry.
            Pass::Optional { stop } if cursor > stop => return Step::Backtrack,
            Pass::Optional { .. } => {}
        }
        if self.try_lift(cursor, pass, false) {
            return Step::Enter;
        }
        Step::Scan {
            cursor: self.entries.next(cursor),
            pass,
        }
    }

    /// Linearizes the operation of call entry `node` next, if the register
    /// allows it, the optional-operation rules do, and the resulting node is
    /// new. `pass` is the scan to resume if this choice fails.
    fn try_lift(&mut self, node: Node, pass: Pass, forced: bool) -> bool {
        let op = *self.op(node);
        let Some(next_state) = op.effect.apply(self.state) else {
            return false;
        };
        if self.pointless(&op, next_state, pass) {
            return false;
        }
        self.linearized.toggle(op.slot);
        if !self
            .memo
            .insert(self.linearized.key(next_state, op.is_optional()))
        {
            self.linearized.toggle(op.slot);
            return false;
        }
        self.stack.push(Frame {
            node,
            state_before: self.state,
            pass,
            forced,
        });
        self.entries.lift(node);
        self.supply.take(&op);
        self.state = next_state;
        self.known_left -= u32::from(!op.is_optional());
        self.deepest = self.deepest.max(self.known_linearized());
        true
    }

    /// Whether linearizing `op` next, leading to `next_state`, can be
    /// skipped because another branch explores an equivalent or better
    /// linearization (see the module documentation).
    fn pointless(&self, op: &KeyOp, next_state: State, pass: Pass) -> bool {
        let last_optional =
            (self.stack.last()).is_some_and(|frame| self.op(frame.node).is_optional());
        if last_optional && op.effect.is_blind() {
            return true;
        }
        if matches!(pass, Pass::Known) {
            return false;
        }
        next_state == self.state
            || (op.earlier_twin).is_some_and(|twin| !self.linearized.contains(Slot::Optional(twin)))
            || !self.readers[self.stack.len()].any_legal(next_state)
    }

    /// Records, for the node at the top of the stack, what the candidates
    /// before `stop` that read the register need: only those may follow an
    /// optional step.
    fn gather_readers(&mut self, stop: Node) {
        let depth = self.stack.len();
        if self.readers.len() <= depth {
            self.readers.resize_with(depth + 1, Readers::default);
        }
        let mut readers = std::mem::take(&mut self.readers[depth]);
        readers.clear();
        let mut node = self.entries.first_known();
        while node < stop {
            self.steps += 1;
            readers.add(self.op(node).effect);
            node = self.entries.next(node);
        }
        if self.history.optional_swap_count > 0 {
            node = self.entries.first_optional();
            while node < stop {
                self.steps += 1;
                readers.add(self.op(node).effect);
                node = self.entries.next(node);
            }
        }
        readers.exact.sort_unstable();
        readers.exact.dedup();
        self.readers[depth] = readers;
    }

    /// Undoes linearized operations up to the most recent one that has
    /// untried siblings, and resumes the scan after it.
    fn backtrack(&mut self) -> Step {
        loop {
            self.steps += 1;
            let Some(frame) = self.stack.pop() else {
                return Step::NotLinearizable;
            };
            let op = *self.op(frame.node);
            self.entries.unlift(frame.node);
            self.supply.give_back(&op);
            self.linearized.toggle(op.slot);
            self.state = frame.state_before;
            self.known_left += u32::from(!op.is_optional());
            if !frame.forced {
                return Step::Scan {
                    cursor: self.entries.next(frame.node),
                    pass: frame.pass,
                };
            }
        }
    }

    /// The dead end at the current node, where operations `blocked` cannot
    /// be linearized.
    fn describe(&self, blocked: Vec<usize>) -> Stuck {
        let mut calls = Vec::new();
        let mut node = self.entries.first_known();
        while !self.entries.is_return(node) {
            calls.push(node);
            node = self.entries.next(node);
        }
        let stop = node;
        node = self.entries.first_optional();
        while node < stop {
            calls.push(node);
            node = self.entries.next(node);
        }
        calls.sort_unstable();
        let candidates = calls
            .into_iter()
            .map(|call| self.entries.op(call))
            .collect();
        Stuck {
            linearized: (self.stack.iter())
                .map(|frame| self.entries.op(frame.node))
                .collect(),
            state: self.state,
            blocked,
            candidates,
        }
    }

    /// The pending operations, in invocation order, that need a value no
    /// pending operation can produce, at a starved node.
    fn starving(&self) -> Vec<usize> {
        let mut starving = Vec::new();
        let mut node = self.entries.first_known();
        while node != NIL {
            let op = self.entries.op(node);
            let call = !self.entries.is_return(node);
            if call && self.supply.starves(&self.history.ops[op], self.state) {
                starving.push(op);
            }
            node = self.entries.next(node);
        }
        assert!(
            !starving.is_empty(),
            "a starved node has an operation that needs a starved value"
        );
        starving
    }

    fn known_linearized(&self) -> u32 {
        self.history.known_count - self.known_left
    }

    fn op(&self, node: Node) -> &'k KeyOp {
        &self.history.ops[self.entries.op(node)]
    }
}
