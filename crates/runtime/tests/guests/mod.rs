//! What the runtime's tests and benchmarks and the workspace's benchmarks share (included by
//! path: `#[path = ".../crates/runtime/tests/guests/mod.rs"] mod guests;`): the WAT echo and a
//! runtime for tests.

use std::path::Path;

use faasm_runtime::{CallLimits, Runtime, RuntimeConfig};

/// Reads the whole input (growing memory to fit it) and sets it as the output.
pub const ECHO: &str = include_str!("../../../../benches/echo.wat");

/// A runtime caching its artefacts in `cache` (shared files in `cache/files`), under `limits`,
/// with 16 instances and a 16 GiB memory budget, no Python, in-memory state.
pub fn runtime_config(cache: &Path, limits: CallLimits) -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: cache.to_path_buf(),
        limits,
        max_instances: 16,
        memory_budget: 16 << 30,
        shared_files_dir: cache.join("files"),
        state: faasm_runtime::LocalTier::in_memory(),
        python: None,
    }
}

/// The runtime of [`runtime_config`].
pub fn runtime_in(cache: &Path, limits: CallLimits) -> Runtime {
    Runtime::new(runtime_config(cache, limits)).expect("runtime")
}
