//! The binary encoding of [`Message`]s (between replicas) and [`Record`]s
//! (in the ledger), version [`CODEC_VERSION`].
//!
//! Encoding appends to a caller's `Vec<u8>` and allocates nothing else.
//! Decoding is total: any input yields a value or a [`DecodeError`], never a
//! panic, and never allocates more than a constant times the input's length.
//! The `_bytes` decoders hand out commands as zero-copy slices of the input.
//! The encoding is canonical: every value has exactly one encoding, and
//! decoding accepts nothing else, so `encode(decode(b)?) == b`.
//!
//! # Wire format, version 1
//!
//! | item | encoding |
//! |---|---|
//! | `u8` | one byte |
//! | `u64`, [`Slot`] | unsigned LEB128 varint, 1–10 bytes, minimal (no redundant zero groups) |
//! | `bool` | `u8`: 0 or 1 |
//! | [`Ballot`] | `round` u64, `node` u64 |
//! | `Bytes` | `len` u64, then `len` bytes |
//! | `Vec<T>` | `count` u64, then `count` × `T` |
//! | [`Value`] | `u8` 0 = `Noop`; `u8` 1 = `Batch`: `Vec<Bytes>` with `count` ≥ 1; `u8` 2 = `Reconfigure`: a [`Membership`] |
//! | [`Membership`] | `voters`: `Vec<u64>` (≥ 1), `learners`: `Vec<u64>`, each strictly increasing, disjoint, no 0 |
//! | [`Vote`] | `slot`, `entry.ballot`, `entry.value`, `entry.chosen` bool |
//!
//! A message is `[CODEC_VERSION u8][tag u8][fields]`, the fields in the
//! order the variant declares them:
//!
//! | tag | message | fields |
//! |---|---|---|
//! | 1 | `Prepare` | `ballot`, `from_slot` |
//! | 2 | `Promise` | `ballot`, `from_slot`, `log_start`, `commit`, `votes`: `Vec<Vote>`, `amnesia` u64 |
//! | 3 | `Accept` | `ballot`, `first_slot`, `values`: `Vec<Value>`, `commit` |
//! | 4 | `Accepted` | `ballot`, `first_slot`, `count` u64 |
//! | 5 | `Nack` | `ballot`, `promised` |
//! | 6 | `Heartbeat` | `ballot`, `commit`, `read_seq` u64 |
//! | 7 | `HeartbeatAck` | `ballot`, `read_seq` u64, `amnesia` u64 |
//! | 8 | `CatchUp` | `from_slot` |
//! | 9 | `Learn` | `first_slot`, `entries`: `Vec<(Ballot, Value)>` |
//! | 10 | `Recovered` | `ballot`, `through`, `amnesiacs`: `Vec<(node u64, disk u64)>` |
//! | 11 | `Progress` | `ballot`, `commit` |
//!
//! A record's payload is `[CODEC_VERSION u8][fields]`; its kind byte travels
//! beside it in the ledger's frame `[length][crc32c][kind][payload]`:
//!
//! | kind | record | fields |
//! |---|---|---|
//! | 1 | `Promise` | `ballot` |
//! | 2 | `Vote` | `slot`, `ballot`, `value` |
//! | 3 | `Chosen` | `slot`, `ballot`, `value` |
//! | 4 | `Commit` | `slot` |
//! | 5 | `Snapshot` | `slot` |
//! | 6 | `Amnesiac` | `disk` u64 |
//! | 7 | `Recovered` | none |
//! | 8 | `Vouch` | `node` u64, `disk` u64, `ballot`, `through` |
//! | 9 | `Membership` | `from`, `membership` |
//!
//! Tag and kind 0 are never used, so zeroed bytes never decode.
//!
//! # What decoding rejects
//!
//! Beyond malformed bytes (truncation, trailing bytes, unknown version, tag
//! or kind, non-minimal varints, a `bool` other than 0 or 1), decoding
//! rejects what the types promise cannot exist, and encoding asserts the
//! same rules (a replica that builds such a message has a bug):
//!
//! - an empty `Batch`;
//! - a run of slots (`Accept`, `Accepted`, `Learn`) that is empty, starts at
//!   slot 0, or runs past `u64::MAX`;
//! - a vote or a `Vote`/`Chosen` record for slot 0, or `Promise` votes not in
//!   strictly increasing slot order;
//! - a ballot of node 0 other than [`Ballot::ZERO`] (`NodeId(0)` is never a
//!   replica).

