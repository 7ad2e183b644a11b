//! Changing the parliament (§3.3.6): configurations are decrees that take
//! effect α slots after the slot that chose them.

mod harness;

use harness::Cluster;
use paxon_core::{
    Config, Membership, NodeId, PersistedState, ReconfigureError, Replica, Slot, Value,
};

/// α in these tests: small, so a change takes effect after a few slots.
const ALPHA: u64 = 4;

fn small_window(config: &mut Config) {
    config.pipeline_slots_max = ALPHA;
    config.batch_commands_max = 1;
    config.promote_lag_slots_max = 2;
}

fn ids(ids: &[u64]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

fn membership(voters: &[u64], learners: &[u64]) -> Membership {
    Membership::new(ids(voters), ids(learners)).expect("valid configuration")
}

/// Proposes `change` at the leader and runs until every live replica
/// applied it; returns the slot that chose it.
fn reconfigure(cluster: &mut Cluster, leader: NodeId, change: Membership) -> Slot {
    cluster
        .replica_mut(leader)
        .propose_reconfigure(change.clone())
        .expect("leader takes the change");
    cluster.drain(leader);
    cluster.run_until(|c| chosen_slot(c, leader, &change).is_some());
    chosen_slot(cluster, leader, &change).unwrap()
}

fn chosen_slot(cluster: &Cluster, id: NodeId, change: &Membership) -> Option<Slot> {
    let applied = &cluster.applied[&id];
    let value = Value::Reconfigure(change.clone());
    applied.iter().find(|(_, v)| **v == value).map(|(s, _)| *s)
}

/// Three voters, leader 1, and replica 4 started outside the
/// configuration, ready to join.
fn three_and_a_newcomer(seed: u64) -> (Cluster, NodeId) {
    let mut cluster = Cluster::with_config(3, seed, small_window);
    let leader = cluster.elect();
    cluster.join(NodeId(4));
    (cluster, leader)
}

#[test]
fn a_configuration_chosen_in_slot_i_governs_from_slot_i_plus_alpha() {
    let (mut cluster, leader) = three_and_a_newcomer(1);
    let change = membership(&[1, 2, 3], &[4]);
    let slot = reconfigure(&mut cluster, leader, change.clone());
    let from = Slot(slot.0 + ALPHA);
    let replica = cluster.replica(leader);
    assert_eq!(replica.memberships().latest(), (from, &change));
    assert_eq!(
        replica.memberships().at(from.prev()),
        &membership(&[1, 2, 3], &[])
    );
    // With nothing else to propose, the leader fills the window with Noops
    // so the change takes effect.
    cluster.run_until(|c| c.replica(leader).commit() >= from.prev());
    let applied = &cluster.applied[&leader];
    let padding: Vec<&Value> = applied.range(slot.next()..from).map(|(_, v)| v).collect();
    assert_eq!(padding, vec![&Value::Noop; (ALPHA - 1) as usize]);
    assert_eq!(cluster.replica(leader).membership(), &change);
}

#[test]
fn a_learner_receives_every_decree_but_does_not_count_in_a_quorum() {
    let (mut cluster, leader) = three_and_a_newcomer(2);
    reconfigure(&mut cluster, leader, membership(&[1, 2, 3], &[4]));
    cluster.propose(leader, "a");
    cluster.run_until(|c| c.applied_commands(NodeId(4)) == ["a"]);
    assert!(!cluster.replica(NodeId(4)).membership().is_voter(NodeId(4)));
    // The leader and the learner alone are no majority of {1, 2, 3}.
    let others: Vec<NodeId> = ids(&[1, 2, 3])
        .into_iter()
        .filter(|n| *n != leader)
        .collect();
    for other in others {
        cluster.crash(other);
    }
    cluster.propose(leader, "b");
    for _ in 0..5 {
        cluster.tick_all();
        cluster.deliver_all();
    }
    assert_eq!(cluster.applied_commands(leader), ["a"]);
    assert_eq!(cluster.applied_commands(NodeId(4)), ["a"]);
}

#[test]
fn a_learner_is_promoted_only_once_caught_up_then_counts() {
    let (mut cluster, leader) = three_and_a_newcomer(3);
    cluster.crash(NodeId(4));
    reconfigure(&mut cluster, leader, membership(&[1, 2, 3], &[4]));
    for i in 0..10 {
        cluster.propose(leader, &format!("c{i}"));
    }
    cluster.run_until(|c| c.applied_commands(leader).len() == 10);
    let promoted = membership(&[1, 2, 3, 4], &[]);
    assert_eq!(
        cluster
            .replica_mut(leader)
            .propose_reconfigure(promoted.clone()),
        Err(ReconfigureError::LearnerNotReady(NodeId(4)))
    );
    assert_eq!(
        cluster.replica(leader).memberships().latest().1.voters(),
        ids(&[1, 2, 3])
    );
    cluster.restart(NodeId(4));
    cluster.run_until(|c| c.applied_commands(NodeId(4)).len() == 10);
    cluster.run_until(|c| {
        c.replica(leader)
            .learner_progress(NodeId(4))
            .is_some_and(|p| p >= c.replica(leader).commit())
    });
    let leader = cluster.elect();
    reconfigure(&mut cluster, leader, promoted.clone());
    cluster.run_until(|c| {
        c.members
            .iter()
            .all(|m| c.replica(*m).membership() == &promoted)
    });
    // Four voters: a quorum is three, so the leader and 4 need one more.
    let leader = cluster.elect();
    let others: Vec<NodeId> = ids(&[1, 2, 3])
        .into_iter()
        .filter(|n| *n != leader)
        .collect();
    cluster.crash(others[0]);
    cluster.propose(leader, "three of four");
    cluster.run_until(|c| {
        c.applied_commands(NodeId(4)).last().map(String::as_str) == Some("three of four")
    });
}

#[test]
fn one_change_at_a_time_until_the_last_takes_effect() {
    let (mut cluster, leader) = three_and_a_newcomer(4);
    let replica = cluster.replica_mut(leader);
    replica
        .propose_reconfigure(membership(&[1, 2, 3], &[4]))
        .unwrap();
    assert_eq!(
        replica.propose_reconfigure(membership(&[1, 2], &[])),
        Err(ReconfigureError::Pending)
    );
    cluster.drain(leader);
    cluster.run_until(|c| c.replica(leader).reconfiguration_pending());
    let follower = if leader == NodeId(1) {
        NodeId(2)
    } else {
        NodeId(1)
    };
    let refused = cluster
        .replica_mut(follower)
        .propose_reconfigure(membership(&[1], &[]));
    assert!(matches!(refused, Err(ReconfigureError::NotLeader { .. })));
    cluster.run_until(|c| !c.replica(leader).reconfiguration_pending());
    assert_eq!(
        cluster.replica(leader).membership(),
        &membership(&[1, 2, 3], &[4])
    );
}

#[test]
fn a_voter_that_was_never_heard_is_not_enough_to_make_a_quorum() {
    let mut cluster = Cluster::with_config(3, 5, small_window);
    let leader = cluster.elect();
    let other = ids(&[1, 2, 3]).into_iter().find(|n| *n != leader).unwrap();
    cluster.crash(other);
    for _ in 0..12 {
        cluster.tick_all();
        cluster.deliver_all();
    }
    assert_eq!(cluster.leader(), Some(leader));
    // Four voters need three; only the leader and one peer were heard.
    assert_eq!(
        cluster
            .replica_mut(leader)
            .propose_reconfigure(membership(&[1, 2, 3, 4], &[])),
        Err(ReconfigureError::NotEnoughStarted)
    );
    assert!(!cluster.replica(leader).reconfiguration_pending());
}

#[test]
fn a_removed_follower_learns_every_slot_that_needed_it_then_stops() {
    let mut cluster = Cluster::with_config(3, 6, small_window);
    let leader = cluster.elect();
    let gone = ids(&[1, 2, 3]).into_iter().find(|n| *n != leader).unwrap();
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != gone.0).collect();
    let slot = reconfigure(&mut cluster, leader, membership(&rest, &[]));
    cluster.run_until(|c| c.removed.contains(&gone));
    let replica = cluster.replica(gone);
    assert!(replica.is_removed());
    assert_eq!(replica.commit(), Slot(slot.0 + ALPHA - 1));
    // The two that remain go on alone.
    cluster.propose(leader, "after");
    cluster.run_until(|c| c.applied_commands(leader) == ["after"]);
    assert_eq!(cluster.replica(gone).commit(), Slot(slot.0 + ALPHA - 1));
}

