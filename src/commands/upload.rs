//! `faasm upload USER FUNC FILE`: store a function (wasm) or a Python function (source) on the
//! upload server (`PUT /f/USER/FUNC` or `PUT /p/USER/FUNC`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::client::{self, Endpoints};
use super::output;

#[derive(clap::Args)]
pub struct UploadArgs {
    /// User (namespace) that owns the function.
    pub user: String,
    /// Function name.
    pub func: String,
    /// The WebAssembly module, or Python source when it ends in `.py`.
    pub file: PathBuf,
    /// Upload FILE as Python source (`/p/USER/FUNC`) whatever its extension.
    #[arg(long)]
    pub python: bool,
}

/// Uploads the file (streamed with a progress bar when over 1 MiB) and prints the server's answer.
/// Exit code 0 on success, 1 when the server refuses it (the reason goes to stderr).
pub fn run(endpoints: &Endpoints, json: bool, args: UploadArgs) -> anyhow::Result<ExitCode> {
    let python = args.python || args.file.extension().is_some_and(|ext| ext == "py");
    let url = client::url(
        &endpoints.upload,
        if python { "p" } else { "f" },
        &[
            ("user", args.user.as_bytes()),
            ("function", args.func.as_bytes()),
        ],
    )?;
    let http = client::http()?;
    output::reply(client::send_file(http.put(&url), &args.file)?, json)
}
