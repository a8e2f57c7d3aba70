//! The imports a Faasm function may use: WASI preview 1 and the `env.__faasm_*` calls of
//! SPEC §4, and MPI's `faasm_mpi.MPI_*` (SPEC §9). Each concern has its own module, which
//! owns its per-call context and links itself through a projection to it; [`linker`] puts them
//! together once per engine.

pub(crate) mod chain;
mod clock;
mod debug;
mod faasm_python_runner;
pub(crate) mod io;
pub(crate) mod memory;
pub(crate) mod mpi;
pub(crate) mod state;

use wasmtime::{Engine, Linker};

use crate::files;
use io::IoView;
use mpi::MpiView;
use state::StateView;

/// The import module of every Faasm host call.
const MODULE: &str = "env";

/// Every part linked over a store whose data holds their contexts (each part's `*View`
/// trait is its projection: the parts never see the type that composes them).
pub(crate) fn linker<T: IoView + StateView + MpiView>(
    engine: &Engine,
) -> wasmtime::Result<Linker<T>> {
    let mut linker = Linker::new(engine);
    files::add_to_linker(&mut linker)?;
    clock::add_to_linker(&mut linker)?;
    io::add_to_linker(&mut linker)?;
    debug::add_to_linker(&mut linker)?;
    chain::add_to_linker(&mut linker)?;
    state::add_to_linker(&mut linker)?;
    mpi::add_to_linker(&mut linker)?;
    faasm_python_runner::add_to_linker(&mut linker)?;
    Ok(linker)
}
