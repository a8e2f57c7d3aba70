//! The upload server (SPEC §2): functions, Python sources, state values and shared files; and
//! the admin API (SPEC §12).
//!
//! With auth on, a user token acts only on its own user's functions, Python sources and state
//! (403 otherwise). Shared files: any token with the `files` scope reads every file (guests of
//! every user read `faasm://` files too); a user token writes and deletes only under
//! `<user>/`, the admin token anywhere. What a user stores through these routes (files under
//! `<user>/` included) is counted against its stored-bytes limit.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use faasm_api::{ApiError, FilePath, StateKey, validate_name};
use faasm_auth::Scope;
use faasm_scheduler::{FunctionKind, storage_error};
use faasm_storage::{Listing, Object};

use crate::App;
use crate::auth::{Caller, protect};
use crate::http::{ApiResponse, blocking, read_body, text};

pub(crate) fn router(app: App) -> Router {
    let routes = Router::new()
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
        .merge(crate::admin::routes());
    protect(routes, app.auth.as_ref())
        .route("/ping", get(|| async { text("PONG") }))
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

const FUNCTIONS: &str = "functions";
const PYTHON: &str = "Python functions";
const STATE: &str = "state";

async fn put_function(
    State(app): State<App>,
    caller: Caller,
    Path((user, function)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    names(&user, &function)?;
    caller.may(Scope::Upload, &user, FUNCTIONS)?;
    let wasm = read_body(&headers, body, app.limits.wasm, app.body_timeout).await?;
    let size = wasm.len();
    let upload = app
        .scheduler
        .functions()
        .upload(FunctionKind::Wasm, &user, &function, wasm);
    stored(
        &app,
        Some(&user),
        format!("function/{function}"),
        size,
        upload,
    )
    .await?;
    tracing::info!(%user, %function, "function uploaded");
    ok("Function upload complete\n")
}

async fn get_function(
    State(app): State<App>,
    caller: Caller,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    caller.may(Scope::Upload, &user, FUNCTIONS)?;
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
    caller: Caller,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    caller.may(Scope::Upload, &user, FUNCTIONS)?;
    let functions = app.scheduler.functions();
    let existed = blocking(|| functions.delete(FunctionKind::Wasm, &user, &function))?;
    forget(&app, Some(&user), format!("function/{function}")).await?;
    deleted(existed, || format!("Function {user}/{function}"))
}

async fn list_functions(State(app): State<App>, caller: Caller, Path(user): Path<String>) -> Reply {
    caller.may(Scope::Upload, &user, FUNCTIONS)?;
    list(&app, Listing::Functions, &user)
}

async fn list_python(State(app): State<App>, caller: Caller, Path(user): Path<String>) -> Reply {
    caller.may(Scope::Upload, &user, PYTHON)?;
    list(&app, Listing::Python, &user)
}

async fn all_functions(State(app): State<App>, caller: Caller) -> Reply {
    catalog(&app, &caller, Listing::Functions)
}

async fn all_python(State(app): State<App>, caller: Caller) -> Reply {
    catalog(&app, &caller, Listing::Python)
}

/// `{"user": ["name", ...], ...}` for every user with names of `listing`.
fn catalog(app: &App, caller: &Caller, listing: Listing) -> Reply {
    let catalog = visible_catalog(app, caller, listing)?;
    Ok(axum::Json(catalog).into_response())
}

/// Every user's names of `listing` as `caller` may see them: a user token sees its own user's
/// only.
pub(crate) fn visible_catalog(
    app: &App,
    caller: &Caller,
    listing: Listing,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, ApiError> {
    caller.needs(Scope::Upload)?;
    let mut catalog = blocking(|| app.store.catalog(listing)).map_err(storage_error)?;
    if let Some(me) = caller.user() {
        catalog.retain(|user, _| user == me);
    }
    Ok(catalog)
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
    caller: Caller,
    Path((user, function)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    names(&user, &function)?;
    caller.may(Scope::Upload, &user, PYTHON)?;
    let source = read_body(&headers, body, app.limits.upload, app.body_timeout).await?;
    let size = source.len();
    let upload = app
        .scheduler
        .functions()
        .upload(FunctionKind::Python, &user, &function, source);
    stored(
        &app,
        Some(&user),
        format!("python/{function}"),
        size,
        upload,
    )
    .await?;
    tracing::info!(%user, %function, "Python function uploaded");
    ok("Python function upload complete\n")
}

async fn get_python(
    State(app): State<App>,
    caller: Caller,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    caller.may(Scope::Upload, &user, PYTHON)?;
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
    caller: Caller,
    Path((user, function)): Path<(String, String)>,
) -> Reply {
    names(&user, &function)?;
    caller.may(Scope::Upload, &user, PYTHON)?;
    let functions = app.scheduler.functions();
    let existed = blocking(|| functions.delete(FunctionKind::Python, &user, &function))?;
    forget(&app, Some(&user), format!("python/{function}")).await?;
    deleted(existed, || format!("Python function {user}/{function}"))
}

fn state_key(user: &str, key: String) -> Result<StateKey, ApiError> {
    validate_name("user", user)?;
    StateKey::new(key)
}

async fn put_state(
    State(app): State<App>,
    caller: Caller,
    Path((user, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let key = state_key(&user, key)?;
    caller.may(Scope::State, &user, STATE)?;
    let value = read_body(&headers, body, app.limits.upload, app.body_timeout).await?;
    let size = value.len();
    let write = async {
        let written = app.state.set_global(&user, &key, value).await;
        written.map_err(state_error)
    };
    stored(&app, Some(&user), state_object(&key), size, write).await?;
    ok("State upload complete\n")
}

async fn get_state(
    State(app): State<App>,
    caller: Caller,
    Path((user, key)): Path<(String, String)>,
) -> Reply {
    let key = state_key(&user, key)?;
    caller.may(Scope::State, &user, STATE)?;
    let found = app
        .state
        .global()
        .get(&user, &key)
        .await
        .map_err(state_error)?;
    bytes_or_404(found, || "State key not found".into())
}

async fn delete_state(
    State(app): State<App>,
    caller: Caller,
    Path((user, key)): Path<(String, String)>,
) -> Reply {
    let key = state_key(&user, key)?;
    caller.may(Scope::State, &user, STATE)?;
    let existed = app
        .state
        .delete_global(&user, &key)
        .await
        .map_err(state_error)?;
    forget(&app, Some(&user), state_object(&key)).await?;
    deleted(existed, || "State key".into())
}

/// `[{"key": "k", "bytes": N}, ...]`; a key that is not UTF-8 is given as `"key_hex"`.
async fn list_state(State(app): State<App>, caller: Caller, Path(user): Path<String>) -> Reply {
    validate_name("user", &user)?;
    caller.may(Scope::State, &user, STATE)?;
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

/// A state value's name in the ledger (keys are bytes: hex).
fn state_object(key: &StateKey) -> String {
    format!("state/{}", hex::encode(key.as_bytes()))
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
    caller: Caller,
    query: Result<Query<FilesQuery>, QueryRejection>,
) -> Reply {
    caller.needs(Scope::Files)?;
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

/// The user a shared file belongs to: its first segment, if the path has more than one.
fn file_owner(path: &FilePath) -> Option<&str> {
    path.as_str().split_once('/').map(|(owner, _)| owner)
}

/// Refuses (403) a user token writing a shared file outside `<user>/`.
fn may_write_file(caller: &Caller, path: &FilePath) -> Result<(), ApiError> {
    caller.needs(Scope::Files)?;
    match caller.user() {
        Some(user) if file_owner(path) != Some(user) => Err(ApiError::Forbidden(format!(
            "The token of user {user} may write shared files only under {user}/"
        ))),
        _ => Ok(()),
    }
}

async fn put_file(State(app): State<App>, caller: Caller, headers: HeaderMap, body: Body) -> Reply {
    let path = file_path(&headers)?;
    may_write_file(&caller, &path)?;
    let contents = read_body(&headers, body, app.limits.upload, app.body_timeout).await?;
    let write =
        async { blocking(|| app.store.put(Object::File(&path), &contents)).map_err(storage_error) };
    let object = format!("file/{}", path.as_str());
    stored(&app, file_owner(&path), object, contents.len(), write).await?;
    ok("Shared file uploaded\n")
}

async fn get_file(State(app): State<App>, caller: Caller, headers: HeaderMap) -> Reply {
    let path = file_path(&headers)?;
    caller.needs(Scope::Files)?;
    let found = blocking(|| app.store.get(Object::File(&path))).map_err(storage_error)?;
    bytes_or_404(found, || format!("File {} not found", path.as_str()))
}

async fn delete_file(State(app): State<App>, caller: Caller, headers: HeaderMap) -> Reply {
    let path = file_path(&headers)?;
    may_write_file(&caller, &path)?;
    let existed = blocking(|| app.store.delete(Object::File(&path))).map_err(storage_error)?;
    forget(&app, file_owner(&path), format!("file/{}", path.as_str())).await?;
    deleted(existed, || format!("File {}", path.as_str()))
}

/// Runs `write` (storing `bytes` as `object` of `owner`) within the owner's stored-bytes
/// limit (413 past it), then records the object's size in the ledger. Only with auth on.
async fn stored(
    app: &App,
    owner: Option<&str>,
    object: String,
    bytes: usize,
    write: impl Future<Output = Result<(), ApiError>>,
) -> Result<(), ApiError> {
    let ledger = app.auth.as_ref().zip(owner);
    if let Some((auth, owner)) = ledger {
        auth.check_stored(owner, &object, bytes as u64).await?;
    }
    write.await?;
    if let Some((auth, owner)) = ledger {
        auth.record_stored(owner, &object, Some(bytes as u64))
            .await?;
    }
    Ok(())
}

/// Takes a deleted object out of the stored-bytes ledger.
async fn forget(app: &App, owner: Option<&str>, object: String) -> Result<(), ApiError> {
    match (&app.auth, owner) {
        (Some(auth), Some(owner)) => auth.record_stored(owner, &object, None).await,
        _ => Ok(()),
    }
}
