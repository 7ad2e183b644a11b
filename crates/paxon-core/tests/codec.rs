//! The codec: exact bytes of the format, round trips of every variant, and
//! totality on arbitrary and corrupted input.

use bytes::Bytes;
use paxon_core::codec::{
    decode_message, decode_message_bytes, decode_record, decode_record_bytes, encode_message,
    encode_record, DecodeError, CODEC_VERSION,
};
use paxon_core::message::{Message, Vote};
use paxon_core::record::Record;
use paxon_core::types::{Ballot, Batch, Entry, NodeId, Slot, Value};
use paxon_core::Membership;
use proptest::prelude::*;
use proptest::sample::Index;

fn batch(commands: &[&'static [u8]]) -> Value {
    Value::Batch(Batch::new(
        commands.iter().map(|c| Bytes::from_static(c)).collect(),
    ))
}

fn ballot(round: u64, node: u64) -> Ballot {
    Ballot::new(round, NodeId(node))
}

fn encoded(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode_message(msg, &mut out);
    out
}

fn encoded_record(rec: &Record) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    let kind = encode_record(rec, &mut out);
    (kind, out)
}

/// One message of every variant, in tag order.
fn message_examples() -> Vec<Message> {
    vec![
        Message::Prepare {
            ballot: ballot(4, 2),
            from_slot: Slot(17),
        },
        Message::Promise {
            ballot: ballot(4, 2),
            from_slot: Slot(17),
            log_start: Slot(10),
            commit: Slot(16),
            votes: vec![
                Vote {
                    slot: Slot(17),
                    entry: Entry {
                        ballot: ballot(3, 1),
                        value: batch(&[b"put a 1", b"put b 2"]),
                        chosen: true,
                    },
                },
                Vote {
                    slot: Slot(19),
                    entry: Entry {
                        ballot: ballot(2, 3),
                        value: Value::Noop,
                        chosen: false,
                    },
                },
            ],
            amnesia: 0,
        },
        Message::Accept {
            ballot: ballot(4, 2),
            first_slot: Slot(17),
            values: vec![batch(&[b"put a 1"]), Value::Noop, batch(&[b""])],
            commit: Slot(16),
        },
        Message::Accepted {
            ballot: ballot(4, 2),
            first_slot: Slot(17),
            count: 3,
        },
        Message::Nack {
            ballot: ballot(4, 2),
            promised: ballot(5, 3),
        },
        Message::Heartbeat {
            ballot: ballot(4, 2),
            commit: Slot(19),
            read_seq: 99,
        },
        Message::HeartbeatAck {
            ballot: ballot(4, 2),
            read_seq: 99,
            amnesia: 77,
        },
        Message::CatchUp {
            from_slot: Slot(12),
        },
        Message::Learn {
            first_slot: Slot(12),
            entries: vec![(ballot(1, 1), Value::Noop), (ballot(4, 2), batch(&[b"x"]))],
        },
        Message::Recovered {
            ballot: ballot(4, 2),
            through: Slot(30),
            amnesiacs: vec![(NodeId(1), 77), (NodeId(3), u64::MAX)],
        },
    ]
}

/// One record of every variant, in kind order.
fn record_examples() -> Vec<Record> {
    vec![
        Record::Promise {
            ballot: ballot(4, 2),
        },
        Record::Vote {
            slot: Slot(17),
            ballot: ballot(4, 2),
            value: batch(&[b"put a 1", b"put b 2"]),
        },
        Record::Chosen {
            slot: Slot(18),
            ballot: ballot(3, 1),
            value: Value::Noop,
        },
        Record::Commit { slot: Slot(18) },
        Record::Snapshot { slot: Slot(10) },
        Record::Amnesiac { disk: 77 },
        Record::Recovered,
        Record::Vouch {
            node: NodeId(3),
            disk: 77,
            ballot: ballot(4, 2),
            through: Slot(30),
        },
    ]
}

