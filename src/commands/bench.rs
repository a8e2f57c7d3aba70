//! `faasm bench`: a closed-loop load benchmark of the HTTP invoke path.
//!
//! The same load client drives two targets in one run: a trivial in-process HTTP server (the
//! baseline: what this machine's HTTP stack can do at all) and a faasm invoke server running an
//! echo function (`--workload`: a wasm echo, a Python echo, or a Python function that solves a
//! linear system with numpy before echoing). The ratio between the two is the number that
//! matters; absolute figures depend on the machine.
//!
//! By default the faasm server is a child `faasm serve` on free loopback ports with a throwaway data
//! directory; `--invoke-url` (and `--upload-url`) point the benchmark at a running server instead.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, ChildStdout, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// What the echo functions answer, and what the baseline answers too, so both targets move the
/// same bytes.
const EXPECTED_BODY: &[u8] = b"hello";

/// A numpy computation, then the input echoed. The solve at import warms up what numpy
/// initialises on first use (module-level code runs once, at upload).
const NUMPY_PY: &str = r#"
import numpy as np
from pyfaasm.core import get_input, set_output

A = np.array([[3.0, 2.0, -1.0], [2.0, -2.0, 4.0], [-1.0, 0.5, -1.0]])
B = np.array([1.0, -2.0, 0.0])
np.linalg.solve(A, B)


def faasm_main():
    x = np.linalg.solve(A, B)
    assert abs(x[2] + 2.0) < 1e-9
    set_output(get_input())
"#;

/// The function every benchmark call runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Workload {
    /// A WebAssembly echo (WAT): the floor, no libc.
    Echo,
    /// examples/c/echo.c compiled by `faasm cc -O2`: what a C user runs.
    CEcho,
    /// examples/c/hello.c: printf to the captured stdout.
    CHello,
    /// examples/cpp/containers.cpp: C++ with the standard library.
    Cpp,
    /// examples/c/zygote_echo.c: an echo starting from its zygote's snapshot.
    Zygote,
    /// The same echo posted with `"async": true`: measures accepting durable async calls.
    EchoAsync,
    /// examples/python/echo.py.
    PythonEcho,
    /// `np.linalg.solve` of a 3x3 system (numpy warmed up at import), then an echo.
    PythonNumpy,
}

impl Workload {
    /// Where it is uploaded and what is uploaded.
    fn upload(self) -> anyhow::Result<(&'static str, Vec<u8>)> {
        Ok(match self {
            Self::Echo | Self::EchoAsync => (
                "/f/bench/echo",
                wat::parse_str(ECHO_WAT).expect("the echo module is valid WAT"),
            ),
            Self::CEcho => (
                "/f/bench/c-echo",
                compile_c("echo.c", include_str!("../../examples/c/echo.c"))?,
            ),
            Self::CHello => (
                "/f/bench/c-hello",
                compile_c("hello.c", include_str!("../../examples/c/hello.c"))?,
            ),
            Self::Cpp => (
                "/f/bench/cpp",
                compile_c(
                    "containers.cpp",
                    include_str!("../../examples/cpp/containers.cpp"),
                )?,
            ),
            Self::Zygote => (
                "/f/bench/zygote",
                compile_c(
                    "zygote_echo.c",
                    include_str!("../../examples/c/zygote_echo.c"),
                )?,
            ),
            Self::PythonEcho => (
                "/p/bench/echo",
                include_bytes!("../../examples/python/echo.py").to_vec(),
            ),
            Self::PythonNumpy => ("/p/bench/numpy", NUMPY_PY.as_bytes().to_vec()),
        })
    }

    /// Whether a call's answer is right: the echo, or a call id for an async call.
    fn expected(self, body: &[u8]) -> bool {
        match self {
            Self::EchoAsync => std::str::from_utf8(body).is_ok_and(|id| id.parse::<u64>().is_ok()),
            Self::CHello => body == b"Hello faasm!\n",
            Self::Cpp => body == b"words=1 unique=1 top=hello:1",
            _ => body == EXPECTED_BODY,
        }
    }

