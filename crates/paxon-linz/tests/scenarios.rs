//! Hand-written histories whose verdict is known, one behaviour each.

use paxon_linz::{
    check, check_with, CheckResult, ClientId, Config, History, HistoryError, Op, OpId, Ret, Time,
    Violation,
};

type Kv = History<&'static str, u64>;

/// Adds an operation on key `x` that returned `ret` at `ret_time`.
fn done(
    history: &mut Kv,
    client: u64,
    op: Op<u64>,
    invoke: u64,
    ret: Ret<u64>,
    ret_time: u64,
) -> OpId {
    done_on(history, "x", client, op, invoke, ret, ret_time)
}

/// Adds an operation on `key` that returned `ret` at `ret_time`.
fn done_on(
    history: &mut Kv,
    key: &'static str,
    client: u64,
    op: Op<u64>,
    invoke: u64,
    ret: Ret<u64>,
    ret_time: u64,
) -> OpId {
    let id = history.invoke(ClientId(client), key, op, Time(invoke));
    history
        .complete(id, ret, Time(ret_time))
        .expect("a well-formed return");
    id
}

/// Adds an operation on key `x` whose outcome the client never learned.
fn lost(history: &mut Kv, client: u64, op: Op<u64>, invoke: u64) -> OpId {
    history.invoke(ClientId(client), "x", op, Time(invoke))
}

fn violation(history: &Kv) -> Violation<&'static str, u64> {
    match check(history) {
        CheckResult::NotLinearizable(violation) => *violation,
        other => panic!("expected a violation, got {other:?}"),
    }
}

fn ids(ops: &[paxon_linz::RecordedOp<&'static str, u64>]) -> Vec<usize> {
    ops.iter().map(|op| op.id.0).collect()
}

fn blocked(violation: &Violation<&'static str, u64>) -> Vec<usize> {
    ids(&violation.blocked)
}

fn cas(expect: Option<u64>, new: u64) -> Op<u64> {
    Op::Cas { expect, new }
}

#[test]
fn empty_history_is_linearizable_in_zero_steps() {
    assert_eq!(check(&Kv::new()), CheckResult::Linearizable { steps: 0 });
}

#[test]
fn sequential_write_then_read_of_the_written_value_is_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Read, 0, Ret::Read(None), 1);
    done(&mut history, 1, Op::Write(7), 2, Ret::Written, 3);
    done(&mut history, 2, Op::Read, 4, Ret::Read(Some(7)), 5);
    assert!(check(&history).is_linearizable());
}

#[test]
fn sequential_read_of_an_overwritten_value_is_not_linearizable() {
    let mut history = Kv::new();
    let w1 = done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    let w2 = done(&mut history, 1, Op::Write(2), 2, Ret::Written, 3);
    let read = done(&mut history, 1, Op::Read, 4, Ret::Read(Some(1)), 5);
    let violation = violation(&history);
    assert_eq!(violation.key, "x");
    assert_eq!(ids(&violation.linearized), vec![w1.0, w2.0]);
    assert_eq!(violation.value, Some(2));
    assert_eq!(blocked(&violation), vec![read.0]);
    assert_eq!(ids(&violation.candidates), vec![read.0]);
}

#[test]
fn read_of_absent_before_any_write_returned_is_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 10);
    done(&mut history, 2, Op::Read, 1, Ret::Read(None), 2);
    done(&mut history, 2, Op::Read, 3, Ret::Read(Some(1)), 4);
    assert!(check(&history).is_linearizable());
}

#[test]
fn concurrent_writes_may_be_read_in_either_order_once_both_completed() {
    for seen in [1, 2] {
        let mut history = Kv::new();
        done(&mut history, 1, Op::Write(1), 0, Ret::Written, 10);
        done(&mut history, 2, Op::Write(2), 0, Ret::Written, 10);
        done(&mut history, 3, Op::Read, 11, Ret::Read(Some(seen)), 12);
        done(&mut history, 3, Op::Read, 13, Ret::Read(Some(seen)), 14);
        assert!(check(&history).is_linearizable(), "reading {seen}");
    }
}

#[test]
fn reads_during_concurrent_writes_may_see_one_then_the_other() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 10);
    done(&mut history, 2, Op::Write(2), 0, Ret::Written, 10);
    done(&mut history, 3, Op::Read, 1, Ret::Read(Some(2)), 2);
    done(&mut history, 3, Op::Read, 3, Ret::Read(Some(1)), 4);
    assert!(check(&history).is_linearizable());
}