#[test]
fn accept_encodes_to_exact_golden_bytes() {
    let msg = Message::Accept {
        ballot: ballot(3, 2),
        first_slot: Slot(300),
        values: vec![Value::Noop, batch(&[b"ab", b""])],
        commit: Slot(299),
    };
    let golden = [
        0x01, // version
        0x03, // tag Accept
        0x03, 0x02, // ballot round 3, node 2
        0xAC, 0x02, // first_slot 300
        0x02, // 2 values
        0x00, // Noop
        0x01, 0x02, // Batch of 2 commands
        0x02, b'a', b'b', // "ab"
        0x00, // ""
        0xAB, 0x02, // commit 299
    ];
    assert_eq!(encoded(&msg), golden);
    assert_eq!(decode_message(&golden), Ok(msg));
}

#[test]
fn promise_encodes_to_exact_golden_bytes() {
    let msg = Message::Promise {
        ballot: ballot(7, 1),
        from_slot: Slot(5),
        log_start: Slot(1),
        commit: Slot(4),
        votes: vec![Vote {
            slot: Slot(5),
            entry: Entry {
                ballot: ballot(6, 3),
                value: batch(&[b"x"]),
                chosen: true,
            },
        }],
        amnesia: 300,
    };
    let golden = [
        0x01, 0x02, // version, tag Promise
        0x07, 0x01, // ballot
        0x05, 0x01, 0x04, // from_slot, log_start, commit
        0x01, // 1 vote
        0x05, 0x06, 0x03, // slot 5, ballot 6.3
        0x01, 0x01, 0x01, b'x', // Batch ["x"]
        0x01, // chosen
        0xAC, 0x02, // amnesia 300
    ];
    assert_eq!(encoded(&msg), golden);
    assert_eq!(decode_message(&golden), Ok(msg));
}

#[test]
fn chosen_record_encodes_to_exact_golden_bytes() {
    let rec = Record::Chosen {
        slot: Slot(128),
        ballot: ballot(u64::MAX, 5),
        value: batch(&[b"hi"]),
    };
    let golden = [
        0x01, // version
        0x80, 0x01, // slot 128
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, // round u64::MAX
        0x05, // node 5
        0x01, 0x01, 0x02, b'h', b'i', // Batch ["hi"]
    ];
    assert_eq!(encoded_record(&rec), (3, golden.to_vec()));
    assert_eq!(decode_record(3, &golden), Ok(rec));
}

#[test]
fn every_message_variant_has_its_documented_tag() {
    let tags: Vec<[u8; 2]> = message_examples()
        .iter()
        .map(|msg| {
            let bytes = encoded(msg);
            [bytes[0], bytes[1]]
        })
        .collect();
    let expected: Vec<[u8; 2]> = (1..=10).map(|tag| [CODEC_VERSION, tag]).collect();
    assert_eq!(tags, expected);
}

#[test]
fn every_record_variant_has_its_documented_kind() {
    let kinds: Vec<(u8, u8)> = record_examples()
        .iter()
        .map(|rec| {
            let (kind, payload) = encoded_record(rec);
            (kind, payload[0])
        })
        .collect();
    let expected: Vec<(u8, u8)> = (1..=8).map(|kind| (kind, CODEC_VERSION)).collect();
    assert_eq!(kinds, expected);
}

#[test]
fn every_message_variant_round_trips_through_both_decoders() {
    for msg in message_examples() {
        let bytes = encoded(&msg);
        assert_eq!(decode_message(&bytes), Ok(msg.clone()), "{msg:?}");
        assert_eq!(decode_message_bytes(&Bytes::from(bytes)), Ok(msg));
    }
}

#[test]
fn every_record_variant_round_trips_through_both_decoders() {
    for rec in record_examples() {
        let (kind, payload) = encoded_record(&rec);
        assert_eq!(decode_record(kind, &payload), Ok(rec.clone()), "{rec:?}");
        assert_eq!(decode_record_bytes(kind, &Bytes::from(payload)), Ok(rec));
    }
}

