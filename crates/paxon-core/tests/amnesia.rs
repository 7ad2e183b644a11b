//! A replica whose disk was wiped must not vote with amnesia (see
//! `src/amnesia.rs`): the scenario the real-process fault suite found, and
//! the birth of a cluster, where every disk is empty.

mod harness;

use harness::Cluster;
use paxon_core::{NodeId, Slot};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

/// Ticks and delivers `rounds` times.
fn run(cluster: &mut Cluster, rounds: usize) {
    for _ in 0..rounds {
        cluster.tick_all();
        cluster.deliver_all();
    }
}

#[test]
fn a_new_cluster_elects_its_first_leader_once_every_member_is_up() {
    let mut cluster = Cluster::recovering(3, 7);
    cluster.crash(N3);
    run(&mut cluster, 200);
    assert_eq!(cluster.leader(), None, "two empty disks are not a quorum");
    assert!(cluster.replica(N1).is_recovering());
    cluster.restart(N3);
    let leader = cluster.elect();
    cluster.propose(leader, "first");
    cluster.run_until(|c| {
        [N1, N2, N3]
            .iter()
            .all(|id| c.applied_commands(*id) == ["first"] && !c.replica(*id).is_recovering())
    });
}

/// The fault suite's scenario: a decree chosen by the votes of L and W;
/// W is wiped, L is down; P and the wiped W must not choose anything else
/// for that slot, and once L is back everybody applies the decree.
#[test]
fn a_wiped_member_and_one_that_missed_a_decree_do_not_form_a_quorum() {
    let mut cluster = Cluster::recovering(3, 11);
    let leader = cluster.elect();
    cluster.propose(leader, "warm-up");
    cluster.run_until(|c| {
        [N1, N2, N3]
            .iter()
            .all(|id| !c.replica(*id).is_recovering() && c.applied_commands(*id) == ["warm-up"])
    });
    let others: Vec<NodeId> = [N1, N2, N3]
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let (w, p) = (others[0], others[1]);
    cluster.crash(p);
    cluster.propose(leader, "acknowledged");
    cluster.run_until(|c| {
        c.replica(leader).commit() == Slot(2) || c.replica(leader).commit() > Slot(2)
    });
    assert!(cluster
        .applied_commands(leader)
        .contains(&"acknowledged".to_string()));

    cluster.wipe(w);
    cluster.crash(leader);
    cluster.restart(p);
    cluster.restart(w);
    assert!(cluster.replica(w).is_recovering());
    run(&mut cluster, 300);
    assert_eq!(cluster.leader(), None, "P and an amnesiac are not a quorum");
    assert!(
        !cluster.applied_commands(p).iter().any(|c| c != "warm-up"),
        "nothing else chosen: {:?}",
        cluster.applied_commands(p)
    );

    cluster.restart(leader);
    cluster.run_until(|c| {
        [N1, N2, N3]
            .iter()
            .all(|id| !c.replica(*id).is_recovering() && c.replica(*id).commit() >= Slot(2))
    });
    // The harness checks that no slot ever got two decrees; P learned the
    // acknowledged one.
    cluster.run_until(|c| c.applied_commands(p).contains(&"acknowledged".to_string()));
}

/// While the rest of the cluster runs, a wiped member is a learner: it
/// casts no vote until every member promised one ballot, then recovers.
#[test]
fn a_wiped_member_recovers_while_the_cluster_keeps_running() {
    let mut cluster = Cluster::recovering(3, 5);
    let leader = cluster.elect();
    let w = [N1, N2, N3].into_iter().find(|id| *id != leader).unwrap();
    for i in 0..5 {
        cluster.propose(leader, &format!("before-{i}"));
    }
    cluster.run_until(|c| c.applied_commands(w).len() == 5);
    cluster.wipe(w);
    cluster.restart(w);
    assert!(cluster.replica(w).is_recovering());
    let leader = cluster.elect();
    cluster.propose(leader, "after");
    cluster.run_until(|c| {
        !c.replica(w).is_recovering() && c.applied_commands(w).contains(&"after".to_string())
    });
}