use bytes::Bytes;
use thiserror::Error;

use crate::membership::Membership;
use crate::message::{Message, Vote};
use crate::record::Record;
use crate::types::{Ballot, Batch, Entry, NodeId, Slot, Value};

/// The version byte that starts every encoded message and record payload.
pub const CODEC_VERSION: u8 = 1;

/// Message tags, the second byte of a message.
mod tag {
    pub const PREPARE: u8 = 1;
    pub const PROMISE: u8 = 2;
    pub const ACCEPT: u8 = 3;
    pub const ACCEPTED: u8 = 4;
    pub const NACK: u8 = 5;
    pub const HEARTBEAT: u8 = 6;
    pub const HEARTBEAT_ACK: u8 = 7;
    pub const CATCH_UP: u8 = 8;
    pub const LEARN: u8 = 9;
    pub const RECOVERED: u8 = 10;
    pub const PROGRESS: u8 = 11;
}

/// Record kinds, the byte the ledger frames beside each payload.
mod kind {
    pub const PROMISE: u8 = 1;
    pub const VOTE: u8 = 2;
    pub const CHOSEN: u8 = 3;
    pub const COMMIT: u8 = 4;
    pub const SNAPSHOT: u8 = 5;
    pub const AMNESIAC: u8 = 6;
    pub const RECOVERED: u8 = 7;
    pub const VOUCH: u8 = 8;
    pub const MEMBERSHIP: u8 = 9;
}

/// `Value` tags.
const VALUE_NOOP: u8 = 0;
const VALUE_BATCH: u8 = 1;
const VALUE_RECONFIGURE: u8 = 2;

/// Fewest bytes one encoded item can take: a length-prefixed command, a
/// `Value` (a `Noop`), a `Vote`, a `Learn` entry. A count is checked against
/// `count × minimum ≤ remaining input` before anything is allocated.
const COMMAND_BYTES_MIN: u64 = 1;
const VALUE_BYTES_MIN: u64 = 1;
const VOTE_BYTES_MIN: u64 = 5;
const LEARN_ENTRY_BYTES_MIN: u64 = 3;

/// Longest LEB128 encoding of a `u64`: ⌈64 / 7⌉ bytes.
const VARINT_BYTES_MAX: usize = 10;

/// Why bytes could not be decoded. Input from the network or the disk is
/// validated, never trusted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    #[error("input truncated: at least {needed} more bytes needed, {remaining} left")]
    Truncated {
        /// Bytes the next item needs at least.
        needed: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// The version byte is not [`CODEC_VERSION`].
    #[error("unknown codec version {0} (this build speaks version {CODEC_VERSION})")]
    UnknownVersion(u8),
    /// The message tag names no message.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// The record kind names no record.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// Bytes follow a complete message or record.
    #[error("{0} trailing bytes after the end")]
    TrailingBytes(usize),
    /// The bytes are well-formed but describe something that cannot exist.
    #[error("invalid encoding: {0}")]
    Invalid(&'static str),
}

/// Appends the encoding of `msg` to `out`.
///
/// # Panics
///
/// If `msg` breaks a rule that decoding enforces (see the module doc): a
/// replica never builds such a message.
pub fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    if let Err(reason) = validate_message(msg) {
        panic!("encoding an impossible {} message: {reason}", msg.kind());
    }
    out.push(CODEC_VERSION);
    out.push(message_tag(msg));
    put_message_fields(out, msg);
}

