//! `faasm file put|get PATH [LOCAL]`: store or fetch a shared file on the upload server
//! (`PUT`/`GET /file` with header `FilePath: PATH`). Functions see it as `faasm://PATH`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use reqwest::header::HeaderValue;

use super::client::{self, Endpoints};

/// The header naming the shared file, as in Faasm.
const FILE_PATH_HEADER: &str = "FilePath";

#[derive(clap::Subcommand)]
pub enum FileCommand {
    /// Store a shared file from LOCAL (or stdin).
    Put {
        /// Shared path, e.g. `data/input.txt` (functions open `faasm://data/input.txt`).
        path: String,
        /// Local file to upload; stdin when omitted or `-`.
        local: Option<PathBuf>,
    },
    /// Fetch a shared file into LOCAL (or stdout). Exit code 1 if there is none.
    Get {
        /// Shared path, e.g. `data/input.txt`.
        path: String,
        /// Local file to write; stdout when omitted or `-`.
        local: Option<PathBuf>,
    },
}

/// Runs `file put` / `file get`. Exit code 0 on success, 1 when the server answers with an error
/// (printed on stderr).
pub fn run(endpoints: &Endpoints, cmd: FileCommand) -> anyhow::Result<ExitCode> {
    let http = client::http()?;
    let url = format!("{}/file", endpoints.upload);
    let header = |path: &str| {
        HeaderValue::from_str(path)
            .with_context(|| format!("shared path {path:?} can't be sent in a header"))
    };
    match cmd {
        FileCommand::Put { path, local } => {
            let req = http.put(&url).header(FILE_PATH_HEADER, header(&path)?);
            client::print_reply(client::send_local(req, local.as_deref())?)
        }
        FileCommand::Get { path, local } => {
            let req = http.get(&url).header(FILE_PATH_HEADER, header(&path)?);
            client::save_reply(client::send(req)?, local.as_deref())
        }
    }
}
