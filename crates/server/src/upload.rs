//! The upload server (SPEC §2): functions, Python sources, state values and shared files.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use faasm_api::{ApiError, FilePath, StateKey, validate_name};
use faasm_scheduler::{FunctionKind, storage_error};
use faasm_storage::{Listing, Object};

use crate::App;
use crate::http::{ApiResponse, blocking, read_body, text};

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/ping", get(|| async { text("PONG") }))
        .route(
            "/f/{user}/{function}",
            get(get_function).put(put_function).delete(delete_function),
        )
        .route("/f", get(all_functions))
        .route("/f/{user}", get(list_functions))
        .route(
            "/p/{user}/{function}",
            get(get_python).put(put_python).delete(delete_python),
        )
        .route("/p", get(all_python))
        .route("/p/{user}", get(list_python))
        .route("/s/{user}", get(list_state))
        .route(
            "/s/{user}/{key}",
            get(get_state).put(put_state).delete(delete_state),
        )
        .route("/file", get(get_file).put(put_file).delete(delete_file))
        .route("/files", get(list_files))
        .fallback(|| async { (StatusCode::NOT_FOUND, text("Not found")) })
        .with_state(app)
}

type Reply = Result<Response, ApiResponse>;

fn ok(message: &'static str) -> Reply {
    Ok(text(message).into_response())
}

fn bytes_or_404(found: Option<Bytes>, what: impl FnOnce() -> String) -> Reply {
    match found {
        Some(bytes) => Ok(bytes.into_response()),
        None => Err(ApiError::NotFound(what()).into()),
    }
}

fn deleted(existed: bool, what: impl FnOnce() -> String) -> Reply {
    if existed {
        Ok(text(format!("{} deleted\n", what())).into_response())
    } else {
        Err(ApiError::NotFound(format!("{} not found", what())).into())
    }
}

fn names(user: &str, function: &str) -> Result<(), ApiError> {
    validate_name("user", user)?;
    validate_name("function", function)
}

