//! Services and methods Paxon does not implement yet: each answers gRPC
//! `UNIMPLEMENTED` with a message naming the method, never a silent empty
//! success.

use std::future::Future;
use std::pin::Pin;

use paxon_proto::etcdserverpb as pb;
use paxon_proto::unimplemented;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// A stream that never yields (the methods return before using it).
pub type NoStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Implements the listed unary methods as `UNIMPLEMENTED`, spelled the way
/// `async_trait` spells them (macros expand after it runs).
macro_rules! unimplemented_methods {
    ($service:literal; $($method:ident, $name:literal, $req:ty, $resp:ty;)*) => {
        $(
            fn $method<'life0, 'async_trait>(
                &'life0 self,
                _: Request<$req>,
            ) -> Pin<Box<dyn Future<Output = Result<Response<$resp>, Status>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async { Err(unimplemented(concat!($service, ".", $name))) })
            }
        )*
    };
}

/// The services not built yet.
#[derive(Clone, Copy, Default)]
pub struct NotYet;

#[tonic::async_trait]
impl pb::auth_server::Auth for NotYet {
    unimplemented_methods! { "Auth";
        auth_enable, "AuthEnable", pb::AuthEnableRequest, pb::AuthEnableResponse;
        auth_disable, "AuthDisable", pb::AuthDisableRequest, pb::AuthDisableResponse;
        auth_status, "AuthStatus", pb::AuthStatusRequest, pb::AuthStatusResponse;
        authenticate, "Authenticate", pb::AuthenticateRequest, pb::AuthenticateResponse;
        user_add, "UserAdd", pb::AuthUserAddRequest, pb::AuthUserAddResponse;
        user_get, "UserGet", pb::AuthUserGetRequest, pb::AuthUserGetResponse;
        user_list, "UserList", pb::AuthUserListRequest, pb::AuthUserListResponse;
        user_delete, "UserDelete", pb::AuthUserDeleteRequest, pb::AuthUserDeleteResponse;
        user_change_password, "UserChangePassword", pb::AuthUserChangePasswordRequest, pb::AuthUserChangePasswordResponse;
        user_grant_role, "UserGrantRole", pb::AuthUserGrantRoleRequest, pb::AuthUserGrantRoleResponse;
        user_revoke_role, "UserRevokeRole", pb::AuthUserRevokeRoleRequest, pb::AuthUserRevokeRoleResponse;
        role_add, "RoleAdd", pb::AuthRoleAddRequest, pb::AuthRoleAddResponse;
        role_get, "RoleGet", pb::AuthRoleGetRequest, pb::AuthRoleGetResponse;
        role_list, "RoleList", pb::AuthRoleListRequest, pb::AuthRoleListResponse;
        role_delete, "RoleDelete", pb::AuthRoleDeleteRequest, pb::AuthRoleDeleteResponse;
        role_grant_permission, "RoleGrantPermission", pb::AuthRoleGrantPermissionRequest, pb::AuthRoleGrantPermissionResponse;
        role_revoke_permission, "RoleRevokePermission", pb::AuthRoleRevokePermissionRequest, pb::AuthRoleRevokePermissionResponse;
    }
}
