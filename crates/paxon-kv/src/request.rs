//! Requests, mirroring etcd's `etcdserverpb` messages field for field. The
//! server converts protobuf to these and back; nothing here knows protobuf.

use crate::types::{LeaseId, Revision};

/// The order of a range's results (etcd's `RangeRequest.SortOrder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortOrder {
    /// No sorting requested: key order, unless the target is not
    /// [`SortTarget::Key`] (then ascending, as etcd does).
    #[default]
    None,
    /// Lowest first.
    Ascend,
    /// Highest first.
    Descend,
}

/// The field a range sorts by (etcd's `RangeRequest.SortTarget`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortTarget {
    /// The key, bytewise.
    #[default]
    Key,
    /// The per-key version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Mod,
    /// The value, bytewise.
    Value,
}

/// etcd's `RangeRequest`: read keys `[key, range_end)`.
///
/// `range_end` empty: the single `key`; `range_end == [0]`: every key
/// `>= key`; otherwise the half-open interval (empty when
/// `range_end <= key`). A prefix is `key..prefix_range_end(key)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RangeRequest {
    /// First key (required, non-empty).
    pub key: Vec<u8>,
    /// End of the range, as above.
    pub range_end: Vec<u8>,
    /// At most this many keys; 0 or negative: no limit.
    pub limit: i64,
    /// Read the state at this revision; 0 or negative: the current one.
    pub revision: Revision,
    /// Result order.
    pub sort_order: SortOrder,
    /// Field to sort by.
    pub sort_target: SortTarget,
    /// A serializable (possibly stale) read; the store ignores it, the
    /// server decides how to serve it.
    pub serializable: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Drop keys whose mod revision is lower (0: no bound).
    pub min_mod_revision: Revision,
    /// Drop keys whose mod revision is higher (0: no bound).
    pub max_mod_revision: Revision,
    /// Drop keys whose create revision is lower (0: no bound).
    pub min_create_revision: Revision,
    /// Drop keys whose create revision is higher (0: no bound).
    pub max_create_revision: Revision,
}

/// etcd's `PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PutRequest {
    /// The key (required, non-empty).
    pub key: Vec<u8>,
    /// The new value (must be empty with `ignore_value`).
    pub value: Vec<u8>,
    /// Lease to attach, or [`LeaseId::NONE`] (must be none with `ignore_lease`).
    pub lease: LeaseId,
    /// Return the previous key-value in the response.
    pub prev_kv: bool,
    /// Keep the current value; the key must exist.
    pub ignore_value: bool,
    /// Keep the current lease; the key must exist.
    pub ignore_lease: bool,
}

/// etcd's `DeleteRangeRequest`; `key` and `range_end` as in [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeleteRangeRequest {
    /// First key (required, non-empty).
    pub key: Vec<u8>,
    /// End of the range.
    pub range_end: Vec<u8>,
    /// Return the deleted key-values in the response.
    pub prev_kv: bool,
}

/// How a [`Compare`] relates the key's field to its operand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CompareResult {
    /// field == operand
    #[default]
    Equal,
    /// field > operand
    Greater,
    /// field < operand
    Less,
    /// field != operand
    NotEqual,
}

/// The field a [`Compare`] reads, with its operand.
///
/// etcd carries the target and the operand separately; when the server
/// finds them mismatched it must pass etcd's zero operand (0 or empty).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CompareTarget {
    /// The per-key version (0 for a missing key).
    Version(i64),
    /// The create revision (0 for a missing key).
    Create(Revision),
    /// The mod revision (0 for a missing key).
    Mod(Revision),
    /// The value; a compare on the value of a missing key always fails.
    Value(Vec<u8>),
    /// The attached lease (0 for none or a missing key).
    Lease(LeaseId),
}

/// etcd's `Compare`: one guard of a [`TxnRequest`]. With a `range_end`
/// every key in the range must satisfy it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Compare {
    /// The relation.
    pub result: CompareResult,
    /// The field and operand.
    pub target: CompareTarget,
    /// The key (required, non-empty).
    pub key: Vec<u8>,
    /// End of the range, as in [`RangeRequest`].
    pub range_end: Vec<u8>,
}

/// One operation of a [`TxnRequest`] branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestOp {
    /// A read; it sees the writes of the earlier operations.
    Range(RangeRequest),
    /// A write.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
    /// A nested transaction.
    Txn(TxnRequest),
}

/// etcd's `TxnRequest`: if every compare holds, run `success`, else
/// `failure`, atomically at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxnRequest {
    /// The guards, all evaluated against the state before the transaction.
    pub compare: Vec<Compare>,
    /// Operations when every compare holds.
    pub success: Vec<RequestOp>,
    /// Operations otherwise.
    pub failure: Vec<RequestOp>,
}

impl TxnRequest {
    /// etcd's `isTxnReadonly`: every operation of both branches is a
    /// `Range` (a nested `Txn` counts as a write). Such a transaction can be
    /// served as a read, without a decree.
    pub fn is_read_only(&self) -> bool {
        self.success
            .iter()
            .chain(&self.failure)
            .all(|op| matches!(op, RequestOp::Range(_)))
    }
}

/// etcd's `CompactionRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CompactionRequest {
    /// Drop history before this revision.
    pub revision: Revision,
    /// Wait for the physical compaction; the server's concern, the store
    /// compacts at once.
    pub physical: bool,
}

/// The `range_end` that selects every key starting with `prefix` (etcd's
/// `clientv3.GetPrefixRangeEnd`): the prefix with its last byte below
/// `0xff` incremented and what follows it dropped, or `[0]` (every key from
/// `prefix` on) when every byte is `0xff`.
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    match prefix.iter().rposition(|&b| b < 0xff) {
        Some(i) => {
            let mut end = prefix[..=i].to_vec();
            end[i] += 1;
            end
        }
        None => vec![0],
    }
}
