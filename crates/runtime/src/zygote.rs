//! Proto-Faaslets (SPEC §7): a module that exports `_faasm_zygote` (`FAASM_ZYGOTE()` in the C
//! SDK) has it run once, at upload, and every call starts from the memory and globals it left.
//!
//! `wasmtime-wizer` does the snapshotting: it instruments the module so that its memories and
//! mutable globals are exported, we instantiate that and run the zygote in it, and wizer
//! rewrites the original module with the initialised state as its data segments and global
//! initialisers (and without the `_faasm_zygote` export, so a snapshot is never initialised
//! twice). The caller compiles the snapshot and caches it under the original wasm's hash: every
//! call then gets the initialised memory from the engine's copy-on-write image, for free.
//!
//! The zygote runs under the call limits (memory cap, timeout) with WASI preview 1 available
//! (C initialisation may `printf` or `malloc`; stdout is logged and dropped) but without
//! preopened directories, arguments or environment, and with every `env` import trapping:
//! there is no call, so no input, output, state or chaining. wasm-ld wraps a command's
//! exports in `__wasm_call_ctors` / `__wasm_call_dtors`, so C constructors run before the
//! zygote and again at every call's `_start`. That second run is what registers the call's
//! own preopens and environment in wasi-libc; C constructors that only set up libc state
//! leave the zygote's data alone, but a C++ global object with a constructor is constructed
//! afresh at every call, so state a zygote keeps must live in plain (or heap) data.

use wasmtime::{ExternType, Linker, Module, Store, Trap, UpdateDeadline, Val};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::Runtime;
use crate::capped_pipe::CappedPipe;
use crate::limits::{MemoryCap, MemoryLimitExceeded};
use crate::module::one_line;

/// The export that marks a module as a Proto-Faaslet.
pub(crate) const ZYGOTE_EXPORT: &str = "_faasm_zygote";

/// The WASI import module; everything else a function imports is a Faasm host call.
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Whether `module` still has a zygote to run (a snapshot no longer exports it).
pub(crate) fn exported(module: &Module) -> bool {
    module.get_export(ZYGOTE_EXPORT).is_some()
}

/// What the zygote's store carries.
struct ZygoteState {
    wasi: WasiP1Ctx,
    memory_cap: MemoryCap,
}

/// Why a zygote could not produce a snapshot: a one-line reason for the uploader.
type Failure = String;

