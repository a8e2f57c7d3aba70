//! The WebAssembly side of faasm-rs: the wasmtime engine and its configuration, turning an
//! uploaded module into a ready-to-instantiate [`FunctionModule`] (validated, precompiled,
//! cached on disk), and running one call in a fresh, limited store with the Faasm host
//! interface and WASI preview 1 linked in.
//!
//! This crate knows nothing of HTTP, call ids or queues: it is given bytes and an input and
//! gives back a [`CallOutcome`]. Guests run on wasmtime's async support (fibers on tokio), so a
//! host call that has to wait gives its thread back instead of blocking it.

mod call;
mod capped_pipe;
mod chain;
mod engine;
mod errors;
mod executor;
mod files;
mod guest_env;
mod host;
mod limits;
mod module;
mod mpi;
mod own_thread;
mod parts;
mod python;
mod sandbox;
mod zygote;

pub use call::{CallInput, CallOutcome};
pub use chain::{BoxFuture, CallHandle, CallHost, ChainError, ChainTarget, Entry};
pub use engine::{Runtime, RuntimeConfig};
pub use errors::PrepareError;
/// The state tier a [`RuntimeConfig`] carries (`LocalTier::in_memory()` for tests).
pub use faasm_state::LocalTier;
pub use limits::{CallLimits, MemoryBudget};
pub use module::{FunctionModule, module_hash};
pub use mpi::{Envelope, Mailbox, Message, MpiHost, MpiWorld, Pattern, Payload};
pub use python::{PythonConfig, ResidentLimits};
