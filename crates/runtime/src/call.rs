//! Running one call: a fresh store with its own WASI context, captured stdout and limits,
//! instantiated from the module's `InstancePre` (a copy-on-write pool slot, or for Python the
//! interpreter with the function's snapshot mapped in), then its entry point.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::{Engine, Instance, Store, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::capped_pipe::CappedPipe;
use crate::files::CallFiles;
use crate::limits::MemoryCap;
use crate::mpi::MpiHost;
use crate::python::PythonCall;
use crate::sandbox::{self, Sandboxed, Stopped, classify_error};
use crate::{CallHost, Entry, FunctionModule, Runtime};

/// What a call is given.
#[derive(Clone, Default)]
pub struct CallInput {
    /// The user the call runs as: state keys and chained functions are this user's.
    pub user: String,
    pub input: Bytes,
    /// argv after the program name.
    pub cmdline: Vec<String>,
    /// Where execution starts.
    pub entry: Entry,
    /// The scheduler's side of chaining; without it the chaining calls trap.
    pub host: Option<Arc<dyn CallHost>>,
    /// The call's MPI world (SPEC §9); without it `MPI_Init` traps.
    pub mpi: Option<Arc<dyn MpiHost>>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// The guest's exit code, or 1 if it trapped, timed out or hit a limit.
    pub return_value: i32,
    pub output: Bytes,
    pub stdout: Bytes,
    /// `None` on success, else a one-line reason starting with `Call failed`.
    pub error: Option<String>,
}

/// The per-call data a store carries; host functions reach it through their `Caller`.
pub(crate) struct CallState {
    pub user: String,
    pub wasi: WasiP1Ctx,
    pub host: Option<Arc<dyn CallHost>>,
    pub input: Bytes,
    pub output: Bytes,
    pub output_limit: usize,
    memory_cap: MemoryCap,
    /// The call's scratch directories and descriptor roles (deleted when the store is).
    pub files: CallFiles,
    /// The state locks this call holds and the values it mapped into its memory.
    pub state: crate::host::state::StateSession,
    /// What the Python runner is doing, in an instance of the interpreter.
    pub python: Option<PythonCall>,
    /// The call's MPI rank: its world, communicators and requests.
    pub mpi: crate::host::mpi::MpiCall,
}

impl Sandboxed for CallState {
    fn memory_cap(&mut self) -> &mut MemoryCap {
        &mut self.memory_cap
    }
}

/// The program name C guests see as `argv[0]`.
const PROGRAM_NAME: &str = "function.wasm";

impl Runtime {
    /// Runs `module` once, in a fresh instance, under the runtime's limits. The caller keeps
    /// the calls running at once within `max_instances` (beyond it instantiation fails).
    pub async fn run(&self, module: &FunctionModule, call: CallInput) -> CallOutcome {
        let limits = self.config.limits;
        let stdout = CappedPipe::new(limits.stdout_bytes);
        let shared = self.config.shared_files_dir.clone();
        // The call's filesystem (SPEC §6) joins the context when the guest first uses it.
        let (files, python) = match &module.python {
            None => {
                let argv = std::iter::once(PROGRAM_NAME.to_owned()).chain(call.cmdline);
                (CallFiles::new(shared, argv.collect(), stdout.clone()), None)
            }
            Some(function) => (
                function.files(shared, stdout.clone()),
                Some(PythonCall::call(&call.entry, call.cmdline)),
            ),
        };
        let host = call.host.clone();
        let state = CallStart {
            user: call.user,
            input: call.input,
            host: call.host,
            mpi: call.mpi,
            files,
            python,
        };
        let mut store = self.new_store(module.pre.module().engine(), state);

        let run = async {
            let instance = module.pre.instantiate_async(&mut store).await?;
            let result = match (&module.python, &call.entry) {
                (Some(function), _) => function.run(&mut store, &instance).await,
                (None, Entry::Main) => {
                    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                    start.call_async(&mut store, ()).await.map(|()| 0)
                }
                (None, Entry::Table(index)) => {
                    let function = table_function(&instance, &mut store, *index)?;
                    function.call_async(&mut store, ()).await
                }
                (None, Entry::Python(_)) => Err(wasmtime::format_err!(
                    "a Python entry needs a Python function"
                )),
            };
            crate::host::state::end_call(&mut store, &instance).await;
            result
        };
        let cancelled = async {
            match &host {
                Some(host) => host.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let (return_value, error) = tokio::select! {
            ended = sandbox::within(&limits, run) => match ended {
                Ok(0) => (0, None),
                Ok(code) => (code, Some(format!("Call failed (return value={code})"))),
                Err(Stopped::Failed(err)) => classify_error(&err, &limits),
                Err(stopped) => (1, Some(format!("Call failed: {}", stopped.reason(&limits)))),
            },
            reason = cancelled => (1, Some(reason)),
        };
        let output = std::mem::take(&mut store.data_mut().output);
        drop(store);
        CallOutcome {
            return_value,
            output,
            stdout: stdout.contents(),
            error,
        }
    }

    /// A store for one instance under the runtime's limits (see [`sandbox::store`]).
    pub(crate) fn new_store(&self, engine: &Engine, start: CallStart) -> Store<CallState> {
        let limits = self.config.limits;
        let state = CallState {
            user: start.user,
            wasi: start.files.wasi(),
            host: start.host,
            input: start.input,
            output: Bytes::new(),
            output_limit: limits.output_bytes,
            memory_cap: MemoryCap::new(limits.memory_bytes, self.memory_budget.clone()),
            files: start.files.with_scratch_limit(limits.scratch_bytes),
            state: crate::host::state::StateSession::new(self.config.state.clone()),
            python: start.python,
            mpi: crate::host::mpi::MpiCall::new(start.mpi),
        };
        sandbox::store(engine, state)
    }
}

/// What a store is made with (see [`Runtime::new_store`]).
pub(crate) struct CallStart {
    pub user: String,
    pub input: Bytes,
    pub host: Option<Arc<dyn CallHost>>,
    pub mpi: Option<Arc<dyn MpiHost>>,
    pub files: CallFiles,
    pub python: Option<PythonCall>,
}

/// Function-table entry `index` as an `int f(void)`.
fn table_function(
    instance: &Instance,
    store: &mut Store<CallState>,
    index: u32,
) -> wasmtime::Result<TypedFunc<(), i32>> {
    let table = instance
        .get_table(&mut *store, "__indirect_function_table")
        .ok_or_else(|| {
            wasmtime::format_err!("module exports no function table (build it with `faasm cc`)")
        })?;
    let function = table
        .get(&mut *store, u64::from(index))
        .and_then(|entry| entry.as_func().flatten().copied())
        .ok_or_else(|| wasmtime::format_err!("function table has no function at index {index}"))?;
    function
        .typed::<(), i32>(&*store)
        .map_err(|_| wasmtime::format_err!("function table entry {index} is not an `int f(void)`"))
}
