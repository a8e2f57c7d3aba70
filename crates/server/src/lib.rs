//! The two HTTP servers of SPEC §2 and §3 on top of the scheduler and the object store: the
//! upload server (functions, Python sources, state, shared files) and the invoke server (calls,
//! status polls, `/metrics`, `/calls` and the `/ui` dashboard). Handlers only translate between HTTP and the crates below; every
//! refusal is an [`ApiError`](faasm_api::ApiError) rendered by [`http::ApiResponse`].

mod admin;
mod auth;
mod http;
mod invoke;
mod listen;
mod planner;
mod ui;
mod upload;

use std::future::Future;
use std::sync::Arc;

use faasm_auth::Auth;
use faasm_scheduler::Scheduler;
use faasm_state::LocalTier;
use faasm_storage::ObjectStore;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

pub use listen::ConnectionLimits;

/// Request body caps, in bytes (SPEC §1); a larger body gets 413.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub wasm: usize,
    /// Python sources, shared files and state values.
    pub upload: usize,
    pub invoke: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            wasm: 256 << 20,
            upload: 64 << 20,
            invoke: 16 << 20,
        }
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct App {
    scheduler: Arc<Scheduler>,
    store: Arc<dyn ObjectStore>,
    /// This host's state: `/s` reads and writes its global tier, dropping the local copy.
    state: Arc<LocalTier>,
    limits: BodyLimits,
    /// How long a request body may take to arrive.
    body_timeout: std::time::Duration,
    metrics: PrometheusHandle,
    batches: Arc<planner::Batches>,
    /// Tokens and per-user limits when `--auth` is on.
    auth: Option<Arc<Auth>>,
}

/// Installs the process's metrics recorder: Prometheus, every `_seconds` histogram with the
/// buckets of [`SECONDS_BUCKETS`](faasm_scheduler::SECONDS_BUCKETS) (histograms, not
/// summaries, so that hosts can be aggregated). Call it once, before the scheduler runs calls.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            faasm_scheduler::SECONDS_BUCKETS,
        )?
        .install_recorder()?;
    describe_metrics();
    Ok(handle)
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!("faasm_call_exec_seconds", "Time calls spent executing");
    describe_histogram!(
        "faasm_call_queued_seconds",
        "Time calls waited for an instance and a worker"
    );
    describe_histogram!(
        "faasm_call_latency_seconds",
        "Time from a call's acceptance to its result"
    );
    describe_histogram!(
        "faasm_cold_start_seconds",
        "Time preparing modules (compiling or fetching compiled code) at upload or first call"
    );
    describe_counter!(
        "faasm_calls_total",
        "Calls by outcome: success, failed, timeout, memory, rejected"
    );
    describe_counter!("faasm_module_loads_total", "Modules loaded from storage");
    describe_counter!(
        "faasm_mpi_host_messages_total",
        "MPI messages this host sent to ranks on other hosts"
    );
    describe_counter!(
        "faasm_mpi_host_message_bytes_total",
        "Bytes on the wire (25-byte frame headers included) of the MPI messages this host sent to ranks on other hosts"
    );
    describe_gauge!("faasm_calls_running", "Calls executing now (workers busy)");
    describe_gauge!(
        "faasm_calls_waiting",
        "Accepted calls waiting for an instance"
    );
    describe_gauge!(
        "faasm_instances_in_use",
        "Instances (pool slots) held by calls"
    );
    describe_gauge!(
        "faasm_memory_budget_used_bytes",
        "Guest linear memory held by live calls"
    );
    describe_gauge!("faasm_memory_budget_bytes", "The guest memory budget");
    describe_gauge!(
        "faasm_state_local_bytes",
        "State bytes held by this host's local tier"
    );
    describe_gauge!(
        "faasm_results_retained_bytes",
        "Output, stdout and error bytes of retained results"
    );
    describe_gauge!("faasm_build_info", "The build of this server (always 1)");
    metrics::gauge!("faasm_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

impl App {
    /// Builds the app; `metrics` is the process's recorder (see [`install_metrics`]).
    pub fn new(
        scheduler: Arc<Scheduler>,
        store: Arc<dyn ObjectStore>,
        state: Arc<LocalTier>,
        limits: BodyLimits,
        body_timeout: std::time::Duration,
        metrics: PrometheusHandle,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            scheduler,
            store,
            state,
            limits,
            body_timeout,
            metrics,
            batches: Arc::default(),
            auth: None,
        })
    }

    /// Turns authentication on (SPEC §12): every route but `/ping` needs a token.
    pub fn with_auth(mut self, auth: Arc<Auth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The limits of `user`'s calls, when auth is on.
    async fn limits_of(
        &self,
        user: &str,
    ) -> Result<Option<faasm_api::UserLimits>, faasm_api::ApiError> {
        match &self.auth {
            Some(auth) => Ok(Some(auth.limits(user).await?)),
            None => Ok(None),
        }
    }
}

/// Serves the upload and invoke APIs on the given listeners until `shutdown` completes.
pub async fn serve(
    app: App,
    upload: TcpListener,
    invoke: TcpListener,
    connections: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopped = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let upload_server = listen::serve(
        upload,
        upload::router(app.clone()),
        connections,
        stopped(&stop),
    );
    let invoke_server = listen::serve(invoke, invoke::router(app), connections, stopped(&stop));
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = trigger.send(());
    });
    tokio::join!(upload_server, invoke_server);
    Ok(())
}
