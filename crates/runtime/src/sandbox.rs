//! The one way every guest runs, whether a call ([`crate::call`]), a Python snapshot being
//! taken ([`crate::python`]) or a zygote at upload ([`crate::zygote`]): a fresh store whose
//! memory grows are capped and charged to the host's budget, that yields to the executor at
//! every epoch tick (so a busy guest shares its thread and a timeout around it can fire), run
//! under the call's wall-time limit, and a one-line reason when it does not end well.

use std::future::Future;
use std::time::Duration;

use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::I32Exit;

use crate::CallLimits;
use crate::limits::{MemoryBudgetExhausted, MemoryCap, MemoryLimitExceeded};

/// What a sandboxed store carries: at least the memory cap its limiter enforces.
pub(crate) trait Sandboxed: Send + 'static {
    fn memory_cap(&mut self) -> &mut MemoryCap;
}

/// A store for one instance: memory capped, a yield at every epoch tick.
pub(crate) fn store<T: Sandboxed>(engine: &Engine, data: T) -> Store<T> {
    let mut store = Store::new(engine, data);
    store.limiter(|data| data.memory_cap());
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    store
}

/// Why a sandboxed run stopped short.
pub(crate) enum Stopped {
    TimedOut(Duration),
    Failed(wasmtime::Error),
}

impl Stopped {
    /// One line: `timed out after 1s`, `trap: ...`, `memory limit of ... exceeded (1 GiB)`.
    pub(crate) fn reason(&self, limits: &CallLimits) -> String {
        match self {
            Stopped::TimedOut(timeout) => format!("timed out after {}", format_duration(*timeout)),
            Stopped::Failed(err) => reason(err, limits),
        }
    }
}

/// Runs `run` under the wall-time limit of `limits`.
pub(crate) async fn within<R>(
    limits: &CallLimits,
    run: impl Future<Output = wasmtime::Result<R>>,
) -> Result<R, Stopped> {
    match tokio::time::timeout(limits.timeout, run).await {
        Err(_) => Err(Stopped::TimedOut(limits.timeout)),
        Ok(Ok(ran)) => Ok(ran),
        Ok(Err(err)) => Err(Stopped::Failed(err)),
    }
}

/// How a call that failed with `err` ended: its return value (an exit's code, else 1) and
/// its `Call failed...` reason (`None` for `exit(0)`).
pub(crate) fn classify_error(err: &wasmtime::Error, limits: &CallLimits) -> (i32, Option<String>) {
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => (0, None),
            code => (code, Some(format!("Call failed (return value={code})"))),
        };
    }
    (1, Some(format!("Call failed: {}", reason(err, limits))))
}

/// A one-line reason for `err`, in the words every guest failure uses.
fn reason(err: &wasmtime::Error, limits: &CallLimits) -> String {
    let reason = if let Some(exceeded) = err.downcast_ref::<MemoryLimitExceeded>() {
        format!(
            "{exceeded} ({})",
            format_bytes(limits.memory_bytes.min(exceeded.limit))
        )
    } else if let Some(exhausted) = err.downcast_ref::<MemoryBudgetExhausted>() {
        exhausted.to_string()
    } else if let Some(trap) = err.downcast_ref::<Trap>() {
        format!("trap: {trap}")
    } else {
        err.root_cause().to_string()
    };
    reason.lines().next().unwrap_or_default().trim().to_owned()
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn format_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}
