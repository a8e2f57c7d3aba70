//! `faasm state get|set USER KEY`: read or write a value in the global state tier through the
//! upload server (`GET`/`PUT /s/USER/KEY`, the key percent-encoded).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use super::client::{self, Endpoints};

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
}

/// Runs `state get` / `state set`. Exit code 0 on success, 1 when the server answers with an error
/// (printed on stderr).
pub fn run(endpoints: &Endpoints, cmd: StateCommand) -> anyhow::Result<ExitCode> {
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
            client::save_reply(resp, output.as_deref())
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
            client::print_reply(resp)
        }
    }
}
