//! Safe access to a guest's linear memory from host calls: every pointer a guest passes is
//! bounds-checked here, and a bad one becomes a trap with a clear message, never a host crash.

use std::ops::Range;

use wasmtime::{Caller, Extern, Memory};

/// The guest's exported memory.
pub(crate) fn exported<T>(caller: &mut Caller<'_, T>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => wasmtime::bail!("guest exports no linear memory named `memory`"),
    }
}

/// The byte range `[ptr, ptr + len)` of `memory`, if it lies inside.
pub(crate) fn range(memory: &[u8], ptr: u32, len: u32) -> wasmtime::Result<Range<usize>> {
    let start = ptr as usize;
    match start.checked_add(len as usize) {
        Some(end) if end <= memory.len() => Ok(start..end),
        _ => wasmtime::bail!(
            "pointer out of bounds: {len} bytes at {ptr:#x} lie outside linear memory of {} bytes",
            memory.len()
        ),
    }
}

/// The NUL-terminated UTF-8 string at `ptr`.
pub(crate) fn c_str(memory: &[u8], ptr: u32) -> wasmtime::Result<&str> {
    let tail = memory.get(ptr as usize..).unwrap_or_default();
    let Some(len) = tail.iter().position(|&b| b == 0) else {
        wasmtime::bail!("string at {ptr:#x} is not NUL-terminated inside linear memory");
    };
    std::str::from_utf8(&tail[..len])
        .map_err(|_| wasmtime::format_err!("string at {ptr:#x} is not valid UTF-8"))
}
