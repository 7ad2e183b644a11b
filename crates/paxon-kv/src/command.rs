//! The commands decrees carry, and their binary encoding, version
//! [`COMMAND_VERSION`].
//!
//! Encoding appends to the caller's buffer. Decoding is total: any input
//! gives a [`Command`] or a [`DecodeError`], never a panic, and allocates
//! at most a constant times the input's length. The encoding is canonical:
//! `encode(decode(b)?) == b`.
//!
//! # Wire format, version 1
//!
//! Primitives as in `wire.rs`: minimal LEB128 varints, zigzag `i64`,
//! length-prefixed bytes.
//!
//! A command is `[COMMAND_VERSION u8][tag u8][fields]`:
//!
//! | tag | command | fields |
//! |---|---|---|
//! | 1 | `Put` | put |
//! | 2 | `DeleteRange` | delete |
//! | 3 | `Txn` | txn |
//! | 4 | `Compact` | `revision` i64, `physical` bool |
//! | 5 | `LeaseGrant` | `id` i64, `ttl_s` i64 |
//! | 6 | `LeaseRevoke` | `id` i64 |
//! | 7 | `LeaseKeepAlive` | `id` i64 |
//! | 8 | `LeaseTick` | `now_ms` i64 |
//! | 9 | `LeasePromote` | `now_ms` i64 |
//! | 16 | `Alarm` | `action` u8 (1 activate, 2 deactivate), `member` u64, `alarm` u8 (1 NOSPACE, 2 CORRUPT) |
//! | 20 | `Auth` | auth |
//!
//! - put: `key`, `value` bytes, `lease` i64, flags u8 (bit 0 `prev_kv`,
//!   1 `ignore_value`, 2 `ignore_lease`; others 0);
//! - delete: `key`, `range_end` bytes, `prev_kv` bool;
//! - range: `key`, `range_end` bytes, `limit`, `revision` i64,
//!   `sort_order` u8 (0 none, 1 ascend, 2 descend), `sort_target` u8 (0 key,
//!   1 version, 2 create, 3 mod, 4 value), flags u8 (bit 0 `serializable`,
//!   1 `keys_only`, 2 `count_only`), `min_mod`, `max_mod`, `min_create`,
//!   `max_create` revisions i64;
//! - txn: compares, then `success` and `failure` ops, each a count then
//!   the items; at most [`TXN_DEPTH_MAX`] txns deep;
//! - compare: `result` u8 (0 equal, 1 greater, 2 less, 3 not equal),
//!   target tag u8 (0 version, 1 create, 2 mod: i64; 3 value: bytes;
//!   4 lease: i64), then `key`, `range_end` bytes;
//! - op: tag u8 (1 range, 2 put, 3 delete, 4 txn), then its fields;
//! - auth: sub-tag u8, then strings as bytes: 1 enable, 2 disable,
//!   3 authenticate (`user`, `token`), 4 user add (`user`, `hash`),
//!   5 user delete (`user`), 6 change password (`user`, `hash`), 7 grant
//!   role (`user`, `role`), 8 revoke role (`user`, `role`), 9 role add
//!   (`role`), 10 role delete (`role`), 11 grant permission (`role`,
//!   `kind` u8 0 read 1 write 2 readwrite, `key`, `range_end`), 12 revoke
//!   permission (`role`, `key`, `range_end`).
//!
//! Tag 0 is never a command, so zeroed bytes never decode.

use crate::alarm::{AlarmAction, AlarmMember, AlarmType};
use crate::auth::{AuthCommand, Permission, PermissionKind};
use crate::directory::{get_member, put_member, MemberAttrs};
use crate::error::KvError;
use crate::request::{
    CompactionRequest, Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest,
    RangeRequest, RequestOp, SortOrder, SortTarget, TxnRequest,
};
use crate::types::{LeaseId, Revision};
use crate::validate::{self, Limits, TXN_DEPTH_MAX};
use crate::wire::{put_bool, put_bytes, put_i64, put_len, put_u64, DecodeError, Reader};