/// The fields of `msg`, in the order its variant declares them.
fn put_message_fields(out: &mut Vec<u8>, msg: &Message) {
    match msg {
        Message::Prepare { ballot, from_slot } => {
            put_ballot(out, *ballot);
            put_slot(out, *from_slot);
        }
        Message::Promise {
            ballot,
            from_slot,
            log_start,
            commit,
            votes,
            amnesia,
        } => {
            put_ballot(out, *ballot);
            put_slot(out, *from_slot);
            put_slot(out, *log_start);
            put_slot(out, *commit);
            put_len(out, votes.len());
            for vote in votes {
                put_vote(out, vote);
            }
            put_u64(out, *amnesia);
        }
        Message::Accept {
            ballot,
            first_slot,
            values,
            commit,
        } => {
            put_ballot(out, *ballot);
            put_slot(out, *first_slot);
            put_len(out, values.len());
            for value in values {
                put_value(out, value);
            }
            put_slot(out, *commit);
        }
        Message::Accepted {
            ballot,
            first_slot,
            count,
        } => {
            put_ballot(out, *ballot);
            put_slot(out, *first_slot);
            put_u64(out, *count);
        }
        Message::Nack { ballot, promised } => {
            put_ballot(out, *ballot);
            put_ballot(out, *promised);
        }
        Message::Heartbeat {
            ballot,
            commit,
            read_seq,
        } => {
            put_ballot(out, *ballot);
            put_slot(out, *commit);
            put_u64(out, *read_seq);
        }
        Message::HeartbeatAck {
            ballot,
            read_seq,
            amnesia,
        } => {
            put_ballot(out, *ballot);
            put_u64(out, *read_seq);
            put_u64(out, *amnesia);
        }
        Message::CatchUp { from_slot } => put_slot(out, *from_slot),
        Message::Learn {
            first_slot,
            entries,
        } => {
            put_slot(out, *first_slot);
            put_len(out, entries.len());
            for (ballot, value) in entries {
                put_ballot(out, *ballot);
                put_value(out, value);
            }
        }
        Message::Recovered {
            ballot,
            through,
            amnesiacs,
        } => {
            put_ballot(out, *ballot);
            put_slot(out, *through);
            put_len(out, amnesiacs.len());
            for (node, disk) in amnesiacs {
                put_u64(out, node.0);
                put_u64(out, *disk);
            }
        }
        Message::Progress { ballot, commit } => {
            put_ballot(out, *ballot);
            put_slot(out, *commit);
        }
    }
}

fn message_tag(msg: &Message) -> u8 {
    match msg {
        Message::Prepare { .. } => tag::PREPARE,
        Message::Promise { .. } => tag::PROMISE,
        Message::Accept { .. } => tag::ACCEPT,
        Message::Accepted { .. } => tag::ACCEPTED,
        Message::Nack { .. } => tag::NACK,
        Message::Heartbeat { .. } => tag::HEARTBEAT,
        Message::HeartbeatAck { .. } => tag::HEARTBEAT_ACK,
        Message::CatchUp { .. } => tag::CATCH_UP,
        Message::Learn { .. } => tag::LEARN,
        Message::Recovered { .. } => tag::RECOVERED,
        Message::Progress { .. } => tag::PROGRESS,
    }
}

/// Decodes one message from `buf`, copying it once: the commands of the
/// result share that one copy. Prefer [`decode_message_bytes`] when the
/// input is already [`Bytes`].
///
/// # Errors
///
/// A [`DecodeError`] when `buf` is not exactly one message as the module doc
/// describes it.
pub fn decode_message(buf: &[u8]) -> Result<Message, DecodeError> {
    decode_message_bytes(&Bytes::copy_from_slice(buf))
}

