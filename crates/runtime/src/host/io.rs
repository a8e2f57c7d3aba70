//! Input, output and configuration flags: `__faasm_read_input`, `__faasm_write_output`,
//! `__faasm_conf_flag`.

use bytes::Bytes;
use wasmtime::{Caller, Linker};

use super::{MODULE, memory};
use crate::call::CallState;

pub(super) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "__faasm_read_input", read_input)?;
    linker.func_wrap(MODULE, "__faasm_write_output", write_output)?;
    linker.func_wrap(MODULE, "__faasm_conf_flag", conf_flag)?;
    Ok(())
}

/// `len == 0`: the input size. Otherwise copies `min(len, size)` bytes and returns the count.
fn read_input(mut caller: Caller<'_, CallState>, buf: u32, len: u32) -> wasmtime::Result<i32> {
    let input = caller.data().input.clone();
    if len == 0 {
        return Ok(input.len() as i32);
    }
    let n = input.len().min(len as usize);
    let memory = memory::exported(&mut caller)?;
    let data = memory.data_mut(&mut caller);
    let range = memory::range(data, buf, n as u32)?;
    data[range].copy_from_slice(&input[..n]);
    Ok(n as i32)
}

/// Replaces the call's output with the `len` bytes at `ptr`.
fn write_output(mut caller: Caller<'_, CallState>, ptr: u32, len: u32) -> wasmtime::Result<()> {
    let limit = caller.data().output_limit;
    if len as usize > limit {
        wasmtime::bail!("output of {len} bytes exceeds the limit of {limit} bytes");
    }
    let memory = memory::exported(&mut caller)?;
    let data = memory.data(&caller);
    let output = Bytes::copy_from_slice(&data[memory::range(data, ptr, len)?]);
    caller.data_mut().output = output;
    Ok(())
}

/// `ALWAYS_ON` is 1; `ALWAYS_OFF` and anything else 0.
fn conf_flag(mut caller: Caller<'_, CallState>, key: u32) -> wasmtime::Result<i32> {
    let memory = memory::exported(&mut caller)?;
    Ok(i32::from(
        memory::c_str(memory.data(&caller), key)? == "ALWAYS_ON",
    ))
}
