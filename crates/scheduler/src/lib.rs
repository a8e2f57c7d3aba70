//! Calls: ids, admission, the executor pool, and the retained results. The [`Scheduler`] is
//! what the servers talk to; it resolves a function to its prepared module, queues the call
//! for a worker, runs it on the runtime and records the result for status polls.
//!
//! Concurrency: guests run as tokio tasks (wasmtime fibers). A semaphore of `workers` permits
//! bounds how many run at once; calls beyond that wait in a FIFO queue of bounded length, and
//! a full queue is refused with 503, never dropped. A guest that waits inside a host call
//! yields its thread, so nothing a callee needs is pinned by a waiting caller.

mod functions;
mod ids;
mod results;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faasm_api::{ApiError, CallId, CallRequest, CallResult, CallStatus, Timings};
use faasm_runtime::{CallInput, Entry, FunctionModule, Runtime};
use faasm_storage::ObjectStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

pub use functions::{FunctionKind, FunctionRegistry};
use ids::CallIds;
use results::ResultsRegistry;
use session::CallSession;

/// Tuning of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Calls that may execute at once.
    pub workers: usize,
    /// Accepted calls that may wait for a worker before new ones get 503.
    pub queue_capacity: usize,
    /// How long a finished call's result stays available to status polls.
    pub result_ttl: Duration,
    /// How many finished results are kept at most (oldest dropped first).
    pub max_results: usize,
    /// How deep chains of chained calls may nest.
    pub max_chain_depth: u32,
    /// How many calls one call may chain.
    pub max_chained_calls: usize,
}

pub struct Scheduler {
    runtime: Arc<Runtime>,
    functions: FunctionRegistry,
    results: ResultsRegistry,
    ids: CallIds,
    workers: Arc<Semaphore>,
    /// Accepted calls not yet holding a worker permit.
    waiting: AtomicUsize,
    config: SchedulerConfig,
}

/// A sync caller's handle on a call it submitted.
pub type ResultReceiver = oneshot::Receiver<Arc<CallResult>>;

impl Scheduler {
    pub fn new(
        runtime: Arc<Runtime>,
        store: Arc<dyn ObjectStore>,
        config: SchedulerConfig,
    ) -> Result<Arc<Self>, ApiError> {
        Ok(Arc::new(Self {
            functions: FunctionRegistry::new(runtime.clone(), store.clone()),
            results: ResultsRegistry::new(config.result_ttl, config.max_results),
            ids: CallIds::open(store)?,
            workers: Arc::new(Semaphore::new(config.workers.max(1))),
            waiting: AtomicUsize::new(0),
            config,
            runtime,
        }))
    }

    pub fn functions(&self) -> &FunctionRegistry {
        &self.functions
    }

    /// Accepts a call and starts it; the receiver yields its result.
    pub async fn submit(
        self: &Arc<Self>,
        call: CallRequest,
    ) -> Result<(CallId, ResultReceiver), ApiError> {
        if call.mpi_world_size.is_some() {
            return Err(ApiError::NotImplemented("MPI calls".into()));
        }
        let kind = if call.python {
            FunctionKind::Python
        } else {
            FunctionKind::Wasm
        };
        let module = self.functions.get(kind, &call.user, &call.function).await?;
        self.start(module, call, Entry::Main, 0)
    }

    /// Admits a call of a resolved module and spawns it; `depth` counts chaining levels.
    fn start(
        self: &Arc<Self>,
        module: Arc<FunctionModule>,
        call: CallRequest,
        entry: Entry,
        depth: u32,
    ) -> Result<(CallId, ResultReceiver), ApiError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.config.queue_capacity {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("faasm_calls_rejected_total").increment(1);
            return Err(ApiError::QueueFull {
                capacity: self.config.queue_capacity,
            });
        }
        let id = match self.ids.next() {
            Ok(id) => id,
            Err(err) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return Err(err);
            }
        };
        self.results.start(id);
        let (done, receiver) = oneshot::channel();
        let accepted = Instant::now();
        let scheduler = self.clone();
        tokio::spawn(async move {
            let worker = scheduler.worker().await;
            scheduler.waiting.fetch_sub(1, Ordering::AcqRel);
            let started = Instant::now();
            let session = Arc::new(CallSession::new(
                scheduler.clone(),
                id,
                &call,
                module.clone(),
                depth,
                worker,
            ));
            let input = CallInput {
                user: call.user,
                input: call.input,
                cmdline: call.cmdline,
                entry,
                host: Some(session.clone()),
            };
            let outcome = scheduler.runtime.run(&module, input).await;
            session.release_worker();
            let result = Arc::new(CallResult {
                id,
                return_value: outcome.return_value,
                output: outcome.output,
                stdout: outcome.stdout,
                error: outcome.error,
                timings: Timings {
                    queued_us: micros(started - accepted),
                    exec_us: micros(started.elapsed()),
                },
            });
            record_metrics(&result);
            scheduler.results.finish(id, result.clone());
            // The caller may have gone (async call, dropped connection): the result stays in
            // the registry either way.
            let _ = done.send(result);
        });
        Ok((id, receiver))
    }

    /// A worker permit, waiting in FIFO order for one to be free.
    async fn worker(&self) -> OwnedSemaphorePermit {
        self.workers
            .clone()
            .acquire_owned()
            .await
            .expect("the worker semaphore is never closed")
    }

    /// Runs a call and waits for its result.
    pub async fn invoke(self: &Arc<Self>, call: CallRequest) -> Result<Arc<CallResult>, ApiError> {
        let (_, receiver) = self.submit(call).await?;
        receiver
            .await
            .map_err(|_| ApiError::Internal("call task ended without a result".into()))
    }

    /// What a status poll for `id` finds. Never consumes the result.
    pub fn status(&self, id: CallId) -> CallStatus {
        self.results.status(id)
    }

    /// Calls accepted and waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn record_metrics(result: &CallResult) {
    let status = if result.succeeded() {
        "success"
    } else {
        "failed"
    };
    metrics::counter!("faasm_calls_total", "status" => status).increment(1);
    metrics::histogram!("faasm_call_exec_seconds").record(result.timings.exec_us as f64 / 1e6);
    metrics::histogram!("faasm_call_queued_seconds").record(result.timings.queued_us as f64 / 1e6);
}