/// Decodes one message from `buf` without copying: every command of the
/// result is a [`Bytes::slice`] of `buf`.
///
/// # Errors
///
/// A [`DecodeError`] when `buf` is not exactly one message as the module doc
/// describes it.
pub fn decode_message_bytes(buf: &Bytes) -> Result<Message, DecodeError> {
    let mut r = Reader::new(buf);
    r.version()?;
    // A struct expression evaluates its fields in the order written, which
    // is the wire order.
    let msg = match r.u8()? {
        tag::PREPARE => Message::Prepare {
            ballot: r.ballot()?,
            from_slot: r.slot()?,
        },
        tag::PROMISE => Message::Promise {
            ballot: r.ballot()?,
            from_slot: r.slot()?,
            log_start: r.slot()?,
            commit: r.slot()?,
            votes: r.vec(VOTE_BYTES_MIN, Reader::vote)?,
            amnesia: r.u64()?,
        },
        tag::ACCEPT => Message::Accept {
            ballot: r.ballot()?,
            first_slot: r.slot()?,
            values: r.vec(VALUE_BYTES_MIN, Reader::value)?,
            commit: r.slot()?,
        },
        tag::ACCEPTED => Message::Accepted {
            ballot: r.ballot()?,
            first_slot: r.slot()?,
            count: r.u64()?,
        },
        tag::NACK => Message::Nack {
            ballot: r.ballot()?,
            promised: r.ballot()?,
        },
        tag::HEARTBEAT => Message::Heartbeat {
            ballot: r.ballot()?,
            commit: r.slot()?,
            read_seq: r.u64()?,
        },
        tag::HEARTBEAT_ACK => Message::HeartbeatAck {
            ballot: r.ballot()?,
            read_seq: r.u64()?,
            amnesia: r.u64()?,
        },
        tag::CATCH_UP => Message::CatchUp {
            from_slot: r.slot()?,
        },
        tag::LEARN => Message::Learn {
            first_slot: r.slot()?,
            entries: r.vec(LEARN_ENTRY_BYTES_MIN, |r| Ok((r.ballot()?, r.value()?)))?,
        },
        tag::RECOVERED => Message::Recovered {
            ballot: r.ballot()?,
            through: r.slot()?,
            amnesiacs: r.vec(2, |r| Ok((NodeId(r.u64()?), r.u64()?)))?,
        },
        tag::PROGRESS => Message::Progress {
            ballot: r.ballot()?,
            commit: r.slot()?,
        },
        other => return Err(DecodeError::UnknownTag(other)),
    };
    r.finish()?;
    validate_message(&msg).map_err(DecodeError::Invalid)?;
    Ok(msg)
}

/// Appends the payload of `rec` to `out` and returns the record's kind byte,
/// which the ledger stores beside the payload.
///
/// # Panics
///
/// If `rec` breaks a rule that decoding enforces (see the module doc).
pub fn encode_record(rec: &Record, out: &mut Vec<u8>) -> u8 {
    if let Err(reason) = validate_record(rec) {
        panic!("encoding an impossible record {rec:?}: {reason}");
    }
    out.push(CODEC_VERSION);
    match rec {
        Record::Promise { ballot } => {
            put_ballot(out, *ballot);
            kind::PROMISE
        }
        Record::Vote {
            slot,
            ballot,
            value,
        } => {
            put_slot(out, *slot);
            put_ballot(out, *ballot);
            put_value(out, value);
            kind::VOTE
        }
        Record::Chosen {
            slot,
            ballot,
            value,
        } => {
            put_slot(out, *slot);
            put_ballot(out, *ballot);
            put_value(out, value);
            kind::CHOSEN
        }
        Record::Commit { slot } => {
            put_slot(out, *slot);
            kind::COMMIT
        }
        Record::Snapshot { slot } => {
            put_slot(out, *slot);
            kind::SNAPSHOT
        }
        Record::Amnesiac { disk } => {
            put_u64(out, *disk);
            kind::AMNESIAC
        }
        Record::Recovered => kind::RECOVERED,
        Record::Vouch {
            node,
            disk,
            ballot,
            through,
        } => {
            put_u64(out, node.0);
            put_u64(out, *disk);
            put_ballot(out, *ballot);
            put_slot(out, *through);
            kind::VOUCH
        }
        Record::Membership { from, membership } => {
            put_slot(out, *from);
            put_membership(out, membership);
            kind::MEMBERSHIP
        }
    }
}

/// Decodes the record of kind `kind` from `payload`, copying the payload
/// once: the commands of the result share that one copy. Prefer
/// [`decode_record_bytes`] when the payload is already [`Bytes`].
///
/// # Errors
///
/// A [`DecodeError`] when `kind` and `payload` are not exactly one record as
/// the module doc describes it.
pub fn decode_record(kind: u8, payload: &[u8]) -> Result<Record, DecodeError> {
    decode_record_bytes(kind, &Bytes::copy_from_slice(payload))
}

