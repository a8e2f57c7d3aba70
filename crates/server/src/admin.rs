//! The admin API on the upload port (SPEC §12), admin token only, used by `faasm token`:
//!
//! ```text
//! POST   /admin/tokens         {"user", "scopes"?: [..], "expires_in"?: seconds} -> the token, once
//! GET    /admin/tokens         every user token (never the secrets)
//! DELETE /admin/tokens/{id}    revokes a token
//! GET    /admin/limits/{user}  defaults, overrides, effective limits and stored bytes
//! PUT    /admin/limits/{user}  replaces the user's overrides ({"calls_per_minute": 60, ...})
//! ```

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use faasm_api::{ApiError, UserLimits};
use faasm_auth::{Auth, Scope, now_ms};
use serde::Deserialize;

use crate::App;
use crate::auth::Caller;
use crate::http::{ApiResponse, read_body, text};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/tokens", get(list_tokens).post(create_token))
        .route("/admin/tokens/{id}", delete(revoke_token))
        .route("/admin/limits/{user}", get(get_limits).put(put_limits))
}

type Reply = Result<Response, ApiResponse>;

/// The token store, for the admin token only; 404 when auth is off (there are no tokens).
fn admin(app: &App, caller: &Caller) -> Result<Arc<Auth>, ApiError> {
    let auth = app
        .auth
        .clone()
        .ok_or_else(|| ApiError::NotFound("The admin API needs `faasm serve --auth`".into()))?;
    caller.admin("The admin API")?;
    Ok(auth)
}

async fn json_body<T: serde::de::DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_body(headers, body, 1 << 20, app.body_timeout).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("Bad JSON: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    user: String,
    /// Every scope if absent.
    scopes: Option<Vec<Scope>>,
    /// Seconds from now; never if absent.
    expires_in: Option<u64>,
}

async fn create_token(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let auth = admin(&app, &caller)?;
    let request: CreateToken = json_body(&app, &headers, body).await?;
    let scopes = request.scopes.unwrap_or_else(|| Scope::ALL.to_vec());
    let expires_ms = request
        .expires_in
        .map(|secs| now_ms().saturating_add(secs.saturating_mul(1000)));
    let token = auth.create(&request.user, scopes, expires_ms).await?;
    Ok(Json(token).into_response())
}

async fn list_tokens(State(app): State<App>, caller: Caller) -> Reply {
    let auth = admin(&app, &caller)?;
    Ok(Json(auth.list().await?).into_response())
}

async fn revoke_token(State(app): State<App>, caller: Caller, Path(id): Path<String>) -> Reply {
    let auth = admin(&app, &caller)?;
    if auth.revoke(&id).await? {
        Ok(text(format!("Token {id} revoked\n")).into_response())
    } else {
        Err(ApiError::NotFound(format!("Token {id} not found")).into())
    }
}

async fn limits_reply(auth: &Auth, user: &str) -> Reply {
    let overrides = auth.overrides(user).await?;
    let stored = auth.stored_bytes(user).await?;
    Ok(Json(serde_json::json!({
        "user": user,
        "defaults": auth.defaults(),
        "overrides": overrides,
        "effective": overrides.over(auth.defaults()),
        "stored_bytes": stored,
    }))
    .into_response())
}

async fn get_limits(State(app): State<App>, caller: Caller, Path(user): Path<String>) -> Reply {
    let auth = admin(&app, &caller)?;
    faasm_api::validate_name("user", &user)?;
    limits_reply(&auth, &user).await
}

async fn put_limits(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let auth = admin(&app, &caller)?;
    let limits: UserLimits = json_body(&app, &headers, body).await?;
    auth.set_overrides(&user, limits).await?;
    tracing::info!(%user, ?limits, "limits set");
    limits_reply(&auth, &user).await
}
