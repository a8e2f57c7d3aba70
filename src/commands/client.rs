//! Where the servers are, and the HTTP plumbing shared by the client subcommands (`upload`,
//! `invoke`, `status`, `state`, `file`): client construction, error mapping, URL building and
//! printing of response bodies.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::blocking::{Body, Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

/// Base URLs of a deployment's upload and invoke servers.
pub struct Endpoints {
    /// e.g. `http://127.0.0.1:8002`
    pub upload: String,
    /// e.g. `http://127.0.0.1:8080`
    pub invoke: String,
}

impl Endpoints {
    pub fn new(host: &str, upload_port: u16, invoke_port: u16) -> Self {
        Self {
            upload: format!("http://{host}:{upload_port}"),
            invoke: format!("http://{host}:{invoke_port}"),
        }
    }
}

/// Bodies larger than this get a progress bar on stderr while they are sent.
pub const PROGRESS_THRESHOLD: u64 = 1 << 20;

/// Exit code for "the server answered, but not with success".
pub const EXIT_FAILED: u8 = 1;

/// The token every request of the CLI presents (`--token` / `FAASM_TOKEN`).
static TOKEN: OnceLock<String> = OnceLock::new();

/// Sets the token of [`http`]'s clients; called once, before any request.
pub fn use_token(token: String) {
    let _ = TOKEN.set(token);
}

/// An HTTP client for the CLI: no overall timeout (a sync invoke lasts as long as the call, an
/// upload as long as precompilation), but a bounded connect; every request carries the token,
/// if one was given.
pub fn http() -> anyhow::Result<Client> {
    let mut headers = HeaderMap::new();
    if let Some(token) = TOKEN.get() {
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| anyhow!("the token must be printable ASCII"))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Client::builder()
        .default_headers(headers)
        .timeout(None::<Duration>)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")
}

/// Sends a request, turning transport errors into messages that name the URL.
pub fn send(req: RequestBuilder) -> anyhow::Result<Response> {
    req.send().map_err(transport_error)
}

/// Attaches the bytes of `path` as the body (streamed, with a progress bar on stderr when the file
/// is over [`PROGRESS_THRESHOLD`]) and sends the request.
pub fn send_file(req: RequestBuilder, path: &Path) -> anyhow::Result<Response> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    if len <= PROGRESS_THRESHOLD {
        let mut bytes = Vec::with_capacity(len as usize);
        (&file)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        return send(req.body(bytes));
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {}", path.display()));
    let result = send(req.body(Body::sized(bar.wrap_read(file), len)));
    bar.finish_and_clear();
    result
}

/// Sends the bytes of a local file as the body ([`send_file`]), or of stdin when `local` is `None`
/// or `-`.
pub fn send_local(req: RequestBuilder, local: Option<&Path>) -> anyhow::Result<Response> {
    match local.filter(|p| p.as_os_str() != "-") {
        Some(path) => send_file(req, path),
        None => send(req.body(read_stdin()?)),
    }
}

fn transport_error(err: reqwest::Error) -> anyhow::Error {
    let url = err
        .url()
        .map(|u| u.to_string())
        .unwrap_or_else(|| "the server".to_owned());
    // reqwest's own message repeats the URL; the innermost cause says what went wrong.
    let mut cause: &dyn std::error::Error = &err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if err.is_connect() {
        anyhow!("cannot connect to {url} (is `faasm serve` running?): {cause}")
    } else if err.is_timeout() {
        anyhow!("request to {url} timed out: {cause}")
    } else {
        anyhow!("request to {url} failed: {cause}")
    }
}

/// Reads the whole response body.
pub fn body_bytes(resp: Response) -> anyhow::Result<Vec<u8>> {
    let url = resp.url().to_string();
    Ok(resp
        .bytes()
        .with_context(|| format!("reading the response from {url}"))?
        .to_vec())
}