#[test]
fn stale_read_after_a_completed_write_is_not_linearizable() {
    let mut history = Kv::new();
    let w1 = done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    let w2 = done(&mut history, 2, Op::Write(2), 2, Ret::Written, 3);
    let stale = done(&mut history, 3, Op::Read, 4, Ret::Read(Some(1)), 5);
    let violation = violation(&history);
    assert_eq!(ids(&violation.linearized), vec![w1.0, w2.0]);
    assert_eq!(violation.value, Some(2));
    assert_eq!(blocked(&violation), vec![stale.0]);
}

#[test]
fn read_of_a_value_never_written_is_not_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 10);
    let read = done(&mut history, 2, Op::Read, 0, Ret::Read(Some(9)), 10);
    let violation = violation(&history);
    assert_eq!(violation.linearized, vec![]);
    assert_eq!(violation.value, None);
    assert_eq!(blocked(&violation), vec![read.0]);
    assert_eq!(ids(&violation.candidates), vec![0, read.0]);
}

#[test]
fn reads_flip_flopping_after_both_writes_completed_are_not_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 10);
    done(&mut history, 2, Op::Write(2), 0, Ret::Written, 10);
    let sees_1 = done(&mut history, 3, Op::Read, 11, Ret::Read(Some(1)), 12);
    done(&mut history, 3, Op::Read, 13, Ret::Read(Some(2)), 14);
    let violation = violation(&history);
    assert_eq!(ids(&violation.linearized), vec![0, 1]);
    assert_eq!(violation.value, Some(2));
    assert_eq!(blocked(&violation), vec![sees_1.0]);
}

#[test]
fn cas_swaps_from_expect_and_refuses_otherwise() {
    let mut history = Kv::new();
    done(&mut history, 1, cas(None, 1), 0, Ret::Cas(true), 1);
    done(&mut history, 2, cas(None, 5), 2, Ret::Cas(false), 3);
    done(&mut history, 1, cas(Some(1), 2), 4, Ret::Cas(true), 5);
    done(&mut history, 2, cas(Some(1), 3), 6, Ret::Cas(false), 7);
    done(&mut history, 3, Op::Read, 8, Ret::Read(Some(2)), 9);
    assert!(check(&history).is_linearizable());
}

#[test]
fn cas_that_swapped_from_a_value_the_key_did_not_hold_is_not_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    let swap = done(&mut history, 2, cas(Some(2), 3), 2, Ret::Cas(true), 3);
    let violation = violation(&history);
    assert_eq!(
        violation.value, None,
        "2 is never written: the start is a dead end"
    );
    assert_eq!(blocked(&violation), vec![swap.0]);
}

#[test]
fn cas_refused_while_the_key_held_expect_is_not_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    let refused = done(&mut history, 2, cas(Some(1), 2), 2, Ret::Cas(false), 3);
    assert_eq!(blocked(&violation(&history)), vec![refused.0]);
}

#[test]
fn concurrent_cas_pair_with_the_same_expect_has_exactly_one_winner() {
    let mut both_won = Kv::new();
    done(&mut both_won, 1, cas(None, 1), 0, Ret::Cas(true), 5);
    done(&mut both_won, 2, cas(None, 2), 0, Ret::Cas(true), 5);
    assert!(!check(&both_won).is_linearizable());

    let mut one_won = Kv::new();
    done(&mut one_won, 1, cas(None, 1), 0, Ret::Cas(true), 5);
    done(&mut one_won, 2, cas(None, 2), 0, Ret::Cas(false), 5);
    done(&mut one_won, 3, Op::Read, 6, Ret::Read(Some(1)), 7);
    assert!(check(&one_won).is_linearizable());
}

#[test]
fn delete_makes_the_key_absent() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    done(&mut history, 1, Op::Delete, 2, Ret::Deleted, 3);
    done(&mut history, 2, Op::Read, 4, Ret::Read(None), 5);
    done(&mut history, 2, cas(None, 4), 6, Ret::Cas(true), 7);
    assert!(check(&history).is_linearizable());
}

#[test]
fn read_of_the_old_value_after_a_completed_delete_is_not_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    done(&mut history, 1, Op::Delete, 2, Ret::Deleted, 3);
    let read = done(&mut history, 2, Op::Read, 4, Ret::Read(Some(1)), 5);
    let violation = violation(&history);
    assert_eq!(violation.value, None);
    assert_eq!(blocked(&violation), vec![read.0]);
}

