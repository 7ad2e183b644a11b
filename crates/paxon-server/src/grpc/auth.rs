//! The `Auth` service (users, roles, `auth enable`) and the checks every
//! other service makes while auth is enabled: the request's `token`
//! metadata names a user, whose roles must cover the keys it touches
//! (etcd's `auth/store.go`; the `root` role may do everything).
//!
//! Changes are decrees (`paxon_kv::AuthCommand`), applied by every member
//! in ledger order; reads (`user get`, `role list`...) and password checks
//! first wait for a linearizable read point, then read the applied state
//! the driver publishes (`crate::state::AuthView`).
//!
//! Known gap: a key-value request is checked against this member's
//! applied auth state when it arrives, not again when its decree is
//! applied (etcd re-checks at apply time with the auth revision), so a
//! request that passed its check just before a permission was revoked
//! can still take effect.

use paxon_kv as kv;
use paxon_kv::{AuthCommand, KvError, PermissionKind};
use paxon_proto::authpb;
use paxon_proto::etcdserverpb as pb;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::Handle;
use crate::error::ServeError;
use crate::password;

/// A key range and what a request does to it.
pub(super) type Access = (Vec<u8>, Vec<u8>, PermissionKind);

fn refuse(error: KvError) -> Status {
    ServeError::Kv(error).into()
}

impl Handle {
    /// The user a request's token names, or `None` while auth is disabled.
    /// A token this member does not know yet may have been given by
    /// another member a moment ago: it is looked up again after a
    /// linearizable read point before it is refused.
    pub(super) async fn caller(&self, metadata: &MetadataMap) -> Result<Option<String>, Status> {
        let token = metadata
            .get("token")
            .map(|t| t.to_str().unwrap_or_default().to_string());
        match self.token_user(token.as_deref()) {
            Err(KvError::InvalidAuthToken) => {
                self.read_point().await?;
                self.token_user(token.as_deref()).map_err(refuse)
            }
            known => known.map_err(refuse),
        }
    }

    fn token_user(&self, token: Option<&str>) -> Result<Option<String>, KvError> {
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        if !auth.enabled() {
            return Ok(None);
        }
        let token = token.ok_or(KvError::UserEmpty)?;
        match auth.token_user(token) {
            Some(user) => Ok(Some(user.to_string())),
            None => Err(KvError::InvalidAuthToken),
        }
    }

    /// Refuses the request unless its user may do every `access`.
    pub(super) async fn check_access(
        &self,
        metadata: &MetadataMap,
        accesses: &[Access],
    ) -> Result<(), Status> {
        let Some(user) = self.caller(metadata).await? else {
            return Ok(());
        };
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        for (key, range_end, kind) in accesses {
            if !auth.is_permitted(&user, key, range_end, *kind) {
                return Err(refuse(KvError::PermissionDenied));
            }
        }
        Ok(())
    }

    /// Refuses the request unless auth is disabled or its user has the
    /// `root` role; returns the user.
    pub(super) async fn check_admin<T: Sync>(
        &self,
        request: &Request<T>,
    ) -> Result<Option<String>, Status> {
        let user = self.caller(request.metadata()).await?;
        if let Some(user) = &user {
            let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
            if !auth.is_root(user) {
                return Err(refuse(KvError::PermissionDenied));
            }
        }
        Ok(user)
    }

    /// Proposes an auth change, allowed to `root` only while enabled.
    async fn change<T: Sync>(
        &self,
        request: &Request<T>,
        command: AuthCommand,
    ) -> Result<pb::ResponseHeader, Status> {
        self.check_admin(request).await?;
        let (response, term) = self.propose(kv::Command::Auth(command)).await?;
        Ok(self.header(response.header().revision.0, term))
    }

    async fn read_header(&self) -> Result<pb::ResponseHeader, Status> {
        let revision = self.read_point().await?;
        Ok(self.header(revision, 0))
    }
}

