//! Users, roles and permissions (etcd's `auth` package, `store.go` and
//! `range_perm_cache.go`), replicated like any other write: every member
//! applies the same [`AuthCommand`]s in ledger order.
//!
//! Passwords arrive here already hashed by the proposing member (the salt
//! is random, so the hash must be made once, before the decree); the store
//! keeps the hash and never sees a password. Tokens (etcd's "simple"
//! tokens) are chosen by the member a client authenticates with and
//! carried in the decree, so that every member accepts them; like etcd's,
//! they live in memory only: not in snapshots, gone after a restart, and
//! dropped when their user is deleted, changes password or auth is
//! disabled.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::KvError;
use crate::wire::{put_bool, put_bytes, put_len, DecodeError, Reader};

/// The role that may do everything, and the user who must hold it
/// before auth can be enabled.
pub const ROOT: &str = "root";
/// Tokens held before the oldest is forgotten (a client whose token was
/// forgotten authenticates again, as after etcd's token TTL).
pub const TOKENS_MAX: usize = 16_384;

/// What a permission allows (etcd's `authpb.Permission.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PermissionKind {
    /// Range and Watch.
    Read = 0,
    /// Put and DeleteRange.
    Write = 1,
    /// Both.
    ReadWrite = 2,
}

impl PermissionKind {
    /// From etcd's enum value.
    pub fn from_code(code: i32) -> Option<PermissionKind> {
        match code {
            0 => Some(PermissionKind::Read),
            1 => Some(PermissionKind::Write),
            2 => Some(PermissionKind::ReadWrite),
            _ => None,
        }
    }

    fn allows(self, wanted: PermissionKind) -> bool {
        self == PermissionKind::ReadWrite || self == wanted
    }
}

/// A key or range a role may read or write (`range_end` empty: one key;
/// `"\0"`: every key from `key` on).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// The first key (permissions sort by key, as etcd lists them).
    pub key: Vec<u8>,
    /// The end of the range, exclusive.
    pub range_end: Vec<u8>,
    /// Read, write or both.
    pub kind: PermissionKind,
}

/// A user: a password hash (empty: cannot authenticate with a password)
/// and roles.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct User {
    /// The proposer's hash of the password (`paxon-server`'s format).
    pub password_hash: Vec<u8>,
    /// Granted roles, sorted.
    pub roles: BTreeSet<String>,
}

/// A change to users, roles or the auth switch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthCommand {
    /// `auth enable`: needs a `root` user with the `root` role.
    Enable,
    /// `auth disable`.
    Disable,
    /// A client proved its password to a member, which chose `token`.
    Authenticate {
        /// The user.
        user: String,
        /// The token every member will accept for `user`.
        token: String,
    },
    /// `user add`.
    UserAdd {
        /// The new user.
        user: String,
        /// Its password hash (empty with `--no-password`).
        password_hash: Vec<u8>,
    },
    /// `user delete`.
    UserDelete {
        /// The user.
        user: String,
    },
    /// `user passwd`.
    UserChangePassword {
        /// The user.
        user: String,
        /// The new hash.
        password_hash: Vec<u8>,
    },
    /// `user grant-role`.
    UserGrantRole {
        /// The user.
        user: String,
        /// The role.
        role: String,
    },
    /// `user revoke-role`.
    UserRevokeRole {
        /// The user.
        user: String,
        /// The role.
        role: String,
    },
    /// `role add`.
    RoleAdd {
        /// The new role.
        role: String,
    },
    /// `role delete` (also revoked from every user).
    RoleDelete {
        /// The role.
        role: String,
    },
    /// `role grant-permission`.
    RoleGrantPermission {
        /// The role.
        role: String,
        /// What it may now do.
        permission: Permission,
    },
    /// `role revoke-permission`: the permission on exactly this range.
    RoleRevokePermission {
        /// The role.
        role: String,
        /// The permission's key.
        key: Vec<u8>,
        /// The permission's range end.
        range_end: Vec<u8>,
    },
}

/// The replicated auth state, plus the tokens in memory.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    enabled: bool,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, BTreeSet<Permission>>,
    /// token → user, with the order tokens were given (oldest first).
    tokens: BTreeMap<String, (u64, String)>,
    token_seq: u64,
}

/// Equal when the replicated state is (tokens are memory, like etcd's).
impl PartialEq for Auth {
    fn eq(&self, other: &Auth) -> bool {
        self.enabled == other.enabled && self.users == other.users && self.roles == other.roles
    }
}

impl Eq for Auth {}