#[test]
fn unknown_write_seen_by_a_later_read_is_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    lost(&mut history, 2, Op::Write(2), 2);
    done(&mut history, 3, Op::Read, 100, Ret::Read(Some(2)), 101);
    assert!(check(&history).is_linearizable());
}

#[test]
fn unknown_write_never_seen_is_linearizable() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    lost(&mut history, 2, Op::Write(2), 2);
    done(&mut history, 3, Op::Read, 100, Ret::Read(Some(1)), 101);
    assert!(check(&history).is_linearizable());
}

#[test]
fn unknown_write_seen_before_its_invocation_is_not_linearizable() {
    let mut history = Kv::new();
    let early = done(&mut history, 1, Op::Read, 0, Ret::Read(Some(2)), 1);
    lost(&mut history, 2, Op::Write(2), 2);
    let violation = violation(&history);
    assert_eq!(violation.linearized, vec![]);
    assert_eq!(violation.value, None);
    assert_eq!(blocked(&violation), vec![early.0]);
}

#[test]
fn unknown_write_takes_effect_at_most_once() {
    let mut history = Kv::new();
    lost(&mut history, 1, Op::Write(2), 0);
    done(&mut history, 2, Op::Read, 1, Ret::Read(Some(2)), 2);
    done(&mut history, 2, Op::Write(3), 3, Ret::Written, 4);
    let again = done(&mut history, 2, Op::Read, 5, Ret::Read(Some(2)), 6);
    let violation = violation(&history);
    assert_eq!(ids(&violation.linearized), vec![0, 1, 2]);
    assert_eq!(violation.value, Some(3));
    assert_eq!(blocked(&violation), vec![again.0]);
}

#[test]
fn unknown_cas_may_explain_a_read_only_if_its_expect_held() {
    let mut swapped = Kv::new();
    done(&mut swapped, 1, Op::Write(1), 0, Ret::Written, 1);
    lost(&mut swapped, 2, cas(Some(1), 2), 2);
    done(&mut swapped, 3, Op::Read, 3, Ret::Read(Some(2)), 4);
    assert!(check(&swapped).is_linearizable());

    let mut impossible = Kv::new();
    done(&mut impossible, 1, Op::Write(1), 0, Ret::Written, 1);
    lost(&mut impossible, 2, cas(Some(5), 2), 2);
    let read = done(&mut impossible, 3, Op::Read, 3, Ret::Read(Some(2)), 4);
    assert_eq!(blocked(&violation(&impossible)), vec![read.0]);
}

#[test]
fn unknown_writes_chain_through_an_unknown_cas() {
    let mut history = Kv::new();
    lost(&mut history, 1, Op::Write(1), 0);
    lost(&mut history, 2, cas(Some(1), 2), 1);
    lost(&mut history, 3, Op::Write(9), 2);
    done(&mut history, 4, Op::Read, 3, Ret::Read(Some(2)), 4);
    assert!(check(&history).is_linearizable());
}

#[test]
fn unknown_read_constrains_nothing() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    lost(&mut history, 2, Op::Read, 2);
    assert_eq!(check(&history), CheckResult::Linearizable { steps: 2 });
}

#[test]
fn return_and_invocation_at_the_same_time_are_concurrent() {
    let mut touching = Kv::new();
    done(&mut touching, 1, Op::Write(1), 0, Ret::Written, 5);
    done(&mut touching, 2, Op::Read, 5, Ret::Read(None), 6);
    assert!(check(&touching).is_linearizable());

    let mut apart = Kv::new();
    done(&mut apart, 1, Op::Write(1), 0, Ret::Written, 5);
    done(&mut apart, 2, Op::Read, 6, Ret::Read(None), 7);
    assert!(!check(&apart).is_linearizable());
}

#[test]
fn keys_are_checked_independently_and_the_violating_key_is_named() {
    let mut history = Kv::new();
    done_on(&mut history, "a", 1, Op::Write(1), 0, Ret::Written, 1);
    done_on(&mut history, "b", 1, Op::Write(2), 2, Ret::Written, 3);
    done_on(&mut history, "a", 2, Op::Read, 4, Ret::Read(Some(1)), 5);
    let stale = done_on(&mut history, "b", 2, Op::Read, 6, Ret::Read(None), 7);
    let violation = violation(&history);
    assert_eq!(violation.key, "b");
    assert_eq!(violation.completed_count, 2);
    assert_eq!(blocked(&violation), vec![stale.0]);
}