#[test]
fn decode_message_bytes_slices_commands_out_of_the_input() {
    let msg = Message::Accept {
        ballot: ballot(1, 1),
        first_slot: Slot(1),
        values: vec![batch(&[b"command one", b"command two"])],
        commit: Slot(0),
    };
    let buf = Bytes::from(encoded(&msg));
    let Ok(Message::Accept { values, .. }) = decode_message_bytes(&buf) else {
        panic!("the Accept must decode");
    };
    let Value::Batch(batch) = &values[0] else {
        panic!("the value must be a batch");
    };
    let input = buf.as_ptr_range();
    for command in batch.commands() {
        assert!(input.contains(&command.as_ptr()), "{command:?} was copied");
    }
}

/// LEB128 of u64::MAX, 2^60 and 2^62.
const VARINT_U64_MAX: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
const VARINT_2_POW_60: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
const VARINT_2_POW_62: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn huge_counts_and_lengths_fail_as_truncated_without_allocating() {
    let v = CODEC_VERSION;
    // Accept, ballot 1.1, slot 1, then a count of 2^60 values and 10 bytes.
    let accept = cat(&[&[v, 3, 1, 1, 1], VARINT_2_POW_60, &[0; 10]]);
    assert_eq!(decode_message(&accept), Err(truncated(1 << 60, 10)));
    // Promise of 2^62 votes of at least 5 bytes each: the product saturates.
    let promise = cat(&[&[v, 2, 1, 1, 1, 1, 1], VARINT_2_POW_62, &[0]]);
    assert_eq!(decode_message(&promise), Err(truncated(u64::MAX, 1)));
    // Vote records, slot 1, ballot 1.1: a batch that claims 2^60 commands,
    // and one command that claims 2^60 bytes.
    let commands = cat(&[&[v, 1, 1, 1, 1], VARINT_2_POW_60]);
    assert_eq!(decode_record(2, &commands), Err(truncated(1 << 60, 0)));
    let command = cat(&[&[v, 1, 1, 1, 1, 1], VARINT_2_POW_60, &[7]]);
    assert_eq!(decode_record(2, &command), Err(truncated(1 << 60, 1)));
}

#[test]
fn reconfigure_decree_and_membership_record_encode_to_exact_golden_bytes() {
    let ids = |ids: &[u64]| ids.iter().copied().map(NodeId).collect::<Vec<_>>();
    let membership = Membership::new(ids(&[3, 1, 2]), ids(&[4])).unwrap();
    let accept = Message::Accept {
        ballot: Ballot::new(1, NodeId(1)),
        first_slot: Slot(5),
        values: vec![Value::Reconfigure(membership.clone())],
        commit: Slot(4),
    };
    let mut out = Vec::new();
    encode_message(&accept, &mut out);
    let v = CODEC_VERSION;
    assert_eq!(out, [v, 3, 1, 1, 5, 1, 2, 3, 1, 2, 3, 1, 4, 4]);
    assert_eq!(decode_message(&out), Ok(accept));
    let record = Record::Membership {
        from: Slot(69),
        membership,
    };
    let mut payload = Vec::new();
    assert_eq!(encode_record(&record, &mut payload), 9);
    assert_eq!(payload, [v, 69, 3, 1, 2, 3, 1, 4]);
    assert_eq!(decode_record(9, &payload), Ok(record));
}