/// The version byte that starts every encoded command.
pub const COMMAND_VERSION: u8 = 1;

mod tag {
    pub const PUT: u8 = 1;
    pub const DELETE_RANGE: u8 = 2;
    pub const TXN: u8 = 3;
    pub const COMPACT: u8 = 4;
    pub const LEASE_GRANT: u8 = 5;
    pub const LEASE_REVOKE: u8 = 6;
    pub const LEASE_KEEP_ALIVE: u8 = 7;
    pub const LEASE_TICK: u8 = 8;
    pub const LEASE_PROMOTE: u8 = 9;
    pub const ALARM: u8 = 16;
    pub const AUTH: u8 = 20;
    pub const MEMBER_ATTRS: u8 = 30;
}

mod op_tag {
    pub const RANGE: u8 = 1;
    pub const PUT: u8 = 2;
    pub const DELETE_RANGE: u8 = 3;
    pub const TXN: u8 = 4;
}

/// Fewest bytes an encoded compare or op takes; counts are checked against
/// `count × minimum ≤ input left` before allocating.
const COMPARE_BYTES_MIN: u64 = 5;
const OP_BYTES_MIN: u64 = 4;

/// A decree's payload: one write to the key-value state machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// etcd's `Put`.
    Put(PutRequest),
    /// etcd's `DeleteRange`.
    DeleteRange(DeleteRangeRequest),
    /// etcd's `Txn` (one that writes; a read-only one can be served by
    /// [`crate::Store::read_txn`]).
    Txn(TxnRequest),
    /// etcd's `Compact`.
    Compact(CompactionRequest),
    /// etcd's `LeaseGrant`, with the id chosen by the proposer.
    LeaseGrant {
        /// Non-zero lease id.
        id: LeaseId,
        /// Time to live.
        ttl_s: i64,
    },
    /// etcd's `LeaseRevoke`.
    LeaseRevoke {
        /// The lease.
        id: LeaseId,
    },
    /// etcd's `LeaseKeepAlive`: the lease lives a full TTL from the decree
    /// time.
    LeaseKeepAlive {
        /// The lease.
        id: LeaseId,
    },
    /// §3.3.3: the leader's clock, carried in a decree. Moves the decree
    /// time forward and revokes the leases it expires.
    LeaseTick {
        /// Milliseconds since the Unix epoch, on the proposer's clock.
        now_ms: i64,
    },
    /// A new leader's first word on leases (etcd's `lessor.Promote`):
    /// every lease lives at least a full TTL from `now_ms`.
    LeasePromote {
        /// Milliseconds since the Unix epoch, on the new leader's clock.
        now_ms: i64,
    },
    /// etcd's `Alarm` with `ACTIVATE` or `DEACTIVATE`.
    Alarm {
        /// Raise or clear.
        action: AlarmAction,
        /// Which alarm of which member.
        alarm: AlarmMember,
    },
    /// A change to users, roles or the auth switch (etcd's `Auth`
    /// service), or a token given by a member.
    Auth(AuthCommand),
    /// Sets the name and peer URLs of a member in the directory
    /// (`directory.rs`): `MemberAdd` and `MemberUpdate`, and a new member
    /// publishing its name.
    MemberAttrs {
        /// The member.
        id: u64,
        /// What it is called and where it listens.
        attrs: MemberAttrs,
    },
}

impl Command {
    /// The checks etcd makes before proposing (`v3rpc/key.go`): keys
    /// present, `ignore_*` without a value or lease, txn size within
    /// `limits`, no duplicate keys in a txn branch. A proposer calls this
    /// before proposing; a command that fails it may not decode.
    pub fn validate(&self, limits: &Limits) -> Result<(), KvError> {
        self.check(limits.txn_ops_max)
    }

