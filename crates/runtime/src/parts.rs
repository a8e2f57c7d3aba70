//! The store's data of a call: [`CallState`], a plain composite of the host parts' per-call
//! contexts. Each part (host/io, host/chain, host/state, host/mpi, files/, the Python door)
//! owns its context type and reaches it only through its own projection trait, which this
//! module implements; no part sees another's fields.

use std::sync::Arc;

use bytes::Bytes;
use faasm_state::LocalTier;
use wasmtime::{Instance, Store};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::chain::CallHost;
use crate::files::{CallFiles, FilesView};
use crate::host::chain::{ChainView, Chaining};
use crate::host::io::{CallIo, IoView};
use crate::host::mpi::{MpiCall, MpiView};
use crate::host::state::{self, StateSession, StateView};
use crate::limits::{CallLimits, MemoryBudget, MemoryCap};
use crate::mpi::MpiHost;
use crate::python::door::{PythonCall, PythonView};
use crate::sandbox::Sandboxed;

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

/// What a store is made with (see [`CallState::new`]).
pub(crate) struct CallStart {
    pub user: String,
    pub input: Bytes,
    pub host: Option<Arc<dyn CallHost>>,
    pub mpi: Option<Arc<dyn MpiHost>>,
    pub files: CallFiles,
    pub python: Option<PythonCall>,
}

impl CallState {
    /// A call's data, under `limits`: its memory charged to `budget`, its state in `tier`.
    pub(crate) fn new(
        start: CallStart,
        limits: &CallLimits,
        budget: Arc<MemoryBudget>,
        tier: Arc<LocalTier>,
    ) -> Self {
        Self {
            io: CallIo::new(start.input, limits.output_bytes),
            chaining: Chaining::new(start.host),
            wasi: start.files.wasi(),
            files: start.files.with_scratch_limit(limits.scratch_bytes),
            state: StateSession::new(tier, start.user),
            mpi: MpiCall::new(start.mpi),
            python: start.python,
            memory_cap: MemoryCap::new(limits.memory_bytes, budget),
        }
    }

    /// The parts' end-of-call hooks, run after the guest returned (only state has one: what
    /// the guest changed through state pointers is written back, its locks released).
    pub(crate) async fn end(store: &mut Store<CallState>, instance: &Instance) {
        state::end_call(store, instance).await;
    }
}

/// Implements a part's projection trait: `fn $method(&mut self) -> &mut $context`, the field
/// `$method` of the composite.
macro_rules! projection {
    ($($view:ident::$method:ident -> $context:ty),* $(,)?) => {$(
        impl $view for CallState {
            fn $method(&mut self) -> &mut $context {
                &mut self.$method
            }
        }
    )*};
}

projection! {
    Sandboxed::memory_cap -> MemoryCap,
    IoView::io -> CallIo,
    ChainView::chaining -> Chaining,
    StateView::state -> StateSession,
    MpiView::mpi -> MpiCall,
}

impl FilesView for CallState {
    fn files(&mut self) -> &mut CallFiles {
        &mut self.files
    }

    fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
}

impl PythonView for CallState {
    fn python(&mut self) -> Option<&mut PythonCall> {
        self.python.as_mut()
    }
}