impl Auth {
    /// Whether requests must carry a token.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> impl Iterator<Item = (&String, &User)> {
        self.users.iter()
    }

    /// A role's permissions, sorted.
    pub fn role(&self, name: &str) -> Option<&BTreeSet<Permission>> {
        self.roles.get(name)
    }

    /// Every role name, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &String> {
        self.roles.keys()
    }

    /// The user a token was given to.
    pub fn token_user(&self, token: &str) -> Option<&str> {
        self.tokens.get(token).map(|(_, user)| user.as_str())
    }

    /// Whether `user` holds the `root` role.
    pub fn is_root(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.contains(ROOT))
    }

    /// Whether `user` may `kind` every key of `[key, range_end)` (etcd's
    /// `isRangeOpPermitted`: the union of the user's permitted ranges must
    /// cover the request's). The `root` role may do everything.
    pub fn is_permitted(
        &self,
        user: &str,
        key: &[u8],
        range_end: &[u8],
        kind: PermissionKind,
    ) -> bool {
        let Some(found) = self.users.get(user) else {
            return false;
        };
        if found.roles.contains(ROOT) {
            return true;
        }
        let mut spans: Vec<Span> = found
            .roles
            .iter()
            .filter_map(|role| self.roles.get(role))
            .flatten()
            .filter(|p| p.kind.allows(kind))
            .map(|p| Span::of(&p.key, &p.range_end))
            .collect();
        spans.sort();
        let wanted = Span::of(key, range_end);
        let mut covered_to = wanted.start.clone();
        for span in spans {
            if span.start > covered_to {
                break;
            }
            match span.end {
                None => return true,
                Some(end) if end > covered_to => covered_to = end,
                Some(_) => {}
            }
            if wanted.end.as_ref().is_some_and(|want| covered_to >= *want) {
                return true;
            }
        }
        false
    }

    /// Applies one change; a refused change changes nothing.
    pub(crate) fn apply(&mut self, command: &AuthCommand) -> Result<(), KvError> {
        match command {
            AuthCommand::Enable => self.enable(),
            AuthCommand::Disable => {
                self.enabled = false;
                self.tokens.clear();
                Ok(())
            }
            AuthCommand::Authenticate { user, token } => self.authenticate(user, token),
            AuthCommand::UserAdd {
                user,
                password_hash,
            } => self.user_add(user, password_hash),
            AuthCommand::UserDelete { user } => self.user_delete(user),
            AuthCommand::UserChangePassword {
                user,
                password_hash,
            } => {
                let found = self.users.get_mut(user).ok_or(KvError::UserNotFound)?;
                found.password_hash.clone_from(password_hash);
                self.forget_tokens_of(user);
                Ok(())
            }
            AuthCommand::UserGrantRole { user, role } => self.grant_role(user, role),
            AuthCommand::UserRevokeRole { user, role } => self.revoke_role(user, role),
            AuthCommand::RoleAdd { role } => self.role_add(role),
            AuthCommand::RoleDelete { role } => self.role_delete(role),
            AuthCommand::RoleGrantPermission { role, permission } => {
                let perms = self.roles.get_mut(role).ok_or(KvError::RoleNotFound)?;
                perms.retain(|p| p.key != permission.key || p.range_end != permission.range_end);
                perms.insert(permission.clone());
                Ok(())
            }
            AuthCommand::RoleRevokePermission {
                role,
                key,
                range_end,
            } => {
                let perms = self.roles.get_mut(role).ok_or(KvError::RoleNotFound)?;
                let before = perms.len();
                perms.retain(|p| p.key != *key || p.range_end != *range_end);
                if perms.len() == before {
                    return Err(KvError::PermissionNotGranted);
                }
                Ok(())
            }
        }
    }

    fn enable(&mut self) -> Result<(), KvError> {
        let root = self.users.get(ROOT).ok_or(KvError::RootUserNotExist)?;
        if !root.roles.contains(ROOT) {
            return Err(KvError::RootRoleNotExist);
        }
        self.enabled = true;
        Ok(())
    }

    fn authenticate(&mut self, user: &str, token: &str) -> Result<(), KvError> {
        if !self.users.contains_key(user) {
            return Err(KvError::AuthFailed);
        }
        if self.tokens.len() >= TOKENS_MAX {
            let oldest = self
                .tokens
                .iter()
                .min_by_key(|(_, (seq, _))| *seq)
                .map(|(token, _)| token.clone());
            if let Some(oldest) = oldest {
                self.tokens.remove(&oldest);
            }
        }
        self.token_seq += 1;
        self.tokens
            .insert(token.to_string(), (self.token_seq, user.to_string()));
        Ok(())
    }

    fn user_add(&mut self, user: &str, password_hash: &[u8]) -> Result<(), KvError> {
        if user.is_empty() {
            return Err(KvError::UserEmpty);
        }
        if self.users.contains_key(user) {
            return Err(KvError::UserAlreadyExist);
        }
        let new = User {
            password_hash: password_hash.to_vec(),
            roles: BTreeSet::new(),
        };
        self.users.insert(user.to_string(), new);
        Ok(())
    }

    fn user_delete(&mut self, user: &str) -> Result<(), KvError> {
        if self.enabled && user == ROOT {
            return Err(KvError::InvalidAuthMgmt);
        }
        self.users.remove(user).ok_or(KvError::UserNotFound)?;
        self.forget_tokens_of(user);
        Ok(())
    }

    fn grant_role(&mut self, user: &str, role: &str) -> Result<(), KvError> {
        if role != ROOT && !self.roles.contains_key(role) {
            return Err(KvError::RoleNotFound);
        }
        let found = self.users.get_mut(user).ok_or(KvError::UserNotFound)?;
        found.roles.insert(role.to_string());
        Ok(())
    }

    fn revoke_role(&mut self, user: &str, role: &str) -> Result<(), KvError> {
        if self.enabled && user == ROOT && role == ROOT {
            return Err(KvError::InvalidAuthMgmt);
        }
        let found = self.users.get_mut(user).ok_or(KvError::UserNotFound)?;
        if !found.roles.remove(role) {
            return Err(KvError::RoleNotGranted);
        }
        Ok(())
    }

    fn role_add(&mut self, role: &str) -> Result<(), KvError> {
        if role.is_empty() {
            return Err(KvError::RoleEmpty);
        }
        if self.roles.contains_key(role) {
            return Err(KvError::RoleAlreadyExist);
        }
        self.roles.insert(role.to_string(), BTreeSet::new());
        Ok(())
    }

    fn role_delete(&mut self, role: &str) -> Result<(), KvError> {
        if self.enabled && role == ROOT {
            return Err(KvError::InvalidAuthMgmt);
        }
        self.roles.remove(role).ok_or(KvError::RoleNotFound)?;
        for user in self.users.values_mut() {
            user.roles.remove(role);
        }
        Ok(())
    }

    fn forget_tokens_of(&mut self, user: &str) {
        self.tokens.retain(|_, (_, holder)| holder != user);
    }

    /// Appends the replicated part (not the tokens) to a snapshot.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_bool(out, self.enabled);
        put_len(out, self.users.len());
        for (name, user) in &self.users {
            put_bytes(out, name.as_bytes());
            put_bytes(out, &user.password_hash);
            put_len(out, user.roles.len());
            for role in &user.roles {
                put_bytes(out, role.as_bytes());
            }
        }
        put_len(out, self.roles.len());
        for (name, perms) in &self.roles {
            put_bytes(out, name.as_bytes());
            put_len(out, perms.len());
            for perm in perms {
                out.push(perm.kind as u8);
                put_bytes(out, &perm.key);
                put_bytes(out, &perm.range_end);
            }
        }
    }

    /// Reads what [`Auth::encode`] wrote; names in strictly increasing
    /// order, every granted role (but `root`) defined.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Auth, DecodeError> {
        let enabled = r.bool()?;
        let mut users = BTreeMap::new();
        for _ in 0..r.count(3)? {
            let name = get_name(r, users.keys().next_back())?;
            let password_hash = r.vec()?;
            let mut roles = BTreeSet::new();
            for _ in 0..r.count(1)? {
                let role = get_name(r, roles.iter().next_back())?;
                roles.insert(role);
            }
            users.insert(
                name,
                User {
                    password_hash,
                    roles,
                },
            );
        }
        let mut roles = BTreeMap::new();
        for _ in 0..r.count(2)? {
            let name = get_name(r, roles.keys().next_back())?;
            let mut perms = BTreeSet::new();
            for _ in 0..r.count(3)? {
                let kind = PermissionKind::from_code(i32::from(r.u8()?))
                    .ok_or(DecodeError::Invalid("unknown permission type"))?;
                perms.insert(Permission {
                    kind,
                    key: r.vec()?,
                    range_end: r.vec()?,
                });
            }
            roles.insert(name, perms);
        }
        let auth = Auth {
            enabled,
            users,
            roles,
            ..Auth::default()
        };
        auth.check().map_err(DecodeError::Invalid)?;
        Ok(auth)
    }

    /// The invariants applying commands keeps.
    fn check(&self) -> Result<(), &'static str> {
        let undefined = self
            .users
            .values()
            .flat_map(|u| &u.roles)
            .any(|role| role != ROOT && !self.roles.contains_key(role));
        if undefined {
            return Err("a user holds a role that does not exist");
        }
        if self.enabled && !self.is_root(ROOT) {
            return Err("auth is enabled without a root user holding the root role");
        }
        Ok(())
    }
}