    /// [`Command::validate`] with a given operation budget.
    pub(crate) fn check(&self, txn_ops_max: usize) -> Result<(), KvError> {
        match self {
            Command::Put(req) => validate::check_put(req),
            Command::DeleteRange(req) => validate::check_key(&req.key),
            Command::Txn(req) => validate::check_txn(req, txn_ops_max),
            Command::Compact(_)
            | Command::LeaseGrant { .. }
            | Command::LeaseRevoke { .. }
            | Command::LeaseKeepAlive { .. }
            | Command::LeaseTick { .. }
            | Command::LeasePromote { .. }
            | Command::Alarm { .. }
            | Command::Auth(_)
            | Command::MemberAttrs { .. } => Ok(()),
        }
    }

    /// Whether `encoded`, a command's encoding, is a `LeaseGrant` or a
    /// `LeaseKeepAlive`: a deadline counted from the decree time, which
    /// the leader proposes right before (it peeks at two bytes).
    pub fn sets_lease_deadline(encoded: &[u8]) -> bool {
        encoded.first() == Some(&COMMAND_VERSION)
            && matches!(
                encoded.get(1),
                Some(&tag::LEASE_GRANT | &tag::LEASE_KEEP_ALIVE)
            )
    }

    /// Appends the encoding of this command to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(COMMAND_VERSION);
        match self {
            Command::Put(req) => {
                out.push(tag::PUT);
                put_put(out, req);
            }
            Command::DeleteRange(req) => {
                out.push(tag::DELETE_RANGE);
                put_delete(out, req);
            }
            Command::Txn(req) => {
                out.push(tag::TXN);
                put_txn(out, req);
            }
            Command::Compact(req) => {
                out.push(tag::COMPACT);
                put_i64(out, req.revision.0);
                put_bool(out, req.physical);
            }
            Command::LeaseGrant { id, ttl_s } => {
                out.push(tag::LEASE_GRANT);
                put_i64(out, id.0);
                put_i64(out, *ttl_s);
            }
            Command::LeaseRevoke { id } => {
                out.push(tag::LEASE_REVOKE);
                put_i64(out, id.0);
            }
            Command::LeaseKeepAlive { id } => {
                out.push(tag::LEASE_KEEP_ALIVE);
                put_i64(out, id.0);
            }
            Command::LeaseTick { now_ms } => {
                out.push(tag::LEASE_TICK);
                put_i64(out, *now_ms);
            }
            Command::LeasePromote { now_ms } => {
                out.push(tag::LEASE_PROMOTE);
                put_i64(out, *now_ms);
            }
            Command::Alarm { action, alarm } => {
                out.push(tag::ALARM);
                out.push(match action {
                    AlarmAction::Activate => 1,
                    AlarmAction::Deactivate => 2,
                });
                put_u64(out, alarm.member);
                out.push(alarm.alarm.code());
            }
            Command::Auth(auth) => {
                out.push(tag::AUTH);
                put_auth(out, auth);
            }
            Command::MemberAttrs { id, attrs } => {
                out.push(tag::MEMBER_ATTRS);
                put_member(out, *id, attrs);
            }
        }
    }

    /// Decodes one command that fills `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<Command, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != COMMAND_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let cmd = match r.u8()? {
            tag::PUT => Command::Put(get_put(&mut r)?),
            tag::DELETE_RANGE => Command::DeleteRange(get_delete(&mut r)?),
            tag::TXN => Command::Txn(get_txn(&mut r, 1)?),
            tag::COMPACT => Command::Compact(CompactionRequest {
                revision: Revision(r.i64()?),
                physical: r.bool()?,
            }),
            tag::LEASE_GRANT => Command::LeaseGrant {
                id: LeaseId(r.i64()?),
                ttl_s: r.i64()?,
            },
            tag::LEASE_REVOKE => Command::LeaseRevoke {
                id: LeaseId(r.i64()?),
            },
            tag::LEASE_KEEP_ALIVE => Command::LeaseKeepAlive {
                id: LeaseId(r.i64()?),
            },
            tag::LEASE_TICK => Command::LeaseTick { now_ms: r.i64()? },
            tag::LEASE_PROMOTE => Command::LeasePromote { now_ms: r.i64()? },
            tag::ALARM => {
                let action = match r.u8()? {
                    1 => AlarmAction::Activate,
                    2 => AlarmAction::Deactivate,
                    _ => return Err(DecodeError::Invalid("unknown alarm action")),
                };
                let member = r.u64()?;
                let alarm = AlarmType::from_code(i64::from(r.u8()?))
                    .ok_or(DecodeError::Invalid("unknown alarm type"))?;
                Command::Alarm {
                    action,
                    alarm: AlarmMember { member, alarm },
                }
            }
            tag::AUTH => Command::Auth(get_auth(&mut r)?),
            tag::MEMBER_ATTRS => {
                let (id, attrs) = get_member(&mut r)?;
                Command::MemberAttrs { id, attrs }
            }
            other => return Err(DecodeError::UnknownTag(other)),
        };
        r.finish()?;
        Ok(cmd)
    }
}

