//! Per-call limits, the host-wide guest memory budget, and the store limiter that enforces
//! both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The linear memory of every live call (running or waiting) counts against this budget
/// (SPEC §7), at its full size: an upper bound of what the call can make the host hold.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// The budget, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of guest memory held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn try_charge(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Fails a `memory.grow` past the call's cap or the host's budget with a trap that says so,
/// rather than letting the guest see -1 and limp on (a C guest would only report an opaque
/// allocation failure). What it charged to the budget is given back when the store goes.
pub(crate) struct MemoryCap {
    pub limit: u64,
    budget: Arc<MemoryBudget>,
    charged: u64,
    /// The growth last charged, given back if the grow then fails anyway.
    pending: u64,
}

impl MemoryCap {
    pub fn new(limit: u64, budget: Arc<MemoryBudget>) -> Self {
        Self {
            limit,
            budget,
            charged: 0,
            pending: 0,
        }
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

/// The trap raised when the host's guest memory budget has no room for a grow.
#[derive(Debug)]
pub(crate) struct MemoryBudgetExhausted {
    pub budget: u64,
    pub wanted: u64,
}

impl std::fmt::Display for MemoryBudgetExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host memory budget of {} bytes for guests exhausted ({} more bytes wanted; \
             --memory-budget)",
            self.budget, self.wanted
        )
    }
}

impl std::error::Error for MemoryBudgetExhausted {}

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
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            return Err(MemoryLimitExceeded { limit: self.limit }.into());
        }
        let growth = desired.saturating_sub(current) as u64;
        if !self.budget.try_charge(growth) {
            return Err(MemoryBudgetExhausted {
                budget: self.budget.limit,
                wanted: growth,
            }
            .into());
        }
        self.charged += growth;
        self.pending = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.budget.release(self.pending);
        self.charged -= self.pending;
        self.pending = 0;
        Ok(())
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
