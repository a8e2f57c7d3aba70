//! How a function's calls run, chosen once when it is prepared ([`crate::FunctionModule`]):
//! a wasm module's entry point (C, C++, a zygote's snapshot: all run as modules), or the
//! Python interpreter running the function over its snapshot.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::{Instance, Store, TypedFunc};

use crate::capped_pipe::CappedPipe;
use crate::chain::Entry;
use crate::files::CallFiles;
use crate::parts::CallState;
use crate::python::PythonFunction;
use crate::python::door::PythonCall;

/// The executor of one function kind.
pub(crate) enum Executor {
    /// A wasm module: `_start`, or an entry of its function table.
    Wasm,
    /// The Python interpreter with this function's snapshot.
    Python(Arc<PythonFunction>),
}

/// The program name C guests see as `argv[0]`.
const PROGRAM_NAME: &str = "function.wasm";

impl Executor {
    /// What a call starts with: its filesystem (files in `shared`, stdout and stderr into
    /// `stdout`) and, for Python, what the door tells the runner to run.
    pub(crate) fn start(
        &self,
        shared: PathBuf,
        stdout: CappedPipe,
        entry: &Entry,
        cmdline: Vec<String>,
    ) -> (CallFiles, Option<PythonCall>) {
        match self {
            Executor::Wasm => {
                let argv = std::iter::once(PROGRAM_NAME.to_owned()).chain(cmdline);
                (CallFiles::new(shared, argv.collect(), stdout), None)
            }
            Executor::Python(function) => (
                function.files(shared, stdout),
                Some(PythonCall::call(entry, cmdline)),
            ),
        }
    }

    /// Runs the call in `instance`, from `entry`; the guest's return value.
    pub(crate) async fn run(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        entry: &Entry,
    ) -> wasmtime::Result<i32> {
        match (self, entry) {
            (Executor::Python(function), _) => function.run(store, instance).await,
            (Executor::Wasm, Entry::Main) => {
                let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
                start.call_async(&mut *store, ()).await.map(|()| 0)
            }
            (Executor::Wasm, Entry::Table(index)) => {
                let function = table_function(instance, store, *index)?;
                function.call_async(&mut *store, ()).await
            }
            (Executor::Wasm, Entry::Python(_)) => Err(wasmtime::format_err!(
                "a Python entry needs a Python function"
            )),
        }
    }
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
