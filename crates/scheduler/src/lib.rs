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
mod cluster;
mod durable;
mod functions;
mod ids;
mod mpi;
mod quota;
mod results;
mod session;
mod telemetry;
mod tree;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use faasm_api::{ApiError, CallId, CallRequest, CallResult, CallStatus, Timings, UserLimits};
use faasm_runtime::{
    CallHandle, CallHost, CallInput, CallOutcome, Entry, FunctionModule, MpiHost, Runtime,
};
use faasm_storage::ObjectStore;
use tokio::sync::{Notify, oneshot};

pub use admission::AdmissionConfig;
pub use cluster::{Cluster, HostInfo};
pub use durable::{
    CallQueue, EmbeddedJournal, JournalError, QueuedCall, ResultStore, StoredResult, now_ms,
};
pub use faasm_runtime::BoxFuture;
pub use functions::{FunctionKind, FunctionRegistry};
pub use ids::{IdBlocks, StoredIds};
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

use admission::{Admission, InstancePermit};
use ids::CallIds;
use mpi::{Peers, Placement, WorldRoot};
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
    /// Bytes of messages an MPI world may hold sent and not yet received; a send past it
    /// fails the world.
    pub mpi_buffer_bytes: usize,
    /// A blocking send of at least this many bytes to a rank on the same host is lent to the
    /// receiver, who copies it straight from the sender's memory (rendezvous); smaller ones
    /// are copied and sent at once (eager).
    pub mpi_eager_bytes: usize,
    /// How long a world that must spread over hosts may wait for room (SPEC §7's call
    /// timeout, on a deployment).
    pub mpi_placement_timeout: Duration,
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
            mpi_buffer_bytes: 256 << 20,
            mpi_eager_bytes: 32 << 10,
            mpi_placement_timeout: Duration::from_secs(60),
        }
    }
}

/// Where accepted calls, finished results and call ids are kept durable, and what is shared
/// with other hosts.
#[derive(Clone)]
pub struct Durability {
    pub queue: Arc<dyn CallQueue>,
    pub results: Arc<dyn ResultStore>,
    pub ids: Arc<dyn IdBlocks>,
    /// The deployment's queue and results when several hosts share them.
    pub cluster: Option<Arc<dyn Cluster>>,
}

impl Durability {
    /// One host: calls and results in one embedded journal, ids in its object store.
    pub fn embedded(journal: Arc<EmbeddedJournal>, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            queue: journal.clone(),
            results: journal,
            ids: Arc::new(StoredIds(store)),
            cluster: None,
        }
    }
}

pub struct Scheduler {
    runtime: Arc<Runtime>,
    functions: FunctionRegistry,
    results: ResultsRegistry,
    queue: Arc<dyn CallQueue>,
    cluster: Option<Arc<dyn Cluster>>,
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
    /// The connections to other hosts for MPI worlds spread over them (on a deployment).
    peers: OnceLock<Arc<Peers>>,
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
    /// An MPI rank above 0: the instance admitted with its world, and its membership.
    rank: Option<RankLaunch>,
}

