//! The dashboard on the invoke port: `GET /ui`, one self-contained page (HTML, CSS, JS and SVG
//! charts, no outside resources) built into the binary, which reads `/ui/functions`,
//! `/ui/hosts`, `/calls` and `/metrics`. `GET /` from a browser is sent there.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use faasm_storage::Listing;

use crate::App;
use crate::auth::Caller;
use crate::http::{ApiResponse, text};
use crate::upload::visible_catalog;

const PAGE: &str = include_str!("ui/dashboard.html");

pub(crate) fn router() -> Router<App> {
    Router::new()
        .route("/ui", get(|| async { Html(PAGE) }))
        .route("/ui/functions", get(functions))
        .route("/ui/hosts", get(hosts))
}

/// The deployment's live hosts (this one alone without `--redis`), as the planner envelope's
/// `GET_AVAILABLE_HOSTS` lists them.
async fn hosts(State(app): State<App>, caller: Caller, headers: HeaderMap) -> Response {
    if let Err(error) = caller.admin("the host list") {
        return ApiResponse { error, json: true }.into_response();
    }
    let hosts = app.scheduler.hosts(crate::invoke::host(&headers)).await;
    axum::Json(hosts).into_response()
}

/// `GET /`: a browser (asking for HTML) is redirected to the dashboard; anything else is told
/// that `/` takes POSTs, as before the dashboard existed.
pub(crate) async fn front_door(headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        Redirect::to("/ui").into_response()
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            text("POST a call to /; the dashboard is at /ui\n"),
        )
            .into_response()
    }
}

/// `{"functions": {"user": ["f", ...]}, "python": {...}}`: what the upload server's `GET /f` and
/// `GET /p` list, read from the same store.
async fn functions(State(app): State<App>, caller: Caller) -> Response {
    let listed = || {
        Ok::<_, faasm_api::ApiError>(serde_json::json!({
            "functions": visible_catalog(&app, &caller, Listing::Functions)?,
            "python": visible_catalog(&app, &caller, Listing::Python)?,
        }))
    };
    match listed() {
        Ok(listed) => axum::Json(listed).into_response(),
        Err(error) => ApiResponse { error, json: true }.into_response(),
    }
}