#[test]
fn a_removed_leader_steps_down_and_the_others_elect_a_new_one() {
    let mut cluster = Cluster::with_config(3, 7, small_window);
    let leader = cluster.elect();
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != leader.0).collect();
    reconfigure(&mut cluster, leader, membership(&rest, &[]));
    cluster.run_until(|c| c.removed.contains(&leader));
    assert!(!cluster.replica(leader).is_leader());
    let next = cluster.elect();
    assert_ne!(next, leader);
    cluster.propose(next, "new leader");
    cluster.run_until(|c| c.applied_commands(next) == ["new leader"]);
}

/// A removed leader may be the only one that knows the last slots its
/// configuration governed were chosen: it retires only once a quorum of
/// the configuration that left it out has shown it learned them, however
/// long they stay out of reach.
#[test]
fn a_retiring_member_stays_until_a_quorum_of_its_successors_learned_what_it_knows() {
    let mut cluster = Cluster::with_config(3, 9, small_window);
    let leader = cluster.elect();
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != leader.0).collect();
    reconfigure(&mut cluster, leader, membership(&rest, &[]));
    cluster.run_until(|c| c.replica(leader).is_retiring());
    cluster.isolate(leader);
    // Far longer than the quiet time a retiring member waits for laggards.
    let timeouts = cluster.config(leader).election_timeout_ticks * 40;
    for _ in 0..timeouts {
        cluster.tick_all();
        cluster.deliver_all();
    }
    assert!(cluster.replica(leader).is_retiring());
    assert!(!cluster.removed.contains(&leader));
    cluster.heal();
    cluster.run_until(|c| c.removed.contains(&leader));
    let next = cluster.elect();
    cluster.propose(next, "after");
    cluster.run_until(|c| c.applied_commands(next) == ["after"]);
}

