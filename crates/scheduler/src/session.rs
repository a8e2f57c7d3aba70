//! A running call's side of chaining: [`CallSession`] implements the runtime's [`CallHost`],
//! starting chained calls through the scheduler and waiting for them without holding a worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use faasm_api::{CallId, CallRequest, CallResult, CallStatus, validate_name};
use faasm_runtime::{BoxFuture, CallHost, ChainTarget, Entry, FunctionModule};
use parking_lot::Mutex;
use tokio::sync::OwnedSemaphorePermit;

use crate::{FunctionKind, Scheduler};

pub(crate) struct CallSession {
    scheduler: Arc<Scheduler>,
    id: CallId,
    user: String,
    function: String,
    /// The exact module this call runs, for `chain_ptr` children.
    module: Arc<FunctionModule>,
    depth: u32,
    chained: AtomicUsize,
    /// The worker permit this call runs under; handed back while the call waits.
    worker: Mutex<Option<OwnedSemaphorePermit>>,
}

impl CallSession {
    pub fn new(
        scheduler: Arc<Scheduler>,
        id: CallId,
        call: &CallRequest,
        module: Arc<FunctionModule>,
        depth: u32,
        worker: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            scheduler,
            id,
            user: call.user.clone(),
            function: call.function.clone(),
            module,
            depth,
            chained: AtomicUsize::new(0),
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Gives the worker back for good: the call has ended.
    pub fn release_worker(&self) {
        self.worker.lock().take();
    }
}

impl CallHost for CallSession {
    fn chain<'a>(
        &'a self,
        target: ChainTarget<'a>,
        input: Bytes,
    ) -> BoxFuture<'a, Result<CallId, String>> {
        Box::pin(async move {
            let limits = &self.scheduler.config;
            let depth = self.depth + 1;
            if depth > limits.max_chain_depth {
                return Err(format!(
                    "chain depth limit of {} exceeded",
                    limits.max_chain_depth
                ));
            }
            if self.chained.fetch_add(1, Ordering::Relaxed) >= limits.max_chained_calls {
                return Err(format!(
                    "limit of {} chained calls per call exceeded",
                    limits.max_chained_calls
                ));
            }
            let (module, function, entry) = match target {
                ChainTarget::Named(name) => {
                    validate_name("function", name).map_err(|e| e.to_string())?;
                    let functions = self.scheduler.functions();
                    let module = functions
                        .get(FunctionKind::Wasm, &self.user, name)
                        .await
                        .map_err(|e| e.to_string())?;
                    (module, name.to_owned(), Entry::Main)
                }
                ChainTarget::SameModule(entry) => {
                    (self.module.clone(), self.function.clone(), entry)
                }
            };
            let call = CallRequest {
                user: self.user.clone(),
                function,
                input,
                python: module.is_python(),
                ..Default::default()
            };
            let (id, _) = self
                .scheduler
                .start(module, call, entry, depth)
                .map_err(|e| format!("chained call refused: {e}"))?;
            Ok(id)
        })
    }

    fn await_call(&self, id: CallId) -> BoxFuture<'_, Result<Arc<CallResult>, String>> {
        Box::pin(async move {
            if id == self.id {
                return Err("a call cannot await itself".into());
            }
            // Hand the worker back while waiting, so the callee can run on a busy host.
            self.pause();
            let result = self.scheduler.results.wait(id).await;
            self.resume().await;
            result.ok_or_else(|| format!("unknown call id {id}"))
        })
    }

    fn finished_call(&self, id: CallId) -> Result<Arc<CallResult>, String> {
        match self.scheduler.results.status(id) {
            CallStatus::Finished(result) => Ok(result),
            CallStatus::Running => Err(format!("call {id} has not finished: await it first")),
            CallStatus::NotFound => Err(format!("unknown call id {id}")),
        }
    }

    fn pause(&self) {
        self.worker.lock().take();
    }

    fn resume(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let worker = self.scheduler.worker().await;
            *self.worker.lock() = Some(worker);
        })
    }
}
