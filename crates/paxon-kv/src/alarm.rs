//! Alarms: etcd's `alarmStore` and its capped applier
//! (`server/etcdserver/apply.go`, `applierV3Capped`).
//!
//! A member raises `NOSPACE` when a write would take the store over
//! `--quota-backend-bytes`; the alarm is a decree like any other, so every
//! replica holds the same alarms at the same slot. While `NOSPACE` is
//! active, writes that add data ([`Command::adds_data`]: Put, a Txn with a
//! Put in it, LeaseGrant) fail with `etcdserver: mvcc: database space
//! exceeded`; DeleteRange, a Txn that only deletes, Compact and LeaseRevoke
//! still run, so an operator can make room and then disarm the alarm
//! (`etcdctl alarm disarm`).

use crate::command::Command;
use crate::error::KvError;
use crate::request::{RequestOp, TxnRequest};
use crate::response::{AlarmResponse, Header};
use crate::store::Store;

/// etcd's `AlarmType` (NONE is not an alarm and is never stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlarmType {
    /// The store reached its quota.
    NoSpace,
    /// A member found its state diverged.
    Corrupt,
}

impl AlarmType {
    /// etcd's enum number (`NOSPACE` = 1, `CORRUPT` = 2).
    pub fn code(self) -> u8 {
        match self {
            AlarmType::NoSpace => 1,
            AlarmType::Corrupt => 2,
        }
    }

    /// The alarm etcd numbers `code`, if it is one.
    pub fn from_code(code: i64) -> Option<AlarmType> {
        match code {
            1 => Some(AlarmType::NoSpace),
            2 => Some(AlarmType::Corrupt),
            _ => None,
        }
    }

    /// etcd's name for it.
    pub fn name(self) -> &'static str {
        match self {
            AlarmType::NoSpace => "NOSPACE",
            AlarmType::Corrupt => "CORRUPT",
        }
    }
}

/// One raised alarm: etcd's `AlarmMember`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlarmMember {
    /// The member that raised it.
    pub member: u64,
    /// Which alarm.
    pub alarm: AlarmType,
}

/// What an `Alarm` decree does (etcd's `AlarmRequest.AlarmAction`; `GET`
/// is a read and never a decree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlarmAction {
    /// Raise the alarm.
    Activate,
    /// Clear it.
    Deactivate,
}

impl Store {
    /// Every raised alarm, by member then type.
    pub fn alarms(&self) -> impl Iterator<Item = AlarmMember> + '_ {
        self.alarms.iter().copied()
    }

    /// An `Alarm` decree, as etcd's applier: activating answers the alarm
    /// (new or already raised); deactivating answers it if it was raised,
    /// nothing otherwise.
    pub(crate) fn apply_alarm(&mut self, action: AlarmAction, alarm: AlarmMember) -> AlarmResponse {
        let changed = match action {
            AlarmAction::Activate => {
                self.alarms.insert(alarm);
                true
            }
            AlarmAction::Deactivate => self.alarms.remove(&alarm),
        };
        AlarmResponse {
            header: Header {
                revision: self.revision,
            },
            alarms: if changed { vec![alarm] } else { Vec::new() },
        }
    }

    /// etcd's capped applier: with `NOSPACE` raised, a command that adds
    /// data fails before it changes anything.
    pub(crate) fn check_capped(&self, cmd: &Command) -> Result<(), KvError> {
        let no_space = self.alarms.iter().any(|a| a.alarm == AlarmType::NoSpace);
        if no_space && cmd.adds_data() {
            return Err(KvError::NoSpace);
        }
        Ok(())
    }
}

impl Command {
    /// Whether the command can grow the store, so that the quota applies
    /// to it (etcd's quota `Cost` > 0): a Put, a LeaseGrant, or a Txn with
    /// a Put in either branch. etcd 3.4 looks one level deep only; a Put in
    /// a nested Txn counts here too, so the quota cannot be stepped around.
    pub fn adds_data(&self) -> bool {
        match self {
            Command::Put(_) | Command::LeaseGrant { .. } => true,
            Command::Txn(txn) => txn_puts(txn),
            _ => false,
        }
    }
}

fn txn_puts(txn: &TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).any(|op| match op {
        RequestOp::Put(_) => true,
        RequestOp::Txn(nested) => txn_puts(nested),
        RequestOp::Range(_) | RequestOp::DeleteRange(_) => false,
    })
}
