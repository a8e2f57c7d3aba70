//! The store's data of a call: [`CallState`], a plain composite of the host parts' per-call
//! contexts. Each part (host/io, host/chain, host/state, host/mpi, files/, the Python door)
//! owns its context type and reaches it only through its own projection trait, which this
//! module implements; no part sees another's fields.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::{Engine, Store};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::Runtime;
use crate::chain::CallHost;
use crate::files::{CallFiles, FilesView};
use crate::host::chain::{ChainView, Chaining};
use crate::host::io::{CallIo, IoView};
use crate::host::mpi::{MpiCall, MpiView};
use crate::host::state::{StateSession, StateView};
use crate::limits::MemoryCap;
use crate::mpi::MpiHost;
use crate::python::door::{PythonCall, PythonView};
use crate::sandbox::{self, Sandboxed};

/// The per-call data a store carries; host functions reach their part of it through their
/// `Caller` and their part's projection.
pub(crate) struct CallState {
    io: CallIo,
    chaining: Chaining,
    /// The call's filesystem and the WASI context over it.
    files: CallFiles,
    wasi: WasiP1Ctx,
    /// The state locks this call holds and the values it mapped into its memory.
    state: StateSession,
    /// The call's MPI rank: its world, communicators and requests.
    mpi: MpiCall,
    /// What the Python runner is doing, in an instance of the interpreter.
    python: Option<PythonCall>,
    memory_cap: MemoryCap,
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

impl Runtime {
    /// A store for one instance under the runtime's limits (see [`sandbox::store`]).
    pub(crate) fn new_store(&self, engine: &Engine, start: CallStart) -> Store<CallState> {
        let limits = self.config.limits;
        let state = CallState {
            io: CallIo::new(start.input, limits.output_bytes),
            chaining: Chaining::new(start.host),
            wasi: start.files.wasi(),
            files: start.files.with_scratch_limit(limits.scratch_bytes),
            state: StateSession::new(self.config.state.clone(), start.user),
            mpi: MpiCall::new(start.mpi),
            python: start.python,
            memory_cap: MemoryCap::new(limits.memory_bytes, self.memory_budget.clone()),
        };
        sandbox::store(engine, state)
    }
}

impl Sandboxed for CallState {
    fn memory_cap(&mut self) -> &mut MemoryCap {
        &mut self.memory_cap
    }
}

impl IoView for CallState {
    fn io(&mut self) -> &mut CallIo {
        &mut self.io
    }
}

impl ChainView for CallState {
    fn chaining(&mut self) -> &mut Chaining {
        &mut self.chaining
    }
}

impl FilesView for CallState {
    fn files(&mut self) -> &mut CallFiles {
        &mut self.files
    }

    fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
}

impl StateView for CallState {
    fn state(&mut self) -> &mut StateSession {
        &mut self.state
    }
}

impl MpiView for CallState {
    fn mpi(&mut self) -> &mut MpiCall {
        &mut self.mpi
    }
}

impl PythonView for CallState {
    fn python(&mut self) -> Option<&mut PythonCall> {
        self.python.as_mut()
    }
}