fn put_auth(out: &mut Vec<u8>, command: &AuthCommand) {
    let text = |out: &mut Vec<u8>, s: &str| put_bytes(out, s.as_bytes());
    match command {
        AuthCommand::Enable => out.push(1),
        AuthCommand::Disable => out.push(2),
        AuthCommand::Authenticate { user, token } => {
            out.push(3);
            text(out, user);
            text(out, token);
        }
        AuthCommand::UserAdd {
            user,
            password_hash,
        } => {
            out.push(4);
            text(out, user);
            put_bytes(out, password_hash);
        }
        AuthCommand::UserDelete { user } => {
            out.push(5);
            text(out, user);
        }
        AuthCommand::UserChangePassword {
            user,
            password_hash,
        } => {
            out.push(6);
            text(out, user);
            put_bytes(out, password_hash);
        }
        AuthCommand::UserGrantRole { user, role } => {
            out.push(7);
            text(out, user);
            text(out, role);
        }
        AuthCommand::UserRevokeRole { user, role } => {
            out.push(8);
            text(out, user);
            text(out, role);
        }
        AuthCommand::RoleAdd { role } => {
            out.push(9);
            text(out, role);
        }
        AuthCommand::RoleDelete { role } => {
            out.push(10);
            text(out, role);
        }
        AuthCommand::RoleGrantPermission { role, permission } => {
            out.push(11);
            text(out, role);
            out.push(permission.kind as u8);
            put_bytes(out, &permission.key);
            put_bytes(out, &permission.range_end);
        }
        AuthCommand::RoleRevokePermission {
            role,
            key,
            range_end,
        } => {
            out.push(12);
            text(out, role);
            put_bytes(out, key);
            put_bytes(out, range_end);
        }
    }
}

fn get_auth(r: &mut Reader<'_>) -> Result<AuthCommand, DecodeError> {
    Ok(match r.u8()? {
        1 => AuthCommand::Enable,
        2 => AuthCommand::Disable,
        3 => AuthCommand::Authenticate {
            user: r.text()?,
            token: r.text()?,
        },
        4 => AuthCommand::UserAdd {
            user: r.text()?,
            password_hash: r.vec()?,
        },
        5 => AuthCommand::UserDelete { user: r.text()? },
        6 => AuthCommand::UserChangePassword {
            user: r.text()?,
            password_hash: r.vec()?,
        },
        7 => AuthCommand::UserGrantRole {
            user: r.text()?,
            role: r.text()?,
        },
        8 => AuthCommand::UserRevokeRole {
            user: r.text()?,
            role: r.text()?,
        },
        9 => AuthCommand::RoleAdd { role: r.text()? },
        10 => AuthCommand::RoleDelete { role: r.text()? },
        11 => {
            let role = r.text()?;
            let kind = PermissionKind::from_code(i32::from(r.u8()?))
                .ok_or(DecodeError::Invalid("unknown permission type"))?;
            AuthCommand::RoleGrantPermission {
                role,
                permission: Permission {
                    kind,
                    key: r.vec()?,
                    range_end: r.vec()?,
                },
            }
        }
        12 => AuthCommand::RoleRevokePermission {
            role: r.text()?,
            key: r.vec()?,
            range_end: r.vec()?,
        },
        _ => return Err(DecodeError::Invalid("unknown auth command")),
    })
}