/// The keys a txn reads and writes (etcd's `checkTxnReqsPermission`):
/// compares read, and so do `prev_kv` puts and deletes.
pub(super) fn txn_accesses(txn: &kv::TxnRequest, out: &mut Vec<Access>) {
    use PermissionKind::{Read, Write};
    for compare in &txn.compare {
        out.push((compare.key.clone(), compare.range_end.clone(), Read));
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            kv::RequestOp::Range(r) => out.push((r.key.clone(), r.range_end.clone(), Read)),
            kv::RequestOp::Put(p) => {
                out.push((p.key.clone(), Vec::new(), Write));
                if p.prev_kv {
                    out.push((p.key.clone(), Vec::new(), Read));
                }
            }
            kv::RequestOp::DeleteRange(d) => {
                out.push((d.key.clone(), d.range_end.clone(), Write));
                if d.prev_kv {
                    out.push((d.key.clone(), d.range_end.clone(), Read));
                }
            }
            kv::RequestOp::Txn(nested) => txn_accesses(nested, out),
        }
    }
}

/// Read and write on every key under `name/`: the queue of a lock or an
/// election, which etcd's own lock and election services reach through
/// the client's KV calls (so with the client's permissions).
pub(super) fn queue_accesses(name: &[u8], kinds: &[PermissionKind]) -> Vec<Access> {
    let prefix = [name, b"/"].concat();
    let end = kv::prefix_range_end(&prefix);
    kinds
        .iter()
        .map(|kind| (prefix.clone(), end.clone(), *kind))
        .collect()
}

/// One key, for each of `kinds`.
pub(super) fn key_accesses(key: &[u8], kinds: &[PermissionKind]) -> Vec<Access> {
    kinds
        .iter()
        .map(|kind| (key.to_vec(), Vec::new(), *kind))
        .collect()
}

/// The password to hash: a client's own hash (etcd 3.5's
/// `hashedPassword`, bcrypt) cannot be used with Paxon's PBKDF2 hashes.
fn plain_password(password: &str, hashed: &str) -> Result<Vec<u8>, Status> {
    if !hashed.is_empty() {
        return Err(Status::invalid_argument(
            "paxon: hashedPassword is not supported; send the password itself",
        ));
    }
    password::hash(password).map_err(Status::internal)
}

fn permission(perm: &authpb::Permission) -> Result<kv::Permission, Status> {
    let kind = PermissionKind::from_code(perm.perm_type)
        .ok_or_else(|| Status::invalid_argument("etcdserver: invalid permission type"))?;
    Ok(kv::Permission {
        kind,
        key: perm.key.clone(),
        range_end: perm.range_end.clone(),
    })
}

