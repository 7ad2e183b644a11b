//! Scenarios that read like the paper, on an in-memory cluster.

mod harness;

use harness::Cluster;
use paxon_core::{Action, Ballot, Message, NodeId, ReadId, Record, Slot, Value};

fn others(cluster: &Cluster, id: NodeId) -> Vec<NodeId> {
    cluster
        .members
        .iter()
        .copied()
        .filter(|m| *m != id)
        .collect()
}

#[test]
fn three_replicas_elect_one_leader_and_apply_in_the_same_order() {
    let mut cluster = Cluster::new(3, 1);
    let leader = cluster.elect();
    for i in 0..20 {
        cluster.propose(leader, &format!("cmd{i}"));
    }
    cluster.run_until(|c| c.members.iter().all(|m| c.applied_commands(*m).len() == 20));
    let expected: Vec<String> = (0..20).map(|i| format!("cmd{i}")).collect();
    for member in cluster.members.clone() {
        assert_eq!(cluster.applied_commands(member), expected);
    }
}

/// §2.2: a value that may have been chosen must be re-proposed. The leader
/// crashes after its Accept reached one acceptor and before its own vote
/// was durable; any majority of the survivors includes that acceptor.
#[test]
fn leader_crashes_after_accept_reached_one_acceptor_next_leader_chooses_that_value() {
    let mut cluster = Cluster::new(3, 2);
    let leader = cluster.elect();
    let [a, b] = others(&cluster, leader)[..] else {
        unreachable!()
    };
    cluster.auto_sync = false;
    cluster.cut.insert((leader, b));
    cluster.propose(leader, "v");
    while cluster.deliver_one() {}
    cluster.sync(a);
    while cluster.deliver_one() {}
    assert_eq!(
        cluster.replica(leader).commit(),
        Slot(0),
        "own vote not durable: not chosen"
    );
    cluster.crash(leader);
    cluster.auto_sync = true;
    cluster.heal();
    cluster.sync(a);
    cluster.sync(b);
    cluster.campaign(b);
    cluster.run_until(|c| c.applied_commands(a) == ["v"] && c.applied_commands(b) == ["v"]);
}

/// §3.1: a new leader fills a slot nobody voted for with an olive-day
/// decree and keeps the later chosen decree where it was.
#[test]
fn gap_left_by_a_crashed_leader_is_filled_with_noop() {
    let mut cluster = Cluster::with_config(3, 3, |c| c.batch_commands_max = 1);
    let leader = cluster.elect();
    let followers = others(&cluster, leader);
    cluster.propose(leader, "x");
    cluster.run_until(|c| c.members.iter().all(|m| c.applied_commands(*m) == ["x"]));
    cluster.auto_sync = false;
    cluster.propose(leader, "y");
    cluster.network.clear();
    cluster.propose(leader, "z");
    while cluster.deliver_one() {}
    for f in &followers {
        cluster.sync(*f);
    }
    cluster.crash(leader);
    cluster.auto_sync = true;
    cluster.network.clear();
    cluster.campaign(followers[0]);
    cluster.run_until(|c| c.applied[&followers[0]].len() == 3);
    let applied: Vec<Value> = cluster.applied[&followers[0]].values().cloned().collect();
    assert_eq!(
        applied[1],
        Value::Noop,
        "slot 2 had no vote: olive-day decree"
    );
    assert_eq!(cluster.applied_commands(followers[0]), ["x", "z"]);
}

#[test]
fn duelling_proposers_converge_on_one_leader() {
    let mut cluster = Cluster::new(3, 4);
    for round in 0..5 {
        cluster.campaign(NodeId(1));
        cluster.campaign(NodeId(2));
        cluster.deliver_all();
        if round == 4 {
            break;
        }
    }
    let leader = cluster.elect();
    cluster.propose(leader, "after the duel");
    cluster.run_until(|c| c.members.iter().all(|m| c.applied_commands(*m).len() == 1));
    let leaders = cluster.replicas.values().filter(|r| r.is_leader()).count();
    assert_eq!(leaders, 1);
}

