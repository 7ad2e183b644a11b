//! The identifiers and the record every other module speaks of.

use std::fmt;

/// A store-wide revision: etcd's `revision`, `create_revision` and
/// `mod_revision`. One logical clock for the whole key space, advanced by
/// one per write transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub i64);

impl Revision {
    /// The revision of an empty store. etcd starts at 1, so the first write
    /// makes it 2.
    pub const EMPTY_STORE: Revision = Revision(1);

    /// The highest revision a restored state may claim: 2^62 writes, a
    /// billion a second, take 146 years. Anything above is corrupt, and
    /// refusing it keeps [`Revision::next`] from ever overflowing.
    pub const PLAUSIBLE_MAX: Revision = Revision(1 << 62);

    /// The revision after this one.
    ///
    /// # Panics
    ///
    /// At `i64::MAX`, which a store cannot reach: one write per nanosecond
    /// would take 292 years.
    pub(crate) fn next(self) -> Revision {
        Revision(self.0.checked_add(1).expect("revision overflow"))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A lease identifier, as etcd's `LeaseID`. [`LeaseId::NONE`] (0) means "no
/// lease".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub i64);

impl LeaseId {
    /// No lease: a key put without one.
    pub const NONE: LeaseId = LeaseId(0);

    /// Whether this is [`LeaseId::NONE`].
    pub fn is_none(self) -> bool {
        self == LeaseId::NONE
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One key as etcd's `mvccpb.KeyValue` shows it at some revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The revision of the put that created this generation of the key.
    pub create_revision: Revision,
    /// The revision of the last change to the key.
    pub mod_revision: Revision,
    /// 1 on creation, +1 per put; a delete ends the generation.
    pub version: i64,
    /// The value (empty in a `keys_only` range).
    pub value: Vec<u8>,
    /// The lease attached to the key, or [`LeaseId::NONE`].
    pub lease: LeaseId,
}
