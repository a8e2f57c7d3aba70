//! `faasm status ID`: poll a call through the invoke server (`POST / {"id": ID, "status": true}`).
//! Polls never consume the result, so polling again (or with `--wait`) is always safe.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::ACCEPT;
use serde_json::json;

use super::client::{self, Endpoints};

/// Exit code when the call is still running (no `--wait`, or `--wait` timed out).
pub const EXIT_RUNNING: u8 = 3;

/// How often `--wait` polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

#[derive(clap::Args)]
#[command(after_help = "Exit code: 0 SUCCESS, 1 FAILED / NOT FOUND / error, 3 still RUNNING.")]
pub struct StatusArgs {
    /// Call id, as printed by `faasm invoke --async`.
    pub id: u64,
    /// Poll until the call has finished, then print its result.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (0 = never).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300.0,
        requires = "wait"
    )]
    pub timeout: f64,
}

/// What a status answer says.
#[derive(PartialEq)]
pub(super) enum State {
    Running,
    Success,
    Failed,
    NotFound,
}

/// Prints the status body (`RUNNING`, `SUCCESS: ...`, `FAILED: ...`, `NOT FOUND: ...`, or the JSON
/// object with `--json`) on stdout. Exit code 0 for SUCCESS, 1 for FAILED, NOT FOUND or an error
/// response (shown on stderr), 3 while still RUNNING.
pub fn run(endpoints: &Endpoints, json: bool, args: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.timeout.is_finite() && args.timeout >= 0.0,
        "--timeout must be a number of seconds >= 0"
    );
    let http = client::http()?;
    let url = format!("{}/", endpoints.invoke);
    let deadline =
        (args.timeout > 0.0).then(|| Instant::now() + Duration::from_secs_f64(args.timeout));
    loop {
        let (status, body) = poll(&http, &url, args.id, json)?;
        let Some(state) = classify(&body, json) else {
            client::report_error_body(status, &body);
            return Ok(ExitCode::from(client::EXIT_FAILED));
        };
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if state == State::Running && args.wait && !timed_out {
            std::thread::sleep(POLL_INTERVAL);
            continue;
        }
        client::print_body(&body)?;
        return Ok(match state {
            State::Success => ExitCode::SUCCESS,
            State::Failed | State::NotFound => ExitCode::from(client::EXIT_FAILED),
            State::Running => {
                if args.wait {
                    eprintln!(
                        "faasm: call {} still running after {}s",
                        args.id, args.timeout
                    );
                }
                ExitCode::from(EXIT_RUNNING)
            }
        });
    }
}

/// Polls call `id` once at the invoke server's `url`: the HTTP status and the body.
pub(super) fn poll(
    http: &Client,
    url: &str,
    id: u64,
    json: bool,
) -> anyhow::Result<(reqwest::StatusCode, Vec<u8>)> {
    let mut req = http.post(url).json(&json!({"id": id, "status": true}));
    if json {
        req = req.header(ACCEPT, "application/json");
    }
    let resp = client::send(req)?;
    let status = resp.status();
    Ok((status, client::body_bytes(resp)?))
}

/// Reads the call's state from a status body; `None` if the body isn't a status answer (an
/// error).
pub(super) fn classify(body: &[u8], json: bool) -> Option<State> {
    if json && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        return match value.get("status")?.as_str()? {
            "RUNNING" => Some(State::Running),
            "SUCCESS" => Some(State::Success),
            "FAILED" => Some(State::Failed),
            "NOT FOUND" | "NOT_FOUND" => Some(State::NotFound),
            _ => None,
        };
    }
    // Plain text, also the fallback for a server that answers some statuses without JSON.
    [
        (&b"RUNNING"[..], State::Running),
        (b"SUCCESS", State::Success),
        (b"FAILED", State::Failed),
        (b"NOT FOUND", State::NotFound),
    ]
    .into_iter()
    .find(|(prefix, _)| body.starts_with(prefix))
    .map(|(_, state)| state)
}
