//! `faasm logs ID`: what a finished call printed and returned (a status poll, without the
//! `SUCCESS: `/`FAILED: ` prefix): its stdout, then its output or the reason it failed.

use std::process::ExitCode;

use super::client::{self, Endpoints};
use super::status::{self, EXIT_RUNNING, State};

#[derive(clap::Args)]
#[command(after_help = "Exit code: 0 SUCCESS, 1 FAILED / NOT FOUND / error, 3 still RUNNING.")]
pub struct LogsArgs {
    /// Call id, as printed by `faasm invoke --async` or listed by `faasm calls`.
    pub id: u64,
}

/// Prints the call's stdout then output (raw bytes), or with `--json` its status object (`stdout`,
/// `output_data`, `error`, timings). A running or unknown call is reported on stderr.
pub fn run(endpoints: &Endpoints, json: bool, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let http = client::http()?;
    let url = format!("{}/", endpoints.invoke);
    let (code, body) = status::poll(&http, &url, args.id, json)?;
    let Some(state) = status::classify(&body, json) else {
        client::report_error_body(code, &body);
        return Ok(ExitCode::from(client::EXIT_FAILED));
    };
    match state {
        State::Running => {
            eprintln!("faasm: call {} is still running", args.id);
            return Ok(ExitCode::from(EXIT_RUNNING));
        }
        State::NotFound => {
            client::report_error_body(code, &body);
            return Ok(ExitCode::from(client::EXIT_FAILED));
        }
        State::Success | State::Failed => {}
    }
    let logs = if json {
        &body[..]
    } else {
        ["SUCCESS: ", "FAILED: "]
            .iter()
            .find_map(|prefix| body.strip_prefix(prefix.as_bytes()))
            .unwrap_or(&body)
    };
    client::print_body(logs)?;
    Ok(if state == State::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(client::EXIT_FAILED)
    })
}