/// The common ending of a client subcommand: on a 2xx response print its body and exit 0; else
/// report the failure on stderr and exit 1.
pub fn print_reply(resp: Response) -> anyhow::Result<ExitCode> {
    if !resp.status().is_success() {
        return report_failure(resp);
    }
    print_body(&body_bytes(resp)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Like [`print_reply`], but streams the body as raw bytes to `local` (or stdout), see
/// [`save_body`].
pub fn save_reply(resp: Response, local: Option<&Path>) -> anyhow::Result<ExitCode> {
    if !resp.status().is_success() {
        return report_failure(resp);
    }
    save_body(resp, local)?;
    Ok(ExitCode::SUCCESS)
}

/// Reports a non-success response: status and body on stderr. Returns exit code 1.
pub fn report_failure(resp: Response) -> anyhow::Result<ExitCode> {
    let status = resp.status();
    let body = body_bytes(resp)?;
    report_error_body(status, &body);
    Ok(ExitCode::from(EXIT_FAILED))
}

/// Prints a server error (status and body) on stderr.
pub fn report_error_body(status: reqwest::StatusCode, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end();
    if text.is_empty() {
        eprintln!("faasm: server answered {status}");
    } else {
        eprintln!("faasm: server answered {status}: {text}");
    }
}

/// Writes a body to stdout as raw bytes, adding a newline only when stdout is a terminal and the
/// body doesn't end with one. A closed pipe (`| head`) is not an error.
pub fn print_body(body: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let newline = out.is_terminal() && !body.is_empty() && !body.ends_with(b"\n");
    let result = out
        .write_all(body)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    ignore_broken_pipe(result).context("writing to stdout")
}

/// Streams a successful response's body to `local` (created or truncated), or to stdout when
/// `local` is `None` or `-`. A partly written file is removed if the transfer fails.
pub fn save_body(mut resp: Response, local: Option<&Path>) -> anyhow::Result<()> {
    match local.filter(|p| p.as_os_str() != "-") {
        None => {
            let mut out = io::stdout().lock();
            let result = io::copy(&mut resp, &mut out).and_then(|_| out.flush());
            ignore_broken_pipe(result).context("writing the response to stdout")
        }
        Some(path) => {
            let mut file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let result = io::copy(&mut resp, &mut file).and_then(|_| file.sync_all());
            if let Err(err) = result {
                drop(file);
                let _ = std::fs::remove_file(path);
                return Err(err).with_context(|| format!("writing {}", path.display()));
            }
            Ok(())
        }
    }
}

fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Reads all of stdin (for bodies given on a pipe).
pub fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("reading stdin")?;
    Ok(bytes)
}

/// Characters left as they are in a path segment: RFC 3986 "unreserved".
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment (`what` names it in errors). Rejects what no URL path can
/// carry as a single segment: empty, containing `/`, or `.`/`..` (which URL parsing collapses).
pub fn segment(what: &str, value: &[u8]) -> anyhow::Result<String> {
    if value.is_empty() {
        bail!("{what} must not be empty");
    }
    if value.contains(&b'/') {
        bail!("{what} must not contain '/'");
    }
    if value == b"." || value == b".." {
        bail!("{what} must not be '.' or '..'");
    }
    Ok(percent_encoding::percent_encode(value, SEGMENT).to_string())
}

/// Builds `{base}/{prefix}/{seg}/{seg}...`, each segment percent-encoded by [`segment`].
pub fn url(base: &str, prefix: &str, segments: &[(&str, &[u8])]) -> anyhow::Result<String> {
    let mut url = format!("{base}/{}", utf8_percent_encode(prefix, SEGMENT));
    for (what, value) in segments {
        url.push('/');
        url.push_str(&segment(what, value)?);
    }
    Ok(url)
}

/// The raw bytes of a command-line argument (on Unix, arguments need not be UTF-8).
pub fn os_bytes(arg: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        arg.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        arg.to_string_lossy().into_owned().into_bytes()
    }
}
