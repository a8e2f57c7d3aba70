//! How client subcommands print what the server answered: text for people, or JSON for scripts
//! with the global `--json`. Failures always go to stderr (the server's message as it came) with
//! exit code 1, whatever the format.

use std::path::Path;
use std::process::ExitCode;

use base64::Engine;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{Value, json};

use super::client;

/// Prints a JSON value on stdout, pretty, one newline after it.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    client::print_body(&text)
}

/// `(size, name)` rows as `ls -s` shows them: the size right-aligned, then the name.
pub fn sizes(rows: impl IntoIterator<Item = (u64, String)>) -> String {
    rows.into_iter()
        .map(|(bytes, name)| format!("{bytes:>12}  {name}\n"))
        .collect()
}

/// The ending of a listing command: the server's JSON as it is with `--json`, else the text
/// `render` makes of it.
pub fn listing(
    req: RequestBuilder,
    json: bool,
    render: impl FnOnce(&Value) -> String,
) -> anyhow::Result<ExitCode> {
    let listed = match fetch_json(req)? {
        Ok(listed) => listed,
        Err(code) => return Ok(code),
    };
    if json {
        print_json(&listed)?;
    } else {
        client::print_body(render(&listed).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The ending of a command whose server answers a line of text (an upload, a delete): that text,
/// or `{"ok": true, "message": "..."}` with `--json`.
pub fn reply(resp: Response, json: bool) -> anyhow::Result<ExitCode> {
    if !json {
        return client::print_reply(resp);
    }
    if !resp.status().is_success() {
        return client::report_failure(resp);
    }
    let body = client::body_bytes(resp)?;
    let message = String::from_utf8_lossy(&body);
    print_json(&json!({ "ok": true, "message": message.trim_end() }))?;
    Ok(ExitCode::SUCCESS)
}

/// The ending of a command that fetches bytes (a state value, a shared file): raw bytes to
/// `local` or stdout; with `--json`, `{"bytes": N, "value": "<text>"}` (`"value_b64"` when the
/// bytes are not UTF-8), or `{"bytes": N, "path": "<local>"}` when they went to a file.
pub fn fetched(resp: Response, local: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    if !json {
        return client::save_reply(resp, local);
    }
    if !resp.status().is_success() {
        return client::report_failure(resp);
    }
    let to_file = local.filter(|p| p.as_os_str() != "-");
    let summary = match to_file {
        Some(path) => {
            client::save_body(resp, Some(path))?;
            let bytes = std::fs::metadata(path)?.len();
            json!({ "bytes": bytes, "path": path.display().to_string() })
        }
        None => {
            let body = client::body_bytes(resp)?;
            match std::str::from_utf8(&body) {
                Ok(text) => json!({ "bytes": body.len(), "value": text }),
                Err(_) => json!({
                    "bytes": body.len(),
                    "value_b64": base64::engine::general_purpose::STANDARD.encode(&body),
                }),
            }
        }
    };
    print_json(&summary)?;
    Ok(ExitCode::SUCCESS)
}

/// Sends a request whose answer is JSON and parses it; `Err(exit code)` when the server refused
/// (its message already reported on stderr).
pub fn fetch_json(req: RequestBuilder) -> anyhow::Result<Result<Value, ExitCode>> {
    let resp = client::send(req)?;
    if !resp.status().is_success() {
        return client::report_failure(resp).map(Err);
    }
    let url = resp.url().to_string();
    let body = client::body_bytes(resp)?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| anyhow::anyhow!("{url} did not answer JSON: {e}"))?;
    Ok(Ok(value))
}
