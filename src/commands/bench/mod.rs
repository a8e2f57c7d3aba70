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

mod load;
mod report;
mod targets;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::ensure;
use bytes::Bytes;

use load::measure;
use report::{Run, print_table, results_json};
use targets::{BaselineServer, ServeChild, Target, prepare_faasm};
use workload::Workload;

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
}

/// Runs the benchmark; with the global `--json` the results are one JSON object instead of a
/// table.
pub fn run(json: bool, args: BenchArgs) -> anyhow::Result<ExitCode> {
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

    if json {
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

pub(super) struct Timing {
    pub(super) warmup: Duration,
    pub(super) duration: Duration,
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
