//! The guest's side of the interposed calls: its memory (iovec arrays, numbers stored for it)
//! and calling wasmtime-wasi's own ABI functions with the call's current WASI context.

use wasmtime::{AsContextMut, Caller, Extern};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::Errno;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;
use wiggle::GuestMemory;

use super::FilesView;

/// The most buffers one read or write may pass (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Calls wasmtime-wasi's implementation of a WASI function (its ABI-level function, as the
/// linker's glue would) with the guest's memory and the call's current WASI context.
macro_rules! wasi_call {
    ($caller:expr, $func:ident($($arg:expr),* $(,)?) $(.$await:ident)?) => {{
        let (wasi, mut guest) = $crate::files::wasi_parts($caller)?;
        wasmtime_wasi::p1::wasi_snapshot_preview1::$func(wasi, &mut guest $(, $arg)*)
            $(.$await)?
    }};
}
pub(crate) use wasi_call;

/// The call's WASI context and the guest's memory, as wasmtime-wasi's functions take them.
pub(crate) fn wasi_parts<'a, T: FilesView>(
    caller: &'a mut Caller<'_, T>,
) -> wasmtime::Result<(&'a mut WasiP1Ctx, GuestMemory<'a>)> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (data, state) = memory.data_and_store_mut(caller);
    let wasi = state.wasi();
    wasi.set_hostcall_fuel(fuel);
    Ok((wasi, GuestMemory::Unshared(data)))
}

pub(super) fn memory_of<'a, T: FilesView>(caller: &'a mut Caller<'_, T>) -> Option<&'a mut [u8]> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory.data_mut(caller)),
        _ => None,
    }
}

pub(super) fn read_u32(memory: &[u8], at: usize) -> Option<u32> {
    let bytes = memory.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The (offset, length) of each buffer of an iovec array, checked to lie in `memory`.
pub(super) fn iovecs(memory: &[u8], iovs: i32, count: i32) -> Result<Vec<(usize, usize)>, Errno> {
    let count = count as u32 as usize;
    if count > IOV_MAX {
        return Err(Errno::Inval);
    }
    let base = iovs as u32 as usize;
    (0..count)
        .map(|i| {
            let at = base.checked_add(i * 8)?;
            let buf = read_u32(memory, at)? as usize;
            let len = read_u32(memory, at.checked_add(4)?)? as usize;
            (buf.checked_add(len)? <= memory.len()).then_some((buf, len))
        })
        .collect::<Option<_>>()
        .ok_or(Errno::Fault)
}

pub(super) fn store_u32<T: FilesView>(
    caller: &mut Caller<'_, T>,
    at: i32,
    value: u32,
) -> wasmtime::Result<i32> {
    let Some(memory) = memory_of(caller) else {
        wasmtime::bail!("missing required memory export");
    };
    let at = at as u32 as usize;
    match at.checked_add(4).and_then(|end| memory.get_mut(at..end)) {
        Some(slot) => {
            slot.copy_from_slice(&value.to_le_bytes());
            Ok(0)
        }
        None => Ok(Errno::Fault as i32),
    }
}

/// The buffers of the guest's iovec array at `iovs` (`Err`: the errno to answer with).
pub(super) fn buffers<T: FilesView>(
    caller: &mut Caller<'_, T>,
    iovs: i32,
    count: i32,
) -> wasmtime::Result<Result<Vec<(usize, usize)>, Errno>> {
    let Some(memory) = memory_of(caller) else {
        wasmtime::bail!("missing required memory export");
    };
    Ok(iovecs(memory, iovs, count))
}
