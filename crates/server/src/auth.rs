//! SPEC §12 over HTTP: the layer that authenticates every request but `/ping` when
//! `faasm serve --auth` is on, and [`Caller`], what a handler asks whether the request may do
//! what it asks. With auth off there is no layer and every caller may do everything.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use faasm_api::ApiError;
use faasm_auth::{Auth, Principal, Scope};

use crate::http::ApiResponse;

/// Puts every route of `router` so far behind authentication, if `auth` is on.
pub(crate) fn protect<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    auth: Option<&Arc<Auth>>,
) -> Router<S> {
    match auth {
        Some(auth) => {
            router.route_layer(middleware::from_fn_with_state(auth.clone(), authenticate))
        }
        None => router,
    }
}

async fn authenticate(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    match auth.authenticate(header).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => {
            let json = crate::http::wants_json(request.headers());
            ApiResponse { error, json }.into_response()
        }
    }
}

/// Who sent the request: nobody in particular when auth is off.
#[derive(Debug, Clone)]
pub(crate) struct Caller(Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<Principal>().cloned()))
    }
}

impl Caller {
    /// The user of a user token (`None` with auth off or for the admin).
    pub fn user(&self) -> Option<&str> {
        match &self.0 {
            Some(Principal::User { user, .. }) => Some(user),
            _ => None,
        }
    }

    /// Refuses (403) a user token without `scope`.
    pub fn needs(&self, scope: Scope) -> Result<(), ApiError> {
        match &self.0 {
            Some(Principal::User { user, scopes }) if !scopes.contains(&scope) => {
                Err(ApiError::Forbidden(format!(
                    "The token of user {user} lacks the {} scope",
                    scope.name()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Refuses (403) a user token without `scope`, or of another user than `owner`, whose
    /// `what` (e.g. "functions") the request is about.
    pub fn may(&self, scope: Scope, owner: &str, what: &str) -> Result<(), ApiError> {
        self.needs(scope)?;
        match self.user() {
            Some(user) if user != owner => Err(ApiError::Forbidden(format!(
                "The token of user {user} may not act on user {owner}'s {what}"
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses (403) anything but the admin token (when auth is on).
    pub fn admin(&self, what: &str) -> Result<(), ApiError> {
        match &self.0 {
            Some(Principal::User { .. }) => {
                Err(ApiError::Forbidden(format!("{what} needs the admin token")))
            }
            _ => Ok(()),
        }
    }
}