fn flags(bits: &[bool]) -> u8 {
    bits.iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | (u8::from(b) << i))
}

/// Reads a flags byte of `N` bits; other bits must be clear.
fn get_flags<const N: usize>(r: &mut Reader<'_>) -> Result<[bool; N], DecodeError> {
    let byte = r.u8()?;
    if byte >> N != 0 {
        return Err(DecodeError::Invalid("unknown flag bits set"));
    }
    Ok(std::array::from_fn(|i| byte & (1 << i) != 0))
}

fn put_put(out: &mut Vec<u8>, req: &PutRequest) {
    put_bytes(out, &req.key);
    put_bytes(out, &req.value);
    put_i64(out, req.lease.0);
    out.push(flags(&[req.prev_kv, req.ignore_value, req.ignore_lease]));
}

fn get_put(r: &mut Reader<'_>) -> Result<PutRequest, DecodeError> {
    let (key, value, lease) = (r.vec()?, r.vec()?, LeaseId(r.i64()?));
    let [prev_kv, ignore_value, ignore_lease] = get_flags::<3>(r)?;
    Ok(PutRequest {
        key,
        value,
        lease,
        prev_kv,
        ignore_value,
        ignore_lease,
    })
}

fn put_delete(out: &mut Vec<u8>, req: &DeleteRangeRequest) {
    put_bytes(out, &req.key);
    put_bytes(out, &req.range_end);
    put_bool(out, req.prev_kv);
}

fn get_delete(r: &mut Reader<'_>) -> Result<DeleteRangeRequest, DecodeError> {
    Ok(DeleteRangeRequest {
        key: r.vec()?,
        range_end: r.vec()?,
        prev_kv: r.bool()?,
    })
}

fn put_range(out: &mut Vec<u8>, req: &RangeRequest) {
    put_bytes(out, &req.key);
    put_bytes(out, &req.range_end);
    put_i64(out, req.limit);
    put_i64(out, req.revision.0);
    out.push(req.sort_order as u8);
    out.push(req.sort_target as u8);
    out.push(flags(&[req.serializable, req.keys_only, req.count_only]));
    for rev in [
        req.min_mod_revision,
        req.max_mod_revision,
        req.min_create_revision,
        req.max_create_revision,
    ] {
        put_i64(out, rev.0);
    }
}

fn get_range(r: &mut Reader<'_>) -> Result<RangeRequest, DecodeError> {
    let (key, range_end, limit, revision) = (r.vec()?, r.vec()?, r.i64()?, Revision(r.i64()?));
    let sort_order = match r.u8()? {
        0 => SortOrder::None,
        1 => SortOrder::Ascend,
        2 => SortOrder::Descend,
        _ => return Err(DecodeError::Invalid("unknown sort order")),
    };
    let sort_target = match r.u8()? {
        0 => SortTarget::Key,
        1 => SortTarget::Version,
        2 => SortTarget::Create,
        3 => SortTarget::Mod,
        4 => SortTarget::Value,
        _ => return Err(DecodeError::Invalid("unknown sort target")),
    };
    let [serializable, keys_only, count_only] = get_flags::<3>(r)?;
    Ok(RangeRequest {
        key,
        range_end,
        limit,
        revision,
        sort_order,
        sort_target,
        serializable,
        keys_only,
        count_only,
        min_mod_revision: Revision(r.i64()?),
        max_mod_revision: Revision(r.i64()?),
        min_create_revision: Revision(r.i64()?),
        max_create_revision: Revision(r.i64()?),
    })
}

