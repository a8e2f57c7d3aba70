//! The engine configuration shared by every call: pooling allocator, copy-on-write memory
//! images, epoch interruption driven by a ticker thread, and the linker with every import a
//! Faasm function may use.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig, Store,
};

use crate::parts::{CallStart, CallState};
use crate::{CallLimits, host, sandbox};

/// How often the epoch advances: the granularity of timeouts and of time-slicing between guests.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Pool slots beyond `max_instances` for the instances uploads run; more uploads queue.
const PREPARATION_SLOTS: u32 = 2;

/// Bumped whenever `prepare` changes what it compiles, to retire cached artefacts.
const ARTEFACT_FORMAT: u32 = 2;

/// Bumped whenever what a zygote sees changes in a way its snapshot keeps (wasi-libc's copies
/// of the preopens and the environment), to retire cached snapshots. Only the artefacts of
/// wasm functions carry it: the Python interpreter's compilation does not depend on it.
/// (1: `/etc` and Faasm's environment.)
const ZYGOTE_FORMAT: u32 = 1;

/// What the runtime needs to be built.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where precompiled modules are kept, keyed by wasm hash and engine compatibility.
    pub cache_dir: PathBuf,
    /// Default limits for every call.
    pub limits: CallLimits,
    /// Calls' instances that may exist at once (pool slots). The caller of [`Runtime::run`]
    /// admits at most this many calls at a time (the scheduler does); uploads have their own
    /// few slots on top.
    pub max_instances: u32,
    /// Host-wide budget of guest linear memory, running and waiting calls together.
    pub memory_budget: u64,
    /// The shared files (`PUT /file`), which guests read at `faasm://<path>` (SPEC §6).
    pub shared_files_dir: PathBuf,
    /// This host's state (SPEC §8): the local tier, in front of the global tier.
    pub state: std::sync::Arc<faasm_state::LocalTier>,
    /// The Python interpreter (SPEC §10); without it Python functions are refused.
    pub python: Option<crate::PythonConfig>,
}

/// The engine, the linker and the defaults every call is run with.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub(crate) config: RuntimeConfig,
    /// Distinguishes artefacts of incompatible engine builds in the cache directory.
    pub(crate) compatibility: String,
    /// The pool slots kept for the instances uploads run (zygotes, Python imports).
    pub(crate) preparation_slots: tokio::sync::Semaphore,
    pub(crate) memory_budget: std::sync::Arc<crate::MemoryBudget>,
    /// The Python interpreter, started on first use (see [`crate::python`]).
    pub(crate) python: parking_lot::Mutex<Option<std::sync::Arc<crate::python::Interpreter>>>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> wasmtime::Result<Self> {
        std::fs::create_dir_all(&config.cache_dir)?;
        let engine = Engine::new(&engine_config(&config))?;
        spawn_epoch_ticker(&engine);
        let linker = host::linker(&engine)?;
        Ok(Self {
            preparation_slots: tokio::sync::Semaphore::new(PREPARATION_SLOTS as usize),
            memory_budget: crate::MemoryBudget::new(config.memory_budget),
            compatibility: format!("{}-z{ZYGOTE_FORMAT}", compatibility(&engine)),
            engine,
            linker,
            config,
            python: parking_lot::Mutex::new(None),
        })
    }

    /// A store for one instance under the runtime's limits (see [`sandbox::store`]).
    pub(crate) fn new_store(&self, engine: &Engine, start: CallStart) -> Store<CallState> {
        let budget = self.memory_budget.clone();
        let state = CallState::new(
            start,
            &self.config.limits,
            budget,
            self.config.state.clone(),
        );
        sandbox::store(engine, state)
    }

    /// The guest memory budget, for metrics.
    pub fn memory_budget(&self) -> &crate::MemoryBudget {
        &self.memory_budget
    }
}

/// Names the artefacts `engine` can load: its compatibility hash, and what `prepare` does to a
/// module before compiling it (e.g. the zygote snapshot), so a new faasm-rs version never
/// reuses an older one's.
pub(crate) fn compatibility(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    ARTEFACT_FORMAT.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let slots = config.max_instances + PREPARATION_SLOTS;
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .total_stacks(slots)
        .max_memory_size(usize::try_from(config.limits.memory_bytes).unwrap_or(usize::MAX))
        // Reset what a call dirtied by copying, not by unmapping: the kernel's PAGEMAP_SCAN
        // (Linux 6.7+) finds the pages a call wrote anywhere in its memory (a C function's
        // stack top, data and heap lie megabytes apart), and up to this many bytes of them are
        // restored in place. Unmapping instead costs a page fault per page on the next call
        // and a TLB shootdown across every core on this one. Older kernels reset the first
        // bytes this way and unmap the rest.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(16 << 10);
    let mut wasm = Config::new();
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .epoch_interruption(true);
    wasm
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub(crate) fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("faasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}