#[tonic::async_trait]
impl pb::auth_server::Auth for Handle {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        let header = self.change(&request, AuthCommand::Enable).await?;
        Ok(Response::new(pb::AuthEnableResponse {
            header: Some(header),
        }))
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        let header = self.change(&request, AuthCommand::Disable).await?;
        Ok(Response::new(pb::AuthDisableResponse {
            header: Some(header),
        }))
    }

    async fn auth_status(
        &self,
        _: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        let header = self.read_header().await?;
        let enabled = self
            .auth
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .enabled();
        Ok(Response::new(pb::AuthStatusResponse {
            header: Some(header),
            enabled,
            auth_revision: 0,
        }))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let request = request.into_inner();
        self.read_point().await?;
        {
            let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
            if !auth.enabled() {
                return Err(refuse(KvError::AuthNotEnabled));
            }
            let hash = auth.user(&request.name).map(|u| u.password_hash.clone());
            drop(auth);
            let known = hash.is_some_and(|hash| password::verify(&hash, &request.password));
            if !known {
                return Err(refuse(KvError::AuthFailed));
            }
        }
        let token = password::token().map_err(Status::internal)?;
        let command = AuthCommand::Authenticate {
            user: request.name,
            token: token.clone(),
        };
        let (response, term) = self.propose(kv::Command::Auth(command)).await?;
        Ok(Response::new(pb::AuthenticateResponse {
            header: Some(self.header(response.header().revision.0, term)),
            token,
        }))
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> Result<Response<pb::AuthUserAddResponse>, Status> {
        self.check_admin(&request).await?;
        let body = request.get_ref();
        let no_password = body.options.as_ref().is_some_and(|o| o.no_password);
        if body.name.is_empty() {
            return Err(refuse(KvError::UserEmpty));
        }
        let password_hash = if no_password {
            Vec::new()
        } else {
            plain_password(&body.password, &body.hashed_password)?
        };
        let command = AuthCommand::UserAdd {
            user: body.name.clone(),
            password_hash,
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserAddResponse {
            header: Some(header),
        }))
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let name = &request.get_ref().name;
        if caller.as_ref() != Some(name) {
            self.check_admin(&request).await?;
        }
        let header = self.read_header().await?;
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        let user = auth
            .user(name)
            .ok_or_else(|| refuse(KvError::UserNotFound))?;
        Ok(Response::new(pb::AuthUserGetResponse {
            header: Some(header),
            roles: user.roles.iter().cloned().collect(),
        }))
    }

    async fn user_list(
        &self,
        request: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        self.check_admin(&request).await?;
        let header = self.read_header().await?;
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        Ok(Response::new(pb::AuthUserListResponse {
            header: Some(header),
            users: auth.users().map(|(name, _)| name.clone()).collect(),
        }))
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        let user = request.get_ref().name.clone();
        let header = self
            .change(&request, AuthCommand::UserDelete { user })
            .await?;
        Ok(Response::new(pb::AuthUserDeleteResponse {
            header: Some(header),
        }))
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        let body = request.get_ref();
        let command = AuthCommand::UserChangePassword {
            user: body.name.clone(),
            password_hash: plain_password(&body.password, &body.hashed_password)?,
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserChangePasswordResponse {
            header: Some(header),
        }))
    }

    async fn user_grant_role(
        &self,
        request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<pb::AuthUserGrantRoleResponse>, Status> {
        let body = request.get_ref();
        let command = AuthCommand::UserGrantRole {
            user: body.user.clone(),
            role: body.role.clone(),
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserGrantRoleResponse {
            header: Some(header),
        }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<pb::AuthUserRevokeRoleResponse>, Status> {
        let body = request.get_ref();
        let command = AuthCommand::UserRevokeRole {
            user: body.name.clone(),
            role: body.role.clone(),
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserRevokeRoleResponse {
            header: Some(header),
        }))
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> Result<Response<pb::AuthRoleAddResponse>, Status> {
        let role = request.get_ref().name.clone();
        let header = self.change(&request, AuthCommand::RoleAdd { role }).await?;
        Ok(Response::new(pb::AuthRoleAddResponse {
            header: Some(header),
        }))
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let role = request.get_ref().role.clone();
        if let Some(user) = self.caller(request.metadata()).await? {
            let holds = {
                let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
                auth.user(&user).is_some_and(|u| u.roles.contains(&role))
            };
            if !holds {
                self.check_admin(&request).await?;
            }
        }
        let header = self.read_header().await?;
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        let perms = auth
            .role(&role)
            .ok_or_else(|| refuse(KvError::RoleNotFound))?;
        Ok(Response::new(pb::AuthRoleGetResponse {
            header: Some(header),
            perm: perms
                .iter()
                .map(|p| authpb::Permission {
                    perm_type: p.kind as i32,
                    key: p.key.clone(),
                    range_end: p.range_end.clone(),
                })
                .collect(),
        }))
    }

    async fn role_list(
        &self,
        request: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        self.check_admin(&request).await?;
        let header = self.read_header().await?;
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        Ok(Response::new(pb::AuthRoleListResponse {
            header: Some(header),
            roles: auth.roles().cloned().collect(),
        }))
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        let role = request.get_ref().role.clone();
        let header = self
            .change(&request, AuthCommand::RoleDelete { role })
            .await?;
        Ok(Response::new(pb::AuthRoleDeleteResponse {
            header: Some(header),
        }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<pb::AuthRoleGrantPermissionResponse>, Status> {
        let body = request.get_ref();
        let perm = body
            .perm
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("etcdserver: permission not given"))?;
        let command = AuthCommand::RoleGrantPermission {
            role: body.name.clone(),
            permission: permission(perm)?,
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthRoleGrantPermissionResponse {
            header: Some(header),
        }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<pb::AuthRoleRevokePermissionResponse>, Status> {
        let body = request.get_ref();
        let command = AuthCommand::RoleRevokePermission {
            role: body.role.clone(),
            key: body.key.clone(),
            range_end: body.range_end.clone(),
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse {
            header: Some(header),
        }))
    }
}
