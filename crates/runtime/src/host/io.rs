//! Input, output and configuration flags: `__faasm_read_input`, `__faasm_write_output`,
//! `__faasm_conf_flag`. The call's input and output are this part's context ([`CallIo`]),
//! which the Python door reads and writes too.

use bytes::Bytes;
use wasmtime::{Caller, Linker};

use super::{MODULE, memory};

/// A call's input, and the output it set so far.
pub(crate) struct CallIo {
    input: Bytes,
    output: Bytes,
    output_limit: usize,
}

/// Where a store's data keeps its [`CallIo`]: the projection this part links through.
pub(crate) trait IoView: Send + 'static {
    fn io(&mut self) -> &mut CallIo;
}

impl CallIo {
    /// A call given `input`, whose output may be at most `output_limit` bytes.
    pub(crate) fn new(input: Bytes, output_limit: usize) -> Self {
        Self {
            input,
            output: Bytes::new(),
            output_limit,
        }
    }

    pub(crate) fn input(&self) -> &Bytes {
        &self.input
    }

    /// Replaces the output with `output`, unless it is over the limit.
    pub(crate) fn set_output(&mut self, output: &[u8]) -> wasmtime::Result<()> {
        let limit = self.output_limit;
        if output.len() > limit {
            wasmtime::bail!(
                "output of {} bytes exceeds the limit of {limit} bytes",
                output.len()
            );
        }
        self.output = Bytes::copy_from_slice(output);
        Ok(())
    }

    /// The output the call ended with.
    pub(crate) fn take_output(&mut self) -> Bytes {
        std::mem::take(&mut self.output)
    }
}

pub(super) fn add_to_linker<T: IoView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "__faasm_read_input", read_input::<T>)?;
    linker.func_wrap(MODULE, "__faasm_write_output", write_output::<T>)?;
    linker.func_wrap(MODULE, "__faasm_conf_flag", conf_flag::<T>)?;
    Ok(())
}

/// `len == 0`: the input size. Otherwise copies `min(len, size)` bytes and returns the count.
fn read_input<T: IoView>(mut caller: Caller<'_, T>, buf: u32, len: u32) -> wasmtime::Result<i32> {
    let input = caller.data_mut().io().input.clone();
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
fn write_output<T: IoView>(mut caller: Caller<'_, T>, ptr: u32, len: u32) -> wasmtime::Result<()> {
    let limit = caller.data_mut().io().output_limit;
    if len as usize > limit {
        wasmtime::bail!("output of {len} bytes exceeds the limit of {limit} bytes");
    }
    let memory = memory::exported(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    state.io().output = Bytes::copy_from_slice(&data[memory::range(data, ptr, len)?]);
    Ok(())
}

/// `ALWAYS_ON` is 1; `ALWAYS_OFF` and anything else 0.
fn conf_flag<T>(mut caller: Caller<'_, T>, key: u32) -> wasmtime::Result<i32> {
    let memory = memory::exported(&mut caller)?;
    Ok(i32::from(
        memory::c_str(memory.data(&caller), key)? == "ALWAYS_ON",
    ))
}
