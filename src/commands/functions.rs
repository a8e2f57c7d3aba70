//! `faasm ls [USER]` and `faasm rm USER FUNC`: list and delete functions and Python functions
//! on the upload server (`GET /f[/USER]`, `GET /p[/USER]`, `DELETE /f|p/USER/FUNC`).

use std::process::ExitCode;

use serde_json::{Map, Value, json};

use super::client::{self, Endpoints};
use super::output;

#[derive(clap::Args)]
pub struct LsArgs {
    /// Only this user's functions (every user's when omitted).
    pub user: Option<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// User (namespace) that owns the function.
    pub user: String,
    /// Function name.
    pub func: String,
    /// Delete the Python function USER/FUNC instead of the wasm one.
    #[arg(long)]
    pub python: bool,
}

/// Prints `user/function` lines (Python functions marked `(python)`), or with `--json`
/// `{"functions": {"user": ["f", ...]}, "python": {"user": [...]}}`.
pub fn ls(endpoints: &Endpoints, json: bool, args: LsArgs) -> anyhow::Result<ExitCode> {
    let http = client::http()?;
    let mut kinds = Map::new();
    for (kind, prefix) in [("functions", "f"), ("python", "p")] {
        let url = match &args.user {
            Some(user) => client::url(&endpoints.upload, prefix, &[("user", user.as_bytes())])?,
            None => format!("{}/{prefix}", endpoints.upload),
        };
        let listed = match output::fetch_json(http.get(url))? {
            Ok(listed) => listed,
            Err(code) => return Ok(code),
        };
        // One user's listing is a bare array: key it by the user as the full listing does.
        let by_user = match (&args.user, listed) {
            (Some(_), Value::Array(names)) if names.is_empty() => json!({}),
            (Some(user), Value::Array(names)) => json!({ user: names }),
            (_, listed) => listed,
        };
        kinds.insert(kind.to_owned(), by_user);
    }
    let kinds = Value::Object(kinds);
    if json {
        output::print_json(&kinds)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = String::new();
    for (kind, suffix) in [("functions", ""), ("python", " (python)")] {
        let Some(users) = kinds[kind].as_object() else {
            continue;
        };
        for (user, names) in users {
            for name in names.as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                lines.push_str(&format!("{user}/{name}{suffix}\n"));
            }
        }
    }
    client::print_body(lines.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Deletes the function. Exit code 1 if there is none.
pub fn rm(endpoints: &Endpoints, json: bool, args: RmArgs) -> anyhow::Result<ExitCode> {
    let url = client::url(
        &endpoints.upload,
        if args.python { "p" } else { "f" },
        &[
            ("user", args.user.as_bytes()),
            ("function", args.func.as_bytes()),
        ],
    )?;
    let http = client::http()?;
    output::reply(client::send(http.delete(url))?, json)
}