async fn put_function(
    State(app): State<App>,
    Path((user, function)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    names(&user, &function)?;
    let wasm = read_body(&headers, body, app.limits.wasm, app.body_timeout).await?;
    app.scheduler
        .functions()
        .upload(FunctionKind::Wasm, &user, &function, wasm)
        .await?;
    tracing::info!(%user, %function, "function uploaded");
    ok("Function upload complete\n")
}

async fn get_function(
    State(app): State<App>,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    let found = blocking(|| {
        app.store.get(Object::Function {
            user: &user,
            function: &function,
        })
    })
    .map_err(storage_error)?;
    bytes_or_404(found, || format!("Function {user}/{function} not found"))
}

async fn delete_function(
    State(app): State<App>,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    let functions = app.scheduler.functions();
    let existed = blocking(|| functions.delete(FunctionKind::Wasm, &user, &function))?;
    deleted(existed, || format!("Function {user}/{function}"))
}

async fn list_functions(State(app): State<App>, Path(user): Path<String>) -> Reply {
    list(&app, Listing::Functions, &user)
}

async fn list_python(State(app): State<App>, Path(user): Path<String>) -> Reply {
    list(&app, Listing::Python, &user)
}

async fn all_functions(State(app): State<App>) -> Reply {
    catalog(&app, Listing::Functions)
}

async fn all_python(State(app): State<App>) -> Reply {
    catalog(&app, Listing::Python)
}

/// `{"user": ["name", ...], ...}` for every user with names of `listing`.
fn catalog(app: &App, listing: Listing) -> Reply {
    let catalog = blocking(|| app.store.catalog(listing)).map_err(storage_error)?;
    Ok(axum::Json(catalog).into_response())
}

fn list(app: &App, listing: Listing, user: &str) -> Reply {
    validate_name("user", user)?;
    Ok(
        axum::Json(blocking(|| app.store.list(listing, user)).map_err(storage_error)?)
            .into_response(),
    )
}

async fn put_python(
    State(app): State<App>,
    Path((user, function)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    names(&user, &function)?;
    let source = read_body(&headers, body, app.limits.upload, app.body_timeout).await?;
    app.scheduler
        .functions()
        .upload(FunctionKind::Python, &user, &function, source)
        .await?;
    tracing::info!(%user, %function, "Python function uploaded");
    ok("Python function upload complete\n")
}

async fn get_python(
    State(app): State<App>,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    let found = blocking(|| {
        app.store.get(Object::Python {
            user: &user,
            function: &function,
        })
    })
    .map_err(storage_error)?;
    bytes_or_404(found, || {
        format!("Python function {user}/{function} not found")
    })
}

async fn delete_python(
    State(app): State<App>,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    let functions = app.scheduler.functions();
    let existed = blocking(|| functions.delete(FunctionKind::Python, &user, &function))?;
    deleted(existed, || format!("Python function {user}/{function}"))
}

fn state_key(user: &str, key: String) -> Result<StateKey, ApiError> {
    validate_name("user", user)?;
    StateKey::new(key)
}

async fn put_state(
    State(app): State<App>,
    Path((user, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let key = state_key(&user, key)?;
    let value = read_body(&headers, body, app.limits.upload, app.body_timeout).await?;
    app.state
        .set_global(&user, &key, value)
        .await
        .map_err(state_error)?;
    ok("State upload complete\n")
}

async fn get_state(State(app): State<App>, Path((user, key)): Path<(String, String)>) -> Reply {
    let key = state_key(&user, key)?;
    let found = app
        .state
        .global()
        .get(&user, &key)
        .await
        .map_err(state_error)?;
    bytes_or_404(found, || "State key not found".into())
}

async fn delete_state(State(app): State<App>, Path((user, key)): Path<(String, String)>) -> Reply {
    let key = state_key(&user, key)?;
    let existed = app
        .state
        .delete_global(&user, &key)
        .await
        .map_err(state_error)?;
    deleted(existed, || "State key".into())
}

/// `[{"key": "k", "bytes": N}, ...]`; a key that is not UTF-8 is given as `"key_hex"`.
async fn list_state(State(app): State<App>, Path(user): Path<String>) -> Reply {
    validate_name("user", &user)?;
    let keys = app.state.global().keys(&user).await.map_err(state_error)?;
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|(key, bytes)| match std::str::from_utf8(key.as_bytes()) {
            Ok(text) => serde_json::json!({ "key": text, "bytes": bytes }),
            Err(_) => serde_json::json!({ "key_hex": hex::encode(key.as_bytes()), "bytes": bytes }),
        })
        .collect();
    Ok(axum::Json(keys).into_response())
}

fn state_error(err: faasm_state::StateError) -> ApiError {
    ApiError::Internal(err.to_string())
}

fn file_path(headers: &HeaderMap) -> Result<FilePath, ApiError> {
    let raw = headers
        .get("FilePath")
        .ok_or_else(|| ApiError::bad_request("Bad request, expected file path header FilePath"))?;
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("FilePath header is not valid text"))?;
    FilePath::new(raw)
}

#[derive(serde::Deserialize)]
struct FilesQuery {
    prefix: Option<String>,
}

/// `[{"path": "a/b", "bytes": N}, ...]`: the shared files at or beneath `prefix` (all without).
async fn list_files(
    State(app): State<App>,
    query: Result<Query<FilesQuery>, QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|e| ApiError::bad_request(format!("Bad query: {e}")))?;
    let under = match query
        .prefix
        .as_deref()
        .filter(|p| !p.is_empty() && *p != "/")
    {
        Some(prefix) => Some(FilePath::new(prefix)?),
        None => None,
    };
    let files = blocking(|| app.store.files(under.as_ref())).map_err(storage_error)?;
    Ok(axum::Json(files).into_response())
}

async fn put_file(State(app): State<App>, headers: HeaderMap, body: Body) -> Reply {
    let path = file_path(&headers)?;
    let contents = read_body(&headers, body, app.limits.upload, app.body_timeout).await?;
    blocking(|| app.store.put(Object::File(&path), &contents)).map_err(storage_error)?;
    ok("Shared file uploaded\n")
}

async fn get_file(State(app): State<App>, headers: HeaderMap) -> Reply {
    let path = file_path(&headers)?;
    let found = blocking(|| app.store.get(Object::File(&path))).map_err(storage_error)?;
    bytes_or_404(found, || format!("File {} not found", path.as_str()))
}

async fn delete_file(State(app): State<App>, headers: HeaderMap) -> Reply {
    let path = file_path(&headers)?;
    let existed = blocking(|| app.store.delete(Object::File(&path))).map_err(storage_error)?;
    deleted(existed, || format!("File {}", path.as_str()))
}
