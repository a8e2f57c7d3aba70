//! The targets: an in-process trivial server (or a running one), and a `faasm serve` child.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

use super::load::{connect, exchange};
use super::workload::{EXPECTED_BODY, Workload};

/// The lines `faasm serve` prints on stdout once each server accepts connections.
const UPLOAD_LISTENING: &str = "faasm: upload server listening on ";
const INVOKE_LISTENING: &str = "faasm: invoke server listening on ";
const SERVE_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// One HTTP endpoint the load client talks to.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) addr: SocketAddr,
    /// The `Host` header value.
    pub(super) authority: String,
    pub(super) path: String,
    pub(super) invoke_body: Bytes,
    /// What a right answer is.
    pub(super) workload: Workload,
}

impl Target {
    /// Accepts `http://host:port[/path]`; the path defaults to `/`.
    pub(super) fn parse(name: &'static str, url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid URL {url:?}"))?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "only http:// URLs are supported, got {url:?}"
        );
        let authority = uri.authority().context("URL without host")?;
        let host = authority.host().trim_matches(['[', ']']);
        let port = authority.port_u16().unwrap_or(80);
        let addr = (host, port)
            .to_socket_addrs()?
            .next()
            .with_context(|| format!("{host} does not resolve"))?;
        Ok(Self {
            name,
            addr,
            authority: authority.to_string(),
            path: uri.path().to_owned(),
            invoke_body: Bytes::new(),
            workload: Workload::Echo,
        })
    }

    pub(super) fn request(
        &self,
        method: Method,
        content_type: &str,
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        Request::builder()
            .method(method)
            .uri(&self.path)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .expect("a request built from a parsed URL is valid")
    }

    pub(super) fn invoke_request(&self) -> Request<Full<Bytes>> {
        self.request(Method::POST, "application/json", self.invoke_body.clone())
    }
}

/// A hyper HTTP/1.1 server on its own runtime (so it does not share threads with the client),
/// answering every request with 200 and [`EXPECTED_BODY`].
pub(super) struct BaselineServer {
    pub(super) target: Target,
    // Dropped last: stops the server.
    pub(super) _runtime: Runtime,
}

impl BaselineServer {
    pub(super) fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("bench-baseline")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}/", listener.local_addr()?);
        runtime.spawn(serve_baseline(listener));
        Ok(Self {
            target: Target::parse("baseline", &url)?,
            _runtime: runtime,
        })
    }
}

async fn serve_baseline(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(baseline_response);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn baseline_response(request: Request<Incoming>) -> hyper::Result<Response<Full<Bytes>>> {
    // Read the body as any real endpoint must, so the baseline does not get a discount.
    request.into_body().collect().await?;
    Ok(Response::new(Full::new(Bytes::from_static(EXPECTED_BODY))))
}

/// A `faasm serve` child process with a throwaway data directory; killed when dropped.
pub(super) struct ServeChild {
    child: Child,
    _data_dir: tempfile::TempDir,
}

impl ServeChild {
    /// Starts the server on free loopback ports; returns it with its upload and invoke URLs.
    pub(super) fn spawn() -> anyhow::Result<(Self, String, String)> {
        let data_dir = tempfile::Builder::new().prefix("faasm-bench-").tempdir()?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--upload-addr", "127.0.0.1:0"])
            .args(["--invoke-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Per-request logging would measure the terminal, not the server.
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command.spawn().context("starting faasm serve")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let server = Self {
            child,
            _data_dir: data_dir,
        };
        let (upload, invoke) = wait_for_listening(stdout)?;
        Ok((server, upload, invoke))
    }
}

impl ServeChild {
    /// How the server ended, if it has.
    pub(super) fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stdout until both servers have said where they listen.
fn wait_for_listening(stdout: ChildStdout) -> anyhow::Result<(String, String)> {
    let (lines_tx, lines) = mpsc::channel();
    // The reader thread lives as long as the child: it keeps draining stdout so the child never
    // blocks on a full pipe, and passes on anything printed after startup.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Err(mpsc::SendError(line)) = lines_tx.send(line) {
                eprintln!("{line}");
            }
        }
    });

    let deadline = Instant::now() + SERVE_STARTUP_TIMEOUT;
    let (mut upload, mut invoke): (Option<String>, Option<String>) = (None, None);
    loop {
        if let (Some(upload), Some(invoke)) = (&upload, &invoke) {
            return Ok((upload.clone(), invoke.clone()));
        }
        let line = match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("faasm serve did not report its addresses within {SERVE_STARTUP_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("faasm serve exited before reporting its addresses")
            }
        };
        if let Some(url) = line.strip_prefix(UPLOAD_LISTENING) {
            upload = Some(url.trim().to_owned());
        } else if let Some(url) = line.strip_prefix(INVOKE_LISTENING) {
            invoke = Some(url.trim().to_owned());
        } else {
            eprintln!("{line}");
        }
    }
}

/// Uploads the workload's function (when there is an upload server to talk to; the first Python
/// upload on a machine compiles the interpreter, which takes minutes) and checks one call.
pub(super) async fn prepare_faasm(
    upload_url: Option<&str>,
    workload: Workload,
    faasm: &Target,
) -> anyhow::Result<()> {
    if let Some(upload_url) = upload_url {
        let (path, bytes) = workload.upload()?;
        let url = format!("{}{path}", upload_url.trim_end_matches('/'));
        let upload = Target::parse("upload", &url)?;
        let request = upload.request(Method::PUT, "application/octet-stream", bytes.into());
        let (status, body) = exchange(&mut connect(upload.addr).await?, request).await?;
        ensure!(
            status.is_success(),
            "uploading the {workload:?} function to {url} failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let mut sender = connect(faasm.addr).await?;
    let (status, body) = exchange(&mut sender, faasm.invoke_request()).await?;
    ensure!(
        status == StatusCode::OK && workload.expected(&body),
        "the {workload:?} check call failed: {status} {:?}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}