#[test]
fn malformed_frames_are_rejected_with_the_exact_reason() {
    let v = CODEC_VERSION;
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![], truncated(1, 0)),
        (vec![v], truncated(1, 0)),
        (vec![2, 8, 1], DecodeError::UnknownVersion(2)),
        (vec![0, 0, 0, 0], DecodeError::UnknownVersion(0)),
        (vec![v, 0, 1], DecodeError::UnknownTag(0)),
        (vec![v, 12, 1], DecodeError::UnknownTag(12)),
        (vec![v, 8, 1, 0, 0], DecodeError::TrailingBytes(2)),
        // CatchUp with a cut, an overlong and an overflowing varint.
        (vec![v, 8, 0x81], truncated(1, 0)),
        (
            vec![v, 8, 0x80, 0x00],
            invalid("a varint with redundant zero bytes"),
        ),
        (
            cat(&[&[v, 8], &VARINT_U64_MAX[..9], &[0x02]]),
            invalid("a varint past u64::MAX"),
        ),
        // Accept, ballot 1.1, slot 1, 1 value: an empty batch, or value tag 3.
        (vec![v, 3, 1, 1, 1, 1, 1, 0, 0], invalid("an empty batch")),
        (
            vec![v, 3, 1, 1, 1, 1, 3, 0],
            invalid("an unknown value tag"),
        ),
        // Accept of one Reconfigure: voters out of order, none, or a node
        // both voter and learner.
        (
            vec![v, 3, 1, 1, 1, 1, 2, 2, 2, 1, 0, 0],
            invalid("members not in increasing order"),
        ),
        (
            vec![v, 3, 1, 1, 1, 1, 2, 0, 1, 4, 0],
            invalid("an impossible configuration"),
        ),
        (
            vec![v, 3, 1, 1, 1, 1, 2, 1, 4, 1, 4, 0],
            invalid("an impossible configuration"),
        ),
        // Accept of no values, or from slot 0.
        (vec![v, 3, 1, 1, 1, 0, 0], invalid("an empty run of slots")),
        (
            vec![v, 3, 1, 1, 0, 1, 0, 0],
            invalid("slot 0 holds no decree"),
        ),
        // Accepted of 2 slots from u64::MAX.
        (
            cat(&[&[v, 4, 1, 1], VARINT_U64_MAX, &[2]]),
            invalid("a run of slots past u64::MAX"),
        ),
        // Nack of ballot 1.0.
        (
            vec![v, 5, 1, 0, 1, 1],
            invalid("a ballot of node 0 other than Ballot::ZERO"),
        ),
        // Promise with votes for slot 3 twice, or a chosen flag of 2.
        (
            cat(&[
                &[v, 2, 1, 1, 1, 1, 1, 2],
                &[3, 1, 1, 0, 0],
                &[3, 1, 1, 0, 0],
                &[0],
            ]),
            invalid("votes not in strictly increasing slot order from slot 1"),
        ),
        (
            vec![v, 2, 1, 1, 1, 1, 1, 1, 3, 1, 1, 0, 2],
            invalid("a bool other than 0 or 1"),
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(decode_message(&bytes), Err(error), "{bytes:?}");
    }
}

#[test]
fn malformed_records_are_rejected_with_the_exact_reason() {
    let cases: Vec<(u8, &[u8], DecodeError)> = vec![
        (0, &[0; 8], DecodeError::UnknownKind(0)),
        (10, &[CODEC_VERSION, 1], DecodeError::UnknownKind(10)),
        (4, &[], truncated(1, 0)),
        (4, &[0, 1], DecodeError::UnknownVersion(0)),
        (4, &[CODEC_VERSION, 1, 1], DecodeError::TrailingBytes(1)),
        (
            2,
            &[CODEC_VERSION, 0, 1, 1, 0],
            invalid("slot 0 holds no decree"),
        ),
        (
            3,
            &[CODEC_VERSION, 1, 1, 1, 1, 0],
            invalid("an empty batch"),
        ),
        (
            1,
            &[CODEC_VERSION, 9, 0],
            invalid("a ballot of node 0 other than Ballot::ZERO"),
        ),
    ];
    for (kind, payload, error) in cases {
        assert_eq!(
            decode_record(kind, payload),
            Err(error),
            "{kind} {payload:?}"
        );
    }
}