fn get_name(r: &mut Reader<'_>, previous: Option<&String>) -> Result<String, DecodeError> {
    let name = r.text()?;
    if previous.is_some_and(|p| *p >= name) {
        return Err(DecodeError::Invalid("auth names out of order"));
    }
    Ok(name)
}

/// `[start, end)`; `end` `None` is the end of the key space.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Span {
    fn of(key: &[u8], range_end: &[u8]) -> Span {
        let end = match range_end {
            [] => {
                let mut next = key.to_vec();
                next.push(0);
                Some(next)
            }
            [0] => None,
            end => Some(end.to_vec()),
        };
        Span {
            start: key.to_vec(),
            end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(kind: PermissionKind, key: &str, range_end: &str) -> AuthCommand {
        AuthCommand::RoleGrantPermission {
            role: "r".into(),
            permission: Permission {
                kind,
                key: key.into(),
                range_end: range_end.into(),
            },
        }
    }

    fn alice_with(perms: &[AuthCommand]) -> Auth {
        let mut auth = Auth::default();
        let setup = [
            AuthCommand::UserAdd {
                user: "alice".into(),
                password_hash: b"h".to_vec(),
            },
            AuthCommand::RoleAdd { role: "r".into() },
            AuthCommand::UserGrantRole {
                user: "alice".into(),
                role: "r".into(),
            },
        ];
        for command in setup.iter().chain(perms) {
            auth.apply(command).unwrap();
        }
        auth
    }

    #[test]
    fn ranges_are_permitted_only_when_the_union_of_the_roles_ranges_covers_them() {
        use PermissionKind::*;
        let auth = alice_with(&[
            perm(Read, "foo", ""),
            perm(ReadWrite, "app/", "app0"),
            perm(Read, "app0", "b"),
            perm(Write, "k1", "k5"),
        ]);
        let ok = |key: &str, end: &str, kind| {
            auth.is_permitted("alice", key.as_bytes(), end.as_bytes(), kind)
        };
        assert!(ok("foo", "", Read));
        assert!(!ok("foo", "", Write));
        assert!(!ok("foo", "fop", Read), "foo\\0 is not granted");
        assert!(ok("app/x", "", Write));
        assert!(ok("app/", "app0", Read));
        assert!(ok("app/", "az", Read), "two adjacent grants cover it");
        assert!(!ok("app/", "b\0", Read));
        assert!(ok("app/", "app0", Write));
        assert!(!ok("app/", "\0", Read), "to the end of the key space");
        assert!(ok("k2", "k4", Write));
        assert!(!ok("k2", "k6", Write));
        assert!(!ok("k2", "", Read));
        assert!(!auth.is_permitted("bob", b"foo", b"", Read));
    }

    #[test]
    fn enable_needs_a_root_user_with_the_root_role_and_root_cannot_then_be_removed() {
        let mut auth = Auth::default();
        assert_eq!(
            auth.apply(&AuthCommand::Enable),
            Err(KvError::RootUserNotExist)
        );
        let root = |c: fn(String) -> AuthCommand| c(ROOT.into());
        auth.apply(&root(|user| AuthCommand::UserAdd {
            user,
            password_hash: vec![1],
        }))
        .unwrap();
        assert_eq!(
            auth.apply(&AuthCommand::Enable),
            Err(KvError::RootRoleNotExist)
        );
        auth.apply(&AuthCommand::UserGrantRole {
            user: ROOT.into(),
            role: ROOT.into(),
        })
        .unwrap();
        auth.apply(&AuthCommand::Enable).unwrap();
        let before = auth.clone();
        assert_eq!(
            auth.apply(&root(|user| AuthCommand::UserDelete { user })),
            Err(KvError::InvalidAuthMgmt)
        );
        assert_eq!(auth, before, "a refused change changes nothing");
        assert!(auth.is_permitted(ROOT, b"any", b"\0", PermissionKind::ReadWrite));
    }

    #[test]
    fn tokens_die_with_their_users_password_and_with_auth_disable() {
        let mut auth = alice_with(&[]);
        let token = |t: &str| AuthCommand::Authenticate {
            user: "alice".into(),
            token: t.into(),
        };
        auth.apply(&token("t1")).unwrap();
        assert_eq!(auth.token_user("t1"), Some("alice"));
        auth.apply(&AuthCommand::UserChangePassword {
            user: "alice".into(),
            password_hash: vec![2],
        })
        .unwrap();
        assert_eq!(auth.token_user("t1"), None);
        auth.apply(&token("t2")).unwrap();
        auth.apply(&AuthCommand::Disable).unwrap();
        assert_eq!(auth.token_user("t2"), None);
        assert_eq!(
            auth.apply(&AuthCommand::Authenticate {
                user: "bob".into(),
                token: "t3".into()
            }),
            Err(KvError::AuthFailed)
        );
    }
}
