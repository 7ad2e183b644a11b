//! Each protocol step of the paper, with exact expected messages and
//! actions.

mod harness;

use bytes::Bytes;
use paxon_core::{
    Action, Ballot, Batch, Config, Entry, Message, NodeId, PersistToken, PersistedState, ReadId,
    Record, Replica, Slot, Value, Vote,
};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn b(round: u64, node: NodeId) -> Ballot {
    Ballot::new(round, node)
}

fn batch(commands: &[&str]) -> Value {
    let commands = commands
        .iter()
        .map(|c| Bytes::copy_from_slice(c.as_bytes()))
        .collect();
    Value::Batch(Batch::new(commands))
}

fn replica(id: NodeId, state: PersistedState) -> Replica {
    let mut config = Config::new(id, vec![N1, N2, N3]);
    config.election_timeout_ticks = 10;
    config.heartbeat_interval_ticks = 2;
    Replica::new(config, state, 7).unwrap()
}

fn drain(replica: &mut Replica) -> Vec<Action> {
    std::iter::from_fn(|| replica.poll()).collect()
}

fn promised_state(ballot: Ballot) -> PersistedState {
    PersistedState::replay(&[Record::Promise { ballot }])
}

#[test]
fn acceptor_that_promised_b2_nacks_accept_at_b1_with_b2() {
    let mut acceptor = replica(N1, promised_state(b(2, N3)));
    drain(&mut acceptor);
    let accept = Message::Accept {
        ballot: b(1, N2),
        first_slot: Slot(1),
        values: vec![batch(&["x"])],
        commit: Slot(0),
    };
    acceptor.handle_message(N2, accept).unwrap();
    let nack = Message::Nack {
        ballot: b(1, N2),
        promised: b(2, N3),
    };
    assert_eq!(
        drain(&mut acceptor),
        vec![Action::Send { to: N2, msg: nack }]
    );
    assert_eq!(
        acceptor.entry(Slot(1)),
        None,
        "a refused Accept changes nothing"
    );
}

#[test]
fn promise_leaves_only_after_its_record_is_durable() {
    let mut acceptor = replica(N1, PersistedState::default());
    let prepare = Message::Prepare {
        ballot: b(1, N2),
        from_slot: Slot(1),
    };
    acceptor.handle_message(N2, prepare).unwrap();
    let persist = Action::Persist {
        token: PersistToken(1),
        records: vec![Record::Promise { ballot: b(1, N2) }],
    };
    assert_eq!(drain(&mut acceptor), vec![persist]);
    acceptor.handle_persisted(PersistToken(1));
    let promise = Message::Promise {
        ballot: b(1, N2),
        from_slot: Slot(1),
        log_start: Slot(1),
        commit: Slot(0),
        votes: vec![],
        amnesia: 0,
    };
    assert_eq!(
        drain(&mut acceptor),
        vec![Action::Send {
            to: N2,
            msg: promise
        }]
    );
}

#[test]
fn promise_reports_every_vote_from_the_asked_slot_on() {
    let records = [
        Record::Vote {
            slot: Slot(1),
            ballot: b(1, N2),
            value: batch(&["a"]),
        },
        Record::Vote {
            slot: Slot(3),
            ballot: b(1, N2),
            value: batch(&["c"]),
        },
    ];
    let mut acceptor = replica(N1, PersistedState::replay(&records));
    drain(&mut acceptor);
    let prepare = Message::Prepare {
        ballot: b(2, N3),
        from_slot: Slot(2),
    };
    acceptor.handle_message(N3, prepare).unwrap();
    acceptor.poll();
    acceptor.handle_persisted(PersistToken(1));
    let vote = Vote {
        slot: Slot(3),
        entry: Entry {
            ballot: b(1, N2),
            value: batch(&["c"]),
            chosen: false,
        },
    };
    let promise = Message::Promise {
        ballot: b(2, N3),
        from_slot: Slot(2),
        log_start: Slot(1),
        commit: Slot(0),
        votes: vec![vote],
        amnesia: 0,
    };
    assert_eq!(
        drain(&mut acceptor),
        vec![Action::Send {
            to: N3,
            msg: promise
        }]
    );
}