#[test]
fn ballot_zero_and_extreme_values_round_trip() {
    let msg = Message::Nack {
        ballot: Ballot::ZERO,
        promised: ballot(u64::MAX, u64::MAX),
    };
    assert_eq!(decode_message(&encoded(&msg)), Ok(msg));
    let msg = Message::Accepted {
        ballot: ballot(0, 1),
        first_slot: Slot(u64::MAX),
        count: 1,
    };
    assert_eq!(decode_message(&encoded(&msg)), Ok(msg));
}

#[test]
#[should_panic(expected = "encoding an impossible Accept message: an empty run of slots")]
fn encoding_an_accept_without_values_panics() {
    let msg = Message::Accept {
        ballot: ballot(1, 1),
        first_slot: Slot(1),
        values: vec![],
        commit: Slot(0),
    };
    encoded(&msg);
}

#[test]
fn decode_error_messages_name_the_problem() {
    assert_eq!(
        truncated(5, 2).to_string(),
        "input truncated: at least 5 more bytes needed, 2 left"
    );
    assert_eq!(
        DecodeError::UnknownVersion(9).to_string(),
        "unknown codec version 9 (this build speaks version 1)"
    );
}

fn truncated(needed: u64, remaining: usize) -> DecodeError {
    DecodeError::Truncated { needed, remaining }
}

fn invalid(reason: &'static str) -> DecodeError {
    DecodeError::Invalid(reason)
}

// ---- properties ----

/// Small numbers (1- and 2-byte varints) as often as arbitrary ones.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![0..300u64, any::<u64>()]
}

fn node() -> impl Strategy<Value = NodeId> {
    prop_oneof![1..8u64, 1..=u64::MAX].prop_map(NodeId)
}

fn decree_slot() -> impl Strategy<Value = Slot> {
    prop_oneof![1..300u64, 1..=u64::MAX].prop_map(Slot)
}

fn arb_ballot() -> impl Strategy<Value = Ballot> {
    prop_oneof![
        1 => Just(Ballot::ZERO),
        9 => (number(), node()).prop_map(|(round, node)| Ballot { round, node }),
    ]
}

fn arb_membership() -> impl Strategy<Value = Membership> {
    (
        prop::collection::btree_set(node(), 1..6),
        prop::collection::btree_set(node(), 0..3),
    )
        .prop_map(|(voters, learners)| {
            let learners = learners.difference(&voters).copied().collect();
            Membership::new(voters.into_iter().collect(), learners).expect("valid")
        })
}

fn arb_value() -> impl Strategy<Value = Value> {
    let command = prop::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from);
    prop_oneof![
        1 => Just(Value::Noop),
        3 => prop::collection::vec(command, 1..5).prop_map(|c| Value::Batch(Batch::new(c))),
        1 => arb_membership().prop_map(Value::Reconfigure),
    ]
}

/// A first slot for `len` consecutive slots that do not run past u64::MAX.
fn run_start(first: Slot, len: usize) -> Slot {
    Slot(first.0.min(u64::MAX - (len as u64 - 1)))
}