/// Encodes a list of records as `[u32 LE count]([u8 kind][u32 LE len]
/// [payload])*` — how a driver stores the core's
/// [`crate::Replica::snapshot_records`] inside a snapshot.
pub fn encode_records(records: &[Record], out: &mut Vec<u8>) {
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    let mut payload = Vec::new();
    for record in records {
        payload.clear();
        let kind = encode_record(record, &mut payload);
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
    }
}

/// Decodes a list written by [`encode_records`] at the start of `bytes`;
/// returns the records and the bytes after them.
///
/// # Errors
///
/// A [`DecodeError`] when `bytes` does not start with such a list.
pub fn decode_records(bytes: &[u8]) -> Result<(Vec<Record>, &[u8]), DecodeError> {
    let take = |at: usize, n: usize| {
        bytes.get(at..at + n).ok_or(DecodeError::Truncated {
            needed: n as u64,
            remaining: bytes.len().saturating_sub(at),
        })
    };
    let u32_at = |at: usize| take(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let count = u32_at(0)? as usize;
    let mut at = 4;
    let mut records = Vec::new();
    for _ in 0..count {
        let kind = take(at, 1)?[0];
        let len = u32_at(at + 1)? as usize;
        records.push(decode_record(kind, take(at + 5, len)?)?);
        at += 5 + len;
    }
    Ok((records, &bytes[at..]))
}

/// Decodes the record of kind `kind` from `payload` without copying: every
/// command of the result is a [`Bytes::slice`] of `payload`.
///
/// # Errors
///
/// A [`DecodeError`] when `kind` and `payload` are not exactly one record as
/// the module doc describes it.
pub fn decode_record_bytes(kind: u8, payload: &Bytes) -> Result<Record, DecodeError> {
    type ReadFields = fn(&mut Reader<'_>) -> Result<Record, DecodeError>;
    // The kind is checked before the payload is read, so a zeroed frame
    // reports its kind rather than its version.
    let read_fields: ReadFields = match kind {
        kind::PROMISE => |r| {
            Ok(Record::Promise {
                ballot: r.ballot()?,
            })
        },
        kind::VOTE => |r| {
            Ok(Record::Vote {
                slot: r.slot()?,
                ballot: r.ballot()?,
                value: r.value()?,
            })
        },
        kind::CHOSEN => |r| {
            Ok(Record::Chosen {
                slot: r.slot()?,
                ballot: r.ballot()?,
                value: r.value()?,
            })
        },
        kind::COMMIT => |r| Ok(Record::Commit { slot: r.slot()? }),
        kind::SNAPSHOT => |r| Ok(Record::Snapshot { slot: r.slot()? }),
        kind::AMNESIAC => |r| Ok(Record::Amnesiac { disk: r.u64()? }),
        kind::RECOVERED => |_| Ok(Record::Recovered),
        kind::VOUCH => |r| {
            Ok(Record::Vouch {
                node: NodeId(r.u64()?),
                disk: r.u64()?,
                ballot: r.ballot()?,
                through: r.slot()?,
            })
        },
        kind::MEMBERSHIP => |r| {
            Ok(Record::Membership {
                from: r.slot()?,
                membership: r.membership()?,
            })
        },
        other => return Err(DecodeError::UnknownKind(other)),
    };
    let mut r = Reader::new(payload);
    r.version()?;
    let rec = read_fields(&mut r)?;
    r.finish()?;
    validate_record(&rec).map_err(DecodeError::Invalid)?;
    Ok(rec)
}

/// The rules of the module doc that a whole message must keep.
fn validate_message(msg: &Message) -> Result<(), &'static str> {
    match msg {
        Message::Prepare { ballot, .. }
        | Message::Heartbeat { ballot, .. }
        | Message::HeartbeatAck { ballot, .. }
        | Message::Recovered { ballot, .. }
        | Message::Progress { ballot, .. } => check_ballot(*ballot),
        Message::Promise { ballot, votes, .. } => {
            check_ballot(*ballot)?;
            check_votes(votes)
        }
        Message::Accept {
            ballot,
            first_slot,
            values,
            ..
        } => {
            check_ballot(*ballot)?;
            check_run(*first_slot, values.len() as u64)
        }
        Message::Accepted {
            ballot,
            first_slot,
            count,
        } => {
            check_ballot(*ballot)?;
            check_run(*first_slot, *count)
        }
        Message::Nack { ballot, promised } => {
            check_ballot(*ballot)?;
            check_ballot(*promised)
        }
        Message::CatchUp { .. } => Ok(()),
        Message::Learn {
            first_slot,
            entries,
        } => {
            check_run(*first_slot, entries.len() as u64)?;
            entries
                .iter()
                .try_for_each(|(ballot, _)| check_ballot(*ballot))
        }
    }
}

/// The rules of the module doc that a whole record must keep.
fn validate_record(rec: &Record) -> Result<(), &'static str> {
    match rec {
        Record::Promise { ballot } => check_ballot(*ballot),
        Record::Vote { slot, ballot, .. } | Record::Chosen { slot, ballot, .. } => {
            check_decree_slot(*slot)?;
            check_ballot(*ballot)
        }
        Record::Amnesiac { disk } | Record::Vouch { disk, .. } if *disk == 0 => {
            Err("disk number 0")
        }
        Record::Vouch { node, ballot, .. } => {
            check_ballot(*ballot)?;
            if node.0 == 0 {
                return Err("node 0");
            }
            Ok(())
        }
        Record::Membership { from, .. } => check_decree_slot(*from),
        Record::Commit { .. }
        | Record::Snapshot { .. }
        | Record::Amnesiac { .. }
        | Record::Recovered => Ok(()),
    }
}

