//! What members say to each other besides the core's own messages: client
//! requests forwarded to the leader, read indexes asked of it, and
//! snapshots for laggards. Framed and encoded here; never trusted.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use paxon_core::codec::{decode_message_bytes, encode_message, DecodeError};
use paxon_core::{Membership, Message, NodeId, Slot};

use crate::reconfig::MemberChange;
use crate::seat::{self, SeatError};

/// One frame on a peer connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerFrame {
    /// A message of the Paxos core.
    Core(Message),
    /// A follower asks the leader to propose `command` (its own request
    /// `id`); the follower answers its client when it applies the command.
    Forward {
        /// The follower's request id.
        id: u64,
        /// The encoded command, origin included.
        command: Bytes,
    },
    /// The leader could not propose a forwarded command (or give a read
    /// index): the follower should send its client elsewhere.
    Rejected {
        /// The follower's request id.
        id: u64,
        /// The leader as the sender knows it.
        leader: Option<NodeId>,
    },
    /// A follower asks the leader for a read index.
    ReadIndex {
        /// The follower's read id.
        id: u64,
    },
    /// The read index: the follower may serve the read once it applied
    /// `slot`.
    ReadIndexReady {
        /// The follower's read id.
        id: u64,
        /// The read index.
        slot: Slot,
    },
    /// A piece of the state machine through `slot` (§3.3.2, the law
    /// book), sent to a laggard (`crate::catchup`).
    SnapshotChunk {
        /// The last slot the snapshot includes.
        slot: Slot,
        /// The snapshot's length.
        total: u64,
        /// crc32c of the whole snapshot.
        crc: u32,
        /// Where this chunk starts.
        offset: u64,
        /// The chunk.
        data: Bytes,
    },
    /// The receiver holds `received` bytes of the snapshot at `slot`, in
    /// order (all of them: done).
    SnapshotAck {
        /// The snapshot's slot.
        slot: Slot,
        /// Bytes held.
        received: u64,
    },
    /// A round-trip probe (`crate::probe`): echo the stamp back.
    Probe {
        /// The sender's clock.
        sent_ns: u64,
    },
    /// The echo of a `Probe`.
    ProbeReply {
        /// The stamp of the probe.
        sent_ns: u64,
    },
    /// A follower asks the leader for a configuration change (its own
    /// request `id`): etcd lets any member take `member add|remove|…`.
    Reconfigure {
        /// The follower's request id.
        id: u64,
        /// The change.
        change: MemberChange,
    },
    /// The leader's answer once the change was applied there, or why it
    /// was refused (`crate::reconfig::refusal_code`).
    Reconfigured {
        /// The follower's request id.
        id: u64,
        /// The configuration made, or the refusal.
        outcome: Result<Membership, u8>,
    },
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The core message inside did not decode.
    #[error("bad core message: {0}")]
    Core(#[from] DecodeError),
    /// The frame is shorter than its fields.
    #[error("truncated frame")]
    Truncated,
    /// An unknown frame tag.
    #[error("unknown frame tag {0}")]
    UnknownTag(u8),
    /// A field does not decode.
    #[error("{0}")]
    Malformed(#[from] SeatError),
}

const TAG_CORE: u8 = 1;
const TAG_FORWARD: u8 = 2;
const TAG_REJECTED: u8 = 3;
const TAG_READ_INDEX: u8 = 4;
const TAG_READ_INDEX_READY: u8 = 5;
const TAG_SNAPSHOT_CHUNK: u8 = 7;
const TAG_SNAPSHOT_ACK: u8 = 8;
const TAG_PROBE: u8 = 20;
const TAG_PROBE_REPLY: u8 = 21;
const TAG_RECONFIGURE: u8 = 30;
const TAG_RECONFIGURED: u8 = 31;

impl PeerFrame {
    /// Encodes the frame body (the transport adds the length).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            PeerFrame::Core(msg) => {
                out.put_u8(TAG_CORE);
                let mut body = Vec::new();
                encode_message(msg, &mut body);
                out.put_slice(&body);
            }
            PeerFrame::Forward { id, command } => {
                out.put_u8(TAG_FORWARD);
                out.put_u64_le(*id);
                out.put_slice(command);
            }
            PeerFrame::Rejected { id, leader } => {
                out.put_u8(TAG_REJECTED);
                out.put_u64_le(*id);
                out.put_u64_le(leader.map_or(0, |l| l.0));
            }
            PeerFrame::ReadIndex { id } => {
                out.put_u8(TAG_READ_INDEX);
                out.put_u64_le(*id);
            }
            PeerFrame::ReadIndexReady { id, slot } => {
                out.put_u8(TAG_READ_INDEX_READY);
                out.put_u64_le(*id);
                out.put_u64_le(slot.0);
            }
            PeerFrame::SnapshotChunk {
                slot,
                total,
                crc,
                offset,
                data,
            } => {
                out.put_u8(TAG_SNAPSHOT_CHUNK);
                out.put_u64_le(slot.0);
                out.put_u64_le(*total);
                out.put_u32_le(*crc);
                out.put_u64_le(*offset);
                out.put_slice(data);
            }
            PeerFrame::SnapshotAck { slot, received } => {
                out.put_u8(TAG_SNAPSHOT_ACK);
                out.put_u64_le(slot.0);
                out.put_u64_le(*received);
            }
            PeerFrame::Probe { sent_ns } => {
                out.put_u8(TAG_PROBE);
                out.put_u64_le(*sent_ns);
            }
            PeerFrame::ProbeReply { sent_ns } => {
                out.put_u8(TAG_PROBE_REPLY);
                out.put_u64_le(*sent_ns);
            }
            PeerFrame::Reconfigure { id, change } => {
                out.put_u8(TAG_RECONFIGURE);
                out.put_u64_le(*id);
                change.encode(&mut out);
            }
            PeerFrame::Reconfigured { id, outcome } => {
                out.put_u8(TAG_RECONFIGURED);
                out.put_u64_le(*id);
                match outcome {
                    Ok(membership) => {
                        out.put_u8(0);
                        seat::put_membership(&mut out, membership);
                    }
                    Err(code) => {
                        out.put_u8(1);
                        out.put_u8(*code);
                    }
                }
            }
        }
        out.freeze()
    }

    /// Decodes a frame body; arbitrary bytes give an error, never a panic.
    pub fn decode(mut body: Bytes) -> Result<PeerFrame, FrameError> {
        if body.is_empty() {
            return Err(FrameError::Truncated);
        }
        let tag = body.get_u8();
        let u64_of = |body: &mut Bytes| {
            if body.remaining() < 8 {
                return Err(FrameError::Truncated);
            }
            Ok(body.get_u64_le())
        };
        let frame = match tag {
            TAG_CORE => PeerFrame::Core(decode_message_bytes(&body)?),
            TAG_FORWARD => PeerFrame::Forward {
                id: u64_of(&mut body)?,
                command: body,
            },
            TAG_REJECTED => {
                let id = u64_of(&mut body)?;
                let leader = Some(NodeId(u64_of(&mut body)?)).filter(|l| l.0 != 0);
                PeerFrame::Rejected { id, leader }
            }
            TAG_READ_INDEX => PeerFrame::ReadIndex {
                id: u64_of(&mut body)?,
            },
            TAG_READ_INDEX_READY => PeerFrame::ReadIndexReady {
                id: u64_of(&mut body)?,
                slot: Slot(u64_of(&mut body)?),
            },
            TAG_SNAPSHOT_CHUNK => {
                let slot = Slot(u64_of(&mut body)?);
                let total = u64_of(&mut body)?;
                if body.remaining() < 4 {
                    return Err(FrameError::Truncated);
                }
                let crc = body.get_u32_le();
                let offset = u64_of(&mut body)?;
                PeerFrame::SnapshotChunk {
                    slot,
                    total,
                    crc,
                    offset,
                    data: body,
                }
            }
            TAG_SNAPSHOT_ACK => PeerFrame::SnapshotAck {
                slot: Slot(u64_of(&mut body)?),
                received: u64_of(&mut body)?,
            },
            TAG_PROBE => PeerFrame::Probe {
                sent_ns: u64_of(&mut body)?,
            },
            TAG_PROBE_REPLY => PeerFrame::ProbeReply {
                sent_ns: u64_of(&mut body)?,
            },
            TAG_RECONFIGURE => PeerFrame::Reconfigure {
                id: u64_of(&mut body)?,
                change: MemberChange::decode(&mut body)?,
            },
            TAG_RECONFIGURED => {
                let id = u64_of(&mut body)?;
                let outcome = match seat::get_u8(&mut body)? {
                    0 => Ok(seat::get_membership(&mut body)?),
                    _ => Err(seat::get_u8(&mut body)?),
                };
                PeerFrame::Reconfigured { id, outcome }
            }
            other => return Err(FrameError::UnknownTag(other)),
        };
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxon_core::Ballot;

    #[test]
    fn every_frame_round_trips() {
        let frames = vec![
            PeerFrame::Core(Message::Prepare {
                ballot: Ballot::new(3, NodeId(7)),
                from_slot: Slot(9),
            }),
            PeerFrame::Forward {
                id: 5,
                command: Bytes::from_static(b"cmd"),
            },
            PeerFrame::Rejected {
                id: 5,
                leader: Some(NodeId(2)),
            },
            PeerFrame::Rejected {
                id: 6,
                leader: None,
            },
            PeerFrame::ReadIndex { id: 1 },
            PeerFrame::ReadIndexReady {
                id: 1,
                slot: Slot(44),
            },
            PeerFrame::SnapshotChunk {
                slot: Slot(10),
                total: 100,
                crc: 0xdead_beef,
                offset: 40,
                data: Bytes::from_static(b"state"),
            },
            PeerFrame::SnapshotAck {
                slot: Slot(10),
                received: 45,
            },
            PeerFrame::Probe { sent_ns: 12 },
            PeerFrame::ProbeReply { sent_ns: 13 },
            PeerFrame::Reconfigure {
                id: 3,
                change: MemberChange::Add {
                    id: NodeId(12),
                    peer_urls: vec!["http://127.0.0.1:2480".into()],
                    learner: true,
                },
            },
            PeerFrame::Reconfigure {
                id: 4,
                change: MemberChange::Promote(NodeId(12)),
            },
            PeerFrame::Reconfigured {
                id: 3,
                outcome: Ok(Membership::new(vec![NodeId(1)], vec![NodeId(12)]).unwrap()),
            },
            PeerFrame::Reconfigured {
                id: 4,
                outcome: Err(2),
            },
        ];
        for frame in frames {
            assert_eq!(PeerFrame::decode(frame.encode()).unwrap(), frame);
        }
    }

    #[test]
    fn garbage_is_refused_not_trusted() {
        assert!(PeerFrame::decode(Bytes::new()).is_err());
        assert!(PeerFrame::decode(Bytes::from_static(&[99])).is_err());
        assert!(PeerFrame::decode(Bytes::from_static(&[TAG_READ_INDEX, 1, 2])).is_err());
        assert!(PeerFrame::decode(Bytes::from_static(&[TAG_CORE, 1, 200])).is_err());
    }
}
