//! The invoke server (SPEC §3): `POST /` runs a call (sync or async) or polls a status.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use faasm_api::{ApiError, CallId, CallResult, CallStatus, Request};
use faasm_auth::Scope;
use faasm_scheduler::{CallFilter, CallRecord, RecordStatus};

use crate::App;
use crate::auth::{Caller, protect};
use crate::http::{ApiResponse, read_body, text, wants_json};

pub(crate) fn router(app: App) -> Router {
    let routes = Router::new()
        .route("/", post(invoke).get(crate::ui::front_door))
        .route("/metrics", get(metrics))
        .route("/calls", get(calls))
        .merge(crate::ui::router());
    protect(routes, app.auth.as_ref())
        .route("/ping", get(|| async { text("PONG") }))
        .fallback(|| async { (StatusCode::NOT_FOUND, text("Not found")) })
        .with_state(app)
}

const CALL_ID: &str = "x-faasm-call-id";
const RETURN_VALUE: &str = "x-faasm-return-value";

async fn invoke(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let json = wants_json(&headers);
    match handle(&app, &caller, &headers, body, json).await {
        Ok(response) => response,
        Err(error) => ApiResponse { error, json }.into_response(),
    }
}

/// With auth on, a user token invokes only its user's functions and polls only its user's
/// calls (another user's call id is not found, exactly like an unknown one); the planner
/// envelope is the admin's.
async fn handle(
    app: &App,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    json: bool,
) -> Result<Response, ApiError> {
    let body = read_body(headers, body, app.limits.invoke, app.body_timeout).await?;
    let request = Request::parse(&body)?;
    match &request {
        Request::Status { .. } => caller.needs(Scope::Status)?,
        Request::Invoke { call, .. } => caller.may(Scope::Invoke, &call.user, "functions")?,
        Request::ExecuteBatch(_) | Request::BatchStatus { .. } | Request::Planner(_) => {
            caller.admin("The planner API")?
        }
    }
    Ok(match request {
        Request::Status { id } => status_response(id, &poll(app, caller, id).await?, json),
        Request::Invoke {
            call,
            is_async: true,
        } => {
            let (user, limits) = (call.user.clone(), app.limits_of(&call.user).await?);
            let (id, _) = app
                .scheduler
                .submit_within(call, true, limits.as_ref())
                .await?;
            if let Some(auth) = &app.auth {
                auth.record_call(id, &user).await?;
            }
            let mut response = if json {
                axum::Json(CallStatus::Running.json(id)).into_response()
            } else {
                text(id.to_string()).into_response()
            };
            set_header(&mut response, CALL_ID, id as i64);
            response
        }
        Request::ExecuteBatch(batch) => {
            axum::Json(app.batches.execute(&app.scheduler, batch).await?).into_response()
        }
        Request::BatchStatus { app_id } => {
            let status = app
                .batches
                .status(&app.scheduler, app_id, host(headers))
                .await?;
            axum::Json(status).into_response()
        }
        Request::Planner(command) => {
            match app
                .batches
                .command(&app.scheduler, command, host(headers))
                .await
            {
                serde_json::Value::String(ack) => text(ack).into_response(),
                answer => axum::Json(answer).into_response(),
            }
        }
        Request::Invoke {
            call,
            is_async: false,
        } => {
            let limits = app.limits_of(&call.user).await?;
            let result = app.scheduler.invoke_within(call, limits.as_ref()).await?;
            result_response(&result, json)
        }
    })
}

/// What a status poll finds. For a user token, another user's call is not found, exactly as
/// if it did not exist; the owner is what this host knows of the call, else what the token
/// store recorded when another host accepted it.
async fn poll(app: &App, caller: &Caller, id: CallId) -> Result<CallStatus, ApiError> {
    if let Some(user) = caller.user() {
        let owner = match (app.scheduler.call_user(id), &app.auth) {
            (Some(owner), _) => Some(owner.to_string()),
            (None, Some(auth)) => auth.call_owner(id).await?,
            (None, None) => None,
        };
        if owner.as_deref() != Some(user) {
            return Ok(CallStatus::NotFound);
        }
    }
    Ok(app.scheduler.status(id).await)
}

/// This host's name as the client addressed it (without the port): what the planner's
/// answers call the host the calls run on.
pub(crate) fn host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or("127.0.0.1", |h| {
            h.rsplit_once(':').map_or(h, |(host, _)| host)
        })
}

fn result_response(result: &Arc<CallResult>, json: bool) -> Response {
    let status = if result.succeeded() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut response = if json {
        (status, axum::Json(result.to_json())).into_response()
    } else {
        (status, text(result.body())).into_response()
    };
    set_header(&mut response, CALL_ID, result.id as i64);
    set_header(&mut response, RETURN_VALUE, i64::from(result.return_value));
    response
}

