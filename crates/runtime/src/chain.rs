//! The runtime's view of chaining (SPEC §5): how a call names another call to start, and the
//! [`CallHost`] trait through which a running guest reaches the scheduler. The scheduler
//! implements it; the runtime never knows about queues, ids or results storage.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use faasm_api::CallResult;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a call starts executing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Entry {
    /// `_start`, i.e. `main` (a Python function's `faasm_main()`).
    #[default]
    Main,
    /// Entry `idx` of the module's function table: an `int f(void)` whose return value is the
    /// call's (`__faasm_chain_ptr`, `faasmChain`).
    Table(u32),
    /// A Python function's module-level function of this name, called with the input bytes
    /// (`pyfaasm.core.chain`).
    Python(Arc<str>),
}

/// What a guest asks to chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainTarget<'a> {
    /// Another function of the same user, from `main`.
    Named(&'a str),
    /// This very module (the exact version running), from another entry.
    SameModule(Entry),
}

/// How a guest names a call it chained: a small number local to its call tree, never a global
/// call id (so a guest cannot reach calls outside its tree, and ids never overflow an i32).
pub type CallHandle = u32;

/// Why a chaining operation failed; its text is what the guest's trap (or the Python
/// `FaasmError`) says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The call already started as many chained calls as it may.
    #[error("limit of {0} chained calls per call exceeded")]
    TooManyChained(usize),
    /// The named function cannot be chained: a bad name, or none such (the reason).
    #[error("{0}")]
    Function(String),
    /// The scheduler refused to start the call (the reason: a full queue, the tree's budget).
    #[error("chained call refused: {0}")]
    Refused(String),
    /// The handle is not one of the calls this call or its chained calls started.
    #[error("{0}")]
    NotInTree(String),
    /// Read before it finished.
    #[error("chained call {0} has not finished: await it first")]
    Running(CallHandle),
    /// Its result is no longer retained.
    #[error("the result of call handle {0} expired")]
    Expired(CallHandle),
}

/// A running call's link back to the scheduler.
pub trait CallHost: Send + Sync + 'static {
    /// Starts a chained call and returns its handle. A refused chain starts nothing.
    fn chain<'a>(
        &'a self,
        target: ChainTarget<'a>,
        input: Bytes,
    ) -> BoxFuture<'a, Result<CallHandle, ChainError>>;

    /// Waits until the chained call `handle` has finished; only calls this call or its own
    /// chained calls started may be awaited. While it waits the caller holds no worker, so the
    /// callee (or anything else) can run even on a single-worker host.
    fn await_call(&self, handle: CallHandle) -> BoxFuture<'_, Result<Arc<CallResult>, ChainError>>;

    /// The result of a finished chained call; an error if it is not one this call may read or
    /// if it is still running.
    fn finished_call(&self, handle: CallHandle) -> Result<Arc<CallResult>, ChainError>;

    /// Resolves, with the reason, when the call must stop (its call tree was aborted).
    fn cancelled(&self) -> BoxFuture<'_, String>;

    /// Hands this call's worker back while it waits on something other than a call (a state
    /// lock); [`CallHost::resume`] queues for one again.
    fn pause(&self);

    /// Takes a worker again after [`CallHost::pause`].
    fn resume(&self) -> BoxFuture<'_, ()>;
}

/// Runs `wait` without holding a worker if it cannot finish at once, so whatever the call
/// waits for can run even on a single-worker host.
pub(crate) async fn idle<F: Future>(host: Option<&Arc<dyn CallHost>>, wait: F) -> F::Output {
    let mut wait = std::pin::pin!(wait);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(wait.as_mut().poll(cx))).await;
    match (first, host) {
        (std::task::Poll::Ready(output), _) => output,
        (std::task::Poll::Pending, None) => wait.await,
        (std::task::Poll::Pending, Some(host)) => {
            host.pause();
            let output = wait.await;
            host.resume().await;
            output
        }
    }
}
