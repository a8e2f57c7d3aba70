//! Faasm's debugging calls: `__faasm_backtrace` logs the guest's call stack on the host (the
//! call goes on); `__faasm_host_interface_test` fails the call from inside a host call, as
//! Faasm's test of error propagation expects.

use wasmtime::{Caller, Linker, WasmBacktrace};

use super::MODULE;

pub(super) fn add_to_linker<T: 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "__faasm_backtrace", backtrace::<T>)?;
    linker.func_wrap(
        MODULE,
        "__faasm_host_interface_test",
        host_interface_test::<T>,
    )?;
    Ok(())
}

/// Logs up to `depth` frames of the guest's stack (all of them if `depth <= 0`).
fn backtrace<T>(caller: Caller<'_, T>, depth: i32) {
    let trace = WasmBacktrace::capture(&caller);
    let frames = trace.frames();
    let shown = usize::try_from(depth)
        .ok()
        .filter(|&d| d > 0)
        .map_or(frames.len(), |d| d.min(frames.len()));
    let lines: Vec<String> = frames[..shown]
        .iter()
        .map(|frame| {
            frame
                .func_name()
                .map_or_else(|| format!("func #{}", frame.func_index()), str::to_owned)
        })
        .collect();
    tracing::info!(frames = %lines.join(" <- "), "guest backtrace");
}

fn host_interface_test<T>(_: Caller<'_, T>, test: i32) -> wasmtime::Result<()> {
    match test {
        1 => wasmtime::bail!("host interface test 1: an error raised inside a host call"),
        other => wasmtime::bail!("unknown host interface test {other}"),
    }
}
