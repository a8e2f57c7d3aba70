//! Calls: ids, admission, call trees, durability and the retained results. The [`Scheduler`]
//! is what the servers talk to; it resolves a function to its prepared module, admits the call
//! (see [`admission`] for the one model of instances and workers), runs it on the runtime and
//! records the result for status polls.
//!
//! Guests run as tokio tasks (wasmtime fibers) on an executor of their own, apart from the HTTP
//! threads, so the control plane answers whatever guests do. A guest that waits inside a host
//! call (an await, a lock, a sleep) hands its worker back, so nothing a callee needs is pinned
//! by a waiting caller. Accepted async calls are written to the [`CallQueue`] before their id is
//! returned and re-run after a restart (at-least-once execution; the result of an id is
//! recorded once).

mod admission;
mod durable;
mod functions;
mod ids;
mod quota;
mod results;
mod session;
mod telemetry;
mod tree;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faasm_api::{ApiError, CallId, CallRequest, CallResult, CallStatus, Timings, UserLimits};
use faasm_runtime::{CallHandle, CallHost, CallInput, CallOutcome, Entry, FunctionModule, Runtime};
use faasm_storage::ObjectStore;
use tokio::sync::{Notify, oneshot};

pub use admission::AdmissionConfig;
pub use durable::{
    CallQueue, EmbeddedJournal, JournalError, QueuedCall, ResultStore, StoredResult,
};
pub use functions::{FunctionKind, FunctionRegistry};
pub use results::{CallFilter, CallName, CallRecord, RecordStatus, Retention};
pub use telemetry::{OTHER, Outcome, SECONDS_BUCKETS};
pub use tree::TreeLimits;

/// What a storage failure means to a client: a shared-file path that clashes with an existing
/// file or directory is a conflict (409), anything else an internal error (500).
pub fn storage_error(err: faasm_storage::StorageError) -> ApiError {
    match err {
        faasm_storage::StorageError::Clash { .. } => ApiError::Conflict(err.to_string()),
        faasm_storage::StorageError::Io(_) => ApiError::Internal(err.to_string()),
    }
}

use admission::Admission;
use ids::CallIds;
use quota::{CallQuotas, QuotaHold};
use results::ResultsRegistry;
use session::CallSession;
use telemetry::CallMetrics;
use tree::{CallTree, ROOT};

/// Tuning of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Instances and workers, and how they are shared.
    pub admission: AdmissionConfig,
    /// Accepted calls that may wait for an instance before new ones get 503.
    pub queue_capacity: usize,
    pub retention: Retention,
    /// Budgets of one call tree.
    pub tree: TreeLimits,
    /// How many calls one call may chain.
    pub max_chained_calls: usize,
    /// Runs an accepted async call gets when the host restarts during it.
    pub max_attempts: u32,
    /// User/function pairs the metrics label on their own; later pairs count as `other`.
    pub metric_label_pairs: usize,
}

impl SchedulerConfig {
    /// The defaults for `instances` slots and `workers` workers.
    pub fn new(instances: usize, workers: usize) -> Self {
        Self {
            admission: AdmissionConfig::new(instances, workers),
            queue_capacity: 10_000,
            retention: Retention {
                ttl: Duration::from_secs(3600),
                max_results: 100_000,
                max_bytes: 1 << 30,
            },
            tree: TreeLimits {
                max_calls: 10_000,
                max_depth: 32,
            },
            max_chained_calls: 10_000,
            max_attempts: 3,
            metric_label_pairs: 100,
        }
    }
}

/// Where accepted calls and finished results are kept durable.
#[derive(Clone)]
pub struct Durability {
    pub queue: Arc<dyn CallQueue>,
    pub results: Arc<dyn ResultStore>,
}

impl Durability {
    /// Both in one embedded journal.
    pub fn embedded(journal: Arc<EmbeddedJournal>) -> Self {
        Self {
            queue: journal.clone(),
            results: journal,
        }
    }
}

pub struct Scheduler {
    runtime: Arc<Runtime>,
    functions: FunctionRegistry,
    results: ResultsRegistry,
    queue: Arc<dyn CallQueue>,
    ids: CallIds,
    admission: Arc<Admission>,
    /// Per-user counts of calls, for the limits that come with them.
    quotas: Arc<CallQuotas>,
    /// Where guests run.
    executor: tokio::runtime::Handle,
    /// Accepted calls not yet holding an instance.
    waiting: AtomicUsize,
    /// Calls accepted and not finished, and a signal when that drops to zero.
    in_flight: AtomicUsize,
    idle: Notify,
    config: SchedulerConfig,
    metrics: Arc<CallMetrics>,
}

