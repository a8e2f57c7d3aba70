//! `faasm file put|get|rm PATH` and `faasm file ls [PREFIX]`: store, fetch, delete and list the
//! shared files of the upload server (`PUT`/`GET`/`DELETE /file` with header `FilePath: PATH`,
//! and `GET /files?prefix=`). Functions see a file as `faasm://PATH`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use reqwest::header::HeaderValue;

use super::client::{self, Endpoints};
use super::output;

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
    /// Delete a shared file. Exit code 1 if there is none.
    Rm {
        /// Shared path, e.g. `data/input.txt`.
        path: String,
    },
    /// List the shared files (with their sizes) at or beneath PREFIX, or all of them.
    Ls {
        /// A directory (or file) of the shared tree, e.g. `data`.
        prefix: Option<String>,
    },
}

/// Runs a `file` subcommand. Exit code 0 on success, 1 when the server answers with an error
/// (printed on stderr).
pub fn run(endpoints: &Endpoints, json: bool, cmd: FileCommand) -> anyhow::Result<ExitCode> {
    let http = client::http()?;
    let url = format!("{}/file", endpoints.upload);
    let header = |path: &str| {
        HeaderValue::from_str(path)
            .with_context(|| format!("shared path {path:?} can't be sent in a header"))
    };
    match cmd {
        FileCommand::Put { path, local } => {
            let req = http.put(&url).header(FILE_PATH_HEADER, header(&path)?);
            output::reply(client::send_local(req, local.as_deref())?, json)
        }
        FileCommand::Get { path, local } => {
            let req = http.get(&url).header(FILE_PATH_HEADER, header(&path)?);
            output::fetched(client::send(req)?, local.as_deref(), json)
        }
        FileCommand::Rm { path } => {
            let req = http.delete(&url).header(FILE_PATH_HEADER, header(&path)?);
            output::reply(client::send(req)?, json)
        }
        FileCommand::Ls { prefix } => {
            let mut req = http.get(format!("{}/files", endpoints.upload));
            if let Some(prefix) = &prefix {
                req = req.query(&[("prefix", prefix)]);
            }
            output::listing(req, json, |files| {
                output::sizes(files.as_array().into_iter().flatten().map(|file| {
                    let path = file["path"].as_str().unwrap_or_default().to_owned();
                    (file["bytes"].as_u64().unwrap_or_default(), path)
                }))
            })
        }
    }
}
