//! `faasm token create|list|revoke|limits`: the admin API (`/admin/...` on the upload server,
//! SPEC §12) from the command line. Every one needs the admin token (`--token` /
//! `FAASM_TOKEN`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::client::{self, Endpoints};

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token for USER and print it on stdout (it is shown only this once).
    Create {
        user: String,
        /// What the token may do: a comma-separated list of upload, invoke, state, files, status.
        #[arg(long, default_value = "upload,invoke,state,files,status")]
        scopes: String,
        /// When it stops working: a duration such as 90s, 30m, 12h or 30d [default: never].
        #[arg(long, value_parser = seconds)]
        expires: Option<u64>,
    },
    /// List user tokens (never their secrets).
    List,
    /// Revoke a token by id (as `list` shows it); every host refuses it at once.
    Revoke { id: String },
    /// Show USER's limits, or set overrides of them (a setting replaces all earlier ones).
    Limits {
        user: String,
        /// Calls accepted and not finished, per host.
        #[arg(long)]
        concurrent_calls: Option<u32>,
        /// Calls started per minute, per host.
        #[arg(long)]
        calls_per_minute: Option<u32>,
        /// The largest MPI world of a call.
        #[arg(long)]
        max_mpi_world: Option<u32>,
        /// Bytes stored through the upload server, e.g. 1GiB.
        #[arg(long)]
        stored_bytes: Option<bytesize::ByteSize>,
        /// Bytes of finished results kept for polls, per host, e.g. 64MiB.
        #[arg(long)]
        result_bytes: Option<bytesize::ByteSize>,
    },
}

/// A duration in seconds from `90s`, `30m`, `12h`, `30d` or a plain number of seconds.
fn seconds(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 30m, 12h or 30d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    number
        .checked_mul(scale)
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("{text:?} is not a positive duration"))
}

pub fn run(endpoints: &Endpoints, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let http = client::http()?;
    let base = format!("{}/admin", endpoints.upload);
    let request = match &cmd {
        TokenCommand::Create {
            user,
            scopes,
            expires,
        } => {
            let scopes: Vec<&str> = scopes.split(',').map(str::trim).collect();
            let body = json!({ "user": user, "scopes": scopes, "expires_in": expires });
            http.post(format!("{base}/tokens")).json(&body)
        }
        TokenCommand::List => http.get(format!("{base}/tokens")),
        TokenCommand::Revoke { id } => http.delete(client::url(
            &base,
            "tokens",
            &[("token id", id.as_bytes())],
        )?),
        TokenCommand::Limits {
            user,
            concurrent_calls,
            calls_per_minute,
            max_mpi_world,
            stored_bytes,
            result_bytes,
        } => {
            let url = client::url(&base, "limits", &[("user", user.as_bytes())])?;
            let overrides = json!({
                "concurrent_calls": concurrent_calls,
                "calls_per_minute": calls_per_minute,
                "max_mpi_world": max_mpi_world,
                "stored_bytes": stored_bytes.map(|b| b.as_u64()),
                "result_bytes": result_bytes.map(|b| b.as_u64()),
            });
            let set = overrides
                .as_object()
                .is_some_and(|o| o.values().any(|v| !v.is_null()));
            if set {
                http.put(url).json(&overrides)
            } else {
                http.get(url)
            }
        }
    };
    let response = client::send(request)?;
    if !response.status().is_success() {
        return client::report_failure(response);
    }
    let body = client::body_bytes(response)?;
    match cmd {
        TokenCommand::Create { .. } => {
            let created: Value = serde_json::from_slice(&body).context("reading the new token")?;
            let Some(token) = created["token"].as_str() else {
                bail!("the server answered no token");
            };
            eprintln!(
                "faasm: token {} for user {} (shown only now)",
                created["id"].as_str().unwrap_or("?"),
                created["user"].as_str().unwrap_or("?")
            );
            println!("{token}");
        }
        TokenCommand::List => {
            let tokens: Vec<Value> = serde_json::from_slice(&body).context("reading the tokens")?;
            println!("{:<16}  {:<20}  {:<34}  EXPIRES", "ID", "USER", "SCOPES");
            for token in tokens {
                let scopes: Vec<&str> = token["scopes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let expires = token["expires_ms"]
                    .as_u64()
                    .map_or("never".to_owned(), expiry);
                println!(
                    "{:<16}  {:<20}  {:<34}  {expires}",
                    token["id"].as_str().unwrap_or("?"),
                    token["user"].as_str().unwrap_or("?"),
                    scopes.join(",")
                );
            }
        }
        TokenCommand::Revoke { .. } | TokenCommand::Limits { .. } => client::print_body(&body)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// When a token expires, from now: `in 3600 s` or `expired`.
fn expiry(at_ms: u64) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    match at_ms.checked_sub(now_ms) {
        Some(left) if left > 0 => format!("in {} s", left.div_ceil(1000)),
        _ => "expired".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn durations() {
        assert_eq!(seconds("90"), Ok(90));
        assert_eq!(seconds("90s"), Ok(90));
        assert_eq!(seconds("30m"), Ok(1800));
        assert_eq!(seconds("12h"), Ok(43_200));
        assert_eq!(seconds("30d"), Ok(2_592_000));
        assert!(seconds("0").is_err());
        assert!(seconds("3w").is_err());
        assert!(seconds("h").is_err());
    }
}