/// A sync caller's handle on a call it submitted.
pub type ResultReceiver = oneshot::Receiver<Arc<CallResult>>;

/// One call to run, root or chained.
struct Launch {
    tree: Arc<CallTree>,
    handle: CallHandle,
    id: CallId,
    module: Arc<FunctionModule>,
    call: CallRequest,
    entry: Entry,
    /// An accepted async call: its result goes to the result store, and it leaves the queue.
    durable: bool,
    done: Option<oneshot::Sender<Arc<CallResult>>>,
    /// When the call was accepted (before its module was looked up), for its latency.
    accepted: Instant,
    /// The call's place in its user's count of running calls, if its user has limits.
    quota: Option<QuotaHold>,
}

impl Scheduler {
    pub fn new(
        runtime: Arc<Runtime>,
        store: Arc<dyn ObjectStore>,
        durability: Durability,
        config: SchedulerConfig,
        executor: tokio::runtime::Handle,
    ) -> Result<Arc<Self>, ApiError> {
        let metrics = Arc::new(CallMetrics::new(config.metric_label_pairs));
        Ok(Arc::new(Self {
            functions: FunctionRegistry::new(runtime.clone(), store.clone(), metrics.clone())?,
            results: ResultsRegistry::new(config.retention, durability.results),
            queue: durability.queue,
            ids: CallIds::open(store)?,
            admission: Admission::new(config.admission),
            quotas: Arc::default(),
            executor,
            waiting: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            config,
            runtime,
            metrics,
        }))
    }

    pub fn functions(&self) -> &FunctionRegistry {
        &self.functions
    }