/// `NodeId(0)` is never a replica, so only [`Ballot::ZERO`] may name it.
fn check_ballot(ballot: Ballot) -> Result<(), &'static str> {
    if ballot.node == NodeId(0) && ballot != Ballot::ZERO {
        return Err("a ballot of node 0 other than Ballot::ZERO");
    }
    Ok(())
}

/// Slot 0 stands for "before the first decree" and never holds one.
fn check_decree_slot(slot: Slot) -> Result<(), &'static str> {
    if slot == Slot(0) {
        return Err("slot 0 holds no decree");
    }
    Ok(())
}

/// `count` consecutive decree slots from `first`: at least one, none past
/// `u64::MAX`.
fn check_run(first: Slot, count: u64) -> Result<(), &'static str> {
    check_decree_slot(first)?;
    let last_offset = count.checked_sub(1).ok_or("an empty run of slots")?;
    match first.0.checked_add(last_offset) {
        Some(_) => Ok(()),
        None => Err("a run of slots past u64::MAX"),
    }
}

/// A Promise's votes: decree slots in strictly increasing order.
fn check_votes(votes: &[Vote]) -> Result<(), &'static str> {
    let mut previous = Slot(0);
    for vote in votes {
        if vote.slot <= previous {
            return Err("votes not in strictly increasing slot order from slot 1");
        }
        check_ballot(vote.entry.ballot)?;
        previous = vote.slot;
    }
    Ok(())
}

fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    let mut buf = [0u8; VARINT_BYTES_MAX];
    let mut len = 0;
    while value >= 0x80 {
        buf[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    buf[len] = value as u8;
    out.extend_from_slice(&buf[..=len]);
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    put_u64(out, len as u64);
}

fn put_slot(out: &mut Vec<u8>, slot: Slot) {
    put_u64(out, slot.0);
}

fn put_ballot(out: &mut Vec<u8>, ballot: Ballot) {
    put_u64(out, ballot.round);
    put_u64(out, ballot.node.0);
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Noop => out.push(VALUE_NOOP),
        Value::Batch(batch) => {
            out.push(VALUE_BATCH);
            let commands = batch.commands();
            put_len(out, commands.len());
            for command in commands {
                put_len(out, command.len());
                out.extend_from_slice(command);
            }
        }
        Value::Reconfigure(membership) => {
            out.push(VALUE_RECONFIGURE);
            put_membership(out, membership);
        }
    }
}

fn put_membership(out: &mut Vec<u8>, membership: &Membership) {
    for list in [membership.voters(), membership.learners()] {
        put_len(out, list.len());
        for node in list {
            put_u64(out, node.0);
        }
    }
}