#[test]
fn accepted_leaves_only_after_the_vote_is_durable() {
    let mut acceptor = replica(N1, PersistedState::default());
    let accept = Message::Accept {
        ballot: b(1, N2),
        first_slot: Slot(1),
        values: vec![batch(&["x"]), Value::Noop],
        commit: Slot(0),
    };
    acceptor.handle_message(N2, accept).unwrap();
    let actions = drain(&mut acceptor);
    let records = vec![
        Record::Promise { ballot: b(1, N2) },
        Record::Vote {
            slot: Slot(1),
            ballot: b(1, N2),
            value: batch(&["x"]),
        },
        Record::Vote {
            slot: Slot(2),
            ballot: b(1, N2),
            value: Value::Noop,
        },
    ];
    let changed = Action::LeaderChanged {
        leader: Some(N2),
        ballot: b(1, N2),
    };
    let persist = Action::Persist {
        token: PersistToken(1),
        records,
    };
    assert_eq!(actions, vec![changed, persist]);
    acceptor.handle_persisted(PersistToken(1));
    let accepted = Message::Accepted {
        ballot: b(1, N2),
        first_slot: Slot(1),
        count: 2,
    };
    assert_eq!(
        drain(&mut acceptor),
        vec![Action::Send {
            to: N2,
            msg: accepted
        }]
    );
}

#[test]
fn follower_applies_its_vote_when_the_leader_commits_in_the_same_ballot() {
    let mut follower = replica(N1, PersistedState::default());
    let accept = |commit| Message::Accept {
        ballot: b(1, N2),
        first_slot: Slot(1),
        values: vec![batch(&["x"])],
        commit,
    };
    follower.handle_message(N2, accept(Slot(0))).unwrap();
    drain(&mut follower);
    follower.handle_persisted(PersistToken(1));
    drain(&mut follower);
    let heartbeat = Message::Heartbeat {
        ballot: b(1, N2),
        commit: Slot(1),
        read_seq: 5,
    };
    follower.handle_message(N2, heartbeat).unwrap();
    let ack = Message::HeartbeatAck {
        ballot: b(1, N2),
        read_seq: 5,
        amnesia: 0,
    };
    let expected = vec![
        Action::Send { to: N2, msg: ack },
        Action::Apply {
            slot: Slot(1),
            value: batch(&["x"]),
        },
        Action::Persist {
            token: PersistToken(2),
            records: vec![Record::Commit { slot: Slot(1) }],
        },
    ];
    assert_eq!(drain(&mut follower), expected);
    assert_eq!(follower.commit(), Slot(1));
}

#[test]
fn follower_whose_vote_is_from_another_ballot_asks_to_catch_up() {
    let records = [Record::Vote {
        slot: Slot(1),
        ballot: b(1, N3),
        value: batch(&["old"]),
    }];
    let mut follower = replica(N1, PersistedState::replay(&records));
    drain(&mut follower);
    let heartbeat = Message::Heartbeat {
        ballot: b(2, N2),
        commit: Slot(1),
        read_seq: 1,
    };
    follower.handle_message(N2, heartbeat).unwrap();
    let actions = drain(&mut follower);
    let catch_up = Action::Send {
        to: N2,
        msg: Message::CatchUp { from_slot: Slot(1) },
    };
    assert!(actions.contains(&catch_up), "{actions:?}");
    assert_eq!(
        follower.commit(),
        Slot(0),
        "an old vote is not known chosen"
    );
    let learn = Message::Learn {
        first_slot: Slot(1),
        entries: vec![(b(2, N2), batch(&["new"]))],
    };
    follower.handle_message(N2, learn).unwrap();
    let actions = drain(&mut follower);
    let apply = Action::Apply {
        slot: Slot(1),
        value: batch(&["new"]),
    };
    assert!(actions.contains(&apply), "{actions:?}");
}

#[test]
fn catch_up_below_the_snapshot_asks_the_driver_for_the_law_book() {
    let records = [
        Record::Chosen {
            slot: Slot(1),
            ballot: b(1, N1),
            value: batch(&["a"]),
        },
        Record::Commit { slot: Slot(1) },
        Record::Snapshot { slot: Slot(1) },
    ];
    let mut replica = replica(N1, PersistedState::replay(&records));
    drain(&mut replica);
    replica
        .handle_message(N3, Message::CatchUp { from_slot: Slot(1) })
        .unwrap();
    let needed = Action::SnapshotNeeded {
        to: N3,
        snapshot_slot: Slot(1),
    };
    assert_eq!(drain(&mut replica), vec![needed]);
}

