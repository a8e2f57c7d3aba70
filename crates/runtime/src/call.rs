//! Running one call: a fresh store with its own WASI context, captured stdout and limits,
//! instantiated from the module's `InstancePre` (a copy-on-write pool slot, or for Python the
//! interpreter with the function's snapshot mapped in), then its entry point as the module's
//! executor runs it.

use std::sync::Arc;

use bytes::Bytes;

use crate::Runtime;
use crate::capped_pipe::CappedPipe;
use crate::chain::{CallHost, Entry};
use crate::host::io::IoView;
use crate::module::FunctionModule;
use crate::mpi::MpiHost;
use crate::parts::{CallStart, CallState};
use crate::sandbox::{self, Stopped, classify_error};

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

impl Runtime {
    /// Runs `module` once, in a fresh instance, under the runtime's limits. The caller keeps
    /// the calls running at once within `max_instances` (beyond it instantiation fails).
    pub async fn run(&self, module: &FunctionModule, call: CallInput) -> CallOutcome {
        let limits = self.config.limits;
        let stdout = CappedPipe::new(limits.stdout_bytes);
        let shared = self.config.shared_files_dir.clone();
        // The call's filesystem (SPEC §6) joins the context when the guest first uses it.
        let executor = &module.executor;
        let (files, python) = executor.start(shared, stdout.clone(), &call.entry, call.cmdline);
        let host = call.host.clone();
        let start = CallStart {
            user: call.user,
            input: call.input,
            host: call.host,
            mpi: call.mpi,
            files,
            python,
        };
        let mut store = self.new_store(module.pre.module().engine(), start);

        let run = async {
            let instance = module.pre.instantiate_async(&mut store).await?;
            let result = executor.run(&mut store, &instance, &call.entry).await;
            CallState::end(&mut store, &instance).await;
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
        let output = store.data_mut().io().take_output();
        drop(store);
        CallOutcome {
            return_value,
            output,
            stdout: stdout.contents(),
            error,
        }
    }
}
