//! Proto-Faaslets (SPEC §7): a module that exports `_faasm_zygote` (`FAASM_ZYGOTE()` in the C
//! SDK) has it run once, at upload, and every call starts from the memory and globals it left.
//!
//! `wasmtime-wizer` does the snapshotting: it instruments the module so that its memories and
//! mutable globals are exported, we instantiate that and run the zygote in it, and wizer
//! rewrites the module with the initialised state as its data segments and global
//! initialisers (and without the `_faasm_zygote` export, so a snapshot is never initialised
//! twice). The caller compiles the snapshot and caches it under the original wasm's hash: every
//! call then gets the initialised memory from the engine's copy-on-write image, for free.
//!
//! # Constructors and exit handlers run once
//!
//! wasm-ld wraps every export of a C/C++ command, `_start` and `_faasm_zygote` alike, as
//! `call __wasm_call_ctors; call <export>; call __wasm_call_dtors`. Run as built, the zygote
//! would end with the exit handlers (atexit, C++ global destructors, stdio flush) and every
//! call would construct the C++ globals again (discarding what the zygote put in them) and
//! register their destructors a second time; worse, musl's atexit list is not reusable after
//! it has run, so any call that exits would jump to a null handler. So before the zygote runs,
//! [`patch_wrappers`] turns the zygote's wrapper into `ctors; zygote` and `_start`'s into
//! `main; dtors` (the dropped calls become `nop`s, so no code offset moves): constructors run
//! once, before the zygote, and each call runs `main` and the exit handlers once, like a
//! process forked from the initialised one. Modules without these wrappers (no constructors,
//! or another toolchain) run as they are.
//!
//! # What the zygote sees
//!
//! The call limits (memory cap, timeout); WASI preview 1 with only the program name as argv
//! and a call's environment (wasi-libc may read it into its own copy, which calls inherit);
//! and the same preopened directories as a call, in the same order (`files::preopen_call_dirs`): `/` (a
//! scratch directory, discarded), `faasm:` (the shared files, read-only: a zygote may load a
//! model from them), `/dev` (empty) and `/etc`. wasi-libc looks the preopens up in a
//! constructor, so the table it builds in the zygote is the one calls inherit: it must name
//! the descriptors calls have, and a call's filesystem must appear when the guest first uses
//! one of them, whatever the WASI function (a call of a snapshot never asks for its
//! preopens). As in a call, stdout and stderr are reported as terminals, so C stdio
//! line-buffers stdout and a zygote's `printf` lines are written out rather than left in the
//! snapshot's buffer to be flushed by every call (an unterminated last line still would be);
//! what it prints is logged at debug level, and a failing zygote's last line is quoted in the
//! reason. Every `env` import traps: there is no call, so no input, output, state or chaining.

use std::ops::Range;
use std::path::Path;

use wasmtime::{ExternType, Linker, Module, Store, Val};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::Runtime;
use crate::capped_pipe::CappedPipe;
use crate::errors::one_line;
use crate::files::preopen_call_dirs;
use crate::guest_env;
use crate::limits::MemoryCap;
use crate::sandbox::{self, Sandboxed, Stopped};

/// The export that marks a module as a Proto-Faaslet.
pub(crate) const ZYGOTE_EXPORT: &str = "_faasm_zygote";

/// The entry point of every call.
const START_EXPORT: &str = "_start";

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

impl Sandboxed for ZygoteState {
    fn memory_cap(&mut self) -> &mut MemoryCap {
        &mut self.memory_cap
    }
}

/// Why a zygote could not produce a snapshot: a one-line reason for the uploader.
type Failure = String;

