//! The member directory: the name and peer URLs of each member added or
//! updated at run time (etcd's `membership.RaftAttributes` and
//! `Attributes.Name`).
//!
//! Who votes is the consensus core's business (its configurations are
//! decrees of their own); where a member listens and what it is called is
//! the state machine's, so that every replica, and every snapshot, knows
//! how to reach a member that was not in `--initial-cluster`. An entry is
//! set by a `MemberAttrs` decree and never removed: the configuration in
//! force says who is a member, and ids are never reused (etcd mixes the
//! time into them).

use std::collections::BTreeMap;

use crate::store::Store;
use crate::wire::{put_bytes, put_len, put_u64, DecodeError, Reader};

/// Fewest bytes an encoded entry takes: id, an empty name, no URL.
const ENTRY_BYTES_MIN: u64 = 3;
/// Fewest bytes an encoded URL takes.
const URL_BYTES_MIN: u64 = 1;

/// What the directory knows of one member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemberAttrs {
    /// Its `--name`; empty until the member started and published it.
    pub name: String,
    /// Its peer URLs, in the order given.
    pub peer_urls: Vec<String>,
}

impl Store {
    /// The directory, by member id.
    pub fn members(&self) -> &BTreeMap<u64, MemberAttrs> {
        &self.members
    }

    /// A `MemberAttrs` decree: sets what is known of `id`.
    pub(crate) fn set_member(&mut self, id: u64, attrs: &MemberAttrs) {
        self.members.insert(id, attrs.clone());
    }
}

/// Appends one entry's fields (also a `MemberAttrs` command's).
pub(crate) fn put_member(out: &mut Vec<u8>, id: u64, attrs: &MemberAttrs) {
    put_u64(out, id);
    put_bytes(out, attrs.name.as_bytes());
    put_len(out, attrs.peer_urls.len());
    for url in &attrs.peer_urls {
        put_bytes(out, url.as_bytes());
    }
}

/// Reads what [`put_member`] wrote.
pub(crate) fn get_member(r: &mut Reader<'_>) -> Result<(u64, MemberAttrs), DecodeError> {
    let id = r.u64()?;
    let name = r.text()?;
    let peer_urls = (0..r.count(URL_BYTES_MIN)?)
        .map(|_| r.text())
        .collect::<Result<_, _>>()?;
    Ok((id, MemberAttrs { name, peer_urls }))
}

/// The directory in a snapshot: a count, then the entries by increasing id.
pub(crate) fn put_directory(out: &mut Vec<u8>, members: &BTreeMap<u64, MemberAttrs>) {
    put_len(out, members.len());
    for (id, attrs) in members {
        put_member(out, *id, attrs);
    }
}

/// Reads what [`put_directory`] wrote; ids must strictly increase.
pub(crate) fn get_directory(r: &mut Reader<'_>) -> Result<BTreeMap<u64, MemberAttrs>, DecodeError> {
    let mut members = BTreeMap::new();
    let mut last = None;
    for _ in 0..r.count(ENTRY_BYTES_MIN)? {
        let (id, attrs) = get_member(r)?;
        if last.is_some_and(|last| id <= last) {
            return Err(DecodeError::Invalid("member ids out of order"));
        }
        last = Some(id);
        members.insert(id, attrs);
    }
    Ok(members)
}
