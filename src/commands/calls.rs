//! `faasm calls`: the recent calls the invoke server knows (`GET /calls`), newest first.

use std::process::ExitCode;

use serde_json::Value;

use super::client::{self, Endpoints};
use super::output;

#[derive(clap::Args)]
pub struct CallsArgs {
    /// Only calls of this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only calls of this function.
    #[arg(long)]
    pub function: Option<String>,
    /// Only calls in this state.
    #[arg(long, value_parser = ["running", "success", "failed"])]
    pub status: Option<String>,
    /// At most this many calls (the server caps it at 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only calls with a lower id: the next page (printed on stderr when there is one).
    #[arg(long, value_name = "ID")]
    pub before: Option<u64>,
}

/// Prints one line per call (id, status, function, return value, queued and executing time), or
/// with `--json` the server's `{"calls": [...], "next_before"}`.
pub fn run(endpoints: &Endpoints, json: bool, args: CallsArgs) -> anyhow::Result<ExitCode> {
    let mut query: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
    let filters = [
        ("user", args.user),
        ("function", args.function),
        ("status", args.status),
        ("before", args.before.map(|id| id.to_string())),
    ];
    query.extend(
        filters
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
    );
    let http = client::http()?;
    let req = http
        .get(format!("{}/calls", endpoints.invoke))
        .query(&query);
    output::listing(req, json, table)
}

/// The calls as a table; the next page, if any, is named on stderr.
fn table(listing: &Value) -> String {
    let mut table = format!(
        "{:<10} {:<8} {:<32} {:>6} {:>10} {:>10}\n",
        "ID", "STATUS", "FUNCTION", "RETURN", "QUEUED", "EXEC"
    );
    for call in listing["calls"].as_array().into_iter().flatten() {
        let text = |field: &str| call[field].as_str().unwrap_or_default().to_owned();
        let micros = |field: &str| call["timings"][field].as_u64().map_or("-".into(), duration);
        let return_value = call["return_value"]
            .as_i64()
            .map_or("-".into(), |v| v.to_string());
        table.push_str(&format!(
            "{:<10} {:<8} {:<32} {:>6} {:>10} {:>10}\n",
            call["id"].as_u64().unwrap_or_default(),
            text("status"),
            format!("{}/{}", text("user"), text("function")),
            return_value,
            micros("queued_us"),
            micros("exec_us"),
        ));
    }
    if let Some(next) = listing["next_before"].as_u64() {
        eprintln!("faasm: more calls: faasm calls --before {next}");
    }
    table
}

/// Microseconds as a short human duration: `850us`, `12.3ms`, `4.56s`.
fn duration(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros}us"),
        1_000..1_000_000 => format!("{:.1}ms", micros as f64 / 1e3),
        _ => format!("{:.2}s", micros as f64 / 1e6),
    }
}
