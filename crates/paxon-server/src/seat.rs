//! A member's seat in the parliament: who it is, which cluster it sits in,
//! the configuration the ledger starts with, and the roll of members it
//! knows by name and peer URL.
//!
//! A member that bootstrapped a cluster (`--initial-cluster-state new`)
//! computes its seat from the flags; one that joined a running cluster
//! (`existing`) is given it by a member (`crate::join`). Either way the
//! seat is written to `member/seat` before the member first speaks, and a
//! restart reads it back instead of the flags, as etcd keeps its ids in the
//! WAL: `--initial-cluster` describes how the cluster began, and after
//! membership changes it no longer says who is who.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use paxon_core::{Membership, NodeId};

use crate::grpc::MemberInfo;

/// The file name, in the member directory.
const SEAT_FILE: &str = "seat";
/// The version byte the encoding starts with.
const SEAT_VERSION: u8 = 1;
/// Most members, URLs per member and bytes per string a seat may hold
/// (checked before allocating when decoding a peer's answer).
const LIST_MAX: u32 = 4096;

/// Who a member is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    /// This member.
    pub me: NodeId,
    /// The cluster.
    pub cluster_id: u64,
    /// The configuration that governs slot 1 of this member's ledger.
    pub genesis: Membership,
    /// Names and peer URLs of the members known when the seat was taken
    /// (later changes come from the state machine's member directory).
    pub roll: Vec<MemberInfo>,
}

/// Why a seat could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    /// The bytes are not a seat.
    #[error("malformed seat: {0}")]
    Malformed(&'static str),
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Seat {
    /// The encoding: `[version u8][me u64][cluster u64]`, the genesis
    /// voters and learners (each `count u32` then ids), the roll (`count
    /// u32`, then per member `id u64`, `name`, `count u32` of peer URLs),
    /// strings as `len u32` then UTF-8; all little-endian.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(SEAT_VERSION);
        out.put_u64_le(self.me.0);
        out.put_u64_le(self.cluster_id);
        put_membership(out, &self.genesis);
        out.put_u32_le(self.roll.len() as u32);
        for member in &self.roll {
            out.put_u64_le(member.id.0);
            put_str(out, &member.name);
            put_strs(out, &member.peer_urls);
        }
    }

    /// Reads what [`Seat::encode`] wrote; anything else is an error.
    pub fn decode(mut bytes: Bytes) -> Result<Seat, SeatError> {
        let b = &mut bytes;
        if get_u8(b)? != SEAT_VERSION {
            return Err(SeatError::Malformed("unknown version"));
        }
        let me = NodeId(get_u64(b)?);
        let cluster_id = get_u64(b)?;
        let genesis = get_membership(b)?;
        let mut roll = Vec::new();
        for _ in 0..get_count(b)? {
            let id = NodeId(get_u64(b)?);
            let name = get_str(b)?;
            let peer_urls = get_strs(b)?;
            roll.push(MemberInfo {
                id,
                name,
                peer_urls,
            });
        }
        if b.has_remaining() {
            return Err(SeatError::Malformed("trailing bytes"));
        }
        Ok(Seat {
            me,
            cluster_id,
            genesis,
            roll,
        })
    }

    /// The seat saved in `member_dir`, if there is one.
    pub fn load(member_dir: &Path) -> Result<Option<Seat>, SeatError> {
        let bytes = match fs::read(member_dir.join(SEAT_FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or(SeatError::Malformed("truncated"))?;
        let (body, crc) = bytes.split_at(body_len);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(SeatError::Malformed("checksum mismatch"));
        }
        Seat::decode(Bytes::copy_from_slice(body)).map(Some)
    }

    /// Writes the seat durably into `member_dir` (a temporary file, its
    /// `fdatasync`, a rename, and the directory's `fsync`).
    pub fn save(&self, member_dir: &Path) -> Result<(), SeatError> {
        fs::create_dir_all(member_dir)?;
        let mut body = BytesMut::new();
        self.encode(&mut body);
        let crc = crc32c::crc32c(&body);
        body.put_u32_le(crc);
        let temporary = member_dir.join(format!("{SEAT_FILE}.tmp"));
        let mut file = File::create(&temporary)?;
        file.write_all(&body)?;
        file.sync_data()?;
        fs::rename(&temporary, member_dir.join(SEAT_FILE))?;
        File::open(member_dir)?.sync_all()?;
        Ok(())
    }
}

/// A configuration: the voters, then the learners, each `count u32` then
/// ids `u64` (also in `crate::peer`'s frames).
pub(crate) fn put_membership(out: &mut BytesMut, membership: &Membership) {
    for ids in [membership.voters(), membership.learners()] {
        out.put_u32_le(ids.len() as u32);
        for id in ids {
            out.put_u64_le(id.0);
        }
    }
}

/// Reads what [`put_membership`] wrote.
pub(crate) fn get_membership(b: &mut Bytes) -> Result<Membership, SeatError> {
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        for _ in 0..get_count(b)? {
            list.push(NodeId(get_u64(b)?));
        }
    }
    let [voters, learners] = lists;
    Membership::new(voters, learners)
        .map_err(|_| SeatError::Malformed("an impossible configuration"))
}