impl Runtime {
    /// Runs the zygote of `wasm` once and returns the initialised module's bytes.
    ///
    /// Blocks the calling thread: the zygote runs on its own thread with its own
    /// current-thread executor, so this works from any context (a blocking pool thread, or
    /// a test calling [`Runtime::prepare`] from inside an async function).
    pub(crate) fn snapshot_zygote(&self, wasm: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut wizer = Wizer::new();
        wizer.init_func(ZYGOTE_EXPORT);
        let (cx, instrumented) = wizer
            .instrument(wasm)
            .map_err(|e| format!("cannot snapshot this module: {}", one_line(&e)))?;
        let module = Module::from_binary(&self.engine, &instrumented)
            .map_err(|e| format!("cannot compile the instrumented module: {}", one_line(&e)))?;
        check_signature(&module)?;
        let linker = self.zygote_linker(&module).map_err(|e| one_line(&e))?;
        std::thread::scope(|scope| {
            let run = scope.spawn(|| {
                let executor = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start an executor: {e}"))?;
                executor.block_on(async {
                    let (mut store, stdout) = self.zygote_store();
                    let ran = self.run_zygote(&mut store, &linker, &module).await;
                    let stdout = stdout.contents();
                    if !stdout.is_empty() {
                        tracing::debug!(
                            stdout = %String::from_utf8_lossy(&stdout),
                            "zygote output (discarded)"
                        );
                    }
                    let instance = ran?;
                    let store = &mut store;
                    let snapshot = wizer
                        .snapshot(&cx, &mut Snapshotter { store, instance })
                        .await
                        .map_err(|e| format!("snapshot: {}", one_line(&e)))?;
                    Ok(snapshot)
                })
            });
            match run.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// WASI preview 1 plus every other import of `module` as a function that traps with a
    /// message naming it.
    fn zygote_linker(&self, module: &Module) -> wasmtime::Result<Linker<ZygoteState>> {
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut ZygoteState| {
            &mut state.wasi
        })?;
        for import in module.imports() {
            let ExternType::Func(ty) = import.ty() else {
                continue;
            };
            if import.module() == WASI_MODULE {
                continue;
            }
            let message = format!(
                "`{}.{}` is not available in the zygote (it runs at upload, outside any call)",
                import.module(),
                import.name()
            );
            linker.func_new(import.module(), import.name(), ty, move |_, _, _| {
                Err(wasmtime::format_err!("{message}"))
            })?;
        }
        // Anything WASI preview 1 does not define (the upload's linking check has already
        // refused imports no call could satisfy).
        linker.define_unknown_imports_as_traps(module)?;
        Ok(linker)
    }

    /// A store under the call limits, with stdout and stderr captured in the returned pipe.
    fn zygote_store(&self) -> (Store<ZygoteState>, CappedPipe) {
        let limits = self.config.limits;
        let stdout = CappedPipe::new(limits.stdout_bytes);
        let wasi = WasiCtxBuilder::new()
            .args(&["function.wasm"])
            .stdout(stdout.clone())
            .stderr(stdout.clone())
            .build_p1();
        let mut store = Store::new(
            &self.engine,
            ZygoteState {
                wasi,
                memory_cap: MemoryCap {
                    limit: limits.memory_bytes,
                },
            },
        );
        store.limiter(|state| &mut state.memory_cap);
        // As for calls: yield at every epoch tick, so the timeout below can fire.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        (store, stdout)
    }

    /// Instantiates `module` and runs its zygote under the call limits.
    async fn run_zygote(
        &self,
        store: &mut Store<ZygoteState>,
        linker: &Linker<ZygoteState>,
        module: &Module,
    ) -> Result<wasmtime::Instance, Failure> {
        let limits = self.config.limits;
        // The zygote's instance takes a pool slot like a call.
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("slot semaphore is never closed");
        let run = async {
            let instance = linker.instantiate_async(&mut *store, module).await?;
            let zygote = instance
                .get_func(&mut *store, ZYGOTE_EXPORT)
                .expect("checked by check_signature");
            let mut results = vec![Val::I32(0); zygote.ty(&*store).results().len()];
            let ended = match zygote.call_async(&mut *store, &[], &mut results).await {
                Ok(()) => match results.first().and_then(Val::i32).unwrap_or(0) {
                    0 => Ok(instance),
                    code => Err(format!("returned {code}")),
                },
                // `exit(0)` ends initialisation early but successfully.
                Err(err) => match err.downcast_ref::<I32Exit>() {
                    Some(I32Exit(0)) => Ok(instance),
                    Some(I32Exit(code)) => Err(format!("exited with code {code}")),
                    None => Err(describe(&err)),
                },
            };
            wasmtime::Result::Ok(ended)
        };
        match tokio::time::timeout(limits.timeout, run).await {
            Err(_) => Err(format!("timed out after {:?}", limits.timeout)),
            Ok(Ok(ended)) => ended,
            Ok(Err(err)) => Err(describe(&err)),
        }
    }
}

/// The zygote must be `int _faasm_zygote(void)` (the SDK's) or `void _faasm_zygote(void)`.
fn check_signature(module: &Module) -> Result<(), Failure> {
    let ok = match module.get_export(ZYGOTE_EXPORT) {
        Some(ExternType::Func(ty)) => {
            ty.params().len() == 0
                && match ty.results().len() {
                    0 => true,
                    1 => ty.results().all(|r| matches!(r, wasmtime::ValType::I32)),
                    _ => false,
                }
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{ZYGOTE_EXPORT}` must be a function taking nothing and returning an i32 or \
             nothing (`FAASM_ZYGOTE() {{ ...; return 0; }}`)"
        ))
    }
}

/// A one-line reason, in the words call errors use.
fn describe(err: &wasmtime::Error) -> Failure {
    let reason = if let Some(exceeded) = err.downcast_ref::<MemoryLimitExceeded>() {
        exceeded.to_string()
    } else if let Some(trap) = err.downcast_ref::<Trap>() {
        format!("trap: {trap}")
    } else {
        err.root_cause().to_string()
    };
    reason.lines().next().unwrap_or_default().trim().to_owned()
}

/// Wizer's view of the zygote's instance: the instrumented module exports every memory and
/// mutable global under a name wizer chose.
struct Snapshotter<'a> {
    store: &'a mut Store<ZygoteState>,
    instance: wasmtime::Instance,
}

impl InstanceState for Snapshotter<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer exports every mutable global");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            // Wizer refuses modules with mutable reference-typed globals.
            other => unreachable!("mutable global of unsupported type: {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer exports every memory");
        contents(memory.data(&*self.store));
    }
}