/// A member cut off while it was removed, whose peers have since folded
/// the removal into a snapshot, learns it from the snapshot they send,
/// retires, and stops once they showed they know what it knows (found by
/// the rolling-replacement test of the fault suite: it used to go on
/// asking for snapshots for ever).
#[test]
fn a_member_removed_while_cut_off_learns_it_from_a_snapshot_and_retires() {
    let mut cluster = Cluster::with_config(3, 11, small_window);
    cluster.ship_snapshots = true;
    let leader = cluster.elect();
    let gone = ids(&[1, 2, 3]).into_iter().find(|n| *n != leader).unwrap();
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != gone.0).collect();
    cluster.isolate(gone);
    reconfigure(&mut cluster, leader, membership(&rest, &[]));
    cluster.run_until(|c| !c.replica(leader).reconfiguration_pending());
    for i in 0..6 {
        cluster.propose(leader, &format!("c{i}"));
    }
    cluster.run_until(|c| {
        rest.iter()
            .all(|n| c.applied_commands(NodeId(*n)).len() == 6)
    });
    for n in &rest {
        let applied = cluster.replica(NodeId(*n)).applied();
        cluster.replica_mut(NodeId(*n)).compact(applied);
    }
    cluster.heal();
    cluster.run_until(|c| c.removed.contains(&gone));
    assert!(!cluster.snapshots_needed.is_empty());
}

/// A change of two voters at once is safe under α: every slot has one
/// configuration, and phase 1 covers each configuration in the window.
#[test]
fn replacing_two_voters_in_one_decree_keeps_one_history() {
    let mut cluster = Cluster::with_config(3, 8, small_window);
    let leader = cluster.elect();
    cluster.join(NodeId(4));
    cluster.join(NodeId(5));
    reconfigure(&mut cluster, leader, membership(&[1, 2, 3], &[4, 5]));
    cluster.run_until(|c| !c.replica(leader).reconfiguration_pending());
    cluster.run_until(|c| {
        let leader = c.replica(leader);
        let caught_up = |n| leader.learner_progress(NodeId(n)) >= Some(leader.commit());
        caught_up(4) && caught_up(5)
    });
    let keep = if leader == NodeId(1) { 1 } else { leader.0 };
    let new = membership(&[keep, 4, 5], &[]);
    let leader = cluster.elect();
    reconfigure(&mut cluster, leader, new.clone());
    cluster.run_until(|c| {
        [keep, 4, 5]
            .iter()
            .all(|n| c.replica(NodeId(*n)).membership() == &new)
    });
    let leader = cluster.elect();
    assert!(new.is_voter(leader));
    cluster.propose(leader, "x");
    cluster.run_until(|c| {
        [keep, 4, 5]
            .iter()
            .all(|n| c.applied_commands(NodeId(*n)).last().map(String::as_str) == Some("x"))
    });
}

#[test]
fn the_configuration_is_part_of_the_law_book() {
    let (mut cluster, leader) = three_and_a_newcomer(9);
    let change = membership(&[1, 2, 3], &[4]);
    reconfigure(&mut cluster, leader, change.clone());
    cluster.run_until(|c| !c.replica(leader).reconfiguration_pending());
    let applied = cluster.replica(leader).applied();
    cluster.replica_mut(leader).compact(applied);
    let records = cluster.replica(leader).snapshot_records();
    let state = PersistedState::replay(&records);
    let config = cluster.config(leader);
    let restored = Replica::new(config, state, 1).unwrap();
    assert_eq!(
        restored.memberships(),
        cluster.replica(leader).memberships()
    );
    assert_eq!(restored.membership(), &change);
}

#[test]
fn a_newcomer_learns_the_configuration_from_a_snapshot() {
    let mut cluster = Cluster::with_config(3, 10, small_window);
    cluster.ship_snapshots = true;
    let leader = cluster.elect();
    for i in 0..6 {
        cluster.propose(leader, &format!("c{i}"));
    }
    cluster.run_until(|c| c.applied_commands(leader).len() == 6);
    cluster.join(NodeId(4));
    reconfigure(&mut cluster, leader, membership(&[1, 2, 3], &[4]));
    cluster.run_until(|c| !c.replica(leader).reconfiguration_pending());
    let applied = cluster.replica(leader).applied();
    cluster.replica_mut(leader).compact(applied);
    cluster.propose(leader, "last");
    cluster.run_until(|c| c.applied_commands(NodeId(4)).last().map(String::as_str) == Some("last"));
    assert!(!cluster.snapshots_needed.is_empty());
    let newcomer = cluster.replica(NodeId(4));
    assert_eq!(newcomer.membership(), &membership(&[1, 2, 3], &[4]));
    assert!(cluster.removed.is_empty(), "nobody left");
}