fn status_response(id: CallId, status: &CallStatus, json: bool) -> Response {
    let code = StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::OK);
    let mut response = if json {
        (code, axum::Json(status.json(id))).into_response()
    } else {
        (code, text(status.text(id))).into_response()
    };
    if !matches!(status, CallStatus::NotFound) {
        set_header(&mut response, CALL_ID, id as i64);
    }
    if let CallStatus::Finished(result) = status {
        set_header(&mut response, RETURN_VALUE, i64::from(result.return_value));
    }
    response
}

fn set_header(response: &mut Response, name: &'static str, value: i64) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from(value));
}

/// Metrics label every user's functions: with auth on, the admin's.
async fn metrics(State(app): State<App>, caller: Caller) -> Response {
    if let Err(error) = caller.admin("/metrics") {
        return ApiResponse { error, json: false }.into_response();
    }
    let usage = app.scheduler.usage();
    let gauges = [
        ("faasm_calls_running", usage.workers as f64),
        ("faasm_calls_waiting", app.scheduler.queue_depth() as f64),
        ("faasm_instances_in_use", usage.instances as f64),
        (
            "faasm_memory_budget_used_bytes",
            usage.guest_memory_bytes as f64,
        ),
        (
            "faasm_memory_budget_bytes",
            usage.guest_memory_limit_bytes as f64,
        ),
        ("faasm_state_local_bytes", app.state.used_bytes() as f64),
        ("faasm_results_retained_bytes", usage.result_bytes as f64),
    ];
    for (name, value) in gauges {
        metrics::gauge!(name).set(value);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// `GET /calls` query parameters.
#[derive(serde::Deserialize)]
struct CallsQuery {
    user: Option<String>,
    function: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    before: Option<CallId>,
    /// Include the first this many bytes of each finished call's output and stdout.
    preview: Option<usize>,
}

const DEFAULT_CALLS_LIMIT: usize = 50;
const MAX_CALLS_LIMIT: usize = 1000;
const MAX_PREVIEW_BYTES: usize = 1024;

/// Recent calls from the retained results, newest first: `{"calls": [...], "next_before"}`,
/// where `next_before` (if more may follow) is the `before` of the next page. A user token
/// lists only its user's calls.
async fn calls(
    State(app): State<App>,
    caller: Caller,
    query: Result<Query<CallsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(mut query)) = query else {
        let error = ApiError::bad_request("Bad query: limit, before and preview are numbers");
        return ApiResponse { error, json: true }.into_response();
    };
    if let Err(error) = own_calls(&caller, &mut query.user) {
        return ApiResponse { error, json: true }.into_response();
    }
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match RecordStatus::parse(text) {
            Some(status) => Some(status),
            None => {
                let error = ApiError::bad_request("status is one of running, success, failed");
                return ApiResponse { error, json: true }.into_response();
            }
        },
    };
    let limit = query
        .limit
        .unwrap_or(DEFAULT_CALLS_LIMIT)
        .clamp(1, MAX_CALLS_LIMIT);
    let filter = CallFilter {
        user: query.user.filter(|u| !u.is_empty()),
        function: query.function.filter(|f| !f.is_empty()),
        status,
        before: query.before,
        limit,
    };
    let records = app.scheduler.calls(&filter);
    let next_before = (records.len() == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let preview = query.preview.map(|n| n.min(MAX_PREVIEW_BYTES));
    let calls: Vec<serde_json::Value> = records.iter().map(|r| record_json(r, preview)).collect();
    axum::Json(serde_json::json!({ "calls": calls, "next_before": next_before })).into_response()
}

/// Narrows a user token's listing to its own user; another user's is 403.
fn own_calls(caller: &Caller, user: &mut Option<String>) -> Result<(), ApiError> {
    caller.needs(Scope::Status)?;
    if let Some(me) = caller.user() {
        let asked = user.as_deref().filter(|u| !u.is_empty());
        caller.may(Scope::Status, asked.unwrap_or(me), "calls")?;
        *user = Some(me.to_owned());
    }
    Ok(())
}

fn record_json(record: &CallRecord, preview: Option<usize>) -> serde_json::Value {
    let mut json = serde_json::json!({
        "id": record.id,
        "user": &*record.name.user,
        "function": &*record.name.function,
        "status": record.status().as_str(),
    });
    if let Some(result) = &record.result {
        let fields = serde_json::json!({
            "return_value": result.return_value,
            "error": result.error,
            "timings": { "queued_us": result.timings.queued_us, "exec_us": result.timings.exec_us },
            "output_bytes": result.output.len(),
            "stdout_bytes": result.stdout.len(),
        });
        if let (Some(json), serde_json::Value::Object(fields)) = (json.as_object_mut(), fields) {
            json.extend(fields);
            if let Some(n) = preview {
                let head = |bytes: &[u8]| {
                    String::from_utf8_lossy(&bytes[..n.min(bytes.len())]).into_owned()
                };
                json.insert("output_preview".into(), head(&result.output).into());
                json.insert("stdout_preview".into(), head(&result.stdout).into());
            }
        }
    }
    json
}
