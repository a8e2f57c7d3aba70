//! The two HTTP servers of SPEC §2 and §3 on top of the scheduler and the object store: the
//! upload server (functions, Python sources, state, shared files) and the invoke server (calls,
//! status polls, `/metrics`). Handlers only translate between HTTP and the crates below; every
//! refusal is an [`ApiError`](faasm_api::ApiError) rendered by [`http::ApiResponse`].

mod http;
mod invoke;
mod listen;
mod planner;
mod upload;

use std::future::Future;
use std::sync::Arc;

use faasm_scheduler::Scheduler;
use faasm_state::LocalTier;
use faasm_storage::ObjectStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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
}

impl App {
    /// Builds the app and installs its Prometheus recorder as the process's metrics recorder
    /// (so there is one `App` per process).
    pub fn new(
        scheduler: Arc<Scheduler>,
        store: Arc<dyn ObjectStore>,
        state: Arc<LocalTier>,
        limits: BodyLimits,
        body_timeout: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let metrics = PrometheusBuilder::new().install_recorder()?;
        Ok(Self {
            scheduler,
            store,
            state,
            limits,
            body_timeout,
            metrics,
            batches: Arc::default(),
        })
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