#[test]
fn violation_on_a_later_key_takes_precedence_over_giving_up_on_an_earlier_one() {
    let mut history = Kv::new();
    for client in 0..6 {
        done_on(
            &mut history,
            "a",
            client,
            Op::Write(client),
            0,
            Ret::Written,
            10,
        );
    }
    done_on(&mut history, "b", 1, Op::Read, 0, Ret::Read(Some(3)), 1);
    let tight = Config {
        steps_per_key_max: 5,
    };
    match check_with(&history, &tight) {
        CheckResult::NotLinearizable(violation) => assert_eq!(violation.key, "b"),
        other => panic!("expected a violation on b, got {other:?}"),
    }
    history = Kv::new();
    for client in 0..6 {
        done_on(
            &mut history,
            "a",
            client,
            Op::Write(client),
            0,
            Ret::Written,
            10,
        );
    }
    done_on(&mut history, "a", 9, Op::Read, 11, Ret::Read(Some(3)), 12);
    let gave_up = CheckResult::GaveUp {
        key: "a",
        steps_per_key_max: 5,
    };
    assert_eq!(check_with(&history, &tight), gave_up);
}

#[test]
fn violation_display_shows_the_prefix_the_blocked_operation_and_the_candidates() {
    let mut history = Kv::new();
    done(&mut history, 1, Op::Write(1), 0, Ret::Written, 1);
    done(&mut history, 2, Op::Write(2), 2, Ret::Written, 3);
    done(&mut history, 3, Op::Read, 4, Ret::Read(Some(1)), 6);
    lost(&mut history, 4, Op::Write(5), 5);
    let expected = "\
key \"x\" is not linearizable: the longest linearization found covers 2 of its 3 completed operations, leaving the value Some(2):
  #0 client 1 key \"x\": write(1) [0, 1] -> written
  #1 client 2 key \"x\": write(2) [2, 3] -> written
then these must take effect before they return, and cannot:
  #2 client 3 key \"x\": read [4, 6] -> Some(1)
candidates for the next step, none leading to a linearization:
  #2 client 3 key \"x\": read [4, 6] -> Some(1)
  #3 client 4 key \"x\": write(5) [5, ?] -> unknown";
    assert_eq!(check(&history).to_string(), expected);
}

#[test]
fn history_rejects_malformed_returns() {
    let mut history = Kv::new();
    let read = history.invoke(ClientId(1), "x", Op::Read, Time(5));
    let mismatched = HistoryError::ReturnDoesNotMatchOp {
        id: read,
        op: "read",
        ret: "written",
    };
    assert_eq!(
        history.complete(read, Ret::Written, Time(6)),
        Err(mismatched)
    );
    let early = HistoryError::ReturnBeforeInvoke {
        id: read,
        invoke: Time(5),
        ret: Time(4),
    };
    assert_eq!(history.complete(read, Ret::Read(None), Time(4)), Err(early));
    assert_eq!(history.complete(read, Ret::Read(None), Time(6)), Ok(()));
    let twice = history.complete(read, Ret::Read(None), Time(7));
    assert_eq!(twice, Err(HistoryError::AlreadyReturned(read)));
    let missing = history.complete(OpId(9), Ret::Read(None), Time(7));
    assert_eq!(missing, Err(HistoryError::NoSuchOperation(OpId(9))));
}

#[test]
fn violation_display_shows_at_most_ten_operations_per_list() {
    let mut history = Kv::new();
    for value in 0..12 {
        done(
            &mut history,
            1,
            Op::Write(value),
            2 * value,
            Ret::Written,
            2 * value + 1,
        );
    }
    done(&mut history, 2, Op::Read, 100, Ret::Read(Some(10)), 200);
    for client in 3..14 {
        lost(&mut history, client, Op::Write(100 + client), 98 + client);
    }
    let shown = check(&history).to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 1 + 10 + 1 + 1 + 1 + 10 + 1);
    assert!(lines[0].contains("covers 12 of its 13 completed operations (the last 10 shown)"));
    assert_eq!(
        lines[1],
        "  #2 client 1 key \"x\": write(2) [4, 5] -> written"
    );
    assert_eq!(lines[24], "  ... and 2 more");
}
