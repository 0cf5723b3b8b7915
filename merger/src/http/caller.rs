//! Who calls, as an extractor: a handler names the permission it needs (`Caller<CancelTasks>`)
//! and runs only for a caller whose token carries the role; a refusal is answered (401 with
//! `WWW-Authenticate`, or 403) and audited with the action it was for, before the handler or
//! its body extractors run.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::error;
use crate::auth::{AuthFailure, Identity, Role};
use crate::runtime::Service;

/// What a route needs: the least role, and the action named in answers and the audit log.
pub trait Permission {
    const ROLE: Role;
    const ACTION: &'static str;
}

macro_rules! permissions {
    ($($name:ident: $role:ident, $action:literal;)*) => {$(
        pub struct $name;
        impl Permission for $name {
            const ROLE: Role = Role::$role;
            const ACTION: &'static str = $action;
        }
    )*};
}

permissions! {
    PostAlerts: Trigger, "post alerts";
    ForwardToDingTalk: Trigger, "forward alerts to DingTalk";
    ListTasks: Viewer, "list tasks";
    ReadTasks: Viewer, "read tasks";
    CreateTasks: Operator, "create tasks";
    CancelTasks: Operator, "cancel tasks";
    RollBackMerges: Operator, "roll back merges";
    RetryTasks: Operator, "retry tasks";
    ReadAudit: Operator, "read the audit log";
    SendDigest: Operator, "send the digest";
}

/// An authenticated caller with the role `P` needs, and where the request came from.
pub struct Caller<P> {
    pub who: Identity,
    pub peer: SocketAddr,
    _needs: PhantomData<P>,
}

impl<P: Permission> FromRequestParts<Arc<Service>> for Caller<P> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        svc: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (action, min) = (P::ACTION, P::ROLE);
        match svc.auth.authenticate(header) {
            Ok(who) if who.role >= min => Ok(Caller {
                who,
                peer,
                _needs: PhantomData,
            }),
            Ok(who) => {
                svc.audit(
                    &who.name,
                    &peer.to_string(),
                    action,
                    "forbidden",
                    json!({ "needs": format!("{min:?}").to_lowercase() }),
                )
                .await;
                Err(error(
                    StatusCode::FORBIDDEN,
                    format!("token {} may not {action}", who.name),
                ))
            }
            Err(f) => {
                let missing = f == AuthFailure::Missing;
                svc.audit(
                    "-",
                    &peer.to_string(),
                    action,
                    "unauthorized",
                    json!({ "why": if missing { "no credentials" } else { "invalid credentials" } }),
                )
                .await;
                let mut r = error(
                    StatusCode::UNAUTHORIZED,
                    if missing {
                        "authentication required"
                    } else {
                        "invalid credentials"
                    },
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"smallfiles\""
                        .parse()
                        .expect("static header"),
                );
                Err(r)
            }
        }
    }
}
