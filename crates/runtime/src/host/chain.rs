//! Chaining (SPEC §5): `__faasm_chain_name`, `__faasm_chain_ptr`, `__faasm_await_call`,
//! `__faasm_read_call_output`. The waiting is done by the scheduler through [`CallHost`];
//! these functions only move bytes and ids across the guest boundary.

use std::sync::Arc;

use bytes::Bytes;
use faasm_api::CallResult;
use wasmtime::{Caller, Linker};

use super::{MODULE, memory};
use crate::call::CallState;
use crate::chain::{CallHandle, CallHost, ChainTarget, Entry};

pub(super) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "__faasm_chain_name",
        |mut caller: Caller<'_, CallState>, (name, input, len): (u32, u32, u32)| {
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
                let host = host(&caller)?;
                let handle = host.chain(ChainTarget::Named(&function), input).await;
                guest_handle(handle.map_err(wasmtime::Error::msg)?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_chain_ptr",
        |mut caller: Caller<'_, CallState>, (index, input, len): (u32, u32, u32)| {
            Box::new(async move {
                let input = {
                    let memory = memory::exported(&mut caller)?;
                    let data = memory.data(&caller);
                    Bytes::copy_from_slice(&data[memory::range(data, input, len)?])
                };
                let host = host(&caller)?;
                let target = ChainTarget::SameModule(Entry::Table(index));
                let handle = host.chain(target, input).await;
                guest_handle(handle.map_err(wasmtime::Error::msg)?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_await_call",
        |caller: Caller<'_, CallState>, (handle,): (u32,)| {
            Box::new(async move {
                let host = host(&caller)?;
                let result = host
                    .await_call(handle)
                    .await
                    .map_err(wasmtime::Error::msg)?;
                Ok(awaited_return_value(&result))
            })
        },
    )?;
    linker.func_wrap(MODULE, "__faasm_read_call_output", read_call_output)?;
    Ok(())
}

fn host(caller: &Caller<'_, CallState>) -> wasmtime::Result<Arc<dyn CallHost>> {
    caller
        .data()
        .host
        .clone()
        .ok_or_else(|| wasmtime::format_err!("chaining is not available to this call"))
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
fn read_call_output(
    mut caller: Caller<'_, CallState>,
    handle: u32,
    buf: u32,
    len: u32,
) -> wasmtime::Result<i32> {
    let result = host(&caller)?
        .finished_call(handle)
        .map_err(wasmtime::Error::msg)?;
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
