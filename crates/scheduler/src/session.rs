//! A running call's side of chaining: [`CallSession`] implements the runtime's [`CallHost`],
//! starting chained calls through the scheduler and waiting for them without holding a worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use faasm_api::{CallRequest, CallResult, CallStatus, validate_name};
use faasm_runtime::{
    BoxFuture, CallHandle, CallHost, ChainError, ChainTarget, Entry, FunctionModule,
};
use parking_lot::Mutex;

use crate::admission::{Turn, WorkerPermit};
use crate::tree::CallTree;
use crate::{FunctionKind, Scheduler};

pub(crate) struct CallSession {
    pub scheduler: Arc<Scheduler>,
    pub tree: Arc<CallTree>,
    /// This call's handle in its tree.
    pub handle: CallHandle,
    pub turn: Turn,
    pub function: String,
    /// The exact module this call runs, for `chain_ptr` children.
    pub module: Arc<FunctionModule>,
    chained: AtomicUsize,
    /// The worker this call runs on; handed back while the call waits.
    worker: Mutex<Option<WorkerPermit>>,
}

impl CallSession {
    pub fn new(
        scheduler: Arc<Scheduler>,
        tree: Arc<CallTree>,
        handle: CallHandle,
        turn: Turn,
        function: String,
        module: Arc<FunctionModule>,
    ) -> Self {
        Self {
            scheduler,
            tree,
            handle,
            turn,
            function,
            module,
            chained: AtomicUsize::new(0),
            worker: Mutex::new(None),
        }
    }

    /// Waits for a worker and holds it until [`CallHost::pause`] or the session ends.
    pub async fn take_worker(&self) {
        let user = &self.tree.user;
        let worker = self.scheduler.admission.worker(user, self.turn).await;
        *self.worker.lock() = Some(worker);
    }

    fn result_of(&self, handle: CallHandle) -> Result<faasm_api::CallId, ChainError> {
        self.tree
            .descendant(self.handle, handle)
            .map_err(|e| ChainError::NotInTree(e.to_string()))
    }
}

impl CallHost for CallSession {
    fn chain<'a>(
        &'a self,
        target: ChainTarget<'a>,
        input: Bytes,
    ) -> BoxFuture<'a, Result<CallHandle, ChainError>> {
        Box::pin(async move {
            let limit = self.scheduler.config.max_chained_calls;
            if self.chained.load(Ordering::Relaxed) >= limit {
                return Err(ChainError::TooManyChained(limit));
            }
            let user = &self.tree.user;
            let (module, function, entry) = match target {
                ChainTarget::Named(name) => {
                    let unknown = |e: faasm_api::ApiError| ChainError::Function(e.to_string());
                    validate_name("function", name).map_err(unknown)?;
                    let functions = self.scheduler.functions();
                    let module = functions
                        .get(FunctionKind::Wasm, user, name)
                        .await
                        .map_err(unknown)?;
                    (module, name.to_owned(), Entry::Main)
                }
                ChainTarget::SameModule(entry) => {
                    (self.module.clone(), self.function.clone(), entry)
                }
            };
            let call = CallRequest {
                user: user.to_string(),
                function,
                input,
                python: module.is_python(),
                ..Default::default()
            };
            let handle = self
                .scheduler
                .start_child(self, module, call, entry)
                .await
                .map_err(ChainError::Refused)?;
            self.chained.fetch_add(1, Ordering::Relaxed);
            Ok(handle)
        })
    }

    fn await_call(&self, handle: CallHandle) -> BoxFuture<'_, Result<Arc<CallResult>, ChainError>> {
        Box::pin(async move {
            let id = self.result_of(handle)?;
            let admission = &self.scheduler.admission;
            // Settled by the callee's end, or when the guard goes if this wait is given up.
            let awaiting = admission.begin_await(&self.tree.user);
            if self.tree.register_await(handle, &awaiting.0) {
                // Hand the worker back while waiting, so the callee can run on a busy host.
                self.pause();
                let result = self.scheduler.results.wait(id).await;
                self.resume().await;
                return result.ok_or(ChainError::Expired(handle));
            }
            self.finished_call(handle)
        })
    }

    fn finished_call(&self, handle: CallHandle) -> Result<Arc<CallResult>, ChainError> {
        let id = self.result_of(handle)?;
        match self.scheduler.results.status(id) {
            CallStatus::Finished(result) => Ok(result),
            CallStatus::Running => Err(ChainError::Running(handle)),
            CallStatus::NotFound => Err(ChainError::Expired(handle)),
        }
    }

    fn cancelled(&self) -> BoxFuture<'_, String> {
        Box::pin(async move { self.tree.aborted().await.to_string() })
    }

    fn pause(&self) {
        self.worker.lock().take();
    }

    fn resume(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.take_worker())
    }
}