fn put_vote(out: &mut Vec<u8>, vote: &Vote) {
    put_slot(out, vote.slot);
    put_ballot(out, vote.entry.ballot);
    put_value(out, &vote.entry.value);
    out.push(u8::from(vote.entry.chosen));
}

/// A cursor over untrusted input. Every read checks the input's length
/// first and fails with [`DecodeError::Truncated`] rather than panic.
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a Bytes) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless at least `needed` bytes remain; `needed` as a `usize`.
    fn need(&self, needed: u64) -> Result<usize, DecodeError> {
        let remaining = self.remaining();
        match usize::try_from(needed) {
            Ok(needed) if needed <= remaining => Ok(needed),
            _ => Err(DecodeError::Truncated { needed, remaining }),
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        let byte = self.buf[self.pos];
        self.pos += 1;
        Ok(byte)
    }

    /// A minimal LEB128 varint of at most [`VARINT_BYTES_MAX`] bytes.
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            if shift == 63 && byte > 1 {
                return Err(DecodeError::Invalid("a varint past u64::MAX"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(DecodeError::Invalid("a varint with redundant zero bytes"));
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("a bool other than 0 or 1")),
        }
    }

    /// A length-prefixed byte string, sliced from the input without a copy.
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u64()?;
        let end = self.pos + self.need(len)?;
        let bytes = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(bytes)
    }

    /// A count of items that each take at least `item_bytes_min` bytes,
    /// checked against the remaining input so that it may size an
    /// allocation.
    fn count(&mut self, item_bytes_min: u64) -> Result<usize, DecodeError> {
        let count = self.u64()?;
        self.need(count.saturating_mul(item_bytes_min))?;
        // Every item takes at least one byte, so `count` fits in turn.
        self.need(count)
    }

    fn vec<T>(
        &mut self,
        item_bytes_min: u64,
        mut read: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.count(item_bytes_min)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(read(self)?);
        }
        Ok(items)
    }

    fn version(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            CODEC_VERSION => Ok(()),
            other => Err(DecodeError::UnknownVersion(other)),
        }
    }

    fn slot(&mut self) -> Result<Slot, DecodeError> {
        Ok(Slot(self.u64()?))
    }

    fn ballot(&mut self) -> Result<Ballot, DecodeError> {
        Ok(Ballot {
            round: self.u64()?,
            node: NodeId(self.u64()?),
        })
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        match self.u8()? {
            VALUE_NOOP => Ok(Value::Noop),
            VALUE_BATCH => {
                let commands = self.vec(COMMAND_BYTES_MIN, Reader::bytes)?;
                if commands.is_empty() {
                    return Err(DecodeError::Invalid("an empty batch"));
                }
                Ok(Value::Batch(Batch::new(commands)))
            }
            VALUE_RECONFIGURE => Ok(Value::Reconfigure(self.membership()?)),
            _ => Err(DecodeError::Invalid("an unknown value tag")),
        }
    }

    /// A configuration: sorted lists (so the encoding stays canonical) that
    /// [`Membership::new`] accepts.
    fn membership(&mut self) -> Result<Membership, DecodeError> {
        let voters = self.vec(1, |r| Ok(NodeId(r.u64()?)))?;
        let learners = self.vec(1, |r| Ok(NodeId(r.u64()?)))?;
        let ascending = |list: &[NodeId]| list.windows(2).all(|w| w[0] < w[1]);
        if !ascending(&voters) || !ascending(&learners) {
            return Err(DecodeError::Invalid("members not in increasing order"));
        }
        Membership::new(voters, learners)
            .map_err(|_| DecodeError::Invalid("an impossible configuration"))
    }

    fn vote(&mut self) -> Result<Vote, DecodeError> {
        Ok(Vote {
            slot: self.slot()?,
            entry: Entry {
                ballot: self.ballot()?,
                value: self.value()?,
                chosen: self.bool()?,
            },
        })
    }

    /// Fails unless the whole input was read.
    fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            trailing => Err(DecodeError::TrailingBytes(trailing)),
        }
    }
}
