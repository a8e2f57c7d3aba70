//! `faasm state get|set|rm USER KEY` and `faasm state ls USER`: read, write, delete and list
//! values of the global state tier through the upload server (`GET`/`PUT`/`DELETE /s/USER/KEY`,
//! the key percent-encoded, and `GET /s/USER`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use super::client::{self, Endpoints};
use super::output;

#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// Print a state value (raw bytes) or save it to a file. Exit code 1 if the key was never set.
    Get {
        /// User that owns the key.
        user: String,
        /// State key (any bytes except '/').
        key: OsString,
        /// Write the value to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Set a state value to VALUE, to the bytes of --file, or to empty when neither is given.
    Set {
        /// User that owns the key.
        user: String,
        /// State key (any bytes except '/').
        key: OsString,
        /// The new value, as given on the command line.
        #[arg(conflicts_with = "file")]
        value: Option<OsString>,
        /// Read the new value from this file (`-` for stdin).
        #[arg(short, long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Delete a state value. Exit code 1 if the key was never set.
    Rm {
        /// User that owns the key.
        user: String,
        /// State key (any bytes except '/').
        key: OsString,
    },
    /// List a user's state keys and the sizes of their values.
    Ls {
        /// User whose keys to list.
        user: String,
    },
}

/// Runs a `state` subcommand. Exit code 0 on success, 1 when the server answers with an error
/// (printed on stderr).
pub fn run(endpoints: &Endpoints, json: bool, cmd: StateCommand) -> anyhow::Result<ExitCode> {
    let http = client::http()?;
    let state_url = |user: &str, key: &OsString| {
        client::url(
            &endpoints.upload,
            "s",
            &[
                ("user", user.as_bytes()),
                ("state key", &client::os_bytes(key)),
            ],
        )
    };
    match cmd {
        StateCommand::Get { user, key, output } => {
            let resp = client::send(http.get(state_url(&user, &key)?))?;
            output::fetched(resp, output.as_deref(), json)
        }
        StateCommand::Set {
            user,
            key,
            value,
            file,
        } => {
            let req = http.put(state_url(&user, &key)?);
            let resp = match (value, file) {
                (_, Some(path)) => client::send_local(req, Some(&path))?,
                (Some(value), None) => client::send(req.body(client::os_bytes(&value)))?,
                (None, None) => client::send(req.body(Vec::new()))?,
            };
            output::reply(resp, json)
        }
        StateCommand::Rm { user, key } => {
            output::reply(client::send(http.delete(state_url(&user, &key)?))?, json)
        }
        StateCommand::Ls { user } => {
            let url = client::url(&endpoints.upload, "s", &[("user", user.as_bytes())])?;
            output::listing(http.get(url), json, |keys| {
                output::sizes(keys.as_array().into_iter().flatten().map(|entry| {
                    // A key that is not UTF-8 is shown as `hex:` and its bytes in hex.
                    let key = match (entry["key"].as_str(), entry["key_hex"].as_str()) {
                        (Some(key), _) => key.to_owned(),
                        (None, hex) => format!("hex:{}", hex.unwrap_or_default()),
                    };
                    (entry["bytes"].as_u64().unwrap_or_default(), key)
                }))
            })
        }
    }
}
