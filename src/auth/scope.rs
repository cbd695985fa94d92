//! The dashboard's extractors. A handler names what it needs in its signature —
//! `EnvScope<ManageKeys>`, `AdminScope`, `SignedIn` — and gets it resolved once: the signed-in
//! user, the environment from the path as that user may see it (404 when they may not see it
//! at all), the permission for the action (403), the session, and the audit actor.

use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::current_user::CurrentUser;
use super::permissions::{Action, EnvAccess};
use crate::db::{self, audit::Actor};
use crate::domain::ids::EnvironmentId;
use crate::domain::project::Slug;
use crate::error::AppError;
use crate::services;
use crate::state::AppState;

/// An action of SPEC §3's table, as a type a handler's signature can name.
pub trait Permission {
    const ACTION: Action;
}

macro_rules! permissions {
    ($($name:ident),*) => {$(
        pub struct $name;
        impl Permission for $name {
            const ACTION: Action = Action::$name;
        }
    )*};
}
permissions!(
    ViewKeys,
    ManageKeys,
    ViewMembers,
    ManageMembers,
    ViewActivity
);

/// A signed-in person's request, outside any environment.
pub struct SignedIn {
    pub user: CurrentUser,
    pub session: Session,
    /// htmx asked for a fragment (not a boosted full navigation).
    pub htmx: bool,
    pub ip: Option<String>,
}

impl SignedIn {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, &self.user.email, self.ip.clone())
    }
}

/// An environment from the path, which the user may act on with `P`.
pub struct EnvScope<P: Permission = ViewKeys> {
    pub user: CurrentUser,
    pub session: Session,
    pub htmx: bool,
    pub ip: Option<String>,
    pub access: EnvAccess,
    permission: PhantomData<P>,
}

impl<P: Permission> EnvScope<P> {
    pub fn env_id(&self) -> EnvironmentId {
        self.access.env.id
    }
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, &self.user.email, self.ip.clone())
    }
}

/// An administrator's request (Admin page); anyone else gets 403.
pub struct AdminScope(pub SignedIn);

impl std::ops::Deref for AdminScope {
    type Target = SignedIn;
    fn deref(&self) -> &SignedIn {
        &self.0
    }
}

type Resolving<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("no app state")))
}

/// The client's address, as the audit trail and the sign-in throttle see it: the peer, or
/// behind a trusted proxy the address it forwarded for (`crate::net`).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    client_addr(req).map(|addr| addr.to_string())
}

/// The client's address: the peer, or behind a trusted proxy the address it forwarded for in
/// `X-Forwarded-For` (or, without one, `X-Real-IP`).
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Some(peer);
    };
    let headers = req.headers();
    let forwarded = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    let real_ip = headers.get("x-real-ip").and_then(|v| v.to_str().ok());
    Some(
        state
            .config
            .trusted_proxies
            .client_behind(peer, forwarded, real_ip),
    )
}

pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request") && !req.headers().contains_key("HX-Boosted")
}

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Resolving<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        let (session, htmx, ip) = (req.get_session(), is_htmx(req), client_ip(req));
        Box::pin(async move {
            Ok(Self {
                user: user.await?,
                session,
                htmx,
                ip,
            })
        })
    }
}

impl FromRequest for AdminScope {
    type Error = AppError;
    type Future = Resolving<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        Box::pin(async move {
            let signed_in = signed_in.await?;
            if !signed_in.user.is_admin {
                return Err(AppError::Forbidden);
            }
            Ok(Self(signed_in))
        })
    }
}

impl<P: Permission + 'static> FromRequest for EnvScope<P> {
    type Error = AppError;
    type Future = Resolving<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        let state = app_state(req);
        // A segment that is not a slug names nothing: 404 before any look-up.
        let slug = |name| req.match_info().get(name).and_then(|s| Slug::parse(s).ok());
        let (project, env) = (slug("project"), slug("env"));
        Box::pin(async move {
            let SignedIn {
                user,
                session,
                htmx,
                ip,
            } = signed_in.await?;
            let (Some(project), Some(env)) = (project, env) else {
                return Err(AppError::NotFound);
            };
            let state = state?;
            let access = env_access(&state, &user, project, env).await?;
            access.require(P::ACTION)?;
            Ok(Self {
                user,
                session,
                htmx,
                ip,
                access,
                permission: PhantomData,
            })
        })
    }
}

/// The environment as this user may see it; 404 when it does not exist or is not theirs.
async fn env_access(
    state: &AppState,
    user: &CurrentUser,
    project_slug: Slug,
    env_slug: Slug,
) -> Result<EnvAccess, AppError> {
    let (user_id, is_admin) = (user.id, user.is_admin);
    services::run(&state.pool, move |conn| {
        let Some((project, env)) =
            db::projects::find_environment(conn, project_slug.as_str(), env_slug.as_str())?
        else {
            return Err(AppError::NotFound);
        };
        let role = db::memberships::role_of(conn, user_id, env.id)?;
        EnvAccess::grant(project, env, role, is_admin).ok_or(AppError::NotFound)
    })
    .await
}