fn arb_votes() -> impl Strategy<Value = Vec<Vote>> {
    let entry =
        (arb_ballot(), arb_value(), any::<bool>()).prop_map(|(ballot, value, chosen)| Entry {
            ballot,
            value,
            chosen,
        });
    prop::collection::btree_map(decree_slot(), entry, 0..5).prop_map(|votes| {
        votes
            .into_iter()
            .map(|(slot, entry)| Vote { slot, entry })
            .collect()
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    let slot = || number().prop_map(Slot);
    prop_oneof![
        (arb_ballot(), slot())
            .prop_map(|(ballot, from_slot)| Message::Prepare { ballot, from_slot }),
        (arb_ballot(), slot(), slot(), slot(), arb_votes(), number()).prop_map(
            |(ballot, from_slot, log_start, commit, votes, amnesia)| Message::Promise {
                ballot,
                from_slot,
                log_start,
                commit,
                votes,
                amnesia,
            }
        ),
        (
            arb_ballot(),
            decree_slot(),
            prop::collection::vec(arb_value(), 1..5),
            slot()
        )
            .prop_map(|(ballot, first, values, commit)| Message::Accept {
                ballot,
                first_slot: run_start(first, values.len()),
                values,
                commit,
            }),
        (arb_ballot(), decree_slot(), 1..=u64::MAX).prop_map(|(ballot, first, count)| {
            Message::Accepted {
                ballot,
                first_slot: Slot(first.0.min(u64::MAX - (count - 1))),
                count,
            }
        }),
        (arb_ballot(), arb_ballot())
            .prop_map(|(ballot, promised)| Message::Nack { ballot, promised }),
        (arb_ballot(), slot(), number()).prop_map(|(ballot, commit, read_seq)| {
            Message::Heartbeat {
                ballot,
                commit,
                read_seq,
            }
        }),
        (arb_ballot(), number(), number()).prop_map(|(ballot, read_seq, amnesia)| {
            Message::HeartbeatAck {
                ballot,
                read_seq,
                amnesia,
            }
        }),
        (
            arb_ballot(),
            slot(),
            prop::collection::vec((1..=u64::MAX, 1..=u64::MAX), 0..4)
        )
            .prop_map(|(ballot, through, amnesiacs)| Message::Recovered {
                ballot,
                through,
                amnesiacs: amnesiacs
                    .into_iter()
                    .map(|(node, disk)| (NodeId(node), disk))
                    .collect(),
            }),
        slot().prop_map(|from_slot| Message::CatchUp { from_slot }),
        (arb_ballot(), slot()).prop_map(|(ballot, commit)| Message::Progress { ballot, commit }),
        (
            decree_slot(),
            prop::collection::vec((arb_ballot(), arb_value()), 1..5)
        )
            .prop_map(|(first, entries)| Message::Learn {
                first_slot: run_start(first, entries.len()),
                entries,
            }),
    ]
}

fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        arb_ballot().prop_map(|ballot| Record::Promise { ballot }),
        (decree_slot(), arb_ballot(), arb_value()).prop_map(|(slot, ballot, value)| Record::Vote {
            slot,
            ballot,
            value,
        }),
        (decree_slot(), arb_ballot(), arb_value()).prop_map(|(slot, ballot, value)| {
            Record::Chosen {
                slot,
                ballot,
                value,
            }
        }),
        number().prop_map(|slot| Record::Commit { slot: Slot(slot) }),
        number().prop_map(|slot| Record::Snapshot { slot: Slot(slot) }),
        (1..=u64::MAX).prop_map(|disk| Record::Amnesiac { disk }),
        Just(Record::Recovered),
        (1..=u64::MAX, 1..=u64::MAX, arb_ballot(), number()).prop_map(
            |(node, disk, ballot, through)| Record::Vouch {
                node: NodeId(node),
                disk,
                ballot,
                through: Slot(through),
            }
        ),
        (decree_slot(), arb_membership())
            .prop_map(|(from, membership)| Record::Membership { from, membership }),
    ]
}

/// One corruption of an encoding: overwrite, insert or delete a byte, or cut
/// the tail.
#[derive(Clone, Debug)]
enum Mutation {
    Overwrite(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        let len = bytes.len();
        if len == 0 {
            return;
        }
        match mutation {
            Mutation::Overwrite(at, byte) => bytes[at.index(len)] = *byte,
            Mutation::Insert(at, byte) => bytes.insert(at.index(len + 1), *byte),
            Mutation::Delete(at) => {
                bytes.remove(at.index(len));
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(len)),
        }
    }
}

