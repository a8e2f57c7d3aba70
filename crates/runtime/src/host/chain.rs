//! Chaining (SPEC §5): `__faasm_chain_name`, `__faasm_chain_ptr`, `__faasm_await_call`,
//! `__faasm_read_call_output`. The waiting is done by the scheduler through [`CallHost`];
//! these functions only move bytes and ids across the guest boundary. This part's context,
//! [`Chaining`], is the call's link to the scheduler, which the other parts wait through too
//! ([`Chaining::idle`]).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use faasm_api::CallResult;
use wasmtime::{Caller, Linker};

use super::{MODULE, memory};
use crate::chain::{CallHandle, CallHost, ChainTarget, Entry};

/// A call's link to the scheduler, if it has one.
pub(crate) struct Chaining {
    host: Option<Arc<dyn CallHost>>,
}

/// Where a store's data keeps its [`Chaining`]: the projection this part links through.
pub(crate) trait ChainView: Send + 'static {
    fn chaining(&mut self) -> &mut Chaining;
}

impl Chaining {
    /// Without a `host`, the chaining calls trap.
    pub(crate) fn new(host: Option<Arc<dyn CallHost>>) -> Self {
        Self { host }
    }

    /// The scheduler's side of the call, if any.
    pub(crate) fn host(&self) -> Option<&Arc<dyn CallHost>> {
        self.host.as_ref()
    }

    /// The scheduler's side of the call, for the calls that need one.
    fn linked(&self) -> wasmtime::Result<Arc<dyn CallHost>> {
        self.host
            .clone()
            .ok_or_else(|| wasmtime::format_err!("chaining is not available to this call"))
    }

    /// A wait that hands the call's worker back if it cannot finish at once (see
    /// [`crate::chain::idle`]); it holds no borrow of the store while it waits.
    pub(crate) fn idle<F: Future>(&self, wait: F) -> impl Future<Output = F::Output> + use<F> {
        let host = self.host.clone();
        async move { crate::chain::idle(host.as_ref(), wait).await }
    }
}

pub(super) fn add_to_linker<T: ChainView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "__faasm_chain_name",
        |mut caller: Caller<'_, T>, (name, input, len): (u32, u32, u32)| {
            Box::new(async move {
                let (function, input) = {
                    let memory = memory::exported(&mut caller)?;
                    let data = memory.data(&caller);
                    let function = memory::c_str(data, name)?.to_owned();
                    (
                        function,
                        Bytes::copy_from_slice(&data[memory::range(data, input, len)?]),
                    )
                };
                guest_handle(start(&mut caller, ChainTarget::Named(&function), input).await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_chain_ptr",
        |mut caller: Caller<'_, T>, (index, input, len): (u32, u32, u32)| {
            Box::new(async move {
                let input = {
                    let memory = memory::exported(&mut caller)?;
                    let data = memory.data(&caller);
                    Bytes::copy_from_slice(&data[memory::range(data, input, len)?])
                };
                let target = ChainTarget::SameModule(Entry::Table(index));
                guest_handle(start(&mut caller, target, input).await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_await_call",
        |mut caller: Caller<'_, T>, (handle,): (u32,)| {
            Box::new(async move { await_call(&mut caller, handle).await })
        },
    )?;
    linker.func_wrap(MODULE, "__faasm_read_call_output", read_call_output::<T>)?;
    Ok(())
}

/// Starts a chained call (the C imports and the Python door).
pub(crate) async fn start<T: ChainView>(
    caller: &mut Caller<'_, T>,
    target: ChainTarget<'_>,
    input: Bytes,
) -> wasmtime::Result<CallHandle> {
    let host = caller.data_mut().chaining().linked()?;
    Ok(host.chain(target, input).await?)
}

/// Waits for the chained call `handle`; what the guest is told (see [`awaited_return_value`]).
pub(crate) async fn await_call<T: ChainView>(
    caller: &mut Caller<'_, T>,
    handle: CallHandle,
) -> wasmtime::Result<i32> {
    let host = caller.data_mut().chaining().linked()?;
    let result = host.await_call(handle).await?;
    Ok(awaited_return_value(&result))
}

/// The result of the finished chained call `handle`.
pub(crate) fn finished<T: ChainView>(
    caller: &mut Caller<'_, T>,
    handle: CallHandle,
) -> wasmtime::Result<Arc<CallResult>> {
    let host = caller.data_mut().chaining().linked()?;
    Ok(host.finished_call(handle)?)
}

/// What awaiting a call returns to the guest: its return value, and 1 on failure or timeout
/// whatever the exit code was (SPEC §4).
pub(crate) fn awaited_return_value(result: &CallResult) -> i32 {
    if result.succeeded() {
        result.return_value
    } else {
        result.return_value.max(1)
    }
}

/// Guests hold call handles as 32-bit integers (handles are bounded by the tree's budget).
fn guest_handle(handle: CallHandle) -> wasmtime::Result<i32> {
    i32::try_from(handle)
        .map_err(|_| wasmtime::format_err!("call handle {handle} does not fit in an i32"))
}

/// Like `read_input`, for the output of a finished call.
fn read_call_output<T: ChainView>(
    mut caller: Caller<'_, T>,
    handle: u32,
    buf: u32,
    len: u32,
) -> wasmtime::Result<i32> {
    let result = finished(&mut caller, handle)?;
    let output = &result.output;
    if len == 0 {
        return Ok(output.len() as i32);
    }
    let n = output.len().min(len as usize);
    let memory = memory::exported(&mut caller)?;
    let data = memory.data_mut(&mut caller);
    let range = memory::range(data, buf, n as u32)?;
    data[range].copy_from_slice(&output[..n]);
    Ok(n as i32)
}