impl Runtime {
    /// Runs the zygote of `wasm` once and returns the initialised module's bytes.
    ///
    /// Blocks the calling thread (see [`crate::own_thread::block_on`]).
    pub(crate) fn snapshot_zygote(&self, wasm: &[u8]) -> Result<Vec<u8>, Failure> {
        let patched = patch_wrappers(wasm);
        let wasm = patched.as_deref().unwrap_or(wasm);
        let mut wizer = Wizer::new();
        wizer.init_func(ZYGOTE_EXPORT);
        let (cx, instrumented) = wizer
            .instrument(wasm)
            .map_err(|e| format!("cannot snapshot this module: {}", one_line(&e)))?;
        let module = Module::from_binary(&self.engine, &instrumented)
            .map_err(|e| format!("cannot compile the instrumented module: {}", one_line(&e)))?;
        check_signature(&module)?;
        let linker = self.zygote_linker(&module).map_err(|e| one_line(&e))?;
        let scratch = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
        crate::own_thread::block_on(async {
            let (mut store, stdout) = self.zygote_store(scratch.path())?;
            let ran = self.run_zygote(&mut store, &linker, &module).await;
            let stdout = stdout.contents();
            if !stdout.is_empty() {
                tracing::debug!(
                    stdout = %String::from_utf8_lossy(&stdout),
                    "zygote output (discarded)"
                );
            }
            // A failing zygote's last words usually say why: keep its last line.
            let instance = ran.map_err(|reason| match last_line(&stdout) {
                Some(line) => format!("{reason} (stdout: {line})"),
                None => reason,
            })?;
            let store = &mut store;
            let snapshot = wizer
                .snapshot(&cx, &mut Snapshotter { store, instance })
                .await
                .map_err(|e| format!("snapshot: {}", one_line(&e)))?;
            Ok(snapshot)
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

    /// A store under the call limits, with a call's preopens (over directories in
    /// `scratch`), and stdout and stderr captured in the returned pipe.
    fn zygote_store(&self, scratch: &Path) -> Result<(Store<ZygoteState>, CappedPipe), Failure> {
        let limits = self.config.limits;
        let stdout = CappedPipe::new(limits.stdout_bytes);
        let (root, dev, etc) = (
            scratch.join("root"),
            scratch.join("dev"),
            scratch.join("etc"),
        );
        for dir in [root.join("tmp"), dev.clone()] {
            std::fs::create_dir_all(&dir).map_err(|e| format!("scratch directory: {e}"))?;
        }
        guest_env::create_etc(&etc).map_err(|e| format!("scratch directory: {e}"))?;
        let shared = if self.config.shared_files_dir.is_dir() {
            self.config.shared_files_dir.clone()
        } else {
            // No shared file uploaded yet: an empty directory stands in.
            dev.clone()
        };
        let mut wasi = WasiCtxBuilder::new();
        wasi.args(&["function.wasm"])
            .envs(guest_env::c_env())
            .stdout(stdout.terminal(true))
            .stderr(stdout.terminal(true));
        // Descriptors 3 to 6, as in a call.
        preopen_call_dirs(&mut wasi, &root, &shared, &dev, &etc).map_err(|e| format!("{e:#}"))?;
        let state = ZygoteState {
            wasi: wasi.build_p1(),
            memory_cap: MemoryCap::new(limits.memory_bytes, self.memory_budget.clone()),
        };
        Ok((sandbox::store(&self.engine, state), stdout))
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
            .preparation_slots
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
                // Even `exit(0)`: the exit handlers have run, which calls must do themselves.
                Err(err) => match err.downcast_ref::<I32Exit>() {
                    Some(I32Exit(code)) => Err(format!(
                        "exited with code {code} (a zygote must return, not exit)"
                    )),
                    None => Err(Stopped::Failed(err).reason(&limits)),
                },
            };
            wasmtime::Result::Ok(ended)
        };
        match sandbox::within(&limits, run).await {
            Ok(ended) => ended,
            Err(stopped) => Err(stopped.reason(&limits)),
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

/// The last non-blank line of `stdout`, shortened to 200 characters.
fn last_line(stdout: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().map(str::trim).rfind(|line| !line.is_empty())?;
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    Some(short)
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

// ---------------------------------------------------------------------------------------------
// wasm-ld's export wrappers

/// `wasm` with the zygote's wrapper reduced to `ctors; zygote` and `_start`'s to
/// `main; dtors`, or `None` if the two exports are not wasm-ld command-export wrappers
/// sharing their constructor and destructor functions (then the module runs as built).
///
/// Each dropped `call` is overwritten with as many `nop`s as it had bytes, so the module
/// keeps its size and every code offset (debug info stays valid).
fn patch_wrappers(wasm: &[u8]) -> Option<Vec<u8>> {
    let shape = Shape::parse(wasm).ok()?;
    let zygote = shape.wrapper(ZYGOTE_EXPORT)?;
    let start = shape.wrapper(START_EXPORT)?;
    if zygote.ctors.0 != start.ctors.0 || zygote.dtors.0 != start.dtors.0 {
        return None;
    }
    let mut patched = wasm.to_vec();
    for (_, bytes) in [zygote.dtors, start.ctors] {
        // A call is its opcode and a LEB128 index: nothing else is overwritten.
        let call = patched.get_mut(bytes)?;
        if call.len() < 2 || call[0] != CALL {
            return None;
        }
        call.fill(NOP);
    }
    Some(patched)
}

/// The `nop` opcode.
const NOP: u8 = 0x01;

/// The `call` opcode.
const CALL: u8 = 0x10;

/// What [`patch_wrappers`] needs to know of a module.
#[derive(Default)]
struct Shape<'a> {
    /// Signatures by type index (`None`: not a function type).
    types: Vec<Option<wasmparser::FuncType>>,
    /// Type index of every function, imported ones first.
    functions: Vec<u32>,
    imported_functions: usize,
    exports: Vec<(&'a str, u32)>,
    /// Bodies of the defined functions.
    bodies: Vec<wasmparser::FunctionBody<'a>>,
}

/// A wasm-ld command-export wrapper: `call ctors; call inner; call dtors; end`, no locals.
/// Each call is its callee and the byte range of the instruction.
struct Wrapper {
    ctors: (u32, Range<usize>),
    dtors: (u32, Range<usize>),
}

impl<'a> Shape<'a> {
    fn parse(wasm: &'a [u8]) -> wasmparser::Result<Self> {
        use wasmparser::{CompositeInnerType, ExternalKind, Payload, TypeRef};
        let mut shape = Shape::default();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for ty in group?.into_types() {
                            shape.types.push(match ty.composite_type.inner {
                                CompositeInnerType::Func(f) => Some(f),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if let TypeRef::Func(ty) | TypeRef::FuncExact(ty) = import?.ty {
                            shape.functions.push(ty);
                            shape.imported_functions += 1;
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        shape.functions.push(ty?);
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        if export.kind == ExternalKind::Func {
                            shape.exports.push((export.name, export.index));
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => shape.bodies.push(body),
                _ => {}
            }
        }
        Ok(shape)
    }

    fn signature(&self, function: u32) -> Option<&wasmparser::FuncType> {
        let ty = *self.functions.get(function as usize)?;
        self.types.get(ty as usize)?.as_ref()
    }

    /// The wrapper exported as `name`, if that is what it is.
    fn wrapper(&self, name: &str) -> Option<Wrapper> {
        let (_, function) = *self.exports.iter().find(|(export, _)| *export == name)?;
        let body = self
            .bodies
            .get((function as usize).checked_sub(self.imported_functions)?)?;
        if body.get_locals_reader().ok()?.get_count() != 0 {
            return None;
        }
        let mut ops = body.get_operators_reader().ok()?;
        let mut calls = Vec::new();
        loop {
            let (op, start) = ops.read_with_offset().ok()?;
            match op {
                wasmparser::Operator::Call { function_index } => {
                    calls.push((function_index, start..ops.original_position()));
                }
                wasmparser::Operator::End if ops.eof() => break,
                _ => return None,
            }
        }
        let [ctors, inner, dtors] = <[_; 3]>::try_from(calls).ok()?;
        // `ctors` and `dtors` take and leave nothing; `inner` is what the wrapper wraps.
        let nullary = |f: u32| {
            self.signature(f)
                .is_some_and(|ty| ty.params().is_empty() && ty.results().is_empty())
        };
        let same = self.signature(inner.0)? == self.signature(function)?;
        let distinct = ctors.0 != inner.0 && inner.0 != dtors.0 && ctors.0 != dtors.0;
        (nullary(ctors.0) && nullary(dtors.0) && same && distinct)
            .then_some(Wrapper { ctors, dtors })
    }
}
