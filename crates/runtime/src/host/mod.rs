//! The imports a Faasm function may use: WASI preview 1 and the `env.__faasm_*` calls of
//! SPEC §4, and MPI's `faasm_mpi.MPI_*` (SPEC §9). Each concern has its own module; [`linker`] puts them together once per engine.

mod chain;
mod clock;
mod debug;
mod faasm_python_runner;
mod io;
pub(crate) mod memory;
pub(crate) mod mpi;
pub(crate) mod state;

pub(crate) use chain::awaited_return_value;

use wasmtime::{Engine, Linker};

use crate::call::CallState;

/// The import module of every Faasm host call.
const MODULE: &str = "env";

pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut CallState| &mut state.wasi)?;
    crate::files::add_to_linker(&mut linker)?;
    clock::add_to_linker(&mut linker)?;
    io::add_to_linker(&mut linker)?;
    debug::add_to_linker(&mut linker)?;
    chain::add_to_linker(&mut linker)?;
    state::add_to_linker(&mut linker)?;
    mpi::add_to_linker(&mut linker)?;
    faasm_python_runner::add_to_linker(&mut linker)?;
    Ok(linker)
}