/// A list of strings: `count u32`, then each as `len u32` and UTF-8.
pub(crate) fn put_strs(out: &mut BytesMut, texts: &[String]) {
    out.put_u32_le(texts.len() as u32);
    for text in texts {
        put_str(out, text);
    }
}

/// Reads what [`put_strs`] wrote.
pub(crate) fn get_strs(b: &mut Bytes) -> Result<Vec<String>, SeatError> {
    (0..get_count(b)?).map(|_| get_str(b)).collect()
}

fn put_str(out: &mut BytesMut, text: &str) {
    out.put_u32_le(text.len() as u32);
    out.put_slice(text.as_bytes());
}

pub(crate) fn get_u8(b: &mut Bytes) -> Result<u8, SeatError> {
    if b.remaining() < 1 {
        return Err(SeatError::Malformed("truncated"));
    }
    Ok(b.get_u8())
}

pub(crate) fn get_u64(b: &mut Bytes) -> Result<u64, SeatError> {
    if b.remaining() < 8 {
        return Err(SeatError::Malformed("truncated"));
    }
    Ok(b.get_u64_le())
}

fn get_count(b: &mut Bytes) -> Result<u32, SeatError> {
    if b.remaining() < 4 {
        return Err(SeatError::Malformed("truncated"));
    }
    match b.get_u32_le() {
        n if n <= LIST_MAX => Ok(n),
        _ => Err(SeatError::Malformed("a list or string too long")),
    }
}

fn get_str(b: &mut Bytes) -> Result<String, SeatError> {
    let len = get_count(b)? as usize;
    if b.remaining() < len {
        return Err(SeatError::Malformed("truncated"));
    }
    String::from_utf8(b.split_to(len).to_vec()).map_err(|_| SeatError::Malformed("not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat() -> Seat {
        Seat {
            me: NodeId(9),
            cluster_id: 0xfeed,
            genesis: Membership::new(vec![NodeId(1), NodeId(2)], vec![NodeId(3)]).unwrap(),
            roll: vec![MemberInfo {
                id: NodeId(1),
                name: "a".into(),
                peer_urls: vec!["http://127.0.0.1:2380".into()],
            }],
        }
    }

    #[test]
    fn a_seat_survives_the_disk_and_a_flipped_bit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Seat::load(dir.path()).unwrap().is_none());
        seat().save(dir.path()).unwrap();
        assert_eq!(Seat::load(dir.path()).unwrap(), Some(seat()));
        let path = dir.path().join(SEAT_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes[3] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(Seat::load(dir.path()).is_err());
    }

    #[test]
    fn every_cut_of_an_encoded_seat_is_refused() {
        let mut bytes = BytesMut::new();
        seat().encode(&mut bytes);
        let bytes = bytes.freeze();
        for len in 0..bytes.len() {
            assert!(Seat::decode(bytes.slice(..len)).is_err(), "cut at {len}");
        }
        assert_eq!(Seat::decode(bytes).unwrap(), seat());
    }
}
