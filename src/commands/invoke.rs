//! `faasm invoke USER FUNC`: call a function through the invoke server (`POST /` with Faasm's JSON
//! message) and print its output.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Map, Value, json};

use super::client::{self, Endpoints};

/// Header the invoke server puts on every response about a call (as opposed to a request error).
pub const CALL_ID_HEADER: &str = "X-Faasm-Call-Id";

#[derive(clap::Args)]
#[command(
    after_help = "Exit code: 0 when the call succeeds (HTTP 200), 1 when it fails or is refused."
)]
pub struct InvokeArgs {
    /// User (namespace) that owns the function.
    pub user: String,
    /// Function name.
    pub func: String,
    /// Input for the call, as text.
    #[arg(short, long, value_name = "TEXT", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the call's input from this file (`-` for stdin); binary input is sent base64-encoded.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// Don't wait: print the call id at once (poll it with `faasm status ID`).
    #[arg(long = "async")]
    pub async_: bool,
    /// Extra arguments for the function's argv, split on spaces.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub cmdline: Option<String>,
    /// Run the Python function uploaded as USER/FUNC (`faasm upload USER FUNC file.py`).
    #[arg(long)]
    pub python: bool,
}

/// Invokes the function and prints the response body (the call's stdout then its output, or the
/// call id with `--async`) on stdout. Exit code 0 on HTTP 200, 1 otherwise: a failed call (500)
/// still prints its body on stdout; any other error response goes to stderr. With `--json`, the
/// JSON form of the result: id, status, output, stdout, timings.
pub fn run(endpoints: &Endpoints, json: bool, args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let message = message(&args)?;
    let http = client::http()?;
    let mut req = http.post(format!("{}/", endpoints.invoke)).json(&message);
    if json {
        req = req.header(ACCEPT, "application/json");
    }
    let resp = client::send(req)?;
    let status = resp.status();
    let is_call_result = resp.headers().contains_key(CALL_ID_HEADER)
        || status == StatusCode::OK
        || status == StatusCode::INTERNAL_SERVER_ERROR;
    let body = client::body_bytes(resp)?;
    if !is_call_result {
        client::report_error_body(status, &body);
        return Ok(ExitCode::from(client::EXIT_FAILED));
    }
    if args.async_ && !json && status == StatusCode::OK {
        // The body is the call id: print it as a line whatever stdout is.
        println!("{}", String::from_utf8_lossy(&body).trim());
    } else {
        client::print_body(&body)?;
    }
    Ok(if status == StatusCode::OK {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(client::EXIT_FAILED)
    })
}

/// Builds the JSON message of SPEC §3 from the arguments.
fn message(args: &InvokeArgs) -> anyhow::Result<Value> {
    let mut msg = Map::new();
    if args.python {
        msg.insert("user".into(), json!("python"));
        msg.insert("function".into(), json!("py_func"));
        msg.insert("python".into(), json!(true));
        msg.insert("py_user".into(), json!(args.user));
        msg.insert("py_func".into(), json!(args.func));
    } else {
        msg.insert("user".into(), json!(args.user));
        msg.insert("function".into(), json!(args.func));
    }
    if let Some(text) = &args.input {
        msg.insert("input_data".into(), json!(text));
    } else if let Some(path) = &args.input_file {
        let bytes = if path.as_os_str() == "-" {
            client::read_stdin()?
        } else {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        };
        match String::from_utf8(bytes) {
            Ok(text) => msg.insert("input_data".into(), json!(text)),
            Err(err) => msg.insert(
                "input_b64".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(err.as_bytes())),
            ),
        };
    }
    if args.async_ {
        msg.insert("async".into(), json!(true));
    }
    if let Some(cmdline) = &args.cmdline {
        msg.insert("cmdline".into(), json!(cmdline));
    }
    Ok(Value::Object(msg))
}