#[test]
fn message_from_a_stranger_is_ignored_and_a_forged_ballot_rejected() {
    let mut replica = replica(N1, PersistedState::default());
    drain(&mut replica);
    let prepare = Message::Prepare {
        ballot: b(1, NodeId(9)),
        from_slot: Slot(1),
    };
    // §3.3.6: n9 is in no configuration known here (removed, or added by a
    // decree not learned yet): ignored, not an error.
    assert_eq!(replica.handle_message(NodeId(9), prepare.clone()), Ok(()));
    assert!(replica.handle_message(NodeId(0), prepare.clone()).is_err());
    assert!(
        replica.handle_message(N2, prepare).is_err(),
        "ballot of another node"
    );
    let zero = Message::Accept {
        ballot: b(1, N2),
        first_slot: Slot(0),
        values: vec![Value::Noop],
        commit: Slot(0),
    };
    assert!(replica.handle_message(N2, zero).is_err());
    assert!(replica
        .handle_message(N1, Message::CatchUp { from_slot: Slot(1) })
        .is_err());
    assert_eq!(
        drain(&mut replica),
        vec![],
        "rejected messages change nothing"
    );
    assert_eq!(replica.promised(), Ballot::ZERO);
}

#[test]
fn single_member_cluster_elects_itself_and_commits() {
    let config = Config::new(N1, vec![N1]);
    let mut solo = Replica::new(config, PersistedState::default(), 1).unwrap();
    let mut durable = Vec::new();
    let mut applied = Vec::new();
    for _ in 0..400 {
        solo.handle_tick();
        while let Some(action) = solo.poll() {
            if let Action::Persist { token, records } = action {
                durable.extend(records);
                solo.handle_persisted(token);
            } else if let Action::Apply { slot, value } = action {
                applied.push((slot, value));
            }
        }
        if solo.is_leader() && solo.queued_commands() == 0 && applied.is_empty() {
            solo.propose(Bytes::from_static(b"x")).unwrap();
        }
    }
    assert!(solo.is_leader());
    assert_eq!(applied, vec![(Slot(1), batch(&["x"]))]);
    let read = solo.read_index(ReadId(1));
    assert_eq!(read, Ok(()));
    let actions = drain(&mut solo);
    assert_eq!(
        actions,
        vec![Action::ReadReady {
            id: ReadId(1),
            slot: Slot(1)
        }]
    );
}

#[test]
fn config_validation_names_the_bad_setting() {
    let mut config = Config::new(N1, vec![N1, N2]);
    config.election_timeout_ticks = 3;
    config.heartbeat_interval_ticks = 2;
    let err = config.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid paxon-core config: election_timeout_ticks (3) must be at least twice heartbeat_interval_ticks (2)"
    );
    let mut config = Config::new(NodeId(4), vec![N1, N2]);
    assert_eq!(config.validate(), Ok(()), "a joining replica is in no list");
    config.learners = vec![N2];
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "invalid paxon-core config: initial configuration: n2 appears more than once"
    );
    let config = Config::new(N1, vec![]);
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "invalid paxon-core config: initial configuration: a configuration needs at least one voter"
    );
}

#[test]
fn snapshot_records_replay_to_the_same_durable_state() {
    let records = [
        Record::Promise { ballot: b(3, N2) },
        Record::Chosen {
            slot: Slot(1),
            ballot: b(1, N1),
            value: batch(&["a"]),
        },
        Record::Vote {
            slot: Slot(2),
            ballot: b(2, N2),
            value: batch(&["b"]),
        },
        Record::Vote {
            slot: Slot(3),
            ballot: b(3, N2),
            value: Value::Noop,
        },
        Record::Commit { slot: Slot(1) },
    ];
    let mut replica = replica(N1, PersistedState::replay(&records));
    drain(&mut replica);
    replica.compact(Slot(1));
    let state = PersistedState::replay(&replica.snapshot_records());
    assert_eq!(state.promised, b(3, N2));
    assert_eq!(state.snapshot, Slot(1));
    assert_eq!(state.commit, Slot(1));
    let slots: Vec<(Slot, Ballot, bool)> = state
        .entries
        .iter()
        .map(|(s, e)| (*s, e.ballot, e.chosen))
        .collect();
    assert_eq!(
        slots,
        vec![(Slot(2), b(2, N2), false), (Slot(3), b(3, N2), false)]
    );
}