/// What an MPI rank above 0 starts with.
struct RankLaunch {
    rank: i32,
    instance: InstancePermit,
    world: Arc<dyn MpiHost>,
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
            cluster: durability.cluster,
            ids: CallIds::new(durability.ids),
            admission: Admission::new(config.admission),
            quotas: Arc::default(),
            executor,
            waiting: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            config,
            runtime,
            metrics,
            peers: OnceLock::new(),
        }))
    }

    pub fn functions(&self) -> &FunctionRegistry {
        &self.functions
    }

    /// Brings back what an earlier run of this host left: its retained results, and its
    /// accepted calls that had not finished, which run again (or fail once out of attempts).
    /// Returns how many calls were pending.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, ApiError> {
        self.results.restore().map_err(journal_error)?;
        let pending = self.queue.pending().map_err(journal_error)?;
        let count = pending.len();
        for mut queued in pending {
            if matches!(self.results.status(queued.id), CallStatus::Finished(_)) {
                self.queue.dequeue(queued.id);
                continue;
            }
            queued.attempts += 1;
            // Durable again (its attempts counted) before it runs.
            let enqueued = self.queue.enqueue(queued.clone()).await;
            enqueued.map_err(journal_error)?;
            self.resume(queued, "the host restarted during the call")
                .await;
        }
        Ok(count)
    }

    /// Runs a call accepted earlier (here or by another host) whose run `queued.attempts`
    /// is about to start, or fails it for `interrupted` once it is out of attempts.
    async fn resume(self: &Arc<Self>, queued: QueuedCall, interrupted: &str) {
        let id = queued.id;
        let module = match self.module(&queued.call).await {
            _ if queued.attempts > self.config.max_attempts => {
                Err(format!("{interrupted} ({} attempts)", queued.attempts - 1))
            }
            Err(err) => Err(format!("cannot run the call: {err}")),
            Ok(module) => Ok(module),
        };
        self.results.start(id, call_name(&queued.call));
        match module {
            Ok(module) => {
                // Accepted already: it may exceed the queue's capacity.
                self.waiting.fetch_add(1, Ordering::AcqRel);
                self.launch_root(id, module, queued.call, true, Instant::now(), None);
            }
            Err(reason) => {
                let result = failed(id, format!("Call failed: {reason}"));
                self.results.finish(Arc::new(result), true);
                self.queue.dequeue(id);
            }
        }
    }

    /// Takes part in the deployment's queue (several hosts on Redis): claims queued calls
    /// while this host has free instances, and calls whose host died. Returns at once on a
    /// host of its own.
    pub fn join_cluster(self: &Arc<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let scheduler = self.clone();
        let claims = cluster.clone();
        self.executor.spawn(async move {
            loop {
                let room = scheduler.room();
                if room == 0 {
                    tokio::select! {
                        _ = scheduler.admission.instance_released() => {}
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                    continue;
                }
                match claims.take(room, Duration::from_secs(1)).await {
                    Ok(calls) => {
                        let mut passed = false;
                        for queued in calls {
                            passed |= !scheduler.run_claimed(&claims, queued).await;
                        }
                        if passed {
                            // Let a host with room for those users take them first.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    Err(err) => {
                        tracing::warn!("claiming queued calls: {err}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let scheduler = self.clone();
        self.executor.spawn(async move {
            let mut every = tokio::time::interval(cluster.lease() / 2);
            loop {
                every.tick().await;
                match cluster.reclaim().await {
                    Ok(calls) => {
                        if !calls.is_empty() {
                            tracing::warn!(
                                calls = calls.len(),
                                "re-running calls whose host stopped"
                            );
                        }
                        for queued in calls {
                            scheduler.resume(queued, "its host stopped").await;
                        }
                    }
                    Err(err) => tracing::warn!("reclaiming calls: {err}"),
                }
            }
        });
    }

    /// Lets MPI worlds spread over the deployment's hosts: accepts the other hosts'
    /// connections on `listener`, and advertises `address` as where they reach this one.
    /// Call it within the runtime that should carry the traffic between hosts.
    pub fn serve_peers(self: &Arc<Self>, listener: tokio::net::TcpListener, address: String) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let limit = self.config.mpi_buffer_bytes;
        let peers = self
            .peers
            .get_or_init(|| Peers::new(address, Arc::downgrade(self), limit));
        peers.serve(listener);
        cluster.advertise();
    }

    /// Runs a call claimed from the queue, or puts it back for another host when its user
    /// has no room here (so that a caller here awaiting it cannot hold what it needs).
    /// Returns whether it runs here.
    async fn run_claimed(self: &Arc<Self>, cluster: &Arc<dyn Cluster>, queued: QueuedCall) -> bool {
        if self
            .admission
            .admits_now(&queued.call.user, true, self.instances(&queued.call))
        {
            self.resume(queued, "its host stopped").await;
            return true;
        }
        let id = queued.id;
        if let Err(err) = cluster.requeue(queued).await {
            tracing::warn!(id, "putting a call back in the queue: {err}");
        }
        false
    }

    /// Whether this host can start `call` (a root if `root`) at once.
    fn has_room(&self, call: &CallRequest, root: bool) -> bool {
        let count = self.instances(call);
        self.room() >= count && self.admission.admits_now(&call.user, root, count)
    }

    /// Instances a root call needs here at once: one, or one per rank of an MPI world (only
    /// rank 0's when the world may spread over the deployment).
    fn instances(&self, call: &CallRequest) -> usize {
        match call.mpi_world_size {
            Some(_) if self.peers.get().is_some() => 1,
            Some(size) => size as usize,
            None => 1,
        }
    }

    /// Instances free now that no accepted call is already waiting for.
    fn room(&self) -> usize {
        let waiting = self.waiting.load(Ordering::Acquire);
        self.admission.free_instances().saturating_sub(waiting)
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
        if let Some(size) = call.mpi_world_size {
            let (max, what) = self.max_world(size as usize).await;
            if size as usize > max {
                return Err(ApiError::BadRequest(format!(
                    "an MPI world of {size} ranks needs {size} instances at once; {what} \
                     admits worlds of at most {max} ranks (raise --max-instances)"
                )));
            }
        }
        let accepted = Instant::now();
        let module = self.module(&call).await?;
        let quota = limits
            .map(|limits| self.quotas.admit(&call.user, limits))
            .transpose()?;
        if let Some(limits) = limits {
            let cap = limits
                .result_bytes
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX));
            self.results.limit_user(&call.user, cap);
        }
        if let Some(cluster) = &self.cluster
            && (durable || !self.has_room(&call, true))
        {
            return self.submit_shared(cluster, call, durable, quota).await;
        }
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
                enqueued.map_err(journal_error)?;
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

    /// The largest MPI world that can be admitted: this host's, or when a world larger than
    /// that may spread over hosts, the deployment's (asked of Redis only then).
    async fn max_world(&self, size: usize) -> (usize, &'static str) {
        let here = self.admission.max_gang();
        if size <= here || self.peers.get().is_none() {
            return (here, "this host");
        }
        let hosts = self.hosts("").await;
        let spread = hosts
            .iter()
            .filter(|h| h.mpi.is_some())
            .map(|h| h.max_world);
        (spread.sum::<usize>().max(here), "this deployment")
    }

    /// Puts a call on the deployment's queue; this host runs it (or an older queued call) at
    /// once if it has room. A sync caller's receiver yields the result from whichever host
    /// ran it; its user's count (`quota`) holds until then, wherever it ran.
    async fn submit_shared(
        self: &Arc<Self>,
        cluster: &Arc<dyn Cluster>,
        call: CallRequest,
        durable: bool,
        quota: Option<QuotaHold>,
    ) -> Result<(CallId, ResultReceiver), ApiError> {
        let id = self.ids.next()?;
        let queued = QueuedCall {
            id,
            call,
            attempts: 1,
        };
        let take = self.has_room(&queued.call, true);
        let claimed = cluster.enqueue(queued, take).await;
        if let Some(claimed) = claimed.map_err(journal_error)? {
            self.run_claimed(cluster, claimed).await;
        }
        let (done, receiver) = oneshot::channel();
        if !durable || quota.is_some() {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let finished = cluster.wait(id).await;
                drop(quota);
                match finished {
                    Ok(result) => {
                        let _ = done.send(result);
                    }
                    Err(err) => tracing::error!(id, "waiting for a queued call: {err}"),
                }
            });
        }
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
            rank: None,
            quota,
        });
    }

    /// Starts rank `rank` of an MPI world: a call of rank 0's tree, on an instance admitted
    /// with rank 0.
    fn start_rank(
        self: &Arc<Self>,
        tree: &Arc<CallTree>,
        module: Arc<FunctionModule>,
        call: CallRequest,
        rank: RankLaunch,
    ) -> Result<CallId, String> {
        let id = self.ids.next().map_err(|e| e.to_string())?;
        let handle = tree.add_child(ROOT, id).map_err(|e| e.to_string())?;
        self.spawn_rank(tree.clone(), handle, id, module, call, rank);
        Ok(id)
    }

    /// Runs an MPI rank as call `id` of `tree`, on the instance it was admitted with.
    fn spawn_rank(
        self: &Arc<Self>,
        tree: Arc<CallTree>,
        handle: CallHandle,
        id: CallId,
        module: Arc<FunctionModule>,
        call: CallRequest,
        rank: RankLaunch,
    ) {
        // It holds an instance already: it leaves the queue as soon as it runs.
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.results.start(id, call_name(&call));
        self.spawn(Launch {
            tree,
            handle,
            id,
            module,
            call,
            entry: Entry::Main,
            durable: false,
            done: None,
            accepted: Instant::now(),
            quota: None,
            rank: Some(rank),
        });
    }

    /// Admits an MPI world whose rank 0 is the root of `tree`: whole on this host, or on a
    /// deployment spread over hosts when this one has no room for all of it.
    async fn place_world(
        self: &Arc<Self>,
        turn: admission::Turn,
        tree: &Arc<CallTree>,
        size: usize,
    ) -> Result<Placement, Arc<str>> {
        if let (Some(peers), Some(cluster)) = (self.peers.get(), &self.cluster) {
            let timeout = self.config.mpi_placement_timeout;
            return mpi::place(self, peers, cluster, tree, size, timeout)
                .await
                .map_err(Arc::from);
        }
        let instances = self.admission.instances(&tree.user, turn, true, tree, size);
        Ok(Placement::here(instances.await))
    }

    /// Starts a chained call of `parent`'s tree; a refusal starts nothing. On a deployment, a
    /// named call this host has no room for goes to the queue, and any host may run it.
    async fn start_child(
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
        if let Some(cluster) = &self.cluster
            && matches!(entry, Entry::Main)
            && !self.has_room(&call, false)
        {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            let tree = parent.tree.clone();
            return self
                .start_elsewhere(cluster, tree, handle, id, call)
                .await
                .map(|()| handle);
        }
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
            rank: None,
            quota: None,
        });
        Ok(handle)
    }

    /// Queues chained call `id` for any host, and settles it in its tree here when it ends.
    async fn start_elsewhere(
        self: &Arc<Self>,
        cluster: &Arc<dyn Cluster>,
        tree: Arc<CallTree>,
        handle: CallHandle,
        id: CallId,
        call: CallRequest,
    ) -> Result<(), String> {
        let queued = QueuedCall {
            id,
            call,
            attempts: 1,
        };
        if let Err(err) = cluster.enqueue(queued, false).await {
            let result = failed(id, format!("Call failed: {err}"));
            self.results.finish(Arc::new(result), false);
            tree.finished(handle);
            return Err(err.to_string());
        }
        let (scheduler, cluster) = (self.clone(), cluster.clone());
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.executor.spawn(async move {
            let result = match cluster.wait(id).await {
                Ok(result) => result,
                Err(err) => Arc::new(failed(id, format!("Call failed: {err}"))),
            };
            scheduler.results.finish(result, false);
            tree.finished(handle);
            if scheduler.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
                scheduler.idle.notify_waiters();
            }
        });
        Ok(())
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
            rank,
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
        // The root of an MPI world is admitted with the instances of all its ranks.
        let world_size = call.mpi_world_size.filter(|_| handle == ROOT);
        let (preset, member) = match rank {
            Some(RankLaunch {
                rank,
                instance,
                world,
            }) => (Some(instance), Some((rank, world))),
            None => (None, None),
        };
        let admitted = async {
            let placement = match (preset, world_size) {
                (Some(instance), _) => Placement::here(vec![instance]),
                (None, Some(size)) => self.place_world(turn, &tree, size as usize).await?,
                (None, None) => {
                    let admission = &self.admission;
                    let instances = admission.instances(&tree.user, turn, handle == ROOT, &tree, 1);
                    Placement::here(instances.await)
                }
            };
            place.leave();
            session.take_worker().await;
            Ok(placement)
        };
        let admitted = tokio::select! {
            biased;
            placement = admitted => placement,
            reason = tree.aborted() => Err(reason),
        };
        let started = Instant::now();
        let mut world = None;
        let (outcome, mut instance) = match admitted {
            Ok(Placement {
                mut instances,
                spread,
            }) => {
                let others = instances.split_off(1);
                let mpi: Option<Arc<dyn MpiHost>> = match (&member, world_size) {
                    (Some((_, member)), _) => Some(member.clone()),
                    (None, Some(_)) => {
                        let root = WorldRoot::new(
                            self.clone(),
                            tree.clone(),
                            call.clone(),
                            module.clone(),
                            others,
                            spread,
                        );
                        world = Some(root.clone());
                        Some(root)
                    }
                    (None, None) => None,
                };
                let input = CallInput {
                    user: call.user,
                    input: call.input,
                    cmdline: call.cmdline,
                    entry,
                    host: Some(session.clone()),
                    mpi,
                };
                (self.runtime.run(&module, input).await, instances.pop())
            }
            Err(reason) => (aborted(reason.to_string()), None),
        };
        let failed = outcome.return_value != 0 || outcome.error.is_some();
        if failed && (world.is_some() || member.is_some()) {
            // One rank failing fails the world: the tree's abort stops every other rank.
            let rank = member.as_ref().map_or(0, |(rank, _)| *rank);
            let error = outcome.error.as_deref().unwrap_or("Call failed");
            tree.abort(format!(
                "Call failed: MPI world failed: rank {rank}: {error}"
            ));
        }
        // A call that failed because its tree was aborted (say, its child was) reports the
        // tree's reason, however the race between the two ended.
        let mut outcome = match tree.abort_reason() {
            Some(reason) if failed => aborted(reason.to_string()),
            _ => outcome,
        };
        if let Some(world) = world {
            // The world's call ends when every rank has, and fails if any failed. Its
            // instance and worker are not needed meanwhile.
            instance.take();
            session.pause();
            world.ended().await;
            if let Some(reason) = tree.abort_reason() {
                outcome = aborted(reason.to_string());
            }
        }
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
        // The result is there before the tree says the call finished (an awaiter that sees
        // it finished reads the result at once), and awaiters are settled before the instance
        // goes back (see `admission`).
        self.results.finish(result.clone(), durable);
        tree.finished(handle);
        if durable {
            self.queue.dequeue(id);
        } else if handle == ROOT
            && let Some(cluster) = &self.cluster
        {
            cluster.share(StoredResult {
                result: CallResult::clone(&result),
                finished_ms: durable::now_ms(),
            });
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

    /// What a status poll for `id` finds, on this host or, if it does not know the call,
    /// on the deployment. Never consumes the result.
    pub async fn status(&self, id: CallId) -> CallStatus {
        let status = self.results.status(id);
        match &self.cluster {
            Some(cluster) if matches!(status, CallStatus::NotFound) => {
                cluster.status(id).await.unwrap_or_else(|err| {
                    tracing::warn!(id, "status from the deployment: {err}");
                    CallStatus::NotFound
                })
            }
            _ => status,
        }
    }

    /// The hosts of the deployment (this one alone without a cluster).
    pub async fn hosts(&self, this_host: &str) -> Vec<HostInfo> {
        if let Some(cluster) = &self.cluster {
            match cluster.hosts().await {
                Ok(hosts) => return hosts,
                Err(err) => tracing::warn!("listing hosts: {err}"),
            }
        }
        vec![self.host_info(this_host.to_owned())]
    }

    /// How this host advertises itself.
    pub fn host_info(&self, name: String) -> HostInfo {
        HostInfo {
            name,
            slots: self.worker_slots(),
            used_slots: self.usage().workers,
            free_instances: self.admission.free_instances(),
            mpi: self.peers.get().map(|peers| peers.this.clone()),
            max_world: self.admission.max_gang(),
        }
    }

    /// The calls of every rank of the MPI world whose rank 0 is call `root`, in rank order,
    /// if rank 0 ran on this host and its result is retained.
    pub fn world_ranks(&self, root: CallId) -> Option<Arc<[CallId]>> {
        self.results.world(root)
    }

    /// The user of call `id`, if this host knows it (it accepted or ran the call, and its
    /// result is retained).
    pub fn call_user(&self, id: CallId) -> Option<Arc<str>> {
        self.results.user(id)
    }

    /// Waits until no call is in flight, or `timeout`; then makes every journal write
    /// durable, waiting at most `timeout` again. Calls still running stay in the call queue
    /// and run again at the next start.
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
        // Writes to a store that is gone (Redis down) are retried until it answers: they get
        // one more drain period, not forever.
        match tokio::time::timeout(timeout, self.queue.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!("{err}"),
            Err(_) => tracing::error!(
                "the call journal did not take the last writes within {} s; stopping without them",
                timeout.as_secs_f64()
            ),
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

fn journal_error(err: JournalError) -> ApiError {
    ApiError::Internal(err.to_string())
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