fn put_txn(out: &mut Vec<u8>, req: &TxnRequest) {
    put_len(out, req.compare.len());
    for compare in &req.compare {
        put_compare(out, compare);
    }
    for ops in [&req.success, &req.failure] {
        put_len(out, ops.len());
        for op in ops {
            put_op(out, op);
        }
    }
}

fn get_txn(r: &mut Reader<'_>, depth: usize) -> Result<TxnRequest, DecodeError> {
    if depth > TXN_DEPTH_MAX {
        return Err(DecodeError::Invalid("txn nested too deep"));
    }
    let compare = (0..r.count(COMPARE_BYTES_MIN)?)
        .map(|_| get_compare(r))
        .collect::<Result<_, _>>()?;
    let success = get_ops(r, depth)?;
    let failure = get_ops(r, depth)?;
    Ok(TxnRequest {
        compare,
        success,
        failure,
    })
}

fn get_ops(r: &mut Reader<'_>, depth: usize) -> Result<Vec<RequestOp>, DecodeError> {
    (0..r.count(OP_BYTES_MIN)?)
        .map(|_| get_op(r, depth))
        .collect()
}

fn put_compare(out: &mut Vec<u8>, c: &Compare) {
    out.push(c.result as u8);
    match &c.target {
        CompareTarget::Version(v) => (out.push(0), put_i64(out, *v)),
        CompareTarget::Create(rev) => (out.push(1), put_i64(out, rev.0)),
        CompareTarget::Mod(rev) => (out.push(2), put_i64(out, rev.0)),
        CompareTarget::Value(v) => (out.push(3), put_bytes(out, v)),
        CompareTarget::Lease(id) => (out.push(4), put_i64(out, id.0)),
    };
    put_bytes(out, &c.key);
    put_bytes(out, &c.range_end);
}

fn get_compare(r: &mut Reader<'_>) -> Result<Compare, DecodeError> {
    let result = match r.u8()? {
        0 => CompareResult::Equal,
        1 => CompareResult::Greater,
        2 => CompareResult::Less,
        3 => CompareResult::NotEqual,
        _ => return Err(DecodeError::Invalid("unknown compare result")),
    };
    let target = match r.u8()? {
        0 => CompareTarget::Version(r.i64()?),
        1 => CompareTarget::Create(Revision(r.i64()?)),
        2 => CompareTarget::Mod(Revision(r.i64()?)),
        3 => CompareTarget::Value(r.vec()?),
        4 => CompareTarget::Lease(LeaseId(r.i64()?)),
        _ => return Err(DecodeError::Invalid("unknown compare target")),
    };
    Ok(Compare {
        result,
        target,
        key: r.vec()?,
        range_end: r.vec()?,
    })
}

fn put_op(out: &mut Vec<u8>, op: &RequestOp) {
    match op {
        RequestOp::Range(req) => (out.push(op_tag::RANGE), put_range(out, req)),
        RequestOp::Put(req) => (out.push(op_tag::PUT), put_put(out, req)),
        RequestOp::DeleteRange(req) => (out.push(op_tag::DELETE_RANGE), put_delete(out, req)),
        RequestOp::Txn(req) => (out.push(op_tag::TXN), put_txn(out, req)),
    };
}

fn get_op(r: &mut Reader<'_>, depth: usize) -> Result<RequestOp, DecodeError> {
    Ok(match r.u8()? {
        op_tag::RANGE => RequestOp::Range(get_range(r)?),
        op_tag::PUT => RequestOp::Put(get_put(r)?),
        op_tag::DELETE_RANGE => RequestOp::DeleteRange(get_delete(r)?),
        op_tag::TXN => RequestOp::Txn(get_txn(r, depth + 1)?),
        other => return Err(DecodeError::UnknownTag(other)),
    })
}