/// §2.3: a promise is written in the ledger before it is sent, and a
/// priest who returns from a trip still honours it.
#[test]
fn restarted_acceptor_keeps_its_promise() {
    let mut cluster = Cluster::new(3, 5);
    let first = cluster.elect();
    let leader = others(&cluster, first)[0];
    cluster.campaign(leader);
    cluster.run_until(|c| c.replica(leader).is_leader());
    let follower = others(&cluster, leader)[0];
    let promised = cluster.replica(follower).promised();
    assert!(promised.round >= 2);
    cluster.crash(follower);
    cluster.restart(follower);
    assert_eq!(cluster.replica(follower).promised(), promised);
    let stale = Ballot::new(promised.round - 1, leader);
    let accept = Message::Accept {
        ballot: stale,
        first_slot: Slot(1),
        values: vec![Value::Noop],
        commit: Slot(0),
    };
    cluster.network.clear();
    cluster
        .replica_mut(follower)
        .handle_message(leader, accept)
        .unwrap();
    let actions: Vec<Action> =
        std::iter::from_fn(|| cluster.replica_mut(follower).poll()).collect();
    let nack = Message::Nack {
        ballot: stale,
        promised,
    };
    assert!(
        actions.contains(&Action::Send {
            to: leader,
            msg: nack
        }),
        "{actions:?}"
    );
}

#[test]
fn every_committed_command_survives_all_replicas_crashing_at_once() {
    let mut cluster = Cluster::new(3, 6);
    let leader = cluster.elect();
    for i in 0..10 {
        cluster.propose(leader, &format!("w{i}"));
    }
    cluster.run_until(|c| c.applied_commands(leader).len() == 10);
    for member in cluster.members.clone() {
        cluster.crash(member);
    }
    for member in cluster.members.clone() {
        cluster.restart(member);
    }
    let expected: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    cluster.run_until(|c| c.members.iter().all(|m| c.applied_commands(*m) == expected));
}

#[test]
fn read_index_is_served_after_a_majority_confirms_the_leader() {
    let mut cluster = Cluster::new(3, 7);
    let leader = cluster.elect();
    cluster.propose(leader, "x");
    cluster.run_until(|c| c.applied_commands(leader).len() == 1);
    cluster.replica_mut(leader).read_index(ReadId(9)).unwrap();
    cluster.drain(leader);
    assert!(
        cluster.reads_ready.is_empty(),
        "not before the heartbeat round"
    );
    cluster.deliver_all();
    assert_eq!(cluster.reads_ready, vec![(leader, ReadId(9), Slot(1))]);
}

/// A deposed leader must not serve a linearizable read from its own state.
#[test]
fn isolated_leader_never_confirms_a_read_and_fails_it_when_it_steps_down() {
    let mut cluster = Cluster::new(3, 8);
    let old = cluster.elect();
    cluster.isolate(old);
    cluster.replica_mut(old).read_index(ReadId(1)).unwrap();
    cluster.drain(old);
    let new = others(&cluster, old)[0];
    cluster.campaign(new);
    cluster.run_until(|c| c.replica(new).is_leader() && !c.replica(old).is_leader());
    assert!(cluster.reads_ready.is_empty());
    assert_eq!(cluster.reads_failed, vec![(old, ReadId(1))]);
}

/// Stickiness: a member that was cut off and campaigned in vain does not
/// unseat the working leader when it returns.
#[test]
fn returning_member_does_not_unseat_a_live_leader() {
    let mut cluster = Cluster::new(3, 9);
    let leader = cluster.elect();
    let loner = others(&cluster, leader)[0];
    cluster.isolate(loner);
    for _ in 0..5 {
        cluster.campaign(loner);
    }
    cluster.deliver_all();
    cluster.heal();
    cluster.propose(leader, "still here");
    cluster.run_until(|c| {
        c.members
            .iter()
            .all(|m| c.applied_commands(*m) == ["still here"])
    });
    assert_eq!(cluster.leader(), Some(leader), "the same president rules");
}

#[test]
fn laggard_catches_up_from_the_leaders_log() {
    let mut cluster = Cluster::with_config(3, 10, |c| c.batch_commands_max = 1);
    let leader = cluster.elect();
    let laggard = others(&cluster, leader)[0];
    cluster.crash(laggard);
    for i in 0..50 {
        cluster.propose(leader, &format!("c{i}"));
        cluster.deliver_all();
    }
    cluster.run_until(|c| c.applied_commands(leader).len() == 50);
    cluster.restart(laggard);
    cluster.run_until(|c| c.applied_commands(laggard).len() == 50);
}