    /// The invoke request every call sends.
    fn invoke_body(self) -> &'static [u8] {
        match self {
            Self::Echo => br#"{"user":"bench","function":"echo","input_data":"hello"}"#,
            Self::CEcho => br#"{"user":"bench","function":"c-echo","input_data":"hello"}"#,
            Self::CHello => br#"{"user":"bench","function":"c-hello","input_data":"hello"}"#,
            Self::Cpp => br#"{"user":"bench","function":"cpp","input_data":"hello"}"#,
            Self::Zygote => br#"{"user":"bench","function":"zygote","input_data":"hello"}"#,
            Self::EchoAsync => {
                br#"{"user":"bench","function":"echo","input_data":"hello","async":true}"#
            }
            Self::PythonEcho => {
                br#"{"python":true,"py_user":"bench","py_func":"echo","input_data":"hello"}"#
            }
            Self::PythonNumpy => {
                br#"{"python":true,"py_user":"bench","py_func":"numpy","input_data":"hello"}"#
            }
        }
    }
}

/// Compiles an example with this binary's `faasm cc -O2`, as a user would.
fn compile_c(name: &str, source: &str) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let (src, out) = (dir.path().join(name), dir.path().join("function.wasm"));
    std::fs::write(&src, source)?;
    let status = Command::new(std::env::current_exe()?)
        .arg("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .context("running faasm cc")?;
    ensure!(status.success(), "faasm cc {name} failed ({status})");
    Ok(std::fs::read(out)?)
}

/// Copies the call's input to its output.
const ECHO_WAT: &str = r#"
(module
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 0)))
    (drop (call $read (i32.const 1024) (local.get $n)))
    (call $write (i32.const 1024) (local.get $n))))
"#;

/// The lines `faasm serve` prints on stdout once each server accepts connections.
const UPLOAD_LISTENING: &str = "faasm: upload server listening on ";
const INVOKE_LISTENING: &str = "faasm: invoke server listening on ";
const SERVE_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Latencies are recorded in microseconds, up to a minute.
const MAX_LATENCY_US: u64 = 60_000_000;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Keep-alive connections, each sending requests back-to-back; a list (e.g. `1,8,32`) runs
    /// each count in turn.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    connections: Vec<usize>,
    /// Seconds measured per target and connection count.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load before each measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Worker threads of the load client's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The function the faasm server runs.
    #[arg(long, value_enum, default_value = "echo")]
    workload: Workload,
    /// Benchmark a running invoke server instead of starting one (e.g. http://127.0.0.1:8080).
    /// Without `--upload-url` the workload's function must already be uploaded.
    #[arg(long)]
    invoke_url: Option<String>,
    /// Upload server of the running deployment given by `--invoke-url`.
    #[arg(long, requires = "invoke_url")]
    upload_url: Option<String>,
    /// Compare with a running HTTP server instead of the in-process one, e.g. nginx with
    /// `location / { return 200 "hello"; }` (its answer must be `hello`).
    #[arg(long)]
    baseline_url: Option<String>,
    /// Print the results as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let timing = Timing::from_args(&args)?;
    ensure!(
        args.client_threads > 0,
        "--client-threads must be at least 1"
    );
    ensure!(
        !args.connections.is_empty() && !args.connections.contains(&0),
        "--connections must be positive"
    );

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    // Kept alive until the end when in-process.
    let (_baseline_server, baseline) = match &args.baseline_url {
        Some(url) => (None, Target::parse("baseline", url)?),
        None => {
            let server = BaselineServer::start()?;
            let target = server.target.clone();
            (Some(server), target)
        }
    };

    // Keep the child alive (and its data dir) until the end; dropping it kills the server.
    let (mut serve_child, upload_url, invoke_url) = match &args.invoke_url {
        Some(invoke) => (None, args.upload_url.clone(), invoke.clone()),
        None => {
            let (child, upload, invoke) = ServeChild::spawn()?;
            (Some(child), Some(upload), invoke)
        }
    };
    let mut faasm = Target::parse("faasm", &invoke_url)?;
    faasm.invoke_body = Bytes::from_static(args.workload.invoke_body());
    faasm.workload = args.workload;
    client.block_on(prepare_faasm(upload_url.as_deref(), args.workload, &faasm))?;

    let mut runs = Vec::new();
    for &connections in &args.connections {
        let baseline_stats = measure(&client, &baseline, connections, &timing)?;
        let faasm_stats = measure(&client, &faasm, connections, &timing).map_err(|err| {
            match serve_child.as_mut().and_then(ServeChild::exit_status) {
                Some(status) => err.context(format!("faasm serve died ({status})")),
                None => err,
            }
        })?;
        runs.push(Run {
            connections,
            baseline: baseline_stats,
            faasm: faasm_stats,
        });
    }

    if args.json {
        println!("{}", results_json(&args, &timing, &runs));
    } else {
        print_table(&timing, &runs);
    }
    let failed = runs.iter().any(|r| r.baseline.errors + r.faasm.errors > 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

struct Timing {
    warmup: Duration,
    duration: Duration,
}

impl Timing {
    fn from_args(args: &BenchArgs) -> anyhow::Result<Self> {
        ensure!(args.duration > 0.0, "--duration must be positive");
        ensure!(args.warmup >= 0.0, "--warmup must not be negative");
        Ok(Self {
            warmup: Duration::try_from_secs_f64(args.warmup)?,
            duration: Duration::try_from_secs_f64(args.duration)?,
        })
    }
}

/// One HTTP endpoint the load client talks to.
#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// The `Host` header value.
    authority: String,
    path: String,
    invoke_body: Bytes,
    /// What a right answer is.
    workload: Workload,
}