/// Decoding never panics, and whatever it accepts is the one canonical
/// encoding of what it returns.
fn assert_message_decode_is_total_and_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    let decoded = decode_message(bytes);
    prop_assert_eq!(
        &decode_message_bytes(&Bytes::copy_from_slice(bytes)),
        &decoded
    );
    if let Ok(msg) = decoded {
        prop_assert_eq!(encoded(&msg), bytes);
    }
    Ok(())
}

fn assert_record_decode_is_total_and_canonical(
    kind: u8,
    payload: &[u8],
) -> Result<(), TestCaseError> {
    let decoded = decode_record(kind, payload);
    let copy = Bytes::copy_from_slice(payload);
    prop_assert_eq!(&decode_record_bytes(kind, &copy), &decoded);
    if let Ok(rec) = decoded {
        prop_assert_eq!(encoded_record(&rec), (kind, payload.to_vec()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_message_round_trips(msg in arb_message()) {
        let bytes = encoded(&msg);
        prop_assert_eq!(decode_message(&bytes), Ok(msg.clone()));
        prop_assert_eq!(decode_message_bytes(&Bytes::from(bytes)), Ok(msg));
    }

    #[test]
    fn every_record_round_trips(rec in arb_record()) {
        let (kind, payload) = encoded_record(&rec);
        prop_assert_eq!(decode_record(kind, &payload), Ok(rec.clone()));
        prop_assert_eq!(decode_record_bytes(kind, &Bytes::from(payload)), Ok(rec));
    }

    #[test]
    fn encoding_appends_to_what_the_buffer_holds(msg in arb_message(), prefix in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut out = prefix.clone();
        encode_message(&msg, &mut out);
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&out[prefix.len()..], &encoded(&msg)[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_message_decoder(
        tag in 0..=10u8,
        body in prop::collection::vec(any::<u8>(), 0..48),
        raw in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut framed = vec![CODEC_VERSION, tag];
        framed.extend_from_slice(&body);
        assert_message_decode_is_total_and_canonical(&framed)?;
        assert_message_decode_is_total_and_canonical(&raw)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_record_decoder(
        kind in 0..=6u8,
        body in prop::collection::vec(any::<u8>(), 0..32),
        raw in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut payload = vec![CODEC_VERSION];
        payload.extend_from_slice(&body);
        assert_record_decode_is_total_and_canonical(kind, &payload)?;
        assert_record_decode_is_total_and_canonical(kind, &raw)?;
    }

    #[test]
    fn corrupted_messages_never_panic_the_decoder(
        msg in arb_message(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut bytes = encoded(&msg);
        mutate(&mut bytes, &mutations);
        assert_message_decode_is_total_and_canonical(&bytes)?;
    }

    #[test]
    fn corrupted_records_never_panic_the_decoder(
        rec in arb_record(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let (kind, mut payload) = encoded_record(&rec);
        mutate(&mut payload, &mutations);
        assert_record_decode_is_total_and_canonical(kind, &payload)?;
    }
}

#[test]
fn a_record_list_round_trips_and_leaves_what_follows() {
    use paxon_core::codec::{decode_records, encode_records};
    use paxon_core::{Ballot, NodeId, Record, Slot};
    let records = vec![
        Record::Snapshot { slot: Slot(9) },
        Record::Commit { slot: Slot(9) },
        Record::Promise {
            ballot: Ballot::new(4, NodeId(2)),
        },
    ];
    let mut bytes = Vec::new();
    encode_records(&records, &mut bytes);
    bytes.extend_from_slice(b"state");
    let (decoded, rest) = decode_records(&bytes).unwrap();
    assert_eq!(decoded, records);
    assert_eq!(rest, b"state");
    assert!(
        decode_records(&bytes[..7]).is_err(),
        "a cut list is an error"
    );
    assert!(
        decode_records(&[0xff, 0xff, 0xff, 0xff]).is_err(),
        "a huge count with nothing after"
    );
}
