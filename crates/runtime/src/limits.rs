//! Per-call limits and the store limiter that enforces the memory cap.

use std::time::Duration;

/// What one call may use (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock time from instantiation to exit.
    pub timeout: Duration,
    /// Linear memory, in bytes.
    pub memory_bytes: u64,
    /// Size of what `write_output` may set.
    pub output_bytes: usize,
    /// Captured stdout beyond this is dropped and a marker appended.
    pub stdout_bytes: usize,
    /// What the call's private files (its `/`, its copies of `faasm://` files) may hold; a
    /// write past it fails with `ENOSPC`.
    pub scratch_bytes: u64,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            memory_bytes: 1 << 30,
            output_bytes: 16 << 20,
            stdout_bytes: 1 << 20,
            scratch_bytes: 256 << 20,
        }
    }
}

/// Fails a `memory.grow` past the cap with a trap that says so, rather than letting the guest
/// see -1 and limp on (a C guest would only report an opaque allocation failure).
pub(crate) struct MemoryCap {
    pub limit: u64,
}

/// The trap raised when a guest grows its memory past the cap.
#[derive(Debug)]
pub(crate) struct MemoryLimitExceeded {
    pub limit: u64,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory limit of {} bytes exceeded", self.limit)
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            return Err(MemoryLimitExceeded { limit: self.limit }.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}