impl Target {
    /// Accepts `http://host:port[/path]`; the path defaults to `/`.
    fn parse(name: &'static str, url: &str) -> anyhow::Result<Self> {
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

    fn request(&self, method: Method, content_type: &str, body: Bytes) -> Request<Full<Bytes>> {
        Request::builder()
            .method(method)
            .uri(&self.path)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .expect("a request built from a parsed URL is valid")
    }

    fn invoke_request(&self) -> Request<Full<Bytes>> {
        self.request(Method::POST, "application/json", self.invoke_body.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// The targets: an in-process trivial server and a `faasm serve` child.

/// A hyper HTTP/1.1 server on its own runtime (so it does not share threads with the client),
/// answering every request with 200 and [`EXPECTED_BODY`].
struct BaselineServer {
    target: Target,
    // Dropped last: stops the server.
    _runtime: Runtime,
}

impl BaselineServer {
    fn start() -> anyhow::Result<Self> {
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
struct ServeChild {
    child: Child,
    _data_dir: tempfile::TempDir,
}

impl ServeChild {
    /// Starts the server on free loopback ports; returns it with its upload and invoke URLs.
    fn spawn() -> anyhow::Result<(Self, String, String)> {
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
    fn exit_status(&mut self) -> Option<ExitStatus> {
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
async fn prepare_faasm(
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

// ---------------------------------------------------------------------------------------------
// The load client.

/// What one target did at one connection count, over the measured window.
struct Stats {
    requests: u64,
    errors: u64,
    /// Latency of every measured request, errors included, in µs.
    latency_us: Histogram<u64>,
    first_error: Option<String>,
}

impl Stats {
    fn new() -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            first_error: None,
        }
    }

    fn record(
        &mut self,
        latency: Duration,
        outcome: &anyhow::Result<(StatusCode, Bytes)>,
        workload: Workload,
    ) {
        self.requests += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        let error = match outcome {
            Ok((StatusCode::OK, body)) if workload.expected(body) => return,
            Ok((status, body)) => format!("{status}: {:?}", String::from_utf8_lossy(body)),
            Err(err) => format!("{err:#}"),
        };
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with the same bounds merge");
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs the closed-loop load against one target and reports progress on stderr.
fn measure(
    client: &Runtime,
    target: &Target,
    connections: usize,
    timing: &Timing,
) -> anyhow::Result<Stats> {
    eprintln!(
        "bench: {} at {connections} connection(s): {:?} warm-up + {:?}",
        target.name, timing.warmup, timing.duration
    );
    let stats = client.block_on(load(target, connections, timing))?;
    if let Some(error) = &stats.first_error {
        eprintln!(
            "bench: {}: {} error(s), first: {error}",
            target.name, stats.errors
        );
    }
    Ok(stats)
}

async fn load(target: &Target, connections: usize, timing: &Timing) -> anyhow::Result<Stats> {
    // Connect everything first so that connection setup is not part of the measurement.
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(target.addr).await?);
    }
    let target = Arc::new(target.clone());
    let measure_from = Instant::now() + timing.warmup;
    let end = measure_from + timing.duration;

    let mut tasks = JoinSet::new();
    for sender in senders {
        tasks.spawn(drive_connection(
            Arc::clone(&target),
            sender,
            measure_from,
            end,
        ));
    }
    let mut total = Stats::new();
    while let Some(stats) = tasks.join_next().await {
        total.merge(stats??);
    }
    Ok(total)
}

/// Sends requests back-to-back on one connection until `end`, recording those that start at or
/// after `measure_from`. A broken connection counts as an error and is replaced.
async fn drive_connection(
    target: Arc<Target>,
    mut sender: SendRequest<Full<Bytes>>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::new();
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok(stats);
        }
        let outcome = exchange(&mut sender, target.invoke_request()).await;
        if started >= measure_from {
            stats.record(started.elapsed(), &outcome, target.workload);
        }
        if outcome.is_err() {
            sender = connect(target.addr).await?;
        }
    }
}

/// Opens one keep-alive HTTP/1.1 connection.
async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the sender is dropped; its errors reach the sender.
    tokio::spawn(connection);
    Ok(sender)
}

/// One request and its whole response.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

// ---------------------------------------------------------------------------------------------
// Reporting.

struct Run {
    connections: usize,
    baseline: Stats,
    faasm: Stats,
}

impl Run {
    fn throughput_ratio(&self, timing: &Timing) -> f64 {
        let baseline = requests_per_second(&self.baseline, timing);
        if baseline > 0.0 {
            requests_per_second(&self.faasm, timing) / baseline
        } else {
            0.0
        }
    }
}

fn requests_per_second(stats: &Stats, timing: &Timing) -> f64 {
    stats.requests as f64 / timing.duration.as_secs_f64()
}

fn percentile_us(stats: &Stats, percentile: f64) -> u64 {
    stats.latency_us.value_at_quantile(percentile / 100.0)
}

fn format_latency(micros: u64) -> String {
    if micros < 1000 {
        format!("{micros} µs")
    } else {
        format!("{:.2} ms", micros as f64 / 1000.0)
    }
}

fn print_table(timing: &Timing, runs: &[Run]) {
    println!(
        "{:>11}  {:<8}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}",
        "connections", "target", "requests", "errors", "req/s", "p50", "p99"
    );
    for run in runs {
        for (name, stats) in [("baseline", &run.baseline), ("faasm", &run.faasm)] {
            println!(
                "{:>11}  {name:<8}  {:>9}  {:>6}  {:>9.0}  {:>9}  {:>9}",
                run.connections,
                stats.requests,
                stats.errors,
                requests_per_second(stats, timing),
                format_latency(percentile_us(stats, 50.0)),
                format_latency(percentile_us(stats, 99.0)),
            );
        }
    }
    println!();
    for run in runs {
        println!(
            "{} connection(s): faasm/baseline throughput {:.2}, faasm p99 {}",
            run.connections,
            run.throughput_ratio(timing),
            format_latency(percentile_us(&run.faasm, 99.0)),
        );
    }
}

fn results_json(args: &BenchArgs, timing: &Timing, runs: &[Run]) -> serde_json::Value {
    let target_json = |stats: &Stats| {
        json!({
            "requests": stats.requests,
            "errors": stats.errors,
            "requests_per_second": requests_per_second(stats, timing),
            "p50_us": percentile_us(stats, 50.0),
            "p99_us": percentile_us(stats, 99.0),
            "max_us": stats.latency_us.max(),
        })
    };
    let runs: Vec<_> = runs
        .iter()
        .map(|run| {
            json!({
                "connections": run.connections,
                "baseline": target_json(&run.baseline),
                "faasm": target_json(&run.faasm),
                "throughput_ratio": run.throughput_ratio(timing),
            })
        })
        .collect();
    json!({
        "duration_s": timing.duration.as_secs_f64(),
        "warmup_s": timing.warmup.as_secs_f64(),
        "client_threads": args.client_threads,
        "runs": runs,
    })
}