#[test]
fn laggard_behind_the_snapshot_is_sent_the_law_book() {
    let mut cluster = Cluster::with_config(3, 11, |c| c.batch_commands_max = 1);
    let leader = cluster.elect();
    let laggard = others(&cluster, leader)[0];
    let third = others(&cluster, leader)[1];
    cluster.crash(laggard);
    for i in 0..10 {
        cluster.propose(leader, &format!("c{i}"));
        cluster.deliver_all();
    }
    cluster.run_until(|c| c.replica(third).applied() >= Slot(10));
    for id in [leader, third] {
        let applied = cluster.replica(id).applied();
        cluster.replica_mut(id).compact(applied);
        cluster.drain(id);
    }
    cluster.restart(laggard);
    cluster.run_until(|c| !c.snapshots_needed.is_empty());
    let (_, to, slot) = cluster.snapshots_needed[0];
    assert_eq!(to, laggard);
    assert!(slot >= Slot(10));
    let memberships = cluster.replica(leader).memberships().clone();
    assert!(cluster
        .replica_mut(laggard)
        .install_snapshot(slot, &memberships));
    cluster.drain(laggard);
    assert_eq!(cluster.replica(laggard).applied(), slot);
    cluster.propose(leader, "after");
    cluster.run_until(|c| c.applied_commands(laggard) == ["after"]);
}

#[test]
fn pipeline_window_bounds_the_slots_in_flight() {
    let mut cluster = Cluster::with_config(3, 12, |c| {
        c.batch_commands_max = 1;
        c.pipeline_slots_max = 2;
    });
    let leader = cluster.elect();
    for i in 0..10 {
        cluster.propose(leader, &format!("p{i}"));
    }
    let accepted_slots: usize = cluster
        .network
        .iter()
        .filter(|e| e.to == others(&cluster, leader)[0])
        .map(|e| match &e.msg {
            Message::Accept { values, .. } => values.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(accepted_slots, 2);
    assert_eq!(cluster.replica(leader).queued_commands(), 8);
    cluster.run_until(|c| c.applied_commands(leader).len() == 10);
}

#[test]
fn queued_commands_are_batched_into_decrees() {
    let mut cluster = Cluster::with_config(3, 13, |c| c.batch_commands_max = 64);
    let leader = cluster.elect();
    for i in 0..200 {
        cluster
            .replica_mut(leader)
            .propose(bytes::Bytes::from(format!("b{i}")))
            .unwrap();
    }
    cluster.drain(leader);
    cluster.run_until(|c| c.applied_commands(leader).len() == 200);
    let sizes: Vec<usize> = cluster.applied[&leader]
        .values()
        .filter_map(|v| match v {
            Value::Batch(batch) => Some(batch.commands().len()),
            Value::Noop | Value::Reconfigure(_) => None,
        })
        .collect();
    assert_eq!(sizes, vec![64, 64, 64, 8]);
}

#[test]
fn ledger_holds_promise_votes_and_commit_point() {
    let mut cluster = Cluster::new(3, 14);
    let leader = cluster.elect();
    cluster.propose(leader, "x");
    cluster.run_until(|c| c.members.iter().all(|m| c.applied_commands(*m) == ["x"]));
    let follower = others(&cluster, leader)[0];
    let durable = &cluster.disks[&follower].durable;
    let ballot = cluster.replica(leader).promised();
    assert!(durable.contains(&Record::Promise { ballot }));
    assert!(durable
        .iter()
        .any(|r| matches!(r, Record::Vote { ballot: b, .. } if *b == ballot)));
    assert!(durable
        .iter()
        .any(|r| matches!(r, Record::Commit { slot } if *slot == Slot(1))));
}

/// §3.3.1 `Success`: with `announce_commit_at_once` the leader tells the
/// followers a decree was chosen as soon as it knows, so they apply it with
/// no tick passing; without it they learn it on the next heartbeat.
#[test]
fn followers_apply_a_chosen_decree_without_a_tick_when_the_leader_announces_at_once() {
    for at_once in [false, true] {
        let mut cluster = if at_once {
            Cluster::with_config(3, 11, |c| c.announce_commit_at_once = true)
        } else {
            Cluster::new(3, 11)
        };
        let leader = cluster.elect();
        cluster.propose(leader, "first");
        cluster.run_until(|c| {
            c.members
                .iter()
                .all(|m| c.applied_commands(*m) == ["first"])
        });
        cluster.propose(leader, "second");
        cluster.deliver_all();
        assert_eq!(cluster.applied_commands(leader), ["first", "second"]);
        for follower in others(&cluster, leader) {
            let expected: &[&str] = if at_once {
                &["first", "second"]
            } else {
                &["first"]
            };
            assert_eq!(
                cluster.applied_commands(follower),
                expected,
                "announce_commit_at_once = {at_once}, follower {follower}"
            );
        }
    }
}