    /// Brings back what an earlier run of this host left: its retained results, and its
    /// accepted calls that had not finished, which run again (or fail once out of attempts).
    /// Returns how many calls were pending.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, ApiError> {
        let journal = |e: JournalError| ApiError::Internal(e.to_string());
        self.results.restore().map_err(journal)?;
        let pending = self.queue.pending().map_err(journal)?;
        let count = pending.len();
        for mut queued in pending {
            let id = queued.id;
            if matches!(self.results.status(id), CallStatus::Finished(_)) {
                self.queue.dequeue(id);
                continue;
            }
            let module = match self.module(&queued.call).await {
                _ if queued.attempts >= self.config.max_attempts => Err(format!(
                    "the host restarted during the call ({} attempts)",
                    queued.attempts
                )),
                Err(err) => Err(format!("cannot run the call again: {err}")),
                Ok(module) => Ok(module),
            };
            self.results.start(id, call_name(&queued.call));
            let module = match module {
                Ok(module) => module,
                Err(reason) => {
                    let result = failed(id, format!("Call failed: {reason}"));
                    self.results.finish(Arc::new(result), true);
                    self.queue.dequeue(id);
                    continue;
                }
            };
            queued.attempts += 1;
            let call = queued.call.clone();
            self.queue.enqueue(queued).await.map_err(journal)?;
            // Recovered calls were accepted already: they may exceed the queue's capacity.
            self.waiting.fetch_add(1, Ordering::AcqRel);
            self.launch_root(id, module, call, true, Instant::now(), None);
        }
        Ok(count)
    }

    /// Accepts a call and starts it; the receiver yields its result. A `durable` call is in
    /// the call queue before this returns.
    pub async fn submit(
        self: &Arc<Self>,
        call: CallRequest,
        durable: bool,
    ) -> Result<(CallId, ResultReceiver), ApiError> {
        self.submit_within(call, durable, None).await
    }

    /// [`submit`](Self::submit) within the limits of the call's user, if given: a call over
    /// its user's MPI world limit is refused with 413, one over its concurrent calls or calls
    /// per minute with 429.
    pub async fn submit_within(
        self: &Arc<Self>,
        call: CallRequest,
        durable: bool,
        limits: Option<&UserLimits>,
    ) -> Result<(CallId, ResultReceiver), ApiError> {
        if let (Some(world), Some(max)) =
            (call.mpi_world_size, limits.and_then(|l| l.max_mpi_world))
            && world > max
        {
            return Err(ApiError::OverLimit(format!(
                "MPI world of {world} is over user {}'s max-mpi-world limit of {max}",
                call.user
            )));
        }
        if call.mpi_world_size.is_some() {
            return Err(ApiError::NotImplemented("MPI calls".into()));
        }
        let accepted = Instant::now();
        let module = self.module(&call).await?;
        let quota = limits
            .map(|limits| self.quotas.admit(&call.user, limits))
            .transpose()?;
        self.reserve_queue_place(&call)?;
        let enqueued = async {
            let id = self.ids.next()?;
            if durable {
                let queued = QueuedCall {
                    id,
                    call: call.clone(),
                    attempts: 1,
                };
                let enqueued = self.queue.enqueue(queued).await;
                enqueued.map_err(|e| ApiError::Internal(e.to_string()))?;
            }
            Ok(id)
        };
        let id = enqueued.await.inspect_err(|_| {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        })?;
        self.results.start(id, call_name(&call));
        let (done, receiver) = oneshot::channel();
        let submitted = Submitted { done, quota };
        self.launch_root(id, module, call, durable, accepted, Some(submitted));
        Ok((id, receiver))
    }

    async fn module(&self, call: &CallRequest) -> Result<Arc<FunctionModule>, ApiError> {
        let kind = if call.python {
            FunctionKind::Python
        } else {
            FunctionKind::Wasm
        };
        self.functions.get(kind, &call.user, &call.function).await
    }

    /// Starts a root call; `submitted` is how a submitter hears of it and what it counts
    /// against its user (none for a recovered call).
    fn launch_root(
        self: &Arc<Self>,
        id: CallId,
        module: Arc<FunctionModule>,
        call: CallRequest,
        durable: bool,
        accepted: Instant,
        submitted: Option<Submitted>,
    ) {
        let tree = CallTree::new(Arc::from(call.user.as_str()), id, self.config.tree);
        let (done, quota) = submitted.map_or((None, None), |s| (Some(s.done), s.quota));
        self.spawn(Launch {
            tree,
            handle: ROOT,
            id,
            module,
            call,
            entry: Entry::Main,
            durable,
            done,
            accepted,
            quota,
        });
    }

    /// Starts a chained call of `parent`'s tree; a refusal starts nothing.
    fn start_child(
        self: &Arc<Self>,
        parent: &CallSession,
        module: Arc<FunctionModule>,
        call: CallRequest,
        entry: Entry,
    ) -> Result<CallHandle, String> {
        let accepted = Instant::now();
        self.reserve_queue_place(&call).map_err(|e| e.to_string())?;
        let added = self.ids.next().map_err(|e| e.to_string()).and_then(|id| {
            let handle = parent.tree.add_child(parent.handle, id);
            Ok((id, handle.map_err(|e| e.to_string())?))
        });
        let (id, handle) = added.inspect_err(|_| {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        })?;
        self.results.start(id, call_name(&call));
        self.spawn(Launch {
            tree: parent.tree.clone(),
            handle,
            id,
            module,
            call,
            entry,
            durable: false,
            done: None,
            accepted,
            quota: None,
        });
        Ok(handle)
    }

    /// Counts a call as waiting for an instance, or refuses it when the queue is full.
    fn reserve_queue_place(&self, call: &CallRequest) -> Result<(), ApiError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.config.queue_capacity {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.metrics
                .function(&call.user, &call.function)
                .count(telemetry::Outcome::Rejected);
            return Err(ApiError::QueueFull {
                capacity: self.config.queue_capacity,
            });
        }
        Ok(())
    }

    fn spawn(self: &Arc<Self>, launch: Launch) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let scheduler = self.clone();
        self.executor.spawn(async move {
            scheduler.execute(launch).await;
            if scheduler.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
                scheduler.idle.notify_waiters();
            }
        });
    }

    /// Admits and runs one call, then records its result.
    async fn execute(self: &Arc<Self>, launch: Launch) {
        let Launch {
            tree,
            handle,
            id,
            module,
            call,
            entry,
            durable,
            done,
            accepted: submitted,
            quota,
        } = launch;
        let series = self.metrics.function(&call.user, &call.function);
        let function = call.function.clone();
        let accepted = Instant::now();
        let turn = self.admission.turn(tree.root);
        let session = Arc::new(CallSession::new(
            self.clone(),
            tree.clone(),
            handle,
            turn,
            function.clone(),
            module.clone(),
        ));
        let mut place = QueuePlace(Some(&self.waiting));
        let admitted = async {
            let instance = self
                .admission
                .instance(&tree.user, turn, handle == ROOT, &tree)
                .await;
            place.leave();
            session.take_worker().await;
            instance
        };
        let admitted = tokio::select! {
            biased;
            instance = admitted => Ok(instance),
            reason = tree.aborted() => Err(reason),
        };
        let started = Instant::now();
        let (outcome, instance) = match admitted {
            Ok(instance) => {
                let input = CallInput {
                    user: call.user,
                    input: call.input,
                    cmdline: call.cmdline,
                    entry,
                    host: Some(session.clone()),
                };
                (self.runtime.run(&module, input).await, Some(instance))
            }
            Err(reason) => (aborted(reason.to_string()), None),
        };
        // A call that failed because its tree was aborted (say, its child was) reports the
        // tree's reason, however the race between the two ended.
        let failed = outcome.return_value != 0 || outcome.error.is_some();
        let outcome = match tree.abort_reason() {
            Some(reason) if failed => aborted(reason.to_string()),
            _ => outcome,
        };
        place.leave();
        session.pause();
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
        let outcome = series.finished(&result, micros(submitted.elapsed()));
        // One line per finished call; never its input, output or stdout.
        tracing::info!(
            target: "faasm::calls",
            id,
            user = %tree.user,
            function = %function,
            outcome = %outcome.as_str(),
            return_value = result.return_value,
            queued_us = result.timings.queued_us,
            exec_us = result.timings.exec_us,
            "call finished"
        );
        // The user's count drops before anyone can see the result, so a client that waits
        // for one call before starting the next is never refused for it.
        drop(quota);
        // Awaiters are settled before the instance goes back (see `admission`).
        tree.finished(handle);
        self.results.finish(result.clone(), durable);
        if durable {
            self.queue.dequeue(id);
        }
        drop(instance);
        // The caller may have gone (async call, dropped connection): the result stays in
        // the registry either way.
        if let Some(done) = done {
            let _ = done.send(result);
        }
    }

    /// Runs a call and waits for its result.
    pub async fn invoke(self: &Arc<Self>, call: CallRequest) -> Result<Arc<CallResult>, ApiError> {
        self.invoke_within(call, None).await
    }

    /// [`invoke`](Self::invoke) within the limits of the call's user (see
    /// [`submit_within`](Self::submit_within)).
    pub async fn invoke_within(
        self: &Arc<Self>,
        call: CallRequest,
        limits: Option<&UserLimits>,
    ) -> Result<Arc<CallResult>, ApiError> {
        let (_, receiver) = self.submit_within(call, false, limits).await?;
        receiver
            .await
            .map_err(|_| ApiError::Internal("call task ended without a result".into()))
    }

    /// Recent calls, running and finished (as long as their results are retained).
    pub fn calls(&self, filter: &CallFilter) -> Vec<CallRecord> {
        self.results.list(filter)
    }

    /// What a status poll for `id` finds. Never consumes the result.
    pub fn status(&self, id: CallId) -> CallStatus {
        self.results.status(id)
    }

    /// What a status poll by `user` finds: another user's call is not found, as if it did
    /// not exist.
    pub fn status_for(&self, id: CallId, user: &str) -> CallStatus {
        self.results.status_for(id, Some(user))
    }

    /// Waits until no call is in flight, or `timeout`; then makes every journal write
    /// durable. Calls still running stay in the call queue and run again at the next start.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let drained = async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(timeout, drained).await;
        if let Err(err) = self.queue.flush().await {
            tracing::error!("{err}");
        }
        self.in_flight.load(Ordering::Acquire)
    }

    /// Calls accepted and waiting for an instance.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Instances held, workers busy, guest memory held and retained result bytes.
    /// How many calls may execute at once on this host.
    pub fn worker_slots(&self) -> usize {
        self.config.admission.workers
    }

    pub fn usage(&self) -> Usage {
        let (instances, workers) = self.admission.in_use();
        Usage {
            instances,
            workers,
            guest_memory_bytes: self.runtime.memory_budget().used(),
            guest_memory_limit_bytes: self.runtime.memory_budget().limit(),
            result_bytes: self.results.bytes(),
        }
    }
}

/// What a submitted root call carries: where its result goes, and its user's count.
struct Submitted {
    done: oneshot::Sender<Arc<CallResult>>,
    quota: Option<QuotaHold>,
}

/// A call's count in the scheduler's `waiting` until it leaves the queue (once).
struct QueuePlace<'a>(Option<&'a AtomicUsize>);

impl QueuePlace<'_> {
    fn leave(&mut self) {
        if let Some(waiting) = self.0.take() {
            waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// What the host has in use now.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub instances: usize,
    pub workers: usize,
    pub guest_memory_bytes: u64,
    pub guest_memory_limit_bytes: u64,
    pub result_bytes: usize,
}

fn failed(id: CallId, reason: String) -> CallResult {
    CallResult {
        id,
        return_value: 1,
        output: Default::default(),
        stdout: Default::default(),
        error: Some(reason),
        timings: Timings::default(),
    }
}

fn aborted(reason: String) -> CallOutcome {
    CallOutcome {
        return_value: 1,
        output: Default::default(),
        stdout: Default::default(),
        error: Some(reason),
    }
}

fn call_name(call: &CallRequest) -> CallName {
    CallName {
        user: Arc::from(call.user.as_str()),
        function: Arc::from(call.function.as_str()),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
